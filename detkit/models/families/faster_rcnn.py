"""Faster R-CNN: two stages, a softmax classifier over the proposals (no partial labels)."""

from __future__ import annotations

from torch import nn
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor

from detkit.models.families import DetectorFamily


def class_tensors(model: nn.Module) -> dict[str, int]:
    """The class scores and the per-class box regression of the box predictor."""
    return {
        f"roi_heads.box_predictor.{layer}.{p}": 1 for layer in ("cls_score", "bbox_pred") for p in ("weight", "bias")
    }


def replace_classifier(model: nn.Module, num_outputs: int) -> None:
    predictor = model.roi_heads.box_predictor
    model.roi_heads.box_predictor = FastRCNNPredictor(predictor.cls_score.in_features, num_outputs)


FAMILY = DetectorFamily(
    name="faster_rcnn",
    model_type=FasterRCNN,
    detectors={
        "fasterrcnn_mobilenet_v3_large_fpn": None,
        "fasterrcnn_mobilenet_v3_large_320_fpn": None,
        "fasterrcnn_resnet50_fpn_v2": None,
    },
    class_tensors=class_tensors,
    replace_classifier=replace_classifier,
    postprocess=lambda model: model.roi_heads,  # its thresholds live in its ROI heads
)
