"""Which of detkit's splits an export's own split stands for: ``train``, ``valid``, ``val2017``, ``test`` ..."""

from __future__ import annotations

import re

GIVEN_SPLITS = {
    "train": "train",
    "training": "train",
    "val": "dev",
    "valid": "dev",
    "validation": "dev",
    "dev": "dev",
    "test": "test",
    "testing": "test",
}


FILE_NAMES = {"train": "train", "dev": "val", "test": "test"}  # VOC's image sets and YOLO's yaml keys


def detkit_split(name: str) -> str | None:
    """``train``, ``dev`` or ``test`` for an export's split name (case and a trailing year or
    number ignored: ``val2017`` is dev), else ``None``."""
    return GIVEN_SPLITS.get(re.sub(r"[\W_]*\d*$", "", name.lower()))
