"""Gather per-image predictions from every process so that each image is scored exactly once."""

from __future__ import annotations

from typing import Any

import torch.distributed as dist


def gather_by_image(local: dict[int, Any]) -> dict[int, Any]:
    """Merge ``{image_id: prediction}`` dicts from all ranks; every rank gets the union.

    A ``DistributedSampler`` pads the last batch with repeated images; keying by image id
    keeps one copy of each, so the evaluator counts every image once.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return dict(local)
    parts: list[dict[int, Any] | None] = [None] * dist.get_world_size()
    dist.all_gather_object(parts, local)
    merged: dict[int, Any] = {}
    for part in parts:
        merged.update(part or {})
    return merged


def broadcast_from_zero(value: Any) -> Any:
    """Rank 0's ``value`` on every rank (itself when not distributed)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]
