"""Running a detector on images: detections in detkit's conventions."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from detkit.exceptions import ConfigError
from detkit.models.detectors import from_model_labels

Detections = dict[str, np.ndarray]
Sink = Callable[[dict[int, Detections]], None]  # takes detections by image id as they come


def detect(model: nn.Module, images: list[torch.Tensor]) -> list[Detections]:
    """Detections per image (the model in eval mode): ``boxes`` xyxy ``[N, 4]`` float32,
    ``scores`` ``[N]``, ``labels`` ``[N]`` in ``0..C-1``. Detections of the background slot
    (model label 0), which the sigmoid heads of RetinaNet and FCOS score as any class, are
    dropped: shifted, they would be label -1, which indexes the last class."""
    found = []
    for out in model(images):
        keep = out["labels"] > 0
        found.append(
            {
                "boxes": out["boxes"][keep].float().cpu().numpy(),
                "scores": out["scores"][keep].float().cpu().numpy(),
                "labels": from_model_labels(out["labels"][keep]).cpu().numpy(),
            }
        )
    return found


def scoring_at_least(detections: Detections, threshold: float) -> Detections:
    """The detections whose score is at least ``threshold``."""
    keep = detections["scores"] >= threshold
    return {key: value[keep] for key, value in detections.items()}


def parse_device(device: str) -> tuple[str, int | None]:
    """``cpu``, ``cuda``, ``cuda:<index>`` or ``auto`` as ``(kind, index)``: a ConfigError for
    anything else (whether the device exists is the caller's to check)."""
    kind, _, index = str(device).partition(":")
    if kind not in ("cpu", "cuda", "auto") or (index and (not index.isdigit() or kind != "cuda")):
        raise ConfigError(f"device={device!r}; give cpu, cuda, cuda:<index> or auto")
    return kind, int(index) if index else None


def torch_device(device: str) -> torch.device:
    """The torch device ``device`` names (`parse_device`), ``auto`` being cuda when available; a
    ConfigError for cuda on a machine without it."""
    kind, index = parse_device(device)
    if kind == "auto":
        kind = "cuda" if torch.cuda.is_available() else "cpu"
    if kind == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={device} but no CUDA device is available; use device=cpu")
    return torch.device(kind, index) if index is not None else torch.device(kind)
