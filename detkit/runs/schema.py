"""What a run's ``config.yaml`` holds, as every tool that reads runs needs it: the keys and the
types of the values ``tools/train.py`` writes there and the tools read back (evaluate, errors,
predict, export, diagnose, the comparisons, data_health, label_next and ``resume=``). A file
edited by someone else (a section missing, a value of another type) is refused once, on
reading, naming the file and the key, instead of failing deep inside whatever reads it first.
Values are checked where they are used (a detector's name by the detector builder); a run's
split manifests by `detkit.data.splits.read_manifests`, its checkpoints by
`detkit.runs.checkpoints.read_checkpoint`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from detkit.data.formats.fields import is_whole
from detkit.exceptions import ConfigError


def _mapping(value: Any) -> bool:
    return isinstance(value, dict)


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def _names(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(_text(name) for name in value)


def _positive(value: Any) -> bool:
    return is_whole(value) and value >= 1


def _count(value: Any) -> bool:
    return is_whole(value) and value >= 0


Check = tuple[Callable[[Any], bool], str]
MAPPING: Check = (_mapping, "a section (a mapping of keys)")
TEXT: Check = (_text, "a non-empty string")

# Required: every run tools/train.py writes has them.
REQUIRED: dict[str, Check] = {
    "seed": (is_whole, "a whole number"),
    "data": MAPPING,
    "data.name": TEXT,
    "data.class_names": (_names, "a non-empty list of class names"),
    "data.module": MAPPING,
    "data.module.source": MAPPING,
    "data.module.source._target_": TEXT,
    "data.module.batch_size": (_positive, "a whole number >= 1"),
    "model": MAPPING,
    "model.name": TEXT,
    "model.image_size": (_positive, "a whole number of pixels >= 1"),
    "evaluation": MAPPING,
    "evaluation.backend": TEXT,
    "trainer": MAPPING,
}
# Optional: runs written before these existed are read without them.
OPTIONAL: dict[str, Check] = {
    "data.module.eval_batch_size": (lambda v: v is None or _positive(v), "null or a whole number >= 1"),
    "data.module.num_workers": (_count, "a whole number >= 0"),
    "data.module.dedupe": TEXT,
    "evaluation.partial_labels": (lambda v: v in ("lvis", "naive"), "lvis or naive"),
}


def check_run_config(config: dict[str, Any], path: Path) -> None:
    """Refuse a run's config (``path``, read as plain data) that lacks a key of `REQUIRED` or
    holds a value of another kind than `REQUIRED` and `OPTIONAL` say."""
    for key, (valid, wanted) in {**REQUIRED, **OPTIONAL}.items():
        found, value = _lookup(config, key)
        if not found and key in OPTIONAL:
            continue
        if not found or not valid(value):
            got = "missing" if not found else f"{value!r}"[:80]
            raise ConfigError(
                f"{path}: {key} must be {wanted}, got {got}; a run's config.yaml is written by tools/train.py: "
                "restore it, or train a new run"
            )


def _lookup(config: dict[str, Any], key: str) -> tuple[bool, Any]:
    node: Any = config
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node
