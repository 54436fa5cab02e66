"""The image a file is a copy of, by the names exporters give their copies."""

from __future__ import annotations

import re

# Roboflow names each exported copy of an uploaded image <stem>_<ext>.rf.<32 hex digits>.<ext>
ROBOFLOW_COPY = re.compile(r"^(?P<source>.+)_(?P<ext>[A-Za-z0-9]{2,5})\.rf\.[0-9a-fA-F]{16,64}$")


def source_name(stem: str) -> str:
    """The name (without extension) of the image a file of stem ``stem`` is a copy of: Roboflow's
    copies lose ``_<ext>.rf.<hash>``; any other name is its own source."""
    if ".rf." not in stem:  # most names: no regex
        return stem
    match = ROBOFLOW_COPY.match(stem)
    return match["source"] if match else stem
