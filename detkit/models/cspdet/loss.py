"""CSPDet's loss: GFL's quality focal loss on the classes against the assigner's soft targets,
GIoU on the decoded boxes and GFL's distribution focal loss on the box sides, each weighted by
the positives' soft targets and normalised by their sum (Li et al. 2020; TOOD's weighting).
Partial labels: the negative terms of classes an image does not label are left out as in
`detkit.models.partial_labels`."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchvision.ops import generalized_box_iou_loss

from detkit.models.cspdet.assigner import Assignment
from detkit.models.partial_labels import leave_out_unlabelled

BOX_WEIGHT = 2.0  # GFL's GIoU weight
SIDES_WEIGHT = 0.25  # GFL's distribution focal loss weight
QFL_GAMMA = 2.0  # GFL's
# The least weight of a positive's box terms: a positive whose predicted box misses its object
# (IoU 0: its soft target is 0) still learns to fit it rather than nothing.
LEAST_BOX_WEIGHT = 0.05


def quality_focal_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Per element: binary cross-entropy against a soft target, scaled by
    ``|sigmoid(logit) - target| ** gamma`` (GFL): well-scored cells weigh little."""
    bce = nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    return bce * (logits.sigmoid() - targets).abs().pow(QFL_GAMMA)


def distribution_focal_loss(side_logits: Tensor, sides: Tensor) -> Tensor:
    """``side_logits`` ``[P, 4, R + 1]`` against target distances ``sides`` ``[P, 4]`` (in strides,
    within ``[0, R)``): cross-entropy on the two distances around each target, weighted by nearness
    (GFL). ``[P]``: mean over the four sides."""
    left = sides.floor().long()
    right_weight = sides - left
    log_p = side_logits.log_softmax(-1)
    left_term = log_p.gather(-1, left[..., None]).squeeze(-1) * (1 - right_weight)
    right_term = log_p.gather(-1, (left + 1)[..., None]).squeeze(-1) * right_weight
    return -(left_term + right_term).mean(-1)


def image_terms(
    class_logits: Tensor,
    side_logits: Tensor,
    boxes: Tensor,
    points: Tensor,
    strides: Tensor,
    target: dict[str, Tensor],
    assignment: Assignment,
    reg_max: int,
    partial_labels: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """One image's summed class, box and side terms and the sum of its box weights (soft targets,
    at least ``LEAST_BOX_WEIGHT``). ``class_logits``
    ``[N, K]``, ``side_logits`` ``[N, 4 * (R + 1)]``, ``boxes`` ``[N, 4]`` decoded, cells'
    ``points`` ``[N, 2]`` and ``strides`` ``[N]``."""
    positive = assignment.positive
    labels = target["labels"][assignment.matched[positive]]
    class_targets = torch.zeros_like(class_logits)
    class_targets[positive, labels] = assignment.quality[positive].to(class_targets.dtype)
    class_terms = quality_focal_loss(class_logits, class_targets)
    if partial_labels and "annotated" in target:
        positives = torch.zeros_like(class_logits, dtype=torch.bool)
        positives[positive, labels] = True  # the assignment's, whatever their soft target (0 where a box misses)
        class_terms = leave_out_unlabelled(
            class_terms, class_logits, positives, target["annotated"], target.get("gate")
        )
    weight = assignment.quality[positive].clamp(min=LEAST_BOX_WEIGHT)
    gt = target["boxes"][assignment.matched[positive]]
    box_terms = generalized_box_iou_loss(boxes[positive], gt, reduction="none") * weight
    point, stride = points[positive], strides[positive, None]
    sides = torch.cat([point - gt[:, :2], gt[:, 2:] - point], dim=1) / stride
    sides = sides.clamp(min=0, max=reg_max - 0.01)
    side_terms = distribution_focal_loss(side_logits[positive].unflatten(-1, (4, reg_max + 1)), sides) * weight
    return class_terms.sum(), box_terms.sum(), side_terms.sum(), weight.sum()


def total_losses(terms: list[tuple[Tensor, Tensor, Tensor, Tensor]]) -> dict[str, Tensor]:
    """The batch's losses, each term summed over its images and divided by their box weights' sum."""
    classes, boxes, sides, weights = (torch.stack(part).sum() for part in zip(*terms))
    norm = weights.clamp(min=1.0)
    return {
        "classification": classes / norm,
        "box_giou": BOX_WEIGHT * boxes / norm,
        "box_sides": SIDES_WEIGHT * sides / norm,
    }
