"""YOLO (Ultralytics' dataset yaml, ``images/`` and ``labels/*.txt`` with ``class cx cy w h``
normalised) <-> `DetectionDataset`.

The yaml (any name) holds the class ``names`` and, as Ultralytics reads it, the dataset root
``path`` and the ``train`` / ``val`` / ``test`` images: folders, ``.txt`` lists of image paths,
or lists of either. Each image's labels are found by Ultralytics' rule (the last ``/images/``
of its path becomes ``/labels/``, the suffix ``.txt``). A yaml without those keys means every
image under ``images/``. An image without a label file is a background image (no objects); a
label file without an image (an "orphan", common in real exports) cannot be used: the reading
says how many there are, and when no image has a label file while label files exist, nothing is
read (`check_labels_matched`). Group, domain and partial labels live in an optional
``<label>.json`` sidecar.
"""

from __future__ import annotations

import contextlib
import difflib
import itertools
import logging
import math
import os
import re
from collections import Counter
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import yaml

from detkit.data import limits
from detkit.data.boxes import cxcywh_to_xyxy, xyxy_to_cxcywh
from detkit.data.formats.documents import parse_yaml, read_yaml_document
from detkit.data.formats.fields import collector_paused, file_name_problem, read_text
from detkit.data.formats.images import border_overshoot, border_overshoots, copy_images
from detkit.data.formats.problems import check_on_invalid, settle_problems
from detkit.data.formats.read_cache import cached_map_files
from detkit.data.formats.roots import is_system_folder, resolves_under
from detkit.data.formats.sidecar import apply_sidecar, write_sidecar
from detkit.data.formats.split_names import FILE_NAMES, detkit_split
from detkit.data.images.files import IMAGE_SUFFIXES, shown_size
from detkit.data.records import DetectionDataset, Record
from detkit.exceptions import DatasetError
from detkit.files import write_text_atomic

CLASSES_FILE = "classes.txt"  # LabelImg's class list, one name a line, beside its label files
DARKNET_NAMES, DARKNET_DATA = "obj.names", "obj.data"  # Darknet's (CVAT's "YOLO 1.1"): names, and lists
CLASS_LISTS = (CLASSES_FILE, DARKNET_NAMES)
DARKNET_KEYS = ("classes", "names", "backup", "eval")  # obj.data's keys that name no split of images
NOT_LABELS = set(CLASS_LISTS)
WINDOWS_PATH = re.compile(r"^[A-Za-z]:|\\")  # a drive letter, or a backslash
TOLERANCE = 1e-6  # exporters round normalised coordinates; 1.0000001 is still inside
FILES_PER_WORKER = 1_000  # images; fewer are read in about the time it takes to fork
Objects = tuple[np.ndarray, np.ndarray]  # an image's xyxy boxes and labels
log = logging.getLogger(__name__)


@collector_paused()  # records by the 100,000 hold no cycles; the collector would walk them again and again
def load_yolo(root: str | Path, on_invalid: str = "error", border_margin: float = 2.0) -> DetectionDataset:
    """Read a YOLO dataset: ``root`` is its yaml or the folder holding it. The yaml's
    ``train`` / ``val`` / ``test`` become the dataset's `given_splits` (none when ``val`` lists
    the same images as ``train``, as coco128.yaml does). ``on_invalid`` and ``border_margin``
    as in `load_coco` (``drop`` leaves out bad lines and unreadable images)."""
    check_on_invalid(on_invalid)
    yaml_path = find_yolo_yaml(Path(root))
    config = _read_yaml(yaml_path)
    names = _read_names(config, yaml_path)
    base = _dataset_root(config, yaml_path)
    listed = _listed_images(config, base, yaml_path)
    images = list(dict.fromkeys(path for paths in listed.values() for path in paths))  # as listed, links kept
    if not images:
        raise DatasetError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found for it under {base}", str(yaml_path))
    report_images_from_elsewhere(images, yaml_path, base if yaml_path.name in CLASS_LISTS else yaml_path.parent)
    image_root = next(
        (folder for folder in (base / "images", base) if all(_under(p, folder) for p in images)),
        Path(os.path.commonpath(images)),
    )
    problems: list[str] = []
    keypoint_values, forms = _keypoint_values(config, yaml_path), Counter()
    work = partial(_read_files, root=image_root, num_classes=len(names), margin=border_margin)
    settings = (str(image_root), len(names), border_margin)
    read = cached_map_files(work, images, FILES_PER_WORKER, "yolo", settings, _files_of, "YOLO label files read")
    records, ids, left_out = [], {}, []
    for image_id, (path, files) in enumerate(zip(images, read), start=1):
        if isinstance(files, str):
            problems.append(files)
            continue
        found = len(problems)
        objects = files.objects or _checked_objects(files, len(names), border_margin, keypoint_values, problems, forms)
        record = Record(image_id, files.name, files.width, files.height, *objects)
        if files.sidecar:
            apply_sidecar(Path(os.path.splitext(files.labels)[0] + ".json"), record, names, problems)
        if len(problems) > found:  # a line or its sidecar refused: the image's labels are not whole
            left_out.append(len(record.boxes))
            continue
        records.append(record)
        ids[path] = image_id
    settle_problems(problems, str(yaml_path), on_invalid, left_out)
    read_well = [files for files in read if not isinstance(files, str)]
    orphans = orphan_labels(read_well, images, yaml_path, _split_lists(config, base))
    check_labels_matched(read_well, orphans, images, yaml_path)
    report_labels(read_well, orphans, yaml_path)
    report_forms(forms, yaml_path)
    given = {split: [ids[p] for p in paths if p in ids] for split, paths in listed.items() if split}
    if set(listed.get("dev", ())) == set(listed.get("train", ())):
        given = {}  # "val" is the training images again: the export has no splits of its own
    return DetectionDataset(image_root, names, records, given_splits=given)


def report_forms(forms: Counter, yaml_path: Path) -> None:
    """Say how many label lines were polygons or boxes with keypoints, read as boxes."""
    read_as = {
        "polygon": "polygon labels read as their bounding boxes",
        "keypoints": "keypoints left out of their boxes",
    }
    said = [f"{forms[form]} {text}" for form, text in read_as.items() if forms[form]]
    if said:
        log.info("data: %s (%s)", "; ".join(said), yaml_path)


def report_images_from_elsewhere(images: list[str], yaml_path: Path, export_folder: Path) -> None:
    """Say when the yaml takes images from outside the export's folder (the yaml's; for a
    ``classes.txt``, the folder above its labels): an absolute or ``../`` path, or a list naming
    such files, allowed as Ultralytics allows it, but the user should know what a conversion
    copies and what a training reads."""
    export = os.path.realpath(export_folder)
    outside = [path for path in images if not _under(path, Path(export))]
    if outside:
        folders = sorted({os.path.dirname(path) for path in outside})
        shown = ", ".join(folders[:3]) + (f" and {len(folders) - 3} more" if len(folders) > 3 else "")
        log.warning(
            "data: %d of %d images come from outside the export's folder %s, as %s says (from %s)",
            len(outside),
            len(images),
            export,
            yaml_path.name,
            shown,
        )


def find_yolo_yaml(root: Path) -> Path:
    """``root`` if it is a yaml (or a ``classes.txt``), else the one yaml in the folder ``root``
    that has ``names``, else its LabelImg ``classes.txt`` (images and their labels side by side)."""
    if os.path.lexists(root) and not root.is_dir():  # a file, or what stands in for one (read_text names it)
        if root.suffix.lower() not in (".yaml", ".yml") and root.name not in (*CLASS_LISTS, DARKNET_DATA):
            raise DatasetError("not a YOLO dataset yaml; point data.root at the .yaml or its folder", str(root))
        return root
    found = yolo_yamls(root)
    if len(found) == 1:
        return found[0]
    if not found and (classes := class_list(root)) is not None:
        return classes
    if not found:
        raise DatasetError(
            f"no YOLO dataset yaml (a .yaml with the class `names`), {DARKNET_DATA} nor {CLASSES_FILE} here; add one",
            str(root),
        )
    listed = ", ".join(p.name for p in found)
    raise DatasetError(f"several dataset yamls ({listed}); point data.root at the one to use", source=str(root))


def class_list(root: Path) -> Path | None:
    """The class list of a YOLO set without a dataset yaml: Darknet's ``obj.data`` (CVAT's YOLO
    1.1), else LabelImg's ``classes.txt`` or an ``obj.names`` (written beside the label files):
    in ``root``, in ``labels/`` (a save folder apart from the images), or in one of the split
    folders of either."""
    if (root / DARKNET_DATA).is_file():
        return root / DARKNET_DATA
    folders = [root, root / "labels"]
    with contextlib.suppress(OSError):
        folders += sorted(p for f in folders[:2] if f.is_dir() for p in f.iterdir() if p.is_dir() and _a_split(p))
    return next((f / name for f in folders for name in CLASS_LISTS if (f / name).is_file()), None)


def _a_split(folder: Path) -> bool:
    return detkit_split(folder.name) is not None


def yolo_yamls(folder: Path) -> list[Path]:
    """The yaml files directly in ``folder`` that name classes (``names``): YOLO dataset yamls;
    malformed ones too, so that reading one says where it is broken."""
    found = []
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        try:
            config = read_yaml_document(path)
        except DatasetError:
            config = {"names": None}
        if isinstance(config, dict) and "names" in config:
            found.append(path)
    return found


def orphan_labels(
    files: Sequence[_ImageFiles], images: Sequence[str], yaml_path: Path, split_lists: set[str]
) -> list[str]:
    """The label files no listed image claims (``files``: those of the images read): those in
    the folders the images' labels are looked for in and, when no image has a label file,
    under any ``labels`` folder of the export (the split lists the yaml names and LabelImg's
    ``classes.txt`` are not label files)."""
    claimed = {f.labels for f in files} | {label_path(image) for image in images}
    found = set()
    for folder in {os.path.dirname(f.labels) for f in files}:
        with contextlib.suppress(OSError), os.scandir(folder) as entries:
            found |= {e.path for e in entries if e.name.endswith(".txt") and e.name not in NOT_LABELS}
    if not any(f.labelled for f in files):  # anywhere under a labels/ folder of the export
        export = yaml_path.resolve().parent
        for folder in itertools.islice((p for p in export.rglob("labels") if p.is_dir()), 100):
            found |= {str(p) for p in itertools.islice(folder.rglob("*.txt"), 10_000) if p.name not in NOT_LABELS}
    return sorted(found - claimed - split_lists)


def check_labels_matched(files: Sequence[_ImageFiles], orphans: list[str], images: list[str], yaml_path: Path) -> None:
    """Refuse an export whose label files exist but belong to no image: read as it is, every
    image would hold no objects."""
    if orphans and files and not any(f.labelled for f in files):
        raise DatasetError(
            f"{len(orphans)} label file(s), but none belongs to an image: {images[0]} looks for its labels at "
            f"{label_path(images[0])}, and {orphans[0]} has no image whose path gives it (the last /images/ of "
            "an image's path becomes /labels/, its suffix .txt); put images/ and labels/ side by side, or point "
            "train:/val: at the images of these labels",
            str(yaml_path),
        )


def report_labels(files: Sequence[_ImageFiles], orphans: list[str], yaml_path: Path) -> None:
    """One line: how many images have a label file, and how many label files belong to none."""
    labelled = sum(f.labelled for f in files)
    log.log(
        logging.INFO if labelled else logging.WARNING,  # no label file anywhere: a set of empty images, or a mistake
        "data: %d of %d images have a label file (the other %d: no objects)%s",
        labelled,
        len(files),
        len(files) - labelled,
        "" if orphans else "; every label file belongs to an image",
    )
    if orphans:
        shown = ", ".join(orphans[:3]) + (f" and {len(orphans) - 3} more" if len(orphans) > 3 else "")
        log.warning("data: %d label file(s) belong to no image, not read (%s): %s", len(orphans), yaml_path, shown)


def label_path(image: str) -> str:
    """Ultralytics' rule: the last ``/images/`` of the image's path becomes ``/labels/``, the suffix ``.txt``."""
    images, labels = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
    if images in image:
        image = labels.join(image.rsplit(images, 1))
    return os.path.splitext(image)[0] + ".txt"


def _under(path: str, folder: Path) -> bool:
    """``Path(path).is_relative_to(folder)`` with string operations (pathlib's costs more than
    the rest of a record's reading, and the paths here are absolute and normalised already)."""
    return path.startswith(os.path.join(str(folder), ""))


def _read_yaml(path: Path) -> dict[str, Any]:
    """The dataset yaml, or for LabelImg's ``classes.txt`` the ``names`` it lists."""
    text = read_text(path, missing="point data.root at the dataset yaml or its folder", limit=limits.YAML_BYTES)
    if path.name == DARKNET_DATA:
        return _darknet_config(text, path)
    if path.name in CLASS_LISTS:  # the export is above its labels/ and split folders
        names = _name_lines(text)
        up, folder = 0, path.parent
        while up < 2 and (folder.name == "labels" or _a_split(folder)):  # labels/, train/ or labels/train/
            up, folder = up + 1, folder.parent
        return {"names": names, "path": "/".join([".."] * up) or "."}
    config = parse_yaml(text, str(path))
    if not isinstance(config, dict):
        raise DatasetError("not a YOLO dataset yaml: expected keys such as `names`, `train`, `val`", str(path))
    return config


def _darknet_config(text: str, path: Path) -> dict[str, Any]:
    """Darknet's ``obj.data`` (``names = obj.names``, ``train = train.txt``, ``valid = ...``,
    any key that names a split) as a dataset yaml would say it; its paths may start with the
    ``data/`` Darknet runs from. A key of another name is said not to be read."""
    values = dict(
        (key.strip(), value.strip()) for key, _, value in (line.partition("=") for line in text.splitlines()) if value
    )
    names_file = _darknet_path(values.get("names", DARKNET_NAMES), path.parent)
    config: dict[str, Any] = {"names": _name_lines(read_text(names_file, missing=f"{path} names it"))}
    for key, value in values.items():
        split = detkit_split(key)  # Darknet writes valid =, datumaro val =
        if split is not None:
            listed = os.path.relpath(_darknet_path(value, path.parent), path.parent)
            config.setdefault(FILE_NAMES[split], []).append(listed)
        elif key not in DARKNET_KEYS:
            log.warning(
                "data: %s: %s = %s is not a split detkit reads (train, valid, test); not read", path, key, value
            )
    return config


def _name_lines(text: str) -> list[str]:
    """The class names of a ``classes.txt`` or ``obj.names``: one a line, blank lines left out."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def _darknet_path(given: str, folder: Path) -> Path:
    """A path of Darknet's files, relative to the export, with or without Darknet's ``data/``."""
    path = folder / given
    return folder / given[len("data/") :] if not path.exists() and given.startswith("data/") else path


def _read_names(config: dict[str, Any], path: Path) -> list[str]:
    names = config.get("names")
    if isinstance(names, dict) and all(str(k).isdigit() for k in names):
        names = {int(k): v for k, v in names.items()}
    if isinstance(names, dict) and sorted(names) == list(range(len(names))):
        names = [names[i] for i in range(len(names))]
    if not (isinstance(names, list) and names):
        raise DatasetError("`names` must be a list of class names or a {0: name, 1: ...} mapping", source=str(path))
    if len(names) > limits.CATEGORIES.value:
        raise DatasetError(limits.CATEGORIES.exceeded(len(names)), str(path))
    names = [str(n) for n in names]
    repeated = sorted(name for name, count in Counter(names).items() if count > 1)
    if repeated:
        where = {n: [i for i, m in enumerate(names) if m == n] for n in repeated}
        raise DatasetError(f"`names` repeats {where} (name: class indices); give every class its own name", str(path))
    return names


def _keypoint_values(config: dict[str, Any], path: Path) -> int:
    """The values a pose label line holds after its box (``kpt_shape: [points, 2 or 3]``), 0 without."""
    shape = config.get("kpt_shape")
    if shape is None:
        return 0
    if not (isinstance(shape, list) and len(shape) == 2 and all(type(n) is int and n > 0 for n in shape)):
        raise DatasetError(f"kpt_shape: must be [keypoints, 2 or 3], got {shape!r}", str(path))
    return shape[0] * shape[1]


def _dataset_root(config: dict[str, Any], yaml_path: Path) -> Path:
    """``path`` (relative to the yaml's folder), or the yaml's folder. A ``path`` that is not here
    was written on another machine (``C:/Users/me/set``, ``/content/set``) or for Ultralytics'
    own datasets folder (``path: coco128`` inside coco128/), which detkit does not have: it is
    read as the longest tail of it that is a folder beside the yaml, else the yaml's folder,
    and said in one line."""
    folder = yaml_path.resolve().parent
    if not config.get("path"):
        return folder
    if not isinstance(config["path"], (str, int)) or isinstance(config["path"], bool):
        raise DatasetError(f"path: must be the dataset's folder, got {type(config['path']).__name__}", str(yaml_path))
    written = str(config["path"])
    root = (folder / written).resolve()
    if is_system_folder(root):
        raise DatasetError(f"path: {written!r} is a system folder, not a dataset; fix the path", str(yaml_path))
    if root.is_dir():
        return root
    here = _path_here(written, folder)
    here = here if here is not None and here.is_dir() else folder
    log.info("data: %s: path %r is not a folder here; read as %s", yaml_path, written, here)
    return here


def _listed_images(config: dict[str, Any], base: Path, yaml_path: Path) -> dict[str, list[str]]:
    """The images of each of ``train`` / ``val`` (or ``validation``) / ``test``, by detkit's
    split name; without any of them, every image under ``base/images`` (key ``""``) or, without
    that folder, those of the split folders beside the yaml (`_split_folders`)."""
    config = dict(config)
    if "val" not in config and "validation" in config:
        config["val"] = config["validation"]
    listed, found = {}, {}  # found: each entry's images, read once (``train`` and ``val`` are often one folder)
    for split, key in FILE_NAMES.items():
        entries = config.get(key)
        if entries:
            entries = entries if isinstance(entries, list) else [entries]
            if not all(isinstance(e, (str, int)) and not isinstance(e, bool) for e in entries):
                raise DatasetError(f"{key}: must be a folder, a .txt list of images, or a list of them", str(yaml_path))
            entries = [str(e) for e in entries]
            for entry in entries:
                if entry not in found:
                    found[entry] = _entry_images(entry, base, f"{yaml_path}: {key}")
            listed[split] = [p for entry in entries for p in found[entry]]
    if listed:
        return listed
    if (base / "images").is_dir():
        return {"": _folder_images(base / "images")}
    return _split_folders(base) or {"": _folder_images(base)}


def _split_folders(base: Path) -> dict[str, list[str]]:
    """The images of the folders beside the yaml named as splits (``train/``, ``valid/``,
    ``test/``: LabelImg's and Roboflow's layouts), by detkit's split name."""
    listed: dict[str, list[str]] = {}
    for folder in sorted(p for p in base.iterdir() if p.is_dir()):
        split = detkit_split(folder.name)
        if split is not None and (images := _folder_images(folder)):
            listed.setdefault(split, []).extend(images)
    return listed


def _split_lists(config: dict[str, Any], base: Path) -> set[str]:
    """The ``.txt`` image lists the yaml's splits name (they may lie among label files)."""
    entries = [config.get(key) for key in (*FILE_NAMES.values(), "validation")]
    flat = [e for entry in entries for e in (entry if isinstance(entry, list) else [entry])]
    return {os.path.normpath(base / e) for e in flat if isinstance(e, str) and e.endswith(".txt")}


def _entry_images(entry: str, base: Path, where: str) -> list[str]:
    """A folder's images (recursively) or the images a ``.txt`` file lists, one path a line
    (relative ones to the list's folder). Roboflow writes ``../train/images`` for a folder
    beside the yaml; as Ultralytics does, that is tried without the ``../``."""
    path = base / entry
    try:
        if not path.exists() and entry.startswith("../"):
            path = base / entry[3:]
        if not path.exists() and (WINDOWS_PATH.search(entry) or entry.startswith("/")):
            path = _foreign_path_here(entry, base, where)
        kind = "folder" if path.is_dir() else "list" if path.is_file() and path.suffix == ".txt" else None
    except (OSError, ValueError) as e:  # a name too long for the file system, a NUL in it
        raise DatasetError(f"{entry!r} cannot be a path ({e}); fix the path", where) from None
    if is_system_folder(path):
        raise DatasetError(f"{entry!r} is a system folder, not a dataset's images; fix the path", where)
    if kind == "folder":
        return _folder_images(path)
    if kind == "list":
        lines = [line.strip() for line in read_text(path).splitlines()]
        return [os.path.normpath(_darknet_path(line, path.parent)) for line in lines if line]
    raise DatasetError(
        f"{entry!r} is not a folder or .txt list of images (looked for {path}){_near_name(path, base)}"
        f"{_image_folders_beside(base)}; fix the path",
        where,
    )


def _foreign_path_here(entry: str, base: Path, where: str) -> Path:
    """A path from the exporter's machine (``C:\\Users\\me\\set\\labels\\train``,
    ``/content/set/train/images``) read as the longest tail of it that is here, beside the
    yaml (``train``); said in one line."""
    here = _path_here(entry, base)
    if here is not None:
        log.info("data: %s: %r is a path of another machine; read as %s", where, entry, here)
        return here
    parts = _path_parts(entry)
    return base.joinpath(*parts) if parts else base / entry


def _path_here(written: str, base: Path) -> Path | None:
    """The longest tail of the path ``written`` (any separators, a drive letter dropped) that
    exists under ``base``; None if none does."""
    parts = _path_parts(written)
    for start in range(len(parts)):
        candidate = base.joinpath(*parts[start:])
        if candidate.exists():
            return candidate
    return None


def _path_parts(written: str) -> list[str]:
    return [p for p in re.split(r"[\\/]+", written) if p and p not in (".", "..") and not re.fullmatch(r"[A-Za-z]:", p)]


def _near_name(path: Path, base: Path) -> str:
    """``; did you mean 'images/valid' (12 images)?``: the folder beside the missing ``path``
    whose name is nearest its own (``valid`` for ``val``, ``Train`` for ``train``) and that
    holds images; empty when none is near."""
    with contextlib.suppress(OSError, ValueError):
        siblings = {p.name: p for p in path.parent.iterdir() if p.is_dir() and not p.name.startswith(".")}
        by_case = {name.lower(): name for name in siblings}
        near = difflib.get_close_matches(path.name.lower(), list(by_case), n=3, cutoff=0.6)
        for name in (by_case[n] for n in near):
            if images := _folder_images(siblings[name]):
                shown = os.path.relpath(siblings[name], base)
                return f"; did you mean {shown!r} ({len(images)} image(s))?"
    return ""


def _image_folders_beside(base: Path) -> str:
    """``; beside it: <folder>/ (images/, labels/), ...``: the folders beside the yaml that hold
    images, for a message about a split folder that is not there (a renamed export); what
    cannot be listed is left out."""
    shown = []
    with contextlib.suppress(OSError):
        folders = sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
        for folder in folders[:20]:
            with contextlib.suppress(OSError):
                entries = list(itertools.islice(folder.iterdir(), 1000))
                inner = sorted(p.name for p in entries if p.is_dir())
                if "images" in inner or any(os.path.splitext(p.name)[1].lower() in IMAGE_SUFFIXES for p in entries):
                    shown.append(f"{folder.name}/" + (f" ({', '.join(f'{n}/' for n in inner)})" if inner else ""))
    return f"; beside it: {', '.join(shown)}" if shown else ""


def _folder_images(folder: Path) -> list[str]:
    """The paths of the images under ``folder`` as found there (a link kept as its own path, as
    Ultralytics keeps it: its labels are looked up beside the link, not beside its target), in
    the order pathlib sorts them. ``folder`` itself may be a link (an export whose ``images``
    links to the photos); links to folders inside are not followed (as pathlib's ``rglob``), and
    a link to a file outside ``folder`` is refused, as a ``../`` path would be. Each folder is
    listed once, its entries' types with it (a ``Path`` and an ``lstat`` per image cost more
    than reading its labels)."""
    real_root = os.path.realpath(folder)
    found, leaving, pending = [], [], [str(folder)]
    while pending:
        shown = pending.pop()
        with contextlib.suppress(OSError), os.scandir(shown) as entries:  # rglob skips what it cannot list
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
                elif os.path.splitext(entry.name)[1].lower() not in IMAGE_SUFFIXES:
                    continue
                elif not entry.is_symlink() or resolves_under(entry.path, real_root):
                    found.append(entry.path)
                else:
                    leaving.append(entry.path)
    if leaving:
        listed = ", ".join(f"{p} -> {os.readlink(p)}" for p in sorted(leaving)[:5])
        raise DatasetError(
            f"{len(leaving)} image link(s) lead outside the folder: {listed}; copy the images in", str(folder)
        )
    return sorted(found, key=lambda p: p.split(os.sep))  # in the order Paths compare


class _ImageFiles(NamedTuple):
    """What an image's files hold: its name under the root, its size as shown, its label file,
    that file's objects if every line passed the checks (else None, and the file's text for
    `_checked_objects`), and whether a sidecar json lies beside it."""

    name: str
    width: int
    height: int
    labels: str
    text: str
    sidecar: bool
    objects: Objects | None = None
    labelled: bool = False  # a label file was there (perhaps empty: an image without objects)


def _read_files(paths: Sequence[str], root: Path, num_classes: int, margin: float) -> list[_ImageFiles | str]:
    """Each image's files read and its label lines checked (`map_files` runs it in workers: an
    image's header and its label file are most of a YOLO dataset's reading), or the problem
    that stops it."""
    start = len(os.path.join(str(root), ""))
    names = [path[start:] if _under(path, root) else Path(path).relative_to(root).as_posix() for path in paths]
    found = [_read_one(path, name, root) for path, name in zip(paths, names)]
    read = [files for files in found if isinstance(files, _ImageFiles)]
    checked = iter(_well_formed_objects(read, num_classes, margin))
    return [files if isinstance(files, str) else _with_objects(files, next(checked)) for files in found]


def _with_objects(files: _ImageFiles, objects: Objects | None) -> _ImageFiles:
    """``files`` with its checked ``objects``, its text kept only for `_checked_objects` to go through."""
    return files._replace(objects=objects, text="") if objects is not None else files


def _files_of(path: str, files: _ImageFiles | str) -> list[str] | None:
    """The files an image's result comes from when all its lines passed: the image, its label
    file (and the one beside the image's link, when its labels were found beside the target)
    and their sidecar (each may be absent)."""
    if isinstance(files, str) or files.objects is None:
        return None
    return list(dict.fromkeys([path, label_path(path), files.labels, os.path.splitext(files.labels)[0] + ".json"]))


def _read_one(path: str, name: str, root: Path) -> _ImageFiles | str:
    if bad_name := file_name_problem(name):
        return f"{root}: {bad_name}"
    try:
        width, height = shown_size(path)
    except OSError as e:
        return f"{path}: unreadable image ({e})"
    labels = label_path(path)
    labelled = os.path.lexists(labels)  # a broken link is not "no labels"
    if not labelled and os.path.lexists(beside_target := label_path(os.path.realpath(path))):
        labels, labelled = beside_target, True  # a linked image labelled where its target is
    try:
        text = read_text(labels) if labelled else ""
    except DatasetError as e:
        return str(e)
    sidecar = os.path.lexists(os.path.splitext(labels)[0] + ".json")
    return _ImageFiles(name, width, height, labels, text, sidecar, labelled=labelled)


def _well_formed_objects(read: list[_ImageFiles], num_classes: int, margin: float) -> list[Objects | None]:
    """Each image's boxes and labels when every line of its label file passes `_parse_line`
    and the border check, checked with arrays over all images at once (line by line it cost
    5 us a line); None for an image where one might not, for `_checked_objects` to name what
    fails."""
    rows, owners, sizes, plain = [], [], [], []
    for index, files in enumerate(read):
        fields = [line.split() for line in files.text.splitlines()]
        fields = [f for f in fields if f]
        plain.append(all(len(f) == 5 and f[0].isascii() and f[0].isdigit() for f in fields))
        if plain[-1]:
            rows += fields
            owners += [index] * len(fields)
            sizes += [(files.width, files.height)] * len(fields)
    try:  # one float() a field (the class too: its digits were checked, so its value is whole)
        table = np.array(list(map(float, itertools.chain.from_iterable(rows))), dtype=np.float64).reshape(-1, 5)
    except (ValueError, OverflowError):  # a value float() refuses: every image goes line by line
        return [None] * len(read)
    owner, size = np.array(owners, dtype=np.int64), np.array(sizes, dtype=np.float64).reshape(-1, 2)
    values, scale = table[:, 1:], np.tile(size, 2)
    corners = _corners(values, scale)
    good = (
        (table[:, 0] < num_classes)
        & np.isfinite(values).all(axis=1)
        & ((values >= -TOLERANCE) & (values <= 1 + TOLERANCE)).all(axis=1)
        & (values[:, 2] > 0)
        & (values[:, 3] > 0)
        & (border_overshoots(corners, size) <= margin)
    )
    failed = set(owner[~good].tolist())
    boxes, labels = corners.clip(0, scale), table[:, 0].astype(np.int64)
    starts = np.searchsorted(owner, np.arange(len(read) + 1)).tolist()
    return [
        (boxes[start:end], labels[start:end]) if plain[index] and index not in failed else None
        for index, (start, end) in enumerate(itertools.pairwise(starts))
    ]


def _checked_objects(
    files: _ImageFiles, num_classes: int, margin: float, keypoint_values: int, problems: list[str], forms: Counter
) -> Objects:
    """The boxes and labels of the lines of an image's label file that pass `_parse_line` and
    the border check, line by line, each other line's problem named; ``forms`` counts the
    lines that were polygons or boxes with keypoints."""
    width, height = files.width, files.height
    rows = []
    for number, line in enumerate(files.text.splitlines(), start=1):
        row = _parse_line(line, num_classes, keypoint_values)
        if isinstance(row, tuple):
            row, form = row
            forms[form] += 1
        if isinstance(row, list):
            outside = border_overshoot(_corners(np.array(row[1:]), [width, height] * 2).tolist(), width, height)
            if outside > margin:
                row = f"box lies {outside:.1f} px outside the {width}x{height} image (border_margin={margin})"
        if isinstance(row, str):
            problems.append(f"{files.labels}: line {number}: {row}")
        elif row is not None:
            rows.append(row)
    table = np.array(rows, dtype=np.float64).reshape(-1, 5)
    return _corners(table[:, 1:], [width, height] * 2).clip(0, [width, height] * 2), table[:, 0].astype(np.int64)


def _corners(values: np.ndarray, scale: np.ndarray | list[int]) -> np.ndarray:
    """Pixel ``xyxy`` corners of normalised ``[cx, cy, w, h]`` rows, ``scale`` being
    ``[width, height, width, height]`` (of each row, or of all)."""
    return cxcywh_to_xyxy(values * scale)


def _parse_line(line: str, num_classes: int, keypoint_values: int = 0) -> list[float] | tuple[list, str] | str | None:
    """A label line's ``[class, cx, cy, w, h]`` (with what the line was when it was not a plain
    box), the problem that stops it, or None for a blank line."""
    fields = line.split()
    if not fields:
        return None
    try:
        label, *values = int(fields[0]), *(float(v) for v in fields[1:])
    except ValueError:
        return f"not numbers: {line.strip()!r}"
    form = _line_form(len(fields), keypoint_values)
    if form is None:
        pose = f", or 'class cx cy w h' and {keypoint_values} keypoint values" if keypoint_values else ""
        polygon = "a polygon 'class x1 y1 x2 y2 x3 y3 ...'"
        return f"expected 5 fields 'class cx cy w h', or {polygon}{pose}; got {len(fields)}"
    if form == "keypoints":
        values = values[:4]
    elif form == "polygon":  # its bounding box, as Ultralytics trains a detector on segment labels
        points = np.array(values).reshape(-1, 2)
        (x1, y1), (x2, y2) = points.min(axis=0).tolist(), points.max(axis=0).tolist()
        values = [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1]
    row = _checked_row(label, values, num_classes)
    return row if form == "box" or isinstance(row, str) else (row, form)


def _line_form(fields: int, keypoint_values: int) -> str | None:
    """What a label line of ``fields`` fields is: a box, a box with keypoints (when the yaml has
    ``kpt_shape``), a polygon (a class and three or more points), or none of them."""
    if fields == 5:
        return "box"
    if keypoint_values and fields == 5 + keypoint_values:
        return "keypoints"
    return "polygon" if fields >= 7 and fields % 2 == 1 else None


def _checked_row(label: int, values: list[float], num_classes: int) -> list[float] | str:
    """``[class, cx, cy, w, h]``, or why the class or the box cannot be kept."""
    if not 0 <= label < num_classes:
        listed = f"{num_classes} class name{'s' if num_classes != 1 else ''}"
        return (
            f"class {label} outside 0..{num_classes - 1}: the class list names {listed}; add the name or fix the line"
        )
    if not all(math.isfinite(v) for v in values):
        return f"coordinates {values} hold NaN or infinity"
    if any(v < -TOLERANCE or v > 1 + TOLERANCE for v in values):
        return f"coordinates {values} outside [0, 1]; YOLO labels are normalised by the image size"
    if values[2] <= 0 or values[3] <= 0:
        return f"box {values} has zero or negative width/height"
    return [label, *values]


def write_yolo(dataset: DetectionDataset, root: str | Path) -> Path:
    """Copy images into ``root/images``, write ``root/labels`` and ``root/data.yaml``; the
    dataset's given splits become ``<split>.txt`` image lists the yaml names, relative to it as
    Ultralytics reads them. Crowd regions have no YOLO form and are left out."""
    root = Path(root)
    copy_images(dataset, root / "images")
    for record in dataset.records:
        normalised = xyxy_to_cxcywh(record.boxes.astype(np.float64)) / ([record.width, record.height] * 2)
        lines = [
            f"{int(label)} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}"
            for (cx, cy, w, h), label, crowd in zip(normalised.tolist(), record.labels, record.iscrowd)
            if not crowd
        ]
        labels = Path(label_path(str(root / "images" / record.file_name)))  # where readers will look for them
        write_text_atomic(labels, "".join(f"{x}\n" for x in lines))
        write_sidecar(labels.with_suffix(".json"), record, dataset.class_names)
    # No ``path:``: Ultralytics reads a relative one against the folder it runs in (``.`` always
    # exists there), and without one it takes the yaml's folder, wherever the export is moved.
    config: dict[str, Any] = {"train": "images", "val": "images"}
    names_of = {r.image_id: r.file_name for r in dataset.records}
    for split, key in FILE_NAMES.items():
        if split in dataset.given_splits:
            listing = "".join(f"./images/{names_of[i]}\n" for i in dataset.given_splits[split])
            write_text_atomic(root / f"{key}.txt", listing)
            config[key] = f"{key}.txt"
    config["names"] = dict(enumerate(dataset.class_names))
    write_text_atomic(root / "data.yaml", yaml.safe_dump(config, sort_keys=False))
    return root
