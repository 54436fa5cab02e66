"""The optional per-image sidecar json of VOC and YOLO, for what those formats cannot hold:
``{"group": ..., "domain": ..., "annotated_classes": [class names exhaustively labelled]}``."""

from __future__ import annotations

import json
import os
from pathlib import Path

from detkit.data.formats.fields import parse_json, read_text
from detkit.data.records import Record
from detkit.exceptions import DatasetError
from detkit.files import write_json_atomic


def apply_sidecar(path: Path, record: Record, class_names: list[str], problems: list[str]) -> None:
    """Fill ``record.group``, ``domain`` and ``annotated`` from ``path`` if that file exists."""
    if not os.path.lexists(path):  # a link to nothing is a problem, not "no sidecar"
        return
    try:
        extra = parse_json(read_text(path), str(path))
    except json.JSONDecodeError as e:
        problems.append(f"{path}: line {e.lineno}, column {e.colno}: invalid JSON ({e.msg})")
        return
    except DatasetError as e:
        problems.append(str(e))
        return
    annotated = extra.get("annotated_classes", []) if isinstance(extra, dict) else None
    if not (isinstance(annotated, list) and all(isinstance(n, str) for n in annotated)):
        problems.append(f'{path}: expected {{"group": ..., "domain": ..., "annotated_classes": [names]}}')
        return
    unknown = [n for n in annotated if n not in class_names]
    if unknown:
        problems.append(f"{path}: annotated_classes {unknown} are not classes of this dataset {class_names}")
        return
    record.group = str(extra.get("group", record.group))
    record.domain = str(extra.get("domain", record.domain))
    if "annotated_classes" in extra:
        record.annotated = frozenset(class_names.index(n) for n in extra["annotated_classes"])


def write_sidecar(path: Path, record: Record, class_names: list[str]) -> None:
    """Write the sidecar when the record carries something its format cannot."""
    extra: dict[str, object] = {}
    if record.group != Path(record.file_name).stem:
        extra["group"] = record.group
    if record.domain != "default":
        extra["domain"] = record.domain
    if record.annotated is not None:
        extra["annotated_classes"] = [class_names[i] for i in sorted(record.annotated)]
    if extra:
        write_json_atomic(path, extra)
