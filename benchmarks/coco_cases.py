"""COCO-size synthetic cases, and a library's own evaluation of json files, that the benchmarks share."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np

from detkit.evaluation.coco import coco_backend


def coco_size_case(num_images: int, num_classes: int = 80, per_image: int = 100, seed: int = 0):
    """Ground truth (1-13 boxes an image, 3 % crowd) and ``per_image`` detections an image: a
    noisy copy of most boxes, the rest background with low scores, as a detector's top 100."""
    rng = np.random.default_rng(seed)
    images, annotations, detections = [], [], []
    for image_id in range(1, num_images + 1):
        images.append({"id": image_id, "width": 640, "height": 480, "file_name": f"{image_id}.jpg"})
        found = []
        for _ in range(rng.integers(1, 14)):
            w, h = rng.uniform(8, 300), rng.uniform(8, 250)
            x, y, cat = rng.uniform(0, 640 - w), rng.uniform(0, 480 - h), int(rng.integers(1, num_classes + 1))
            crowd = int(rng.random() < 0.03)
            box = [x, y, w, h]
            annotations.append(
                {"id": len(annotations) + 1, "image_id": image_id, "category_id": cat, "bbox": box, "area": w * h}
            )
            annotations[-1]["iscrowd"] = crowd
            if rng.random() < 0.85:
                noise = rng.normal(0, 0.08, 4) * [w, h, w, h]
                box = [x + noise[0], y + noise[1], w + noise[2], h + noise[3]]
                found.append(
                    {"image_id": image_id, "category_id": cat, "score": float(rng.uniform(0.3, 1)), "bbox": box}
                )
        for _ in range(per_image - len(found)):
            box = [*rng.uniform(0, 400, 2).tolist(), *rng.uniform(5, 200, 2).tolist()]
            cat = int(rng.integers(1, num_classes + 1))
            found.append({"image_id": image_id, "category_id": cat, "score": float(rng.uniform(0, 0.5)), "bbox": box})
        detections += found
    categories = [{"id": k, "name": f"c{k}"} for k in range(1, num_classes + 1)]
    return {"images": images, "annotations": annotations, "categories": categories}, detections


def library_alone(backend: str, annotations: Path, predictions: Path) -> None:
    """The backend's own COCO API on the files, as its documentation shows it."""
    coco_cls, eval_cls = coco_backend(backend)
    with contextlib.redirect_stdout(io.StringIO()):
        truth = coco_cls(str(annotations))
        evaluator = eval_cls(truth, truth.loadRes(str(predictions)), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
