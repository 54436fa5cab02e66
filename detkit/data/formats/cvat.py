"""CVAT for images 1.1 XML -> `DetectionDataset`.

The layouts CVAT's exporter writes: a task or a job, ``annotations.xml`` beside
``images/<frame path>``; a project, each ``<image>`` with its ``subset`` and its file in
``images/<subset>/<frame path>`` (the subsets, when each is a train / validation / test name,
become the dataset's own splits); datumaro's writer, one ``<subset>.xml`` per subset beside one
``images/`` folder. An export without its images reads them from ``data.images=<folder>``.

Every shape that outlines an object is read as the box that holds it: ``box`` (turned by its
``rotation``), ``polygon``, ``ellipse``, ``mask`` (its extent), ``cuboid``; ``polyline``,
``points``, ``skeleton`` and ``tag`` outline none and are counted in one line. The classes are
the ``<labels>`` of ``<meta>`` (task, job or project) in their order, a skeleton's points left
out. Coordinates are pixels from the image's top-left corner, as detkit holds them.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

from detkit.data import limits
from detkit.data.formats.drawn import (
    Drawn,
    box_problem,
    clipped,
    drawn_records,
    ellipse_box,
    given_splits,
    points_box,
    report_not_boxes,
    turned_box,
)
from detkit.data.formats.fields import file_name_problem
from detkit.data.formats.problems import check_on_invalid, settle_problems
from detkit.data.formats.roots import ImageRoot
from detkit.data.formats.split_names import detkit_split
from detkit.data.images.files import IMAGE_SUFFIXES
from detkit.data.records import DetectionDataset
from detkit.data.regular_files import read_head, read_regular
from detkit.exceptions import DatasetError

CVAT_FILE = "annotations.xml"
OUTLINES = ("box", "polygon", "ellipse", "mask", "cuboid")
NOT_OUTLINES = ("polyline", "points", "skeleton", "tag")
HEAD_BYTES = 1 << 16  # read of an xml to know its root element
MOST_SUBSET_FILES = 16  # xml files in a folder beyond which it is a VOC folder, not CVAT's subsets
ROOT_ELEMENT = re.compile(rb"<([A-Za-z_][\w.-]*)")  # the first element (declarations start with ? or !)


def root_element(path: Path) -> str | None:
    """The name of the root element of the xml file at ``path``: ``annotations`` for CVAT,
    ``annotation`` for Pascal VOC; None when unreadable."""
    head = read_head(path, HEAD_BYTES)
    if head is None:
        return None
    head = re.sub(rb"<[?!][^>]*>", b"", head)
    match = ROOT_ELEMENT.search(head)
    return match[1].decode("ascii", "replace") if match else None


def cvat_files(root: Path) -> list[Path]:
    """The CVAT XML files of the export at ``root``: itself if it is one, else the xml files in
    it whose root element is ``<annotations>`` (a folder of more than `MOST_SUBSET_FILES` xml
    files is taken for VOC's one-per-image and not opened)."""
    if root.is_file():
        return [root] if root.suffix.lower() == ".xml" and root_element(root) == "annotations" else []
    with os.scandir(root) as entries:
        xml = sorted(
            Path(e.path) for e in entries if e.name.lower().endswith(".xml")
        )  # unreadable: root_element says None
    if len(xml) > MOST_SUBSET_FILES:
        return []
    return [path for path in xml if root_element(path) == "annotations"]


def default_images(xml_path: Path) -> Path:
    """The image folder of a CVAT XML file: ``images/`` beside it, else its own folder."""
    folder = xml_path.parent / "images"
    return folder if folder.is_dir() else xml_path.parent


def load_cvat(
    path: str | Path, images: str | Path | None = None, border_margin: float = 2.0, on_invalid: str = "error"
) -> DetectionDataset:
    """Read one CVAT for images 1.1 XML file, its images in ``images`` (default: `default_images`);
    ``border_margin`` and ``on_invalid`` as in `load_coco`."""
    check_on_invalid(on_invalid)
    path = Path(path)
    node = _parse(path)
    image_nodes = node.findall("image")
    if not image_nodes and node.find("track") is not None:
        raise DatasetError(
            "a CVAT for video 1.1 file (tracks over frames, no <image> elements); export the task as "
            "'CVAT for images 1.1', which writes each frame's shapes",
            str(path),
        )
    image_root = ImageRoot(Path(images) if images is not None else default_images(path))
    declared = _declared_labels(node)
    not_boxes: Counter = Counter()
    drawn = [_drawn(image, k, image_root, border_margin, not_boxes) for k, image in enumerate(image_nodes)]
    names = declared or sorted({name for image in drawn for name in image.names})
    problems: list[str] = []
    left_out: list[int] = []
    records = drawn_records(drawn, image_root, names, problems, left_out)
    settle_problems(problems, str(path), on_invalid, left_out)
    report_not_boxes(not_boxes, str(path), ", ".join(f"<{s}>" for s in OUTLINES))
    subsets = [detkit_split(image.get("subset") or "") for image in image_nodes]  # a project's export names them
    return DetectionDataset(Path(image_root.folder), names, records, given_splits=given_splits(subsets, drawn, records))


def _parse(path: Path) -> ET.Element:
    try:
        node = ET.fromstring(read_regular(path, limits.TEXT_BYTES.value))
    except ET.ParseError as e:
        line, column = e.position
        raise DatasetError(
            f"line {line}, column {column}: malformed XML ({e}); fix or re-export it", str(path)
        ) from None
    except OSError as e:
        raise DatasetError(f"cannot read it ({e.strerror}); give a readable file", str(path)) from None
    if node.tag != "annotations":
        raise DatasetError(f"root element <{node.tag}>, not CVAT's <annotations>; is it another format?", str(path))
    return node


def _declared_labels(node: ET.Element) -> list[str]:
    """The class names ``<meta>`` declares (of a task, a job or a project), in order; a
    skeleton's points (labels with a ``<parent>``) left out."""
    names: list[str] = []
    for owner in ("task", "job", "project"):
        for label in node.iterfind(f"meta/{owner}/labels/label"):
            name = (label.findtext("name") or "").strip()
            if name and label.find("parent") is None and label.findtext("type") != "skeleton" and name not in names:
                names.append(name)
    return names


def _drawn(image: ET.Element, index: int, images: ImageRoot, margin: float, not_boxes: Counter) -> Drawn:
    """One ``<image>`` element as a `Drawn` image: its file found under ``images``, its shapes as boxes."""
    name = image.get("name", "")
    source = f"<image> {index} (id={image.get('id')!r}, name={name!r})"
    problems: list[str] = []
    width, height = (_whole(image.get(key)) for key in ("width", "height"))
    if not name or (bad := file_name_problem(name)):
        problems.append(bad if name else "no name attribute; every <image> names its file")
        return Drawn(source, name, width, height, [], [], problems)
    names, boxes = [], []
    for k, shape in enumerate(image):
        if shape.tag in NOT_OUTLINES or shape.get("outside") == "1":
            not_boxes[shape.tag if shape.tag in NOT_OUTLINES else "outside-the-frame"] += 1
            continue
        if shape.tag not in OUTLINES:
            continue  # elements CVAT may add that hold no shape
        label = (shape.get("label") or "").strip()
        box = _shape_box(shape)
        wrong = box if isinstance(box, str) else box_problem(box, width, height, margin)
        if not label:
            wrong = "no label attribute"
        if wrong:
            problems.append(f"shape {k} (<{shape.tag}>, label {label!r}): {wrong}")
            continue
        names.append(label)
        boxes.append(clipped(box, width, height))
    return Drawn(source, _file_name(name, image.get("subset"), images), width, height, names, boxes, problems)


def _whole(value: str | None) -> int:
    """A width or height attribute as a whole number; 0 when it is not one."""
    try:
        return int(value or "")
    except ValueError:
        return 0


def _shape_box(shape: ET.Element) -> list[float] | str:
    """The ``xyxy`` box that holds a shape element, or why it cannot be read."""
    try:
        if shape.tag == "box":
            corners = [float(shape.attrib[k]) for k in ("xtl", "ytl", "xbr", "ybr")]
            return turned_box(corners, float(shape.get("rotation", 0) or 0))
        if shape.tag == "ellipse":
            cx, cy, rx, ry = (float(shape.attrib[k]) for k in ("cx", "cy", "rx", "ry"))
            return ellipse_box(cx, cy, abs(rx), abs(ry), float(shape.get("rotation", 0) or 0))
        if shape.tag == "mask":
            left, top, width, height = (float(shape.attrib[k]) for k in ("left", "top", "width", "height"))
            return [left, top, left + width, top + height]
        if shape.tag == "cuboid":
            values = [float(v) for k, v in shape.attrib.items() if re.fullmatch(r"[xy][tb][lr][12]", k)]
            if len(values) != 16:
                return "a cuboid needs its 16 corner coordinates (xtl1 ... ybr2)"
            return points_box(list(zip(values[0::2], values[1::2])))
        points = [[float(v) for v in pair.split(",")] for pair in shape.attrib["points"].split(";") if pair.strip()]
    except KeyError as e:
        return f"no {e.args[0]} attribute"
    except ValueError:
        return "a coordinate that is not a number"
    if not points or any(len(p) != 2 for p in points):
        return "points must be x,y pairs separated by ';'"
    return points_box(points)


def _file_name(name: str, subset: str | None, images: ImageRoot) -> str:
    """Where the image ``name`` of ``subset`` is under ``images``: ``<subset>/<name>`` (a
    project's export), ``<name>``, or either with an image suffix (a video task's frames are
    named without one); the first that is there, else the likeliest, for the reader to report
    as not found."""
    bases = [f"{subset}/{name}", name] if subset else [name]
    suffixed = (
        [] if os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES else [b + s for b in bases for s in IMAGE_SUFFIXES]
    )
    for candidate in bases + suffixed:
        if os.path.isfile(images.path(candidate)):
            return candidate
    return bases[0] if subset and os.path.isdir(images.path(subset)) else name
