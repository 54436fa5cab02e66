"""FCOS: anchor-free, one stage, a sigmoid classifier per location (partial labels:
`detkit.models.partial_labels`); on ResNet-50 (torchvision's) or MobileNetV3 (`detkit.models.mobile_fcos`)."""

from __future__ import annotations

from torch import nn
from torchvision.models import MobileNet_V3_Large_Weights
from torchvision.models.detection import FCOS
from torchvision.models.detection.fcos import FCOSClassificationHead

from detkit.models.families import DetectorFamily, class_logits_tensors
from detkit.models.mobile_fcos import fcos_mobilenet_v3_large_fpn
from detkit.models.partial_labels import swap_fcos_heads


def replace_classifier(model: nn.Module, num_outputs: int) -> None:
    old = model.head.classification_head
    num_convs = sum(isinstance(layer, nn.Conv2d) for layer in old.conv)
    model.head.classification_head = FCOSClassificationHead(
        old.conv[0].in_channels, old.num_anchors, num_outputs, num_convs
    )


FAMILY = DetectorFamily(
    name="fcos",
    model_type=FCOS,
    detectors={"fcos_resnet50_fpn": None, "fcos_mobilenet_v3_large_fpn": fcos_mobilenet_v3_large_fpn},
    class_tensors=class_logits_tensors,
    replace_classifier=replace_classifier,
    partial_label_heads=swap_fcos_heads,
    backbone_weights={"fcos_mobilenet_v3_large_fpn": MobileNet_V3_Large_Weights},
)
