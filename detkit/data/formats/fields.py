"""The checks every reader applies to a field before using it: text that is UTF-8, numbers that
are numbers (not strings, booleans, NaN or infinity), whole numbers where ids and sizes go.
Every reader reports what fails through these, so one bad value is one message, never a crash."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from detkit.errors import DatasetError


def read_text(path: Path) -> str:
    """The file as text: UTF-8, with or without a byte-order mark. Anything else is a
    `DatasetError` naming the first bad byte's offset and the fix."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DatasetError(
            f"byte {e.start}: not UTF-8 (0x{data[e.start]:02x}); save the file as UTF-8", source=str(path)
        ) from None


def is_number(value: Any) -> bool:
    """A finite int or float (``True`` and ``"3"`` are not numbers here, nor NaN or infinity)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_whole(value: Any) -> bool:
    """An int that is not a bool: what ids and pixel sizes must be."""
    return isinstance(value, int) and not isinstance(value, bool)
