"""How large the objects of a split are once their images are resized to the model's input."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detkit.data.records import DetectionDataset

SMALL_SIDE_PX = 16  # the finest level of SSDlite and the MobileNet FCOS / Faster R-CNN is stride 16


@dataclass(frozen=True)
class ObjectSizes:
    """Each box's side (square root of its area) in pixels of the model's input."""

    sides: np.ndarray
    image_size: int

    @classmethod
    def of(cls, dataset: DetectionDataset, image_size: int, keep_aspect_ratio: bool) -> ObjectSizes:
        """The sides at an ``image_size`` input: each image fitted in ``image_size`` square keeping
        its shape (``keep_aspect_ratio``) or stretched to it (SSD's default). Crowd regions are left out."""
        records = dataset.records
        counts = np.array([len(r.boxes) for r in records], dtype=np.int64)
        if not counts.sum():
            return cls(np.zeros(0), image_size)
        boxes = np.concatenate([r.boxes for r in records])
        crowd = np.concatenate([r.iscrowd for r in records])
        widths, heights = (
            np.repeat([r.width for r in records], counts),
            np.repeat([r.height for r in records], counts),
        )
        if keep_aspect_ratio:
            scale_x = scale_y = image_size / np.maximum(widths, heights)
        else:
            scale_x, scale_y = image_size / widths, image_size / heights
        areas = (boxes[:, 2] - boxes[:, 0]) * scale_x * (boxes[:, 3] - boxes[:, 1]) * scale_y
        return cls(np.sqrt(np.clip(areas[~crowd], 0, None)), image_size)

    def percentiles(self, low: float = 5, high: float = 95) -> tuple[float, float]:
        return tuple(float(v) for v in np.percentile(self.sides, [low, high])) if len(self.sides) else (0.0, 0.0)

    def small_share(self, side: float = SMALL_SIDE_PX) -> float:
        """The share of objects smaller than ``side`` px at the input."""
        return float(np.mean(self.sides < side)) if len(self.sides) else 0.0

    def size_keeping(self, share: float = 0.05, side: float = SMALL_SIDE_PX) -> int:
        """The input size at which all but ``share`` of the objects are at least ``side`` px
        (rounded up to a multiple of 32)."""
        smallest = float(np.percentile(self.sides, 100 * share)) if len(self.sides) else side
        needed = self.image_size * side / max(smallest, 1e-6)
        return int(np.ceil(needed / 32) * 32)

    def describe(self) -> str:
        """One line: the objects' sizes at the input, and what to do when many are too small to find."""
        if not len(self.sides):
            return "training split has no objects"
        low, high = self.percentiles()
        line = f"objects {low:.0f}-{high:.0f} px at the model's {self.image_size} px input (5th-95th percentile)"
        small = self.small_share()
        if small > 0.05:
            line += (
                f"; {small:.0%} are under {SMALL_SIDE_PX} px, below what the detector's finest level"
                f" (stride 16) resolves well: model.image_size={self.size_keeping()} keeps 95 % above it"
            )
        return line
