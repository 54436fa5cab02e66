"""Unlabelled images to run a detector on: a folder, a glob pattern or one file, as a dataset."""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from detkit.data.formats.fields import file_name_problem
from detkit.data.formats.roots import check_input_path
from detkit.data.images.files import IMAGE_SUFFIXES, shown_size
from detkit.data.images.signatures import signatures
from detkit.data.records import DetectionDataset, Record
from detkit.exceptions import ConfigError, DatasetError

log = logging.getLogger(__name__)


def find_images(images: str) -> tuple[Path, list[Path]]:
    """The images ``images`` names (a folder, searched recursively; a glob such as
    ``photos/**/*.jpg``; or one image file) in sorted order, and the folder their names are
    relative to."""
    path = Path(images)
    if os.path.exists(path):
        check_input_path(path, "images", "give a folder of images, a glob pattern or one image")
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


def readable_images(paths: list[Path]) -> list[Path]:
    """The ``paths`` whose pixels decode; one line for each that does not (it is left out)."""
    readable = []
    for path, signature in zip(paths, signatures([str(p) for p in paths])):
        if signature.error:
            log.warning("skipped %s: not a readable image (%s)", path, signature.error)
        else:
            readable.append(path)
    if not readable:
        raise ConfigError(f"no readable image among the {len(paths)} file(s) found; give a folder of images")
    return readable


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
    the whole ``file_name`` or, failing that, on the file's name alone where the annotations
    hold that name once. Two images never take one id."""
    by_path = {image["file_name"]: image["id"] for image in coco.get("images", [])}
    paths_by_name: dict[str, list[str]] = {}
    for path in by_path:
        paths_by_name.setdefault(Path(path).name, []).append(path)
    ids, unknown, ambiguous = {}, [], []
    for name in names:
        candidates = [name] if name in by_path else paths_by_name.get(Path(name).name, [])
        if len(candidates) == 1:
            ids[name] = by_path[candidates[0]]
        else:
            (ambiguous if candidates else unknown).append(name)
    if unknown:
        raise DatasetError(
            f"{len(unknown)} images are not in its 'images' (e.g. {unknown[:5]}); predict on the images it lists, "
            "or leave annotations out to number the images 1, 2, ...",
            source=source,
        )
    if ambiguous:
        name = ambiguous[0]
        raise DatasetError(
            f"image {name}: its file name {Path(name).name} is that of {len(paths_by_name[Path(name).name])} images "
            f"in its 'images' ({paths_by_name[Path(name).name][:3]}); give images= the folder its file_name "
            "paths are relative to",
            source=source,
        )
    _check_one_image_an_id(ids, source)
    return ids


def _check_one_image_an_id(ids: Mapping[str, int], source: str) -> None:
    first: dict[int, str] = {}
    for name, image_id in ids.items():
        if image_id in first:
            raise DatasetError(
                f"{first[image_id]} and {name} would both be image {image_id}: same-named files in different "
                "folders; give images= the folder its file_name paths are relative to",
                source=source,
            )
        first[image_id] = name
