"""Learning-rate schedules built from torch's own schedulers."""

from __future__ import annotations

import torch
from torch.optim.lr_scheduler import CosineAnnealingLR, LinearLR, SequentialLR


def warmup_cosine(
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    warmup_steps: int = 100,
    warmup_factor: float = 0.001,
    min_lr_ratio: float = 0.01,
) -> SequentialLR:
    """Linear warm-up from ``warmup_factor * lr`` over ``warmup_steps``, then cosine decay to
    ``min_lr_ratio * lr`` at ``total_steps`` (stepped once per optimiser step)."""
    warmup_steps = max(1, min(warmup_steps, total_steps - 1))
    base_lr = optimizer.param_groups[0]["lr"]
    warmup = LinearLR(optimizer, start_factor=warmup_factor, end_factor=1.0, total_iters=warmup_steps)
    cosine = CosineAnnealingLR(optimizer, T_max=max(1, total_steps - warmup_steps), eta_min=base_lr * min_lr_ratio)
    return SequentialLR(optimizer, [warmup, cosine], milestones=[warmup_steps])
