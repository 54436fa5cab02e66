"""What a split holds, from its annotations and image headers alone (no pixels): images, boxes,
classes, box sizes (COCO's ranges, and in pixels at the model's input), shapes and image sizes."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from detkit.data.health.object_sizes import SMALL_SIDE_PX, ObjectSizes
from detkit.data.records import DetectionDataset

COCO_SMALL, COCO_MEDIUM = 32**2, 96**2  # COCO's area ranges (pycocotools' areaRng)


def profile_split(dataset: DetectionDataset, image_size: int, keep_aspect_ratio: bool) -> dict[str, Any]:
    """Counts and sizes of one split (crowd regions left out of the boxes), json-ready."""
    records = dataset.records
    per_image = np.array([int((~r.iscrowd).sum()) for r in records], dtype=np.int64)
    boxes = np.concatenate([r.boxes[~r.iscrowd] for r in records]) if records else np.zeros((0, 4))
    areas = np.concatenate([r.areas[~r.iscrowd] for r in records]) if records else np.zeros(0)
    labels = np.concatenate([r.labels[~r.iscrowd] for r in records]) if records else np.zeros(0, np.int64)
    widths, heights = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    aspect = np.log2(np.clip(widths, 1e-3, None) / np.clip(heights, 1e-3, None))
    at_input = ObjectSizes.of(dataset, image_size, keep_aspect_ratio)
    counts = Counter(labels.tolist())
    sizes = Counter((r.width, r.height) for r in records)
    return {
        "images": len(records),
        "empty_images": int((per_image == 0).sum()),
        "boxes": int(per_image.sum()),
        "boxes_per_image": _spread(per_image),
        "classes": {name: int(counts.get(k, 0)) for k, name in enumerate(dataset.class_names)},
        "coco_sizes": {
            "small": int((areas < COCO_SMALL).sum()),
            "medium": int(((areas >= COCO_SMALL) & (areas < COCO_MEDIUM)).sum()),
            "large": int((areas >= COCO_MEDIUM).sum()),
        },
        "side_at_input": {
            **_spread(at_input.sides),
            "image_size": image_size,
            f"under_{SMALL_SIDE_PX}px": at_input.small_share(),
            "image_size_keeping_95pct": at_input.size_keeping() if len(at_input.sides) else image_size,
        },
        "aspect_log2": _spread(aspect),
        "image_sizes": {f"{w}x{h}": n for (w, h), n in sizes.most_common(5)},
        "distinct_image_sizes": len(sizes),
    }


def _spread(values: np.ndarray) -> dict[str, float]:
    """Mean and the 5th, 50th and 95th percentiles (zeros for no values)."""
    if not len(values):
        return {"mean": 0.0, "p5": 0.0, "p50": 0.0, "p95": 0.0}
    p5, p50, p95 = np.percentile(values, [5, 50, 95])
    return {"mean": float(np.mean(values)), "p5": float(p5), "p50": float(p50), "p95": float(p95)}


def small_object_warning(profile: dict[str, Any]) -> str | None:
    """A line when more than 5 % of a split's objects shrink under `SMALL_SIDE_PX` at the input."""
    sides = profile["side_at_input"]
    share = sides[f"under_{SMALL_SIDE_PX}px"]
    if share <= 0.05:
        return None
    return (
        f"{share:.0%} of the objects are under {SMALL_SIDE_PX} px at the model's {sides['image_size']} px input; "
        f"model.image_size={sides['image_size_keeping_95pct']} keeps 95 % above it"
    )
