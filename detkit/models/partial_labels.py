"""Classification losses that know an unlabelled class is unknown, not absent.

A target may carry ``annotated``: bool ``[K]`` in the model's label space (index 0 is
background), True for the classes exhaustively labelled in that image. For a class that is
not, the anchors that match none of its boxes give no negative signal: their focal-loss terms
are left out (exactly zero gradient), while its labelled boxes still count as positives. This
needs a per-class sigmoid classifier, which RetinaNet and FCOS have; softmax detectors (Faster
R-CNN, SSD) share one normaliser across classes, so one class cannot be left out of it.

torchvision computes these losses inside its heads, so the heads here subclass torchvision's
and recompute only the classification term, with the mask; everything else is torchvision's.
Without ``annotated`` in a target the loss equals torchvision's.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import Tensor, nn
from torchvision.models.detection.fcos import FCOSHead
from torchvision.models.detection.retinanet import RetinaNetClassificationHead
from torchvision.ops import sigmoid_focal_loss


def masked_focal_loss(
    logits: Tensor, anchor_labels: Tensor, annotated: Tensor | None, gate: Tensor | None = None
) -> Tensor:
    """Summed sigmoid focal loss of ``logits`` ``[A, K]`` against ``anchor_labels`` ``[A]``
    (a class index, or -1 for background), without the negative terms of the classes that
    ``annotated`` (bool ``[K]``; None: all) marks as not labelled. With ``gate`` (a score), only
    those negatives the model itself scores at or above ``gate`` are left out: where it sees no
    object of the unlabelled class, "background" is kept."""
    positives = nn.functional.one_hot(anchor_labels.clamp(min=0), logits.shape[-1]).bool()
    positives &= (anchor_labels >= 0)[:, None]
    loss = sigmoid_focal_loss(logits, positives.to(logits.dtype), reduction="none")
    if annotated is None:
        return loss.sum()
    return leave_out_unlabelled(loss, logits, positives, annotated, gate).sum()


def leave_out_unlabelled(
    terms: Tensor, logits: Tensor, positives: Tensor, annotated: Tensor, gate: Tensor | None = None
) -> Tensor:
    """Per-element classification ``terms`` ``[A, K]`` with the negative terms (not ``positives``)
    of the classes ``annotated`` (bool ``[K]``) marks as not labelled set to 0; with ``gate``, only
    where the model scores them at or above it."""
    unknown = ~annotated[None, :] & ~positives
    if gate is not None:
        unknown &= torch.sigmoid(logits.detach()) >= gate
    return torch.where(unknown, 0.0, terms)


def anchor_labels(labels: Tensor, matched_idxs: Tensor) -> Tensor:
    """The class each anchor is trained towards: its matched box's label, -1 when unmatched."""
    if labels.numel() == 0:
        return torch.full_like(matched_idxs, -1)
    return torch.where(matched_idxs >= 0, labels[matched_idxs.clamp(min=0)], -1)


class PartialLabelRetinaNetClassificationHead(RetinaNetClassificationHead):
    """RetinaNet's classification head with `masked_focal_loss` (per image, over the anchors
    that are not between thresholds, normalised by the image's foreground count, as torchvision)."""

    def compute_loss(
        self, targets: list[dict[str, Tensor]], head_outputs: dict[str, Tensor], matched_idxs: list[Tensor]
    ):
        losses = []
        for target, logits, matched in zip(targets, head_outputs["cls_logits"], matched_idxs):
            labels = anchor_labels(target["labels"], matched)
            valid = matched != self.BETWEEN_THRESHOLDS
            loss = masked_focal_loss(logits[valid], labels[valid], target.get("annotated"), target.get("gate"))
            losses.append(loss / max(1, int((labels >= 0).sum())))
        return sum(losses) / len(targets)


class PartialLabelFCOSHead(FCOSHead):
    """FCOS's head with its classification term replaced by `masked_focal_loss` (summed over the
    batch, normalised by the batch's foreground count, as torchvision); box and centre-ness
    terms are torchvision's own."""

    def compute_loss(self, targets, head_outputs, anchors, matched_idxs) -> dict[str, Tensor]:
        losses = super().compute_loss(targets, head_outputs, anchors, matched_idxs)
        total, foreground = head_outputs["cls_logits"].new_zeros(()), 0
        for target, logits, matched in zip(targets, head_outputs["cls_logits"], matched_idxs):
            labels = anchor_labels(target["labels"], matched)
            total = total + masked_focal_loss(logits, labels, target.get("annotated"), target.get("gate"))
            foreground += int((labels >= 0).sum())
        losses["classification"] = total / max(1, foreground)
        return losses


def retinanet_classifier_like(old: RetinaNetClassificationHead, num_outputs: int) -> RetinaNetClassificationHead:
    """A fresh partial-label RetinaNet classification head shaped like ``old``, with ``num_outputs``."""
    return _classifier_like(PartialLabelRetinaNetClassificationHead, old, num_outputs)


def swap_retinanet_heads(model: nn.Module, partial_labels: bool) -> None:
    """A RetinaNet's classification head as the partial-label one (or, ``partial_labels=False``,
    torchvision's, which TorchScript compiles: it cannot compile the ``super()`` calls of the
    heads above), with the same weights; predictions are the same, only the loss differs."""
    wanted = PartialLabelRetinaNetClassificationHead if partial_labels else RetinaNetClassificationHead
    if type(model.head.classification_head) is not wanted:
        old = model.head.classification_head
        new = _classifier_like(wanted, old, old.num_classes)
        new.load_state_dict(old.state_dict())
        model.head.classification_head = new


def swap_fcos_heads(model: nn.Module, partial_labels: bool) -> None:
    """An FCOS's head as the partial-label one (or torchvision's), with the same weights."""
    wanted = PartialLabelFCOSHead if partial_labels else FCOSHead
    if type(model.head) is not wanted:
        old = model.head
        new = wanted(old.classification_head.conv[0].in_channels, old.classification_head.num_anchors, 1, 1)
        new.classification_head, new.regression_head = old.classification_head, old.regression_head
        model.head = new.train(old.training)


def _classifier_like(head_type: type, old: RetinaNetClassificationHead, num_outputs: int) -> nn.Module:
    norm = partial(nn.GroupNorm, 32) if isinstance(old.conv[0][1], nn.GroupNorm) else None
    head = head_type(old.conv[0][0].in_channels, old.num_anchors, num_outputs, norm_layer=norm)
    return head.train(old.training)
