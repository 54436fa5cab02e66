"""An export read as its maker wrote it: the format and layout found from the files (COCO,
Pascal VOC, YOLO, CVAT for images XML or LabelMe JSON; one annotation file, or one per split),
its own splits kept, and what was found said in one line.

COCO layouts: a json (``data.root`` itself, ``annotations.json``, or the one json in the
folder), the official ``annotations/instances_<split>.json`` beside ``<split>/`` image folders,
or Roboflow's split folders (``train/``, ``valid/``, ``test/``), each a json beside its images.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import replace
from pathlib import Path

import numpy as np

from detkit.data.formats.coco import load_coco
from detkit.data.formats.cvat import cvat_files, load_cvat, root_element
from detkit.data.formats.labelme import load_labelme, looks_like_labelme
from detkit.data.formats.pairing import xml_pairing
from detkit.data.formats.pixels import settle_undecodable
from detkit.data.formats.quirks import drop_empty_classes, settle_small_boxes, warn_similar_names
from detkit.data.formats.roots import check_input_path
from detkit.data.formats.split_names import detkit_split
from detkit.data.formats.voc import annotation_folder, load_voc
from detkit.data.formats.yolo import class_list, find_yolo_yaml, load_yolo, yolo_yamls
from detkit.data.records import DetectionDataset, Record
from detkit.data.regular_files import read_head
from detkit.data.splits.seeded import SPLITS
from detkit.exceptions import ConfigError, DatasetError

FORMATS = ("coco", "voc", "yolo", "cvat", "labelme")
COCO_FILE = "annotations.json"
LOOKED_FOR = (
    "COCO: a .json, annotations.json, annotations/instances_<split>.json, or train/ valid/ test/ folders each "
    "with a .json; Pascal VOC: Annotations/ (+ JPEGImages/, ImageSets/Main/), .xml files beside images, or a "
    "folder of .xml files whose stems a folder of images shares; "
    "YOLO: a .yaml with the class `names`, or LabelImg's classes.txt; "
    "CVAT for images: annotations.xml (or <subset>.xml) with <annotations>; "
    "LabelMe: .json files with shapes and imagePath"
)
LABELME_DEPTH = 3  # folders under the root looked into for LabelMe's json files
MOST_COCO_FILES = 8  # json files in a folder beyond which they are one per image (LabelMe), not COCO's
log = logging.getLogger(__name__)


def load_export(
    root: str | Path | None = None,
    format: str = "auto",
    images: str | Path | None = None,
    image_set: str | None = None,
    on_invalid: str = "error",
    border_margin: float = 2.0,
    keep_empty_classes: bool = False,
    min_box_size: float = 2.0,
) -> DetectionDataset:
    """Read the export at ``root`` (a folder or an annotation file) in ``format``, or in the one
    its files show with ``auto``. ``images`` is the folder image names are relative to (COCO,
    VOC); ``image_set`` a VOC ``ImageSets/Main`` set to read alone; ``on_invalid`` and
    ``border_margin`` as in `load_coco`. Classes no box uses are left out unless
    ``keep_empty_classes``; boxes under ``min_box_size`` px on a side are reported (`quirks`)."""
    if root is None:
        raise ConfigError("data.root is missing: data.root=<the export's folder, or its annotation file>")
    root = check_input_path(root, "data.root", "point it at the export's folder or annotation file")
    if format not in (*FORMATS, "auto"):
        raise ConfigError(f"data format {format!r}; choose one of {['auto', *FORMATS]}")
    found = detect_format(root) if format == "auto" else format
    if found == "coco":
        parts = coco_parts(root, None if images is None else Path(images))
        if not parts:
            raise DatasetError(f"no COCO annotations here (looked for {LOOKED_FOR.split('; ')[0]})", str(root))
        loaded = [
            (split, load_coco(json, image_root, border_margin=border_margin, on_invalid=on_invalid))
            for split, json, image_root in parts
        ]
        dataset = join_splits(loaded)
        files = ", ".join(str(json.relative_to(root)) if json != root else json.name for _, json, _ in parts)
    elif found == "voc":
        dataset = load_voc(root, image_set, border_margin=border_margin, on_invalid=on_invalid, images=images)
        files = "ImageSets/Main" if dataset.given_splits else "every .xml"
    elif found == "cvat":
        paths = cvat_files(root)
        if not paths:
            raise DatasetError(
                "no CVAT for images XML here (an .xml file whose root element is <annotations>)", str(root)
            )
        subsets = [(detkit_split(path.stem) or "") if len(paths) > 1 else "" for path in paths]  # datumaro's files
        dataset = join_splits(
            [
                (s, load_cvat(p, images, border_margin=border_margin, on_invalid=on_invalid))
                for s, p in zip(subsets, paths)
            ]
        )
        files = ", ".join(path.name for path in paths)
    elif found == "labelme":
        dataset = load_labelme(root, images, border_margin=border_margin, on_invalid=on_invalid)
        files = "every LabelMe .json"
    else:
        if images is not None:
            raise ConfigError("data.images does not apply to YOLO: its yaml names the images; leave it out")
        yaml_path = find_yolo_yaml(root)
        dataset = load_yolo(yaml_path, on_invalid=on_invalid, border_margin=border_margin)
        files = yaml_path.name
    dataset = settle_undecodable(dataset, str(root), on_invalid)
    log.info("data: %s", describe(found, root, files, dataset))
    dataset = dataset if keep_empty_classes else drop_empty_classes(dataset)
    warn_similar_names(dataset)
    return require_images(settle_small_boxes(dataset, min_box_size, on_invalid), root, on_invalid)


def require_images(dataset: DetectionDataset, root: Path, on_invalid: str) -> DetectionDataset:
    """``dataset`` if it holds an image, and each of its own splits too; else a `DatasetError`:
    nothing is left to train on or score (every image refused under ``drop``, or none listed)."""
    why = "every image was left out as invalid (data.on_invalid=drop)" if on_invalid == "drop" else "it lists none"
    if not dataset.records:
        raise DatasetError(f"no images left to use: {why}; fix the export or point data.root at another", str(root))
    empty = [split for split, ids in dataset.given_splits.items() if not ids]
    if empty:
        raise DatasetError(
            f"the export's own split(s) {', '.join(empty)} hold no image after reading ({why}); fix the export, "
            "or pool the rest and split anew with data.splits=resplit",
            str(root),
        )
    return dataset


def describe(format: str, root: Path, files: str, dataset: DetectionDataset) -> str:
    """One line: the format and files found, the images (and how many hold no object), the
    boxes read, the classes, and the export's own splits if any."""
    boxes = sum(len(record.boxes) for record in dataset.records)
    empty = sum(len(record.boxes) == 0 for record in dataset.records)
    splits = (
        "its own splits "
        + ", ".join(f"{s} {len(dataset.given_splits[s])}" for s in SPLITS if s in dataset.given_splits)
        if dataset.given_splits
        else "no splits of its own"
    )
    classes = f"{dataset.num_classes} class{'es' if dataset.num_classes != 1 else ''}"
    return (
        f"{FORMAT_NAMES[format]} export {root} ({files}): {len(dataset)} images "
        f"({empty} without objects), {boxes} boxes, {classes}, {splits}"
    )


FORMAT_NAMES = {"coco": "COCO", "voc": "Pascal VOC", "yolo": "YOLO", "cvat": "CVAT for images", "labelme": "LabelMe"}
COCO_LISTS = re.compile(rb'"(?:images|annotations)"\s*:\s*\[')


def detect_format(root: Path) -> str:
    """The one format whose files are at ``root``; none or several is a `DatasetError`."""
    if root.is_file():
        return _file_format(root)
    found = [
        name
        for name, present in (
            ("coco", _has_coco(root)),
            ("voc", _has_voc(root)),
            ("yolo", _has_yolo(root)),
            ("cvat", bool(cvat_files(root))),
            ("labelme", _has_labelme(root)),
        )
        if present
    ]
    if not found and xml_pairing(root) is not None:  # searched last: it looks into every folder under the root
        found = ["voc"]
    if len(found) == 1:
        return found[0]
    if not found:
        raise DatasetError(
            f"no dataset found; looked for {LOOKED_FOR}; annotations and images in folders of other names: "
            "data.root=<the annotation folder or file> data.images=<the image folder>",
            source=str(root),
        )
    raise DatasetError(
        f"this looks like {' and '.join(found)}; choose with data={found[0]} (or {', '.join(found[1:])})", str(root)
    )


def _file_format(path: Path) -> str:
    """The format of an annotation file given as ``data.root``."""
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return "yolo"
    if suffix == ".json":
        return "coco" if looks_like_coco(path) or not looks_like_labelme(path) else "labelme"
    if suffix == ".xml" and root_element(path) == "annotations":
        return "cvat"
    if suffix == ".xml":
        raise DatasetError("one Pascal VOC file; point data.root at the folder of the .xml files", str(path))
    raise DatasetError(
        "not an annotation file (.json for COCO or LabelMe, .yaml for YOLO, .xml for CVAT) nor a folder", str(path)
    )


def _has_coco(root: Path) -> bool:
    return bool(
        any(looks_like_coco(path) for path in _few_jsons(root))
        or list((root / "annotations").glob("instances_*.json"))
        or any(
            folder.is_dir() and detkit_split(folder.name) and any(looks_like_coco(p) for p in _few_jsons(folder))
            for folder in root.iterdir()
        )
    )


def _few_jsons(folder: Path) -> list[Path]:
    """The json files of ``folder`` when it holds at most `MOST_COCO_FILES` of them: a folder of
    more holds one per image (LabelMe's), none of them COCO's."""
    jsons = sorted(folder.glob("*.json"))
    return jsons if len(jsons) <= MOST_COCO_FILES else []


def _has_labelme(root: Path) -> bool:
    """Whether the first json file under ``root`` (to `LABELME_DEPTH` folders down: LabelMe's
    ``--output`` folder may nest as its images do) is LabelMe's."""
    level = [root]
    for _ in range(LABELME_DEPTH + 1):
        jsons = sorted(p for folder in level for p in folder.glob("*.json") if not p.name.startswith("."))
        if jsons:
            return looks_like_labelme(jsons[0]) and not looks_like_coco(jsons[0])
        level = sorted(p for folder in level for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    return False


def looks_like_coco(path: Path) -> bool:
    """Whether a json beside the images can be a COCO file: its first MiB has a list of
    ``images`` or ``annotations`` (Label Studio's YOLO export holds a ``notes.json`` of classes,
    others a json of split statistics with counts by those names; an unreadable file counts, for
    the reader to name what is wrong with it)."""
    head = read_head(path, 1 << 20)
    return head is None or COCO_LISTS.search(head) is not None


def _has_yolo(root: Path) -> bool:
    return bool(yolo_yamls(root)) or class_list(root) is not None


def _has_voc(root: Path) -> bool:
    """An ``Annotations/`` folder, or xml files in ``root`` that are not CVAT's."""
    return annotation_folder(root) is not None or (any(root.glob("*.xml")) and not cvat_files(root))


def coco_parts(root: Path, images: Path | None = None) -> list[tuple[str, Path, Path | None]]:
    """``(split, json, image folder or None for the json's default)`` of each annotation file of
    a COCO export at ``root``; ``split`` is detkit's name for the file's split, ``""`` for none."""
    if root.is_file():
        return [("", root, images)]
    if (root / COCO_FILE).is_file():
        return [("", root / COCO_FILE, images)]
    official = sorted((root / "annotations").glob("instances_*.json"))
    if official:
        names = [path.stem.removeprefix("instances_") for path in official]
        return [(detkit_split(n) or "", p, _official_images(root, n, images)) for n, p in zip(names, official)]
    per_split = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and detkit_split(p.name)):
        jsons = sorted(folder.glob("*.json"))
        if len(jsons) > 1:
            raise DatasetError(
                f"several json files ({', '.join(p.name for p in jsons)}); keep one per split folder", str(folder)
            )
        if jsons:
            per_split.append(
                (detkit_split(folder.name) or "", jsons[0], None if images is None else images / folder.name)
            )
    if per_split:
        return sorted(per_split, key=lambda part: SPLITS.index(part[0]))
    top = sorted(path for path in root.glob("*.json") if looks_like_coco(path))
    if len(top) > 1:
        listed = ", ".join(p.name for p in top)
        raise DatasetError(f"several json files ({listed}); point data.root at the annotation file", str(root))
    return [("", top[0], images)] if top else []


def _official_images(root: Path, name: str, images: Path | None) -> Path:
    """The image folder of ``annotations/instances_<name>.json``: ``<name>/`` beside
    ``annotations/`` (official COCO), ``images/<name>/``, or ``images/`` (CVAT's ``default``)."""
    base = images or root
    for folder in (base / name, base / "images" / name, base / "images", base):
        if folder.is_dir():
            return folder
    return base / name


def join_splits(parts: list[tuple[str, DetectionDataset]]) -> DetectionDataset:
    """One dataset of several annotation files, each of one split (``""``: none): image names
    relative to the folder all share; classes joined by name (each keeps its first category
    id); image ids kept unless two files share one, then numbered anew. The files' splits
    become `given_splits` when every file has one."""
    if len(parts) == 1 and not parts[0][0]:
        return parts[0][1]
    root = Path(os.path.commonpath([str(dataset.root.resolve()) for _, dataset in parts]))
    names: list[str] = []
    category_ids: list[int] = []
    for _, dataset in parts:
        for name, cid in zip(dataset.class_names, dataset.category_ids):
            if name not in names:
                names.append(name)
                category_ids.append(cid)
    if len(set(category_ids)) < len(category_ids):  # two files gave one id to different names
        category_ids = list(range(1, len(names) + 1))
    original_ids = [r.image_id for _, dataset in parts for r in dataset.records]
    renumber = len(set(original_ids)) < len(original_ids)
    records: list[Record] = []
    given: dict[str, list[int]] = {}
    for split, dataset in parts:
        to_joined = np.array([names.index(n) for n in dataset.class_names], dtype=np.int64)
        for record in dataset.records:
            image_id = len(records) + 1 if renumber else record.image_id
            file_name = (dataset.root.resolve() / record.file_name).relative_to(root).as_posix()
            annotated = None if record.annotated is None else frozenset(int(to_joined[i]) for i in record.annotated)
            records.append(
                replace(
                    record, image_id=image_id, file_name=file_name, labels=to_joined[record.labels], annotated=annotated
                )
            )
            given.setdefault(split, []).append(image_id)
    keep_given = all(split for split, _ in parts)
    return DetectionDataset(root, names, records, category_ids, given if keep_given else {})
