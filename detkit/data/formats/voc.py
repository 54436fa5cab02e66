"""Pascal VOC (``Annotations/*.xml`` + ``JPEGImages/``, splits in ``ImageSets/Main``) <-> `DetectionDataset`.

VOC boxes are 1-based inclusive pixel corners; inside detkit they are 0-based ``xyxy``
(``x1 = xmin - 1``, ``x2 = xmax``, as Detectron2 reads them). ``difficult`` objects become
ignored regions (``iscrowd``): not trained on, not counted against the detector. Group, domain
and partial labels live in an optional ``Annotations/<stem>.json`` sidecar.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import os
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import NamedTuple

import numpy as np

from detkit.data import limits
from detkit.data.formats.fields import collector_paused, file_name_problem, read_text
from detkit.data.formats.images import border_overshoot, border_overshoots, copy_images
from detkit.data.formats.pairing import xml_pairing
from detkit.data.formats.problems import check_on_invalid, image_problem, settle_problems
from detkit.data.formats.read_cache import cached_map_files
from detkit.data.formats.roots import ImageRoot
from detkit.data.formats.sidecar import apply_sidecar, write_sidecar
from detkit.data.formats.split_names import FILE_NAMES
from detkit.data.images.files import IMAGE_SUFFIXES, stored_and_shown_size
from detkit.data.records import DetectionDataset, Record
from detkit.data.regular_files import read_regular
from detkit.exceptions import DatasetError
from detkit.files import write_text_atomic

CORNERS = ("xmin", "ymin", "xmax", "ymax")
KEPT_FIELDS = {"name", "bndbox", "difficult"}  # an object's fields a record holds (difficult: a crowd region)
DEFAULTS = {"truncated": ("0", ""), "occluded": ("0", ""), "pose": ("unspecified", "")}  # what says nothing
log = logging.getLogger(__name__)


@collector_paused()  # records by the 100,000 hold no cycles; the collector would walk them again and again
def load_voc(
    root: str | Path,
    image_set: str | None = None,
    class_names: list[str] | None = None,
    border_margin: float = 2.0,
    on_invalid: str = "error",
    images: str | Path | None = None,
) -> DetectionDataset:
    """Read a VOC folder (``Annotations/`` + ``JPEGImages/``, or LabelImg's xml files beside
    their images; ``images`` names another image folder). ``image_set`` names
    ``ImageSets/Main/<image_set>.txt``; without it, the ``train`` (or ``trainval``), ``val`` and
    ``test`` sets there are read as the dataset's `given_splits`, and with none of them every
    xml is. Classes are ``class_names`` if given, else the names found, sorted. Boxes crossing
    the border by at most ``border_margin`` px are clipped; ``on_invalid`` as in `load_coco`."""
    check_on_invalid(on_invalid)
    root = Path(root)
    annotations, found = voc_folders(root)
    images = Path(images) if images is not None else found
    listed = _image_sets(root, image_set, annotations)
    stems = list(dict.fromkeys(s for names in listed.values() for s in names)) if listed else None
    problems: list[str] = []
    if stems is not None:
        annotation_root = ImageRoot(annotations)
        leaving = [s for s in stems if not annotation_root.holds(f"{s}.xml")]
        problems += [f"{root / 'ImageSets' / 'Main'}: image-set line {s!r} leaves Annotations/" for s in leaving]
        stems = [s for s in stems if s not in leaving]
    if stems is None:
        stems = sorted(_xml_stems(annotations))
        _report_unannotated(images, set(stems))
    paths = [os.path.join(annotations, f"{stem}.xml") for stem in stems]  # strings: Paths cost a sixth of the time
    parsed = []
    image_root = ImageRoot(images)
    work = partial(_parse_each, images=image_root, margin=border_margin)
    settings = (os.path.realpath(annotations), os.path.realpath(images), border_margin)
    files_of = partial(_files_of, images=image_root)
    read = cached_map_files(work, paths, 1_000, "voc", settings, files_of, "VOC files read")
    left_out = []
    for stem, path, (result, found) in zip(stems, paths, read):
        problems += found
        if result is not None and found:  # an object refused: the image's labels are not whole
            left_out.append(len(result.objects.names))
        elif result is not None:
            parsed.append((stem, path, result))
    found_names = {n for *_, xml in parsed for n in xml.objects.names}
    names = list(class_names) if class_names else sorted(found_names)
    index_of = {name: k for k, name in enumerate(names)}
    records, ids = [], {}
    for index, (stem, path, xml) in enumerate(parsed, start=1):
        labels = [index_of.get(n, -1) for n in xml.objects.names]
        if -1 in labels:
            unknown = sorted(set(xml.objects.names) - index_of.keys())
            problems.append(f"{path}: class name(s) {unknown} not in {names}; fix the name or the class list")
            continue
        record = Record(index, xml.file_name, *xml.size, xml.objects.boxes, labels, iscrowd=xml.objects.difficult)
        found = len(problems)
        if xml.sidecar:
            apply_sidecar(annotations / f"{stem}.json", record, names, problems)
        if len(problems) > found:
            left_out.append(len(record.boxes))
            continue
        records.append(record)
        ids[stem] = index
    settle_problems(problems, str(root), on_invalid, left_out)
    _report_unkept(Counter(tag for *_, xml in parsed for tag in xml.unkept), root)
    given = {split: [ids[s] for s in split_stems if s in ids] for split, split_stems in listed.items() if split}
    return DetectionDataset(images, names, records, given_splits=given)


def _xml_stems(folder: Path) -> list[str]:
    """The stems of the ``*.xml`` entries of ``folder`` (as ``glob("*.xml")`` finds them)."""
    with os.scandir(folder) as entries:
        return [entry.name[:-4] for entry in entries if entry.name.endswith(".xml")]


def _report_unkept(fields: Counter, root: Path) -> None:
    """One line naming the object fields read but not kept (writing VOC again leaves them out)."""
    if fields:
        listed = ", ".join(f"<{tag}> ({count} object(s))" for tag, count in sorted(fields.items()))
        log.info(
            "data: %s: VOC object fields detkit does not keep: %s; it keeps <name>, <bndbox> and <difficult>, "
            "and a VOC it writes holds those alone",
            root,
            listed,
        )


def _report_unannotated(images: Path, stems: set[str]) -> None:
    """One line naming how many images in ``images`` (not its subfolders) no .xml describes:
    they are not read (LabelImg and Label Studio write no .xml for an image without objects)."""
    with contextlib.suppress(OSError), os.scandir(images) as entries:
        lone = [
            e.name
            for e in entries
            if os.path.splitext(e.name)[1].lower() in IMAGE_SUFFIXES and os.path.splitext(e.name)[0] not in stems
        ]
        if lone:
            log.info(
                "data: %d image(s) in %s have no .xml and are not read (e.g. %s); to train on them as images "
                "without objects, save an .xml with no <object> for each",
                len(lone),
                images,
                sorted(lone)[0],
            )


def voc_folders(root: Path) -> tuple[Path, Path]:
    """The annotation and image folders of a VOC dataset: ``Annotations/`` and ``JPEGImages/``
    (``images/`` in Label Studio's export; the names in any letter case, as in the TensorFlow
    tutorials' ``annotations/`` + ``images/``), or ``root`` for both when the xml files lie beside
    their images (LabelImg)."""
    annotations = annotation_folder(root)
    if annotations is not None:
        images = _child_folder(root, ("jpegimages", "images"))
        return annotations, images or annotations
    if root.is_dir() and any(root.glob("*.xml")):
        return root, root
    pairing = xml_pairing(root) if root.is_dir() else None
    if pairing is not None:
        log.info(
            "data: VOC .xml files in %s read with the images in %s (%d stems shared)",
            pairing.annotations,
            pairing.images,
            pairing.shared,
        )
        return pairing.annotations, pairing.images
    raise DatasetError(
        "no Annotations/ folder or .xml files; point data.root at the VOC folder (data.root=<xml folder> "
        "data.images=<image folder> when they lie apart)",
        source=str(root),
    )


def annotation_folder(root: Path) -> Path | None:
    """``root``'s ``Annotations/`` folder: so named, or ``annotations`` in any other case when it
    holds ``.xml`` files (official COCO's ``annotations/`` holds json)."""
    if (root / "Annotations").is_dir():
        return root / "Annotations"
    folder = _child_folder(root, ("annotations",))
    return folder if folder is not None and any(folder.glob("*.xml")) else None


def _child_folder(root: Path, names: tuple[str, ...]) -> Path | None:
    """The first of ``names`` (lower case) that a folder in ``root`` is named, in any letter case."""
    if not root.is_dir():
        return None
    with os.scandir(root) as entries:  # only the entries so named are looked at: LabelImg folders hold thousands
        named = {entry.name.lower(): Path(entry.path) for entry in entries if entry.name.lower() in names}
    # Path.is_dir: False for a link loop, as for a file (DirEntry.is_dir raises)
    return next((named[name] for name in names if name in named and named[name].is_dir()), None)


def _image_sets(root: Path, image_set: str | None, annotations: Path) -> dict[str, list[str]]:
    """Image stems per split: ``{"": <image_set>}`` for a named set, else the ``train`` (or
    ``trainval``), ``val`` and ``test`` sets of ``ImageSets/Main`` as detkit's splits (none
    without a training set)."""
    folder = root / "ImageSets" / "Main"
    if image_set is not None:
        listing = folder / f"{image_set}.txt"
        if not os.path.lexists(listing):
            raise DatasetError(f"image set {image_set!r} not found; fix image_set or add the file", str(listing))
        return {"": _stems(listing, annotations)}
    train = next((folder / f"{n}.txt" for n in ("train", "trainval") if os.path.lexists(folder / f"{n}.txt")), None)
    if train is None:
        return {}
    sets = {split: folder / f"{name}.txt" for split, name in FILE_NAMES.items()} | {"train": train}
    if train.stem == "trainval":
        del sets["dev"]  # trainval holds val
    return {split: _stems(path, annotations) for split, path in sets.items() if os.path.lexists(path)}


def _stems(listing: Path, annotations: Path) -> list[str]:
    """The image stems of an image-set file: each line whole (a name may hold spaces), or
    without the flag VOC's per-class files add (``2008_000008  1``) when no xml has the whole
    line's name."""
    stems = []
    for line in read_text(listing).splitlines():
        line = line.strip()
        flagged = FLAGGED.fullmatch(line)
        if flagged and not os.path.lexists(annotations / f"{line}.xml"):
            line = flagged[1]
        if line:
            stems.append(line)
    return stems


FLAGGED = re.compile(r"(.*\S)\s+(-1|0|1)")  # a per-class image set's line: stem, then -1, 0 or 1


class _Xml(NamedTuple):
    """An annotation file parsed, with the image it names (checked against its header)."""

    path: str
    file_name: str
    size: tuple[int, int]
    root: ET.Element


class _Objects(NamedTuple):
    """An image's objects: class names, 0-based ``xyxy`` boxes clipped to it, and difficult flags."""

    names: list[str]
    boxes: np.ndarray | list[list[float]]
    difficult: list[bool]


class _Parsed(NamedTuple):
    """What a worker hands back of a usable xml: its image, that image's size, its objects,
    whether a sidecar json lies beside it, and the object fields it holds that detkit does not
    keep (`_unkept`)."""

    file_name: str
    size: tuple[int, int]
    objects: _Objects
    sidecar: bool
    unkept: tuple[str, ...] = ()


def _parse_each(paths: Sequence[str], images: ImageRoot, margin: float) -> list[tuple[_Parsed | None, list[str]]]:
    """Each xml's contents (None if it cannot be used) with the problems it has. `map_files`
    runs it in workers: parsing the xml files and reading their images' headers is most of a
    VOC folder's reading. The boxes of the files whose objects all have their corners are
    checked with arrays over all of them, the others object by object."""
    problems = [[] for _ in paths]
    parsed = [_read(path, images, found) for path, found in zip(paths, problems)]
    fields = [_fields(xml.root) if xml else None for xml in parsed]
    regular = [(field[2], xml.size) for field, xml in zip(fields, parsed) if field]
    well_formed = iter(_well_formed_boxes([c for c, _ in regular], [size for _, size in regular], margin))
    results = []
    for xml, field, found in zip(parsed, fields, problems):
        if xml is None:
            results.append((None, found))
            continue
        boxes = next(well_formed) if field else None
        objects = _checked_objects(xml, margin, found) if boxes is None else _Objects(field[0], boxes, field[1])
        sidecar = os.path.lexists(os.path.splitext(xml.path)[0] + ".json")
        results.append((_Parsed(xml.file_name, xml.size, objects, sidecar, _unkept(xml.root)), found))
    return results


def _files_of(path: str, parsed: tuple[_Parsed | None, list[str]], images: ImageRoot) -> list[str] | None:
    """The files a usable xml's result comes from: the xml, its image and its sidecar."""
    result, problems = parsed
    if result is None or problems:
        return None
    return [path, images.path(result.file_name), os.path.splitext(path)[0] + ".json"]


def _read(path: str, images: ImageRoot, problems: list[str]) -> _Xml | None:
    """The xml at ``path`` parsed, if it can be, and its image checked; else None, the reason in ``problems``."""
    folder, name = os.path.split(path)
    if bad_name := file_name_problem(name):
        problems.append(f"{folder}: {bad_name}")
        return None
    try:
        node = ET.fromstring(read_regular(path, limits.TEXT_BYTES.value))  # one read: ET.parse's cost a fifth more
    except FileNotFoundError:
        problems.append(f"{path}: listed in the image set but missing")
        return None
    except ET.ParseError as e:
        line, column = e.position
        problems.append(f"{path}: line {line}, column {column}: malformed XML ({e}); fix or re-export it")
        return None
    except OSError as e:  # a folder, or a link to itself
        problems.append(f"{path}: cannot read it ({e.strerror}); give a readable file")
        return None
    file_name = (node.findtext("filename") or f"{os.path.splitext(name)[0]}.jpg").strip()
    wrong = file_name_problem(file_name)
    wrong = wrong or (None if images.holds(file_name) else f"a path outside {Path(images.folder).name}/")
    size = (0, 0) if wrong else _size(node, images.path(file_name))
    if not wrong and min(size) <= 0:
        problems.append(f"{path}: <size> needs whole numbers > 0 in <width> and <height>, or a readable image")
        return None
    wrong = wrong or image_problem(images.path(file_name), *size)
    if wrong:
        problems.append(f"{path}: image {file_name!r}: {wrong}")
        return None
    return _Xml(path, file_name, size, node)


def _size(node: ET.Element, image: str) -> tuple[int, int]:
    """The image size ``<size>`` gives; where it is missing or 0 (datumaro leaves it out when it
    did not open the image, LabelImg writes 0 when it could not), the image's own, from its
    header; (0, 0) when neither reads."""
    try:
        size = (int(node.findtext("size/width")), int(node.findtext("size/height")))
    except (TypeError, ValueError):
        size = (0, 0)
    if min(size) > 0:
        return size
    try:
        return stored_and_shown_size(image)[1]
    except OSError:
        return 0, 0


def _unkept(node: ET.Element) -> tuple[str, ...]:
    """The object fields of a VOC annotation that say something detkit does not keep, one name
    per object holding it: every field but ``name``, ``bndbox`` and ``difficult``, left out
    where it holds its default (``truncated`` and ``occluded`` 0, ``pose`` Unspecified)."""
    found = []
    for obj in node.iterfind("object"):
        for tag, child in _first_children(obj).items():
            text = (child.text or "").strip()
            if tag not in KEPT_FIELDS and (len(child) or text.lower() not in DEFAULTS.get(tag, ("",))):
                found.append(tag)
    return tuple(found)


def _fields(node: ET.Element) -> tuple[list[str], list[bool], list[str]] | None:
    """The objects' names, difficult flags and corners (``xmin, ymin, xmax, ymax`` of each in
    turn), the corners as the strings the file holds; None when an object has no ``bndbox`` or a
    corner of it is missing, for `_checked_objects` to name."""
    names, difficult, corners = [], [], []
    for obj in node.iterfind("object"):
        fields = _first_children(obj)
        bndbox = fields.get("bndbox")
        box = {} if bndbox is None else _first_children(bndbox)
        if any(box.get(corner) is None for corner in CORNERS):
            return None
        names.append(_text(fields, "name", "").strip())
        difficult.append(_text(fields, "difficult", "0").strip() == "1")
        corners += [box[corner].text or "" for corner in CORNERS]
    return names, difficult, corners


def _well_formed_boxes(
    corners: list[list[str]], sizes: list[tuple[int, int]], margin: float
) -> list[np.ndarray | None]:
    """For each image, its objects' boxes (0-based ``xyxy``, clipped to the image) when every one
    passes `_read_box`, checked with arrays over all images at once (object by object, the checks
    cost 10 us an object); None for an image where one might not."""
    counts = [len(c) // 4 for c in corners]
    try:
        values = list(map(float, itertools.chain.from_iterable(corners)))
    except (ValueError, OverflowError):  # a value float() refuses: every image goes object by object
        return [None] * len(corners)
    boxes = np.array(values, dtype=np.float64).reshape(-1, 4)
    boxes[:, :2] -= 1
    size = np.repeat(np.array(sizes, dtype=np.float64).reshape(-1, 2), counts, axis=0)
    finite = np.isfinite(boxes).all(axis=1)
    good = finite & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    good &= border_overshoots(np.where(finite[:, None], boxes, 0), size) <= margin
    clipped = np.clip(boxes, 0, np.tile(size, 2)).astype(np.float32)  # as records hold them
    failed = np.bincount(np.repeat(np.arange(len(counts)), counts)[~good], minlength=len(counts)).tolist()
    starts = np.cumsum([0, *counts]).tolist()
    return [None if bad else clipped[start : start + count] for bad, start, count in zip(failed, starts, counts)]


def _checked_objects(xml: _Xml, margin: float, problems: list[str]) -> _Objects:
    """The objects of an xml that pass `_read_box`, one by one, each other object's problem named."""
    objects = _Objects([], [], [])
    for k, obj in enumerate(xml.root.iterfind("object")):
        fields = _first_children(obj)
        box, name = _read_box(fields.get("bndbox"), xml.size, margin), _text(fields, "name")
        if isinstance(box, str):
            problems.append(f"{xml.path}: object {k} ({name!r}): {box}")
            continue
        objects.names.append((name or "").strip())
        objects.boxes.append(box)
        objects.difficult.append(_text(fields, "difficult", "0").strip() == "1")
    return objects


def _first_children(node: ET.Element) -> dict[str, ET.Element]:
    """Each child tag's first element, in one pass over the children: what ``findtext`` reads,
    without its path search per field."""
    children: dict[str, ET.Element] = {}
    for child in node:
        children.setdefault(child.tag, child)
    return children


def _text(children: dict[str, ET.Element], tag: str, default: str | None = None) -> str | None:
    """``findtext(tag, default)`` on the node ``children`` came from."""
    child = children.get(tag)
    return default if child is None else child.text or ""


def _read_box(bndbox: ET.Element | None, size: tuple[int, int], margin: float) -> list[float] | str:
    corners = {} if bndbox is None else _first_children(bndbox)
    try:
        xmin, ymin, xmax, ymax = (float(_text(corners, k)) for k in CORNERS)
    except (TypeError, ValueError):
        return "<bndbox> needs numeric xmin, ymin, xmax, ymax"
    if not all(math.isfinite(v) for v in (xmin, ymin, xmax, ymax)):
        return f"<bndbox> {[xmin, ymin, xmax, ymax]} holds NaN or infinity; give finite pixel corners"
    box = [xmin - 1, ymin - 1, xmax, ymax]
    if box[2] <= box[0] or box[3] <= box[1]:
        return f"box {[xmin, ymin, xmax, ymax]} has zero or negative width/height"
    outside = border_overshoot(box, *size)
    if outside > margin:
        return f"box {[xmin, ymin, xmax, ymax]} lies {outside:.1f} px outside the {size[0]}x{size[1]} image"
    return [min(max(v, 0.0), size[k % 2]) for k, v in enumerate(box)]


def write_voc(dataset: DetectionDataset, root: str | Path) -> Path:
    """Write ``Annotations/*.xml`` and copy the images into ``JPEGImages/`` under ``root``; the
    dataset's given splits become ``ImageSets/Main/{train,val,test}.txt``."""
    root = Path(root)
    copy_images(dataset, root / "JPEGImages")
    stems = {}
    for record in dataset.records:
        stem = stems[record.image_id] = Path(record.file_name).with_suffix("").as_posix().replace("/", "__")
        write_text_atomic(root / "Annotations" / f"{stem}.xml", _xml(record, dataset.class_names))
        write_sidecar(root / "Annotations" / f"{stem}.json", record, dataset.class_names)
    for split, image_set in FILE_NAMES.items():
        if split in dataset.given_splits:
            listing = "".join(f"{stems[i]}\n" for i in dataset.given_splits[split])
            write_text_atomic(root / "ImageSets" / "Main" / f"{image_set}.txt", listing)
    return root


def _xml(record: Record, names: list[str]) -> str:
    node = ET.Element("annotation")
    ET.SubElement(node, "filename").text = record.file_name
    size = ET.SubElement(node, "size")
    for key, value in (("width", record.width), ("height", record.height), ("depth", 3)):
        ET.SubElement(size, key).text = str(value)
    for (x1, y1, x2, y2), label, crowd in zip(record.boxes.tolist(), record.labels, record.iscrowd):
        obj = ET.SubElement(node, "object")
        ET.SubElement(obj, "name").text = names[int(label)]
        ET.SubElement(obj, "difficult").text = str(int(crowd))
        box = ET.SubElement(obj, "bndbox")
        for key, value in (("xmin", x1 + 1), ("ymin", y1 + 1), ("xmax", x2), ("ymax", y2)):
            ET.SubElement(box, key).text = str(round(value))
    ET.indent(node)
    return ET.tostring(node, encoding="unicode") + "\n"
