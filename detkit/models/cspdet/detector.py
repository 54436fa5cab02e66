"""CSPDet in torchvision's detector interface: ``model(images, targets)`` returns the losses in
train mode and, per image, ``boxes`` / ``scores`` / ``labels`` (index 0 is background, as every
torchvision detector counts) in eval mode; torchvision's transform resizes, normalises and maps
boxes back; scripted, it returns ``(losses, detections)``. Sizes: ``cspdet_n`` (width 0.25, depth
0.33) and ``cspdet_s`` (width 0.5, depth 0.33)."""

from functools import partial

import torch
from torch import Tensor, nn
from torchvision.models.detection._utils import _topk_min
from torchvision.models.detection.transform import GeneralizedRCNNTransform
from torchvision.ops import boxes as box_ops

from detkit.exceptions import ConfigError
from detkit.models.cspdet.assigner import assign
from detkit.models.cspdet.head import DecoupledHead, expected_sides
from detkit.models.cspdet.loss import image_terms, total_losses
from detkit.models.cspdet.network import IMAGENET_MEAN, IMAGENET_STD, PAN, STRIDES, CSPBackbone, scaled
from detkit.models.cspdet.timm_backbone import TimmBackbone, timm_backbone

HEAD_CHANNELS = 256  # at width 1
CSP_BACKBONE = "csp"  # model.options.backbone's default: detkit's own (any other value: a timm model)


def cell_centres(maps: list[Tensor], strides: list[int]) -> tuple[Tensor, Tensor]:
    """The centre ``[N, 2]`` (x, y, input pixels) and stride ``[N]`` of every cell of the levels'
    ``maps`` ``[B, C, H, W]``, level by level, row by row (as the head orders its outputs)."""
    points, cell_strides = [], []
    for feature, stride in zip(maps, strides):
        height, width = feature.shape[-2], feature.shape[-1]
        ys = (torch.arange(height, device=feature.device, dtype=torch.float32) + 0.5) * stride
        xs = (torch.arange(width, device=feature.device, dtype=torch.float32) + 0.5) * stride
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        points.append(torch.stack([grid_x.reshape(-1), grid_y.reshape(-1)], dim=1))
        cell_strides.append(torch.full((height * width,), float(stride), device=feature.device))
    return torch.cat(points), torch.cat(cell_strides)


class CSPDet(nn.Module):
    """The detector (see the module). ``score_thresh``, ``nms_thresh``, ``detections_per_img`` and
    ``topk_candidates`` shape its detections as torchvision's one-stage detectors' do.
    ``partial_labels``: whether the loss leaves out the negatives of classes a target's
    ``annotated`` marks as unlabelled (`detkit.models.partial_labels`)."""

    def __init__(
        self,
        backbone: CSPBackbone | TimmBackbone,
        neck: PAN,
        head: DecoupledHead,
        transform: GeneralizedRCNNTransform,
        score_thresh: float = 0.01,
        nms_thresh: float = 0.6,
        detections_per_img: int = 100,
        topk_candidates: int = 1000,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.neck = neck
        self.head = head
        self.transform = transform
        self.strides = list(STRIDES)
        self.score_thresh = score_thresh
        self.nms_thresh = nms_thresh
        self.detections_per_img = detections_per_img
        self.topk_candidates = topk_candidates
        self.partial_labels = False

    def forward(self, images: list[Tensor], targets: list[dict[str, Tensor]] | None = None):
        original_sizes: list[tuple[int, int]] = []
        for image in images:
            original_sizes.append((image.shape[-2], image.shape[-1]))
        batch, targets = self.transform(images, targets)
        features = self.neck(self.backbone(batch.tensors))
        class_logits, side_logits = self.head(features)
        points, strides = cell_centres(features, self.strides)
        sides = expected_sides(side_logits, self.head.reg_max) * strides[None, :, None]
        boxes = torch.cat([points - sides[..., :2], points + sides[..., 2:]], dim=-1)
        losses: dict[str, Tensor] = {}
        detections: list[dict[str, Tensor]] = []
        if self.training:
            if targets is None:
                raise ValueError("targets are needed in train mode")
            losses = self.compute_loss(targets, class_logits, side_logits, boxes, points, strides)
        else:
            detections = self.detect(class_logits, boxes, batch.image_sizes)
            detections = self.transform.postprocess(detections, batch.image_sizes, original_sizes)
        if torch.jit.is_scripting():
            return losses, detections
        return self.eager_outputs(losses, detections)

    @torch.jit.unused
    def eager_outputs(self, losses: dict[str, Tensor], detections: list[dict[str, Tensor]]):
        return losses if self.training else detections

    @torch.jit.unused
    def compute_loss(
        self,
        targets: list[dict[str, Tensor]],
        class_logits: Tensor,
        side_logits: Tensor,
        boxes: Tensor,
        points: Tensor,
        strides: Tensor,
    ) -> dict[str, Tensor]:
        """`detkit.models.cspdet.loss` over the batch, each image assigned by `assign`."""
        terms = []
        for i, target in enumerate(targets):
            scores = class_logits[i].detach().sigmoid()
            assignment = assign(scores, boxes[i].detach(), points, strides, target["boxes"], target["labels"])
            terms.append(
                image_terms(
                    class_logits[i],
                    side_logits[i],
                    boxes[i],
                    points,
                    strides,
                    target,
                    assignment,
                    self.head.reg_max,
                    self.partial_labels,
                )
            )
        return total_losses(terms)

    def detect(
        self, class_logits: Tensor, boxes: Tensor, image_sizes: list[tuple[int, int]]
    ) -> list[dict[str, Tensor]]:
        """Per image: the ``topk_candidates`` best (cell, class) scores above ``score_thresh``
        (background's column never), NMS per class, the best ``detections_per_img``."""
        foreground = class_logits.shape[-1] - 1
        detections: list[dict[str, Tensor]] = []
        for i, image_size in enumerate(image_sizes):
            scores = class_logits[i, :, 1:].sigmoid().flatten()
            found = torch.where(scores > self.score_thresh)[0]
            scores = scores[found]
            scores, order = scores.topk(_topk_min(scores, self.topk_candidates, 0))
            found = found[order]
            cells = torch.div(found, foreground, rounding_mode="floor")
            labels = found % foreground + 1
            found_boxes = box_ops.clip_boxes_to_image(boxes[i][cells], image_size)
            keep = box_ops.batched_nms(found_boxes, scores, labels, self.nms_thresh)[: self.detections_per_img]
            detections.append({"boxes": found_boxes[keep], "scores": scores[keep], "labels": labels[keep]})
        return detections


def cspdet(
    *,
    width: float,
    depth: float,
    weights: str | None = None,
    weights_backbone: str | None = None,
    num_classes: int = 91,
    trainable_backbone_layers: int | None = None,
    min_size: int = 640,
    max_size: int = 640,
    reg_max: int = 16,
    backbone: str = CSP_BACKBONE,
    **options,
) -> CSPDet:
    """A CSPDet at ``width`` / ``depth`` with ``num_classes`` outputs (background included);
    ``reg_max``: the longest box side a cell predicts, in its strides; ``backbone``: detkit's CSP
    one (``csp``) or a timm model's name, whose ImageNet weights ``weights_backbone`` names
    (`detkit.models.cspdet.timm_backbone`); ``options``: `CSPDet`'s."""
    if weights is not None or (weights_backbone is not None and backbone == CSP_BACKBONE):
        raise ConfigError(
            "CSPDet has no published weights: leave model.weights null, and model.weights_backbone null unless "
            "model.options.backbone names a timm model; start from a trained detkit run with init.checkpoint=<run>"
        )
    del trainable_backbone_layers  # a torchvision option for pretrained backbones: every layer trains here
    if backbone == CSP_BACKBONE:
        features, mean, std = CSPBackbone(width, depth), IMAGENET_MEAN, IMAGENET_STD
    else:
        features, mean, std = timm_backbone(backbone, weights_backbone)
    neck = PAN(features.out_channels, depth)
    head = DecoupledHead(features.out_channels, scaled(HEAD_CHANNELS, width), num_classes, reg_max)
    transform = GeneralizedRCNNTransform(min_size, max_size, mean, std, size_divisible=max(STRIDES))
    return CSPDet(features, neck, head, transform, **options)


cspdet_n = partial(cspdet, width=0.25, depth=0.33)
cspdet_s = partial(cspdet, width=0.5, depth=0.33)
