"""YOLO (``images/``, ``labels/*.txt`` with ``class cx cy w h`` normalised, ``data.yaml`` with
``names``) <-> `DetectionDataset`.

An image without a label file is a background image (no objects); a label file without an
image (an "orphan", common in real exports) cannot be used and is reported in
`orphan_labels` rather than failing the whole dataset. Group, domain and partial labels live
in an optional ``labels/<stem>.json`` sidecar.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from detkit.data.formats.images import copy_images
from detkit.data.formats.problems import check_on_invalid, settle_problems
from detkit.data.formats.sidecar import apply_sidecar, write_sidecar
from detkit.data.image_files import shown_size
from detkit.data.records import DetectionDataset, Record
from detkit.errors import DatasetError
from detkit.files import write_text_atomic

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
TOLERANCE = 1e-6  # exporters round normalised coordinates; 1.0000001 is still inside


def load_yolo(root: str | Path, on_invalid: str = "error") -> DetectionDataset:
    """Read ``root/data.yaml``, ``root/images/**`` and ``root/labels/**`` (same relative paths);
    ``on_invalid`` as in `load_coco` (``drop`` leaves out bad lines and unreadable images)."""
    check_on_invalid(on_invalid)
    root = Path(root)
    names = _read_names(root / "data.yaml")
    images = sorted(p for p in (root / "images").rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    problems: list[str] = []
    records = []
    for image_id, path in enumerate(images, start=1):
        relative = path.relative_to(root / "images")
        record = _read_image(root, relative, image_id, names, problems)
        if record is not None:
            records.append(record)
    settle_problems(problems, str(root), on_invalid)
    return DetectionDataset(root / "images", names, records)


def orphan_labels(root: str | Path) -> list[Path]:
    """Label files with no image beside them in ``images/``."""
    root = Path(root)
    stems = {
        p.relative_to(root / "images").with_suffix("")
        for p in (root / "images").rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES
    }
    return sorted(
        p for p in (root / "labels").rglob("*.txt") if p.relative_to(root / "labels").with_suffix("") not in stems
    )


def _read_names(path: Path) -> list[str]:
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError("no data.yaml with the class `names`; add one", source=str(path)) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise DatasetError(f"{where}malformed YAML; fix the file", source=str(path)) from None
    names = config.get("names") if isinstance(config, dict) else None
    if isinstance(names, dict) and sorted(names) == list(range(len(names))):
        return [str(names[i]) for i in range(len(names))]
    if isinstance(names, list) and names:
        return [str(n) for n in names]
    raise DatasetError("`names` must be a list of class names or a {0: name, 1: ...} mapping", source=str(path))


def _read_image(
    root: Path, relative: Path, image_id: int, class_names: list[str], problems: list[str]
) -> Record | None:
    try:
        width, height = shown_size(root / "images" / relative)
    except OSError as e:
        problems.append(f"{root / 'images' / relative}: unreadable image ({e})")
        return None
    label_path = root / "labels" / relative.with_suffix(".txt")
    rows = []
    if label_path.is_file():
        for number, line in enumerate(label_path.read_text().splitlines(), start=1):
            row = _parse_line(line, len(class_names))
            if isinstance(row, str):
                problems.append(f"{label_path}: line {number}: {row}")
            elif row is not None:
                rows.append(row)
    table = np.array(rows, dtype=np.float64).reshape(-1, 5)
    cx, cy, w, h = (table[:, 1:] * [width, height, width, height]).T
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1).clip(0, [width, height, width, height])
    record = Record(image_id, relative.as_posix(), width, height, boxes, table[:, 0].astype(np.int64))
    apply_sidecar(label_path.with_suffix(".json"), record, class_names, problems)
    return record


def _parse_line(line: str, num_classes: int) -> list[float] | str | None:
    fields = line.split()
    if not fields:
        return None
    if len(fields) != 5:
        return f"expected 5 fields 'class cx cy w h', got {len(fields)} (segments and keypoints are not boxes)"
    try:
        label, *values = int(fields[0]), *(float(v) for v in fields[1:])
    except ValueError:
        return f"not numbers: {line.strip()!r}"
    if not 0 <= label < num_classes:
        return f"class {label} outside 0..{num_classes - 1} of data.yaml names"
    if any(v < -TOLERANCE or v > 1 + TOLERANCE for v in values):
        return f"coordinates {values} outside [0, 1]; YOLO labels are normalised by the image size"
    if values[2] <= 0 or values[3] <= 0:
        return f"box {values} has zero or negative width/height"
    return [label, *values]


def write_yolo(dataset: DetectionDataset, root: str | Path) -> Path:
    """Copy images into ``root/images``, write ``root/labels`` and ``root/data.yaml``.
    Crowd regions have no YOLO form and are left out."""
    root = Path(root)
    copy_images(dataset, root / "images")
    for record in dataset.records:
        lines = []
        for (x1, y1, x2, y2), label, crowd in zip(record.boxes.tolist(), record.labels, record.iscrowd):
            if not crowd:
                cx, cy = (x1 + x2) / 2 / record.width, (y1 + y2) / 2 / record.height
                w, h = (x2 - x1) / record.width, (y2 - y1) / record.height
                lines.append(f"{int(label)} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}")
        label_path = (root / "labels" / record.file_name).with_suffix(".txt")
        write_text_atomic(label_path, "".join(f"{x}\n" for x in lines))
        write_sidecar(label_path.with_suffix(".json"), record, dataset.class_names)
    names = {i: name for i, name in enumerate(dataset.class_names)}
    write_text_atomic(
        root / "data.yaml", yaml.safe_dump({"path": ".", "train": "images", "val": "images", "names": names})
    )
    return root
