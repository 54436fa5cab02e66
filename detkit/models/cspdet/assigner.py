"""Which cells learn which object: TOOD's task-aligned assigner (Feng et al. 2021).

A cell's alignment with an object is ``score ** alpha * IoU ** beta``: its predicted score for the
object's class times how well its predicted box fits, so the cells that both classify and locate
the object best become its positives and the two tasks are trained to agree. Each object takes
its ``topk`` best-aligned candidate cells (cells whose centre lies inside its box); a cell wanted
by several objects goes to the one its box overlaps most. The class target of a positive is its
alignment normalised per object so that the object's best cell gets the object's best IoU: a
soft score that ranks boxes by their quality.

An object too small to hold any cell centre (a box between the centres of the finest level)
takes the nearest centre of each level as its candidates, so that no labelled box goes unlearned."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torchvision.ops import box_iou

TOPK = 13  # TOOD's
ALPHA = 1.0
BETA = 6.0


@dataclass
class Assignment:
    """Per cell: the index of its object (-1: background) and its soft class target (0 for background)."""

    matched: Tensor  # [N] long
    quality: Tensor  # [N] float

    @property
    def positive(self) -> Tensor:
        return self.matched >= 0


def candidates(points: Tensor, strides: Tensor, boxes: Tensor) -> Tensor:
    """``[M, N]``: cell centre ``points`` ``[N, 2]`` inside each box ``[M, 4]``; for a box holding
    none, the nearest centre of each level (``strides`` ``[N]``)."""
    x, y = points[:, 0], points[:, 1]
    inside = (x > boxes[:, :1]) & (x < boxes[:, 2:3]) & (y > boxes[:, 1:2]) & (y < boxes[:, 3:])
    empty = torch.nonzero(~inside.any(dim=1)).squeeze(1)
    if len(empty):
        distances = torch.cdist((boxes[empty, :2] + boxes[empty, 2:]) / 2, points)
        for stride in strides.unique():
            nearest = torch.where(strides == stride, distances, torch.inf).argmin(dim=1)
            inside[empty, nearest] = True
    return inside


@torch.no_grad()
def assign(
    scores: Tensor,
    boxes: Tensor,
    points: Tensor,
    strides: Tensor,
    gt_boxes: Tensor,
    gt_labels: Tensor,
    topk: int = TOPK,
    alpha: float = ALPHA,
    beta: float = BETA,
) -> Assignment:
    """One image: ``scores`` ``[N, K]`` (sigmoid) and ``boxes`` ``[N, 4]`` (xyxy) predicted at the
    cell centres ``points`` ``[N, 2]`` of ``strides`` ``[N]``; ``gt_boxes`` ``[M, 4]`` with labels
    ``[M]`` (model labels)."""
    n, m = points.shape[0], gt_boxes.shape[0]
    if m == 0:
        return Assignment(torch.full((n,), -1, dtype=torch.long, device=points.device), scores.new_zeros(n))
    allowed = candidates(points, strides, gt_boxes)
    ious = box_iou(gt_boxes, boxes).clamp(min=0)  # [M, N]
    class_scores = scores[:, gt_labels].T  # [M, N]
    alignment = class_scores.pow(alpha) * ious.pow(beta) * allowed
    # the topk best-aligned candidates of each object; candidates rank above other cells at equal alignment
    ranking = alignment + allowed * torch.finfo(alignment.dtype).tiny
    chosen = ranking.topk(min(topk, n), dim=1).indices
    positive = torch.zeros_like(allowed).scatter_(1, chosen, True) & allowed
    overlap = torch.where(positive, ious, -1.0)  # a cell wanted by several objects: the one it overlaps most
    best = overlap.argmax(dim=0)
    matched = torch.where(positive.any(dim=0), best, -1)
    kept = torch.zeros_like(positive)
    cells = torch.nonzero(matched >= 0).squeeze(1)
    kept[matched[cells], cells] = True
    alignment = alignment * kept
    top_alignment = alignment.amax(dim=1, keepdim=True).clamp(min=1e-9)
    top_iou = (ious * kept).amax(dim=1, keepdim=True)
    quality = (alignment / top_alignment * top_iou).amax(dim=0)
    return Assignment(matched, quality)
