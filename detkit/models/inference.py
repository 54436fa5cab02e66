"""Running a detector on images: detections in detkit's conventions, and timed passes."""

from __future__ import annotations

import time
from collections.abc import Iterable

import numpy as np
import torch
from torch import nn

from detkit.models.detectors import from_model_labels

Detections = dict[str, np.ndarray]
Batches = Iterable[tuple[list[torch.Tensor], list[dict]]]


def detect(model: nn.Module, images: list[torch.Tensor]) -> list[Detections]:
    """Detections per image (the model in eval mode): ``boxes`` xyxy ``[N, 4]`` float32,
    ``scores`` ``[N]``, ``labels`` ``[N]`` in ``0..C-1``."""
    return [
        {
            "boxes": out["boxes"].float().cpu().numpy(),
            "scores": out["scores"].float().cpu().numpy(),
            "labels": from_model_labels(out["labels"]).cpu().numpy(),
        }
        for out in model(images)
    ]


@torch.inference_mode()
def detect_all(
    model: nn.Module, batches: Batches, device: str = "cpu", warm_up: bool = True
) -> tuple[dict[int, Detections], float]:
    """Detections of every image in ``batches`` (a loader of ``(images, targets)``, as
    `collate_detections` makes) by image id, and the seconds the model's forward passes took on
    ``device`` (loading not counted; with ``warm_up`` the first batch is first run once untimed)."""
    model.eval().to(device)
    detections: dict[int, Detections] = {}
    seconds, warm = 0.0, not warm_up
    for images, targets in batches:
        images = [image.to(device) for image in images]
        if not warm:
            model(images)
            warm = True
        started = time.perf_counter()
        outputs = detect(model, images)  # ends on the host: the device has finished
        seconds += time.perf_counter() - started
        detections.update(zip((int(t["image_id"]) for t in targets), outputs))
    return detections, seconds
