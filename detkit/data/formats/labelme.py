"""LabelMe JSON (one ``.json`` per image) -> `DetectionDataset`.

LabelMe saves each image's shapes in a json beside the image, or in another folder (its
``--output``), naming the image by ``imagePath`` relative to the json's folder, with ``\\`` as
the separator where it ran on Windows. The json files are read wherever they lie under the
root; an image not at its ``imagePath`` is found by its base name beside the json, or by the
json's own stem (files renamed or moved after labelling), said in one line. When every json
lies in a folder named as a train / validation / test split (at any level: ``labels/train/``),
those are the dataset's own splits.

Every shape that outlines an object is read as the box that holds it: ``rectangle``,
``polygon``, ``oriented_rectangle``, ``circle`` (its centre and a point on its rim) and
``mask`` (the corners of its extent); ``point``, ``points``, ``line`` and ``linestrip``
outline none and are counted in one line. Classes are the labels found, sorted.
"""

from __future__ import annotations

import logging
import math
import os
from collections import Counter
from pathlib import Path, PureWindowsPath
from typing import Any

from detkit.data import limits
from detkit.data.formats.drawn import (
    Drawn,
    box_problem,
    clipped,
    drawn_records,
    given_splits,
    points_box,
    report_not_boxes,
)
from detkit.data.formats.fields import file_name_problem, is_number, is_whole, parse_json, read_text
from detkit.data.formats.problems import check_on_invalid, settle_problems
from detkit.data.formats.roots import ImageRoot, escapes_root
from detkit.data.formats.split_names import detkit_split
from detkit.data.images.files import IMAGE_SUFFIXES, stored_and_shown_size
from detkit.data.records import DetectionDataset
from detkit.data.regular_files import read_head
from detkit.exceptions import DatasetError

OUTLINES = ("rectangle", "polygon", "oriented_rectangle", "circle", "mask")
NOT_OUTLINES = ("point", "points", "line", "linestrip")
MARKS = (b'"shapes"', b'"imagePath"')  # a LabelMe json names both; COCO, Label Studio's and others' neither
HEAD_BYTES = 1 << 20
log = logging.getLogger(__name__)


def looks_like_labelme(path: Path | str) -> bool:
    """Whether the json at ``path`` can be LabelMe's: its first MiB names ``shapes`` or
    ``imagePath`` (an unreadable file counts, for the reader to name what is wrong with it)."""
    head = read_head(path, HEAD_BYTES)
    return head is None or any(mark in head for mark in MARKS)


def labelme_files(root: Path) -> list[Path]:
    """The LabelMe json files under ``root`` (a folder, links not followed, hidden folders left
    out; or the one file ``root``), sorted."""
    if root.is_file():
        return [root]
    found = []
    for folder, folders, files in os.walk(root):
        folders[:] = sorted(f for f in folders if not f.startswith("."))
        found += [Path(folder, f) for f in sorted(files) if f.lower().endswith(".json")]
    return [path for path in found if looks_like_labelme(path)]


def load_labelme(
    root: str | Path, images: str | Path | None = None, border_margin: float = 2.0, on_invalid: str = "error"
) -> DetectionDataset:
    """Read the LabelMe json files under ``root``; images are found from each json's folder (or
    in ``images``, by the paths the jsons give and by base name); ``border_margin`` and
    ``on_invalid`` as in `load_coco`."""
    check_on_invalid(on_invalid)
    root = Path(root)
    folder = root.parent if root.is_file() else root
    paths = labelme_files(root)
    if not paths:
        raise DatasetError("no LabelMe .json files (with shapes and imagePath) here", str(root))
    image_root = ImageRoot(Path(images) if images is not None else folder)
    not_boxes: Counter = Counter()
    found_apart: list[str] = []
    drawn = [_drawn(path, folder, image_root, border_margin, not_boxes, found_apart) for path in paths]
    names = sorted({name for image in drawn for name in image.names})
    problems: list[str] = []
    left_out: list[int] = []
    records = drawn_records(drawn, image_root, names, problems, left_out)
    settle_problems(problems, str(root), on_invalid, left_out)
    report_not_boxes(not_boxes, str(root), ", ".join(OUTLINES))
    if found_apart:
        log.info(
            "data: %d image(s) not at their imagePath were read beside their json (e.g. %s)",
            len(found_apart),
            found_apart[0],
        )
    return DetectionDataset(
        Path(image_root.folder),
        names,
        records,
        given_splits=given_splits(_folder_splits(paths, folder), drawn, records),
    )


def _drawn(
    path: Path, folder: Path, images: ImageRoot, margin: float, not_boxes: Counter, found_apart: list[str]
) -> Drawn:
    """One LabelMe json as a `Drawn` image."""
    source = str(path.relative_to(folder)) if path.is_relative_to(folder) else str(path)
    try:
        data = parse_json(read_text(path, limit=limits.JSON_BYTES), source)
    except ValueError as e:  # json.JSONDecodeError
        return _refused(source, f"malformed JSON ({e}); fix or re-save it in LabelMe")
    except DatasetError as e:
        return _refused(source, str(e).removeprefix(f"{path}: "))
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("shapes"), list)
        or not isinstance(data.get("imagePath"), str)
    ):
        return _refused(source, "not a LabelMe file: it needs a 'shapes' list and an 'imagePath'")
    file_name, where = _image_file(data["imagePath"], path, folder, images)
    if where is None:
        embedded = " (the json embeds it as imageData; put the image file there)" if data.get("imageData") else ""
        return _refused(
            source,
            f"image {data['imagePath']!r} not found beside the json{embedded}; point data.root at the folder "
            "that holds the images and the jsons, or name the image folder with data.images=<folder>",
        )
    if where == "apart":
        found_apart.append(f"{source} -> {file_name}")
    width, height = _size(data, images.path(file_name))
    names, boxes, problems = [], [], []
    for k, shape in enumerate(data["shapes"]):
        kind = (shape.get("shape_type") or "polygon") if isinstance(shape, dict) else None  # LabelMe 3 wrote none
        if kind in NOT_OUTLINES:
            not_boxes[kind] += 1
            continue
        label = shape.get("label") if isinstance(shape, dict) else None
        box = _shape_box(kind, shape.get("points") if isinstance(shape, dict) else None)
        wrong = box if isinstance(box, str) else box_problem(box, width, height, margin)
        if not isinstance(label, str) or not label.strip():
            wrong = f"label must be a non-empty string, got {label!r}"
        if wrong:
            problems.append(f"shapes[{k}] ({kind}, label {label!r}): {wrong}")
            continue
        names.append(label.strip())
        boxes.append(clipped(box, width, height))
    return Drawn(source, file_name, width, height, names, boxes, problems)


def _refused(source: str, problem: str) -> Drawn:
    return Drawn(source, "", 0, 0, [], [], [problem])


def _image_file(image_path: str, json_path: Path, folder: Path, images: ImageRoot) -> tuple[str, str | None]:
    """``(file name under the image root, how it was found)``: ``"named"`` at ``imagePath``
    from the json's folder, ``"apart"`` by the base name of ``imagePath`` or the json's stem
    beside the json (or directly in the image root); ``(name, None)`` when none is there."""
    posix = PureWindowsPath(image_path).as_posix()  # what LabelMe itself does: \ is a separator
    base = posix.rsplit("/", 1)[-1]
    here = json_path.parent.relative_to(folder).as_posix() if json_path.parent.is_relative_to(folder) else ""
    here = "" if here == "." else here + "/"
    named = os.path.normpath(here + posix).replace(os.sep, "/") if posix and not posix.startswith("/") else ""
    stems = [here + json_path.stem + suffix for suffix in IMAGE_SUFFIXES]
    candidates = [(named, "named"), (here + base, "apart"), (base, "apart")] + [(s, "apart") for s in stems]
    if images.folder != str(folder):  # data.images: the names as written, then by base name
        candidates = [(posix, "named"), (base, "apart")] + [(json_path.stem + s, "apart") for s in IMAGE_SUFFIXES]
    for name, how in candidates:
        if name and not escapes_root(name) and not file_name_problem(name) and os.path.isfile(images.path(name)):
            return name, how
    return named or base, None


def _size(data: dict[str, Any], image: str) -> tuple[int, int]:
    """The image's size as the json gives it (``imageWidth``, ``imageHeight``), else from the
    image's header (LabelMe leaves them out in some versions); 0 x 0 when neither reads."""
    width, height = data.get("imageWidth"), data.get("imageHeight")
    if is_whole(width) and is_whole(height):
        return width, height
    try:
        return stored_and_shown_size(image)[1]
    except OSError:
        return 0, 0


def _shape_box(kind: Any, points: Any) -> list[float] | str:
    """The ``xyxy`` box that holds a LabelMe shape, or why it cannot be read."""
    if kind not in OUTLINES:
        return f"unknown shape_type {kind!r}; known: {list(OUTLINES + NOT_OUTLINES)}"
    if not (isinstance(points, list) and points and all(_is_point(p) for p in points)):
        return f"points must be a list of [x, y] numbers, got {str(points)[:80]}"
    if kind == "circle":
        if len(points) != 2:
            return "a circle needs 2 points: its centre and a point on its rim"
        (cx, cy), (px, py) = points
        r = math.hypot(px - cx, py - cy)
        return [cx - r, cy - r, cx + r, cy + r]
    return points_box(points)


def _is_point(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(is_number(v) for v in value)


def _folder_splits(paths: list[Path], folder: Path) -> list[str | None]:
    """detkit's split of each json: the first folder on its way from the root named as a split
    (``train/``, ``val/``, ``labels/test/`` ...); None for a json in no such folder."""
    parts = [path.relative_to(folder).parts[:-1] if path.is_relative_to(folder) else () for path in paths]
    return [next((split for part in p if (split := detkit_split(part))), None) for p in parts]
