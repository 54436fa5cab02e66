"""Images of different sizes on one grid (TensorBoard and contact sheets need equal sizes)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def same_size(images: list[torch.Tensor]) -> torch.Tensor:
    """The images padded (right and bottom) to the largest, stacked: uint8 [N, 3, H, W]."""
    height, width = max(i.shape[1] for i in images), max(i.shape[2] for i in images)
    return torch.stack([F.pad(i, (0, width - i.shape[2], 0, height - i.shape[1])) for i in images])
