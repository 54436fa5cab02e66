"""The sizes detkit reads at most, named once. Each is far above what real datasets hold (the
largest public COCO-style files are a few GB with a few thousand classes) and far below what
hangs or exhausts a machine; each can be raised with an environment variable, which every tool
and every DDP process sees alike: ``DETKIT_MAX_<NAME>`` (e.g. ``DETKIT_MAX_JSON_BYTES=20e9``).
docs/bad_input.md lists them."""

from __future__ import annotations

import os
from dataclasses import dataclass

from detkit.exceptions import ConfigError


@dataclass(frozen=True)
class Limit:
    """A bound on what one input may hold: ``name`` (the variable is ``DETKIT_MAX_<NAME>``),
    ``default``, and what is counted, in words."""

    name: str
    default: int
    counts: str

    @property
    def variable(self) -> str:
        return f"DETKIT_MAX_{self.name}"

    @property
    def value(self) -> int:
        """The bound in force: the environment's, else the default."""
        given = os.environ.get(self.variable)
        if not given:
            return self.default
        try:
            value = float(given)
        except ValueError:
            value = -1.0
        if not (value >= 1 and value == int(value)):
            raise ConfigError(f"{self.variable}={given!r} must be a whole number >= 1 (default {self.default:g})")
        return int(value)

    def exceeded(self, found: int | str) -> str:
        """The message for an input over the bound: what, how many, and how to raise it."""
        return (
            f"{self.counts}: {found:,} over the limit of {self.value:,}" if isinstance(found, int) else found
        ) + f"; if the file is right, raise it with {self.variable}=<larger>"


JSON_BYTES = Limit("JSON_BYTES", 16 * 2**30, "JSON file size in bytes")  # COCO train2017's is 0.45 GB
YAML_BYTES = Limit("YAML_BYTES", 2**20, "YAML file size in bytes")  # data.yaml ~30 KB; PyYAML: 1 MiB ~10 s
YAML_VALUES = Limit("YAML_VALUES", 1_000_000, "values in a YAML file, aliases expanded")
TEXT_BYTES = Limit("TEXT_BYTES", 256 * 2**20, "label, annotation or list file size in bytes")
NESTING = Limit("NESTING", 100, "levels of nesting")  # COCO's deepest (segmentation polygons) is 4
CATEGORIES = Limit("CATEGORIES", 100_000, "categories")  # LVIS has 1,203; ImageNet-21k 21,841
IMAGE_PIXELS = Limit("IMAGE_PIXELS", 178_956_970, "pixels in an image")  # PIL's decompression-bomb bound (2 x 89.5 MP)
ASPECT_RATIO = Limit("ASPECT_RATIO", 100, "ratio of an image's longer side to its shorter")  # panoramas: 2-10
