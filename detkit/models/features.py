"""What a detector's backbone sees in an image, as one vector: its coarsest feature map averaged
over space, captured while the detector runs (one forward pass gives detections and features)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn


@contextlib.contextmanager
def pooled_backbone_features(model: nn.Module) -> Iterator[list[torch.Tensor]]:
    """Within the block, each forward pass of ``model.backbone`` appends ``[batch, channels]``
    (its last output map, mean over height and width) to the list yielded."""
    captured: list[torch.Tensor] = []

    def keep(module: nn.Module, inputs: object, output: object) -> None:
        maps = list(output.values()) if isinstance(output, dict) else [output]
        captured.append(maps[-1].float().mean(dim=(2, 3)).cpu())

    handle = model.backbone.register_forward_hook(keep)
    try:
        yield captured
    finally:
        handle.remove()
