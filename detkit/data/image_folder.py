"""Unlabelled images to run a detector on: a folder, a glob pattern or one file, as a dataset."""

from __future__ import annotations

import glob
from collections.abc import Mapping, Sequence
from pathlib import Path

from detkit.data.formats.fields import file_name_problem
from detkit.data.image_files import shown_size
from detkit.data.records import DetectionDataset, Record
from detkit.exceptions import ConfigError, DatasetError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def find_images(images: str) -> tuple[Path, list[Path]]:
    """The images ``images`` names (a folder, searched recursively; a glob such as
    ``photos/**/*.jpg``; or one image file) in sorted order, and the folder their names are
    relative to."""
    path = Path(images)
    if path.is_dir():
        root, found = path, [p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES]
    elif path.is_file():
        root, found = path.parent, [path]
    else:
        found = [Path(p) for p in glob.glob(images, recursive=True) if Path(p).suffix.lower() in IMAGE_SUFFIXES]
        fixed = list(_until_wildcard(path.parts))
        root = Path(*fixed) if fixed else Path(".")
    if not found:
        raise ConfigError(f"images={images}: no image files ({', '.join(IMAGE_SUFFIXES)}) there")
    return root, sorted(found)


def _until_wildcard(parts: Sequence[str]):
    for part in parts:
        if any(c in part for c in "*?["):
            return
        yield part


def image_dataset(
    root: Path, paths: Sequence[Path], class_names: Sequence[str], image_ids: Mapping[str, int] | None = None
) -> DetectionDataset:
    """A dataset of the images at ``paths`` without annotations: ids from ``image_ids`` (by name
    relative to ``root``) or 1, 2, ... in order; sizes read from the files' headers."""
    records = []
    for index, path in enumerate(paths, start=1):
        name = path.relative_to(root).as_posix()
        if bad_name := file_name_problem(name):
            raise DatasetError(bad_name, source=str(root))
        try:
            width, height = shown_size(path)
        except OSError as error:
            raise DatasetError(f"cannot read image {path} ({error}); remove it or convert it to JPEG/PNG") from None
        records.append(Record(index if image_ids is None else image_ids[name], name, width, height))
    return DetectionDataset(root, list(class_names), records)


def ids_by_file_name(coco: Mapping, names: Sequence[str], source: str) -> dict[str, int]:
    """The COCO image id of each of ``names`` (paths relative to the images folder), matched on
    the whole ``file_name`` or, failing that, on the file's name alone."""
    by_path = {image["file_name"]: image["id"] for image in coco.get("images", [])}
    by_name = {Path(path).name: image_id for path, image_id in by_path.items()}
    ids = {name: by_path.get(name, by_name.get(Path(name).name)) for name in names}
    unknown = [name for name, image_id in ids.items() if image_id is None]
    if unknown:
        raise DatasetError(
            f"{len(unknown)} images are not in its 'images' (e.g. {unknown[:5]}); predict on the images it lists, "
            "or leave annotations out to number the images 1, 2, ...",
            source=source,
        )
    return ids
