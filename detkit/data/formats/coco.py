"""COCO instances json <-> `DetectionDataset`.

COCO boxes are ``[x, y, width, height]`` in absolute pixels; inside detkit they are ``xyxy``.
Extra image keys ``group``, ``domain`` and ``split`` (detkit's, ignored by other tools) are read
and written; ``split`` holds the dataset's `given_splits`.
"""

from __future__ import annotations

import itertools
import json
import logging
import operator
import os
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from detkit.data import limits
from detkit.data.boxes import xywh_to_xyxy, xyxy_to_xywh
from detkit.data.formats.coco_columns import (
    MAX_AREA,
    NO_OBJECTS,
    Objects,
    image_boxes,
    object_columns,
    read_well_typed,
)
from detkit.data.formats.documents import check_unique_keys
from detkit.data.formats.fields import (
    collector_paused,
    file_name_problem,
    is_number,
    is_whole,
    parse_json,
    read_text,
)
from detkit.data.formats.images import border_overshoot
from detkit.data.formats.problems import check_on_invalid, image_problems, settle_problems
from detkit.data.formats.roots import ImageRoot, escapes_root
from detkit.data.records import DetectionDataset, Record
from detkit.exceptions import DatasetError
from detkit.files import write_json_atomic

log = logging.getLogger(__name__)
ROOT_SAMPLE = 64  # file names looked up to tell which folder a json's names are relative to


@collector_paused()  # records by the 100,000 hold no cycles; the collector would walk them again and again
def load_coco(
    annotations: str | Path,
    image_root: str | Path | None = None,
    check_images: bool = True,
    border_margin: float = 2.0,
    on_invalid: str = "error",
) -> DetectionDataset:
    """Read a COCO instances json; image ``file_name``s are relative to ``image_root``.

    ``image_root`` defaults to an ``images/`` folder beside the json, or without one the json's
    own folder (Roboflow puts the images beside it); ``check_images=False``
    skips checking the image files (to score results without images). Boxes crossing the
    image border by at most ``border_margin`` px are clipped, beyond it they are invalid.
    Every problem found is reported at once, naming the file, record and fix: as one
    `DatasetError` (``on_invalid="error"``) or, with ``"drop"``, by leaving out what is invalid.
    """
    check_on_invalid(on_invalid)
    path = Path(annotations)
    problems: list[str] = []
    text = read_text(path, missing="check the annotations path", limit=limits.JSON_BYTES)
    typed = read_well_typed(text)
    if typed is not None:
        check_top_level_keys(text, str(path))
    data = typed if typed is not None else _parse_coco(text, path, problems)
    root = Path(image_root) if image_root is not None else default_image_root(path, data["images"])
    if len(data["categories"]) > limits.CATEGORIES.value:
        raise DatasetError(limits.CATEGORIES.exceeded(len(data["categories"])), str(path))
    class_names, category_ids = _read_categories(data, problems)
    images = _read_images(data, root if check_images else None, problems)
    objects = None if typed is None else object_columns(typed["annotations"], images, category_ids, border_margin)
    refused: set[int] = set()  # images an annotation of which was refused: their labels are not whole
    if objects is None:
        annotations = data["annotations"] if typed is None else _parse_coco(text, path, [])["annotations"]
        listed = data["images"]
        objects = _check_annotations(annotations, listed, images, category_ids, border_margin, problems, refused)
    records = {image_id: _record(image, objects.get(image_id, NO_OBJECTS)) for image_id, image in images.items()}
    _read_partial_labels(data, records, category_ids, problems, refused)
    left_out = [len(records.pop(image_id).boxes) for image_id in sorted(refused)]
    settle_problems(problems, str(path), on_invalid, left_out)
    given: dict[str, list[int]] = {}
    for image in data["images"]:
        if is_whole(image.get("id")) and image["id"] in records and image.get("split"):
            given.setdefault(str(image["split"]), []).append(image["id"])
    return DetectionDataset(root, class_names, list(records.values()), category_ids, given)


def check_top_level_keys(text: str, source: str) -> None:
    """Refuse a COCO file read by the typed path that names ``images``, ``annotations`` or
    ``categories`` twice (a hand-merged file; the parser would keep the last list and drop the
    first without a word). Each name counted in the text: appearing once is the proof; more
    often (also as a value, say a class named "images") sends it to the exact check."""
    if any(text.count(f'"{key}"') != 1 for key in ("images", "annotations", "categories")):
        check_unique_keys(text, source)


def default_image_root(annotations: Path, images: list[Any]) -> Path:
    """Where a COCO json's images are when nobody says: ``images/`` beside it (CVAT, the COCO
    site's layouts) or the json's own folder (Roboflow's split folders; Label Studio's
    ``result.json``, whose file names start with ``images/``), whichever more of a sample of its
    ``images`` entries' file names are found in; ties to ``images/``."""
    candidates = [folder for folder in (annotations.parent / "images", annotations.parent) if folder.is_dir()]
    if len(candidates) < 2:
        return candidates[0] if candidates else annotations.parent
    names = [
        _inside(image["file_name"].replace("\\", "/"))
        for image in images[:: max(1, len(images) // ROOT_SAMPLE)][:ROOT_SAMPLE]
        if isinstance(image, dict) and isinstance(image.get("file_name"), str)
    ]
    found = [sum(os.path.isfile(os.path.join(folder, name)) for name in names) for folder in candidates]
    return candidates[found.index(max(found))]


def _parse_coco(text: str, path: Path, problems: list[str]) -> dict[str, Any]:
    """The json's three lists as plain JSON, each entry an object (the others reported and
    left out)."""
    try:
        data = parse_json(text, str(path))
    except json.JSONDecodeError as e:
        msg = f"line {e.lineno}, column {e.colno}: invalid JSON ({e.msg}); fix the file or re-export it"
        raise DatasetError(msg, source=str(path)) from None
    missing = [k for k in ("images", "annotations", "categories") if not isinstance(data, dict) or k not in data]
    if missing:
        raise DatasetError(f"not a COCO instances file: missing top-level {missing}", source=str(path))
    wrong = [k for k in ("images", "annotations", "categories") if not isinstance(data[k], list)]
    if wrong:
        raise DatasetError(f"not a COCO instances file: {wrong} must be lists of objects", source=str(path))
    entries = {}
    for key in ("images", "annotations", "categories"):
        for index, entry in enumerate(data[key]):
            if not isinstance(entry, dict):
                problems.append(f"{key}[{index}]: must be an object {{...}}, got {entry!r}")
        entries[key] = [entry for entry in data[key] if isinstance(entry, dict)]
    return {**data, **entries}


def _read_categories(data: dict[str, Any], problems: list[str]) -> tuple[list[str], list[int]]:
    categories = []
    for cat in data["categories"]:
        if is_whole(cat.get("id")) and isinstance(cat.get("name"), str) and cat["name"]:
            categories.append(cat)
        else:
            problems.append(f"category {cat}: needs a whole 'id' of at most 64 bits and a non-empty 'name'")
    categories.sort(key=lambda c: c["id"])
    names = [c["name"] for c in categories]
    ids = [c["id"] for c in categories]
    for name in sorted(name for name, count in Counter(names).items() if count > 1):
        problems.append(f"category name {name!r} is used by more than one category id; make names unique")
    return names, ids


def _read_images(data: dict[str, Any], root: Path | None, problems: list[str]) -> dict[int, dict[str, Any]]:
    """The image entries that can be used, by id, in the file's order; with ``root``, only
    those whose image file is there with the size the entry gives. The others' problems are
    named in the file's order."""
    kept: dict[int, dict[str, Any]] = {}
    names_seen: set[str] = set()
    image_root = None if root is None else ImageRoot(root)
    found: list[tuple[int, str]] = []  # (index, problem)
    places: list[int] = []  # the index of each image kept
    moved = 0  # file names written on another machine, read as the image of that name here
    for index, image in enumerate(data["images"]):
        wrong = _image_field_problem(image)
        if wrong is None and image_root is not None and (here := _name_here(image["file_name"], image_root)):
            image["file_name"], moved = here, moved + 1
        wrong = wrong or _image_place_problem(image, kept, names_seen, image_root)
        if wrong is not None:
            found.append((index, wrong))
            continue
        names_seen.add(image["file_name"])
        kept[image["id"]] = image
        places.append(index)
    if image_root is not None:
        entries = list(kept.values())
        files = [(image_root.path(image["file_name"]), image["width"], image["height"]) for image in entries]
        for index, image, wrong in zip(places, entries, image_problems(files), strict=True):
            if wrong is not None:
                found.append((index, wrong))
                del kept[image["id"]]
    for index, wrong in sorted(found):
        image = data["images"][index]
        problems.append(f"images[{index}] (id={image.get('id')!r}, file_name={image.get('file_name')!r}): {wrong}")
    if moved:
        log.info(
            "data: %d file_name(s) written on another machine (Windows separators, the exporter's own folders) read "
            "as the image of that name in %s",
            moved,
            root,
        )
    return kept


def _inside(name: str) -> str:
    """A ``/`` file name as it can lie in the image root: itself, or its base name when it leaves the root."""
    return name.rsplit("/", 1)[-1] if escapes_root(name) else name


def _name_here(name: str, image_root: ImageRoot) -> str | None:
    """For a file name written on Windows (Label Studio writes ``images\\x.jpg``,
    ``images\\1/x.jpg`` or ``..\\..\\label-studio\\media\\upload\\4\\x.jpg``) or one that leads
    to the exporter's own folders outside the export (Label Studio's converter writes
    ``../media/upload/1/x.jpg`` and copies the image into ``images/``): the same name with ``/``
    if that is here, else the image of its base name directly in the root; None for any other
    name, or when neither is there. Nothing outside the root is read."""
    if "\\" not in name and not escapes_root(name):
        return None
    posix = name.replace("\\", "/")
    base = posix.rsplit("/", 1)[-1]
    for candidate in (posix, base):
        if not escapes_root(candidate) and os.path.isfile(image_root.path(candidate)):
            return candidate
    return None


def _image_field_problem(image: dict[str, Any]) -> str | None:
    """Why an image entry's id, file_name or size cannot be used, if so."""
    missing = [k for k in ("id", "file_name", "width", "height") if k not in image]
    if missing:
        return f"missing {missing}"
    if not is_whole(image["id"]):
        return f"id must be a whole number of at most 64 bits, got {image['id']!r}"
    if not isinstance(image["file_name"], str) or not image["file_name"]:
        return f"file_name must be a non-empty string, got {image['file_name']!r}"
    if bad_name := file_name_problem(image["file_name"]):
        return bad_name
    for key in ("width", "height"):
        if not (is_whole(image[key]) and image[key] > 0):
            return f"{key} must be a whole number of pixels > 0, got {image[key]!r}"
    return None


def _image_place_problem(
    image: dict[str, Any], kept: dict[int, Any], names_seen: set[str], image_root: ImageRoot | None
) -> str | None:
    """Why an image entry with usable fields cannot be kept beside those ``kept`` so far: its
    id or file name is taken, or the name leads outside the image root."""
    name = image["file_name"]
    if image["id"] in kept:
        return "duplicate image id; every image needs its own id"
    if escapes_root(name) if image_root is None else not image_root.holds(name):
        return "file_name must be a relative path inside the image root, without '..'"
    if name in names_seen:
        return "duplicate file_name; each image must be listed once"
    return None


def _check_annotations(
    annotations: list[dict[str, Any]],
    listed: list[dict[str, Any]],
    images: dict[int, dict[str, Any]],
    category_ids: list[int],
    margin: float,
    problems: list[str],
    refused: set[int],
) -> dict[int, Objects]:
    """Each annotation checked, one by one, against the ``images`` kept (of those ``listed``),
    and its problem named if it has one (those of an image left out were named with it), its
    image's id added to ``refused``; the others as each image's `Objects`."""
    label_of = {cid: i for i, cid in enumerate(category_ids)}
    listed_ids = {image.get("id") for image in listed if is_whole(image.get("id"))}
    per_image: dict[int, list[tuple[list[float], int, bool, float]]] = {i: [] for i in images}
    for index, ann in enumerate(annotations):
        where = f"annotations[{index}] (id={ann.get('id')!r}, image_id={ann.get('image_id')!r})"
        if not is_whole(ann.get("image_id")) or ann["image_id"] not in images:
            if not (is_whole(ann.get("image_id")) and ann["image_id"] in listed_ids):  # else: reported with its image
                problems.append(f"{where}: image_id refers to no image in 'images'")
            continue
        problem = _annotation_problem(ann, label_of, category_ids, images[ann["image_id"]], margin)
        if problem:
            problems.append(f"{where}: {problem}")
            refused.add(ann["image_id"])
            continue
        box = ann["bbox"]
        area = float(ann.get("area", box[2] * box[3]))
        per_image[ann["image_id"]].append((box, label_of[ann["category_id"]], bool(ann.get("iscrowd", 0)), area))
    return {image_id: _objects(anns, images[image_id]) for image_id, anns in per_image.items() if anns}


def _annotation_problem(
    ann: dict[str, Any], label_of: dict[int, int], category_ids: list[int], image: dict[str, Any], margin: float
) -> str | None:
    """Why an annotation of a kept ``image`` cannot be used, if so."""
    box = ann.get("bbox")
    if not is_whole(ann.get("category_id")) or ann["category_id"] not in label_of:
        return f"unknown category_id {ann.get('category_id')!r}; known: {category_ids}"
    if not (isinstance(box, list) and len(box) == 4 and all(is_number(v) for v in box)):
        return f"bbox must be [x, y, width, height] finite numbers, got {box!r}"
    if "area" in ann and not (is_number(ann["area"]) and 0 <= ann["area"] <= MAX_AREA):
        return f"area must be a finite number >= 0, got {ann['area']!r}"
    if ann.get("iscrowd", 0) not in (0, 1):
        return f"iscrowd must be 0 or 1, got {ann['iscrowd']!r}"
    if box[2] <= 0 or box[3] <= 0:
        return f"bbox {box} has zero or negative width/height; fix or remove it"
    corners = xywh_to_xyxy(np.asarray(box, dtype=np.float64)).tolist()
    outside = border_overshoot(corners, image["width"], image["height"])
    if outside > margin:
        return f"bbox {box} lies {outside:.1f} px outside the image (border_margin={margin})"
    return None


def _objects(anns: list[tuple[list[float], int, bool, float]], image: dict[str, Any]) -> Objects:
    xywh = np.array([a[0] for a in anns], dtype=np.float32).reshape(-1, 4)
    boxes = image_boxes(xywh, image["width"], image["height"])
    labels = np.array([a[1] for a in anns], dtype=np.int64)
    return boxes, labels, np.array([a[2] for a in anns], dtype=bool), np.array([a[3] for a in anns], dtype=np.float32)


def _record(image: dict[str, Any], objects: Objects) -> Record:
    """The record of a kept image entry and its objects."""
    return Record(
        int(image["id"]),
        image["file_name"],
        int(image["width"]),
        int(image["height"]),
        *objects,
        group=str(image.get("group", "")),
        domain=str(image.get("domain", "default")),
    )


def _read_partial_labels(
    data: dict[str, Any], records: dict[int, Record], category_ids: list[int], problems: list[str], refused: set[int]
) -> None:
    """``Record.annotated`` from detkit's ``annotated_category_ids`` or LVIS's
    ``neg_category_ids`` / ``not_exhaustive_category_ids``: exhaustively labelled = (present and
    not flagged not-exhaustive) or verified absent. Images with none of these keys: all classes."""
    label_of = {cid: i for i, cid in enumerate(category_ids)}
    for image in data["images"]:
        record = records.get(image["id"]) if is_whole(image.get("id")) else None
        keys = [k for k in ("annotated_category_ids", "neg_category_ids", "not_exhaustive_category_ids") if k in image]
        if record is None or not keys:
            continue
        if not all(isinstance(image[k], list) and all(is_whole(c) for c in image[k]) for k in keys):
            problems.append(f"image {record.image_id} ({record.file_name}): {keys} must be lists of category ids")
            refused.add(record.image_id)
            continue
        unknown = [c for k in keys for c in image[k] if c not in label_of]
        if unknown:
            problems.append(f"image {record.image_id} ({record.file_name}): unknown category ids {unknown} in {keys}")
            refused.add(record.image_id)
            continue
        present = {category_ids[int(label)] for label in record.labels}
        record.annotated = frozenset(label_of[c] for c in exhaustive_category_ids(image, present))


def exhaustive_category_ids(image: dict[str, Any], present: set[int]) -> set[int] | None:
    """The category ids exhaustively labelled in a COCO image entry, given those ``present`` in
    its annotations: detkit's ``annotated_category_ids``, or LVIS's (present and not in
    ``not_exhaustive_category_ids``) plus ``neg_category_ids``; ``None`` when it says neither."""
    if "annotated_category_ids" in image:
        return set(image["annotated_category_ids"])
    if "neg_category_ids" in image or "not_exhaustive_category_ids" in image:
        return (present - set(image.get("not_exhaustive_category_ids", []))) | set(image.get("neg_category_ids", []))
    return None


def dataset_to_coco(dataset: DetectionDataset) -> dict[str, Any]:
    """The COCO instances dict of a dataset, with its source category ids."""
    categories = [{"id": cid, "name": name} for cid, name in zip(dataset.category_ids, dataset.class_names)]
    images, annotations = [], []
    split_of = {i: split for split, ids in dataset.given_splits.items() for i in ids}
    for record in dataset.records:
        image = {
            "id": record.image_id,
            "file_name": record.file_name,
            "width": record.width,
            "height": record.height,
            "group": record.group,
            "domain": record.domain,
        }
        if record.image_id in split_of:
            image["split"] = split_of[record.image_id]
        if record.annotated is not None:
            image["annotated_category_ids"] = sorted(dataset.category_ids[i] for i in record.annotated)
        images.append(image)
        xywh = xyxy_to_xywh(record.boxes.astype(np.float64)).tolist()
        for box, label, crowd, area in zip(xywh, record.labels, record.iscrowd, record.areas):
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": record.image_id,
                    "category_id": dataset.category_ids[int(label)],
                    "bbox": box,
                    "area": float(area),
                    "iscrowd": int(crowd),
                }
            )
    info = {"description": "written by detkit", "version": "1.0"}  # COCO's top-level keys, which some readers need
    return {"info": info, "licenses": [], "images": images, "annotations": annotations, "categories": categories}


def write_coco(dataset: DetectionDataset, path: str | Path) -> Path:
    """Write the dataset's annotations as a COCO instances json (atomically)."""
    return write_json_atomic(path, dataset_to_coco(dataset), indent=None)


def predictions_to_array(predictions: dict[int, dict[str, np.ndarray]], category_ids: list[int]) -> np.ndarray:
    """pycocotools' ``[N, 7]`` results array (image_id, x, y, w, h, score, category_id), by image id,
    from ``{image_id: {"boxes" xyxy [N,4], "scores" [N], "labels" [N]}}``; what the evaluator reads."""
    blocks, category_of = [np.empty((0, 7))], np.asarray(category_ids, dtype=np.float64)
    for image_id in sorted(predictions):
        pred = predictions[image_id]
        boxes = np.asarray(pred["boxes"], dtype=np.float64).reshape(-1, 4)
        block = np.empty((len(boxes), 7))
        block[:, 0] = image_id
        block[:, 1:5] = xyxy_to_xywh(boxes)
        block[:, 5] = np.asarray(pred["scores"], dtype=np.float64)
        block[:, 6] = category_of[np.asarray(pred["labels"], dtype=np.int64)]
        blocks.append(block)
    return np.concatenate(blocks)


def predictions_to_results(
    predictions: dict[int, dict[str, np.ndarray]], category_ids: list[int]
) -> list[dict[str, Any]]:
    """COCO results (``bbox`` xywh) from ``{image_id: {"boxes" xyxy [N,4], "scores" [N], "labels" [N]}}``."""
    return [
        {"image_id": int(row[0]), "category_id": int(row[6]), "bbox": row[1:5], "score": row[5]}
        for row in predictions_to_array(predictions, category_ids).tolist()
    ]


class _Result(msgspec.Struct, gc=False):
    """One record of a COCO results file as `_result_problem` accepts it (other keys ignored)."""

    image_id: int
    category_id: int
    bbox: tuple[float, float, float, float]
    score: float


_READ_RESULTS = msgspec.json.Decoder(list[_Result])  # a record of another shape fails the whole file
RESULT_KEYS = len(_Result.__struct_fields__)


def results_to_array(results: list[dict[str, Any]] | list[_Result]) -> np.ndarray:
    """COCO results (dicts, or records read by `load_results`) as pycocotools' ``[N, 7]`` array
    (image_id, x, y, w, h, score, category_id), built a column at a time (a tuple per record
    costs several times more at 100,000 records)."""
    read = operator.attrgetter if results and isinstance(results[0], _Result) else operator.itemgetter
    image_ids, boxes, scores, category_ids = (
        list(map(read(key), results)) for key in ("image_id", "bbox", "score", "category_id")
    )
    array = np.empty((len(results), 7))
    array[:, 0], array[:, 5], array[:, 6] = image_ids, scores, category_ids
    array[:, 1:5] = np.array(list(itertools.chain.from_iterable(boxes)), dtype=np.float64).reshape(-1, 4)
    return array


def _result_problem(det: Any, image_ids: set[Any], category_ids: set[Any]) -> str | None:
    """What is wrong with one record of a COCO results file, or None."""
    if not isinstance(det, dict) or not {"image_id", "category_id", "bbox", "score"} <= det.keys():
        return "needs image_id, category_id, bbox [x, y, w, h] and score"
    if not (is_whole(det["image_id"]) and is_whole(det["category_id"])):
        return "image_id and category_id must be whole numbers of at most 64 bits"
    box = det["bbox"]
    if not (isinstance(box, list) and len(box) == 4 and all(is_number(v) for v in box)):
        return f"bbox must be [x, y, width, height] finite numbers, got {box!r}"
    if not is_number(det["score"]):
        return f"score must be a finite number, got {det['score']!r}"
    if det["image_id"] not in image_ids:
        return "image_id is not in the annotations; score against the file it came from"
    if det["category_id"] not in category_ids:
        return f"unknown category_id {det['category_id']!r}; known: {sorted(category_ids)}"
    return None


def _read_well_formed(text: str, image_ids: set[Any], category_ids: set[Any]) -> np.ndarray | None:
    """The results' array when the file is a list of records that all pass `_result_problem`,
    read by msgspec straight into typed records; None when anything might not, for the
    record-by-record check to name it."""
    try:
        with collector_paused():
            records = _READ_RESULTS.decode(text)
        if text.count('":') != RESULT_KEYS * len(records):  # other keys, or a key twice: the exact check
            return None
        array = results_to_array(records)
        images = np.array([record.image_id for record in records], dtype=np.int64)
        categories = np.array([record.category_id for record in records], dtype=np.int64)
    except (msgspec.DecodeError, OverflowError, RecursionError):  # not such a list, an id past 64 bits, too deep
        return None
    known = np.isin(images, np.fromiter(image_ids, dtype=np.int64, count=len(image_ids)))
    named = np.isin(categories, np.fromiter(category_ids, dtype=np.int64, count=len(category_ids)))
    return array if np.isfinite(array).all() and known.all() and named.all() else None


def load_results(path: str | Path, ground_truth: dict[str, Any]) -> np.ndarray:
    """Read a COCO results json, check it refers only to images and categories of
    ``ground_truth``, and return it as pycocotools' ``[N, 7]`` array (`results_to_array`)."""
    path = Path(path)
    text = read_text(path, missing="check the predictions path", limit=limits.JSON_BYTES)
    image_ids = {image["id"] for image in ground_truth["images"]}
    category_ids = {cat["id"] for cat in ground_truth["categories"]}
    array = _read_well_formed(text, image_ids, category_ids)
    if array is not None:
        return array
    try:
        results = parse_json(text, str(path))
    except json.JSONDecodeError as e:
        raise DatasetError(f"line {e.lineno}, column {e.colno}: invalid JSON ({e.msg})", source=str(path)) from None
    if not isinstance(results, list):
        raise DatasetError("expected a COCO results file: a JSON list of detections", source=str(path))
    problems = [
        f"[{index}] (image_id={det.get('image_id')!r}): {problem}" if isinstance(det, dict) else f"[{index}]: {problem}"
        for index, det in enumerate(results)
        if (problem := _result_problem(det, image_ids, category_ids))
    ]
    if problems:
        raise DatasetError(problems, source=str(path))
    return results_to_array(results)
