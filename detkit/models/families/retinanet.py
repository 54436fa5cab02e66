"""RetinaNet: one stage, a sigmoid classifier per anchor (partial labels: `detkit.models.partial_labels`)."""

from __future__ import annotations

from torch import nn
from torchvision.models.detection import RetinaNet

from detkit.models.families import DetectorFamily, class_logits_tensors
from detkit.models.partial_labels import retinanet_classifier_like, swap_retinanet_heads


def replace_classifier(model: nn.Module, num_outputs: int) -> None:
    model.head.classification_head = retinanet_classifier_like(model.head.classification_head, num_outputs)


FAMILY = DetectorFamily(
    name="retinanet",
    model_type=RetinaNet,
    detectors={"retinanet_resnet50_fpn_v2": None},
    class_tensors=class_logits_tensors,
    replace_classifier=replace_classifier,
    partial_label_heads=swap_retinanet_heads,
)
