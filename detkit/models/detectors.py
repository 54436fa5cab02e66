"""Build torchvision detectors by name, sized for the data, with their heads fitted to its classes.

Labels inside detkit are ``0..C-1``; every torchvision detector reserves index 0 for
background, so a model built here has ``C + 1`` outputs and `to_model_labels` /
`from_model_labels` shift between the two.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import torch
import torchvision
from torch import nn
from torchvision.models.detection import FCOS, FasterRCNN, RetinaNet
from torchvision.models.detection.anchor_utils import DefaultBoxGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor
from torchvision.models.detection.fcos import FCOSClassificationHead
from torchvision.models.detection.ssd import SSD
from torchvision.models.detection.ssdlite import SSDLiteClassificationHead

from detkit.exceptions import ConfigError
from detkit.models.mobile_fcos import fcos_mobilenet_v3_large_fpn
from detkit.models.partial_labels import retinanet_classifier_like, use_partial_label_loss
from detkit.models.weight_transfer import BACKGROUND, carry_class_rows, class_tensors
from detkit.models.weights import backbone_weights, detector_weights, offline_message

DETECTORS = (
    "fasterrcnn_mobilenet_v3_large_fpn",
    "fasterrcnn_mobilenet_v3_large_320_fpn",
    "fasterrcnn_resnet50_fpn_v2",
    "retinanet_resnet50_fpn_v2",
    "fcos_resnet50_fpn",
    "fcos_mobilenet_v3_large_fpn",
    "ssdlite320_mobilenet_v3_large",
)
# Detectors assembled here from torchvision parts; every other name is torchvision's own builder.
ASSEMBLED = {"fcos_mobilenet_v3_large_fpn": fcos_mobilenet_v3_large_fpn}


def keeps_aspect_ratio(name: str, keep_aspect_ratio: bool | None) -> bool:
    """Whether detector ``name`` fits images into its input keeping their shape: every detector
    but SSD does; SSD stretches them unless ``keep_aspect_ratio``."""
    return not name.startswith("ssd") or bool(keep_aspect_ratio)


def build_detector(
    name: str,
    num_classes: int,
    image_size: int,
    weights: str | None = None,
    weights_backbone: str | None = None,
    trainable_backbone_layers: int | None = None,
    batch_norm_momentum: float | None = None,
    anchor_size_range: Sequence[float] | str | None = None,
    keep_aspect_ratio: bool | None = None,
    channels_last: bool = False,
    options: dict[str, Any] | None = None,
    class_names: Sequence[str] | None = None,
    class_map: Mapping[str, str] | None = None,
) -> nn.Module:
    """A torchvision detector for ``num_classes`` foreground classes on ``image_size`` px inputs.

    ``weights`` / ``weights_backbone`` are torchvision weight names ("DEFAULT", "COCO_V1", ...);
    with ``weights`` the pretrained model is loaded and its classification head replaced for
    ``num_classes``, keeping the rows of the pretrained classes among ``class_names`` (by name,
    or as ``class_map`` maps ours to theirs; `detkit.models.weight_transfer`). A file that cannot be
    downloaded gives one ConfigError saying where to place it. RetinaNet and FCOS get the
    partial-label classification loss (`detkit.models.partial_labels`), which equals
    torchvision's when every class is labelled.
    ``batch_norm_momentum`` overrides the momentum of every BatchNorm's running
    statistics (SSDlite's 0.03 suits its 600-epoch recipe; in a short run from scratch the
    eval-mode statistics then lag the weights). ``anchor_size_range`` (SSD) gives the smallest
    and largest anchor side as fractions of the image (torchvision's 0.2 and 0.95), to match the
    objects. ``keep_aspect_ratio`` (SSD) fits each image inside ``image_size`` x ``image_size``
    keeping its shape, as the other detectors always do, instead of stretching it to that square
    (``None``: the detector's own way).
    ``channels_last`` stores the weights channels-last, the layout CPU (oneDNN) and
    GPU convolutions run fastest in. ``options`` go to the detector (e.g. ``box_batch_size_per_image``).
    """
    if name not in DETECTORS:
        raise ConfigError(f"model.name={name!r} is not a known detector; choose one of {list(DETECTORS)}")
    if num_classes < 1 or image_size < 32:
        raise ConfigError(f"need num_classes >= 1 and image_size >= 32, got {num_classes} and {image_size}")
    options = dict(options or {})
    kwargs: dict[str, Any] = {
        "weights": weights,
        "weights_backbone": weights_backbone,
        "trainable_backbone_layers": trainable_backbone_layers,
    }
    if weights is None:
        kwargs["num_classes"] = num_classes + 1
    if not name.startswith("ssd"):  # the SSD builders pass extra kwargs to the backbone too
        kwargs.update(min_size=image_size, max_size=image_size, **options)
    pretrained = detector_weights(name, weights)
    downloads = [pretrained] if pretrained else [w for w in [backbone_weights(name, weights_backbone)] if w]
    try:
        model = ASSEMBLED[name](**kwargs) if name in ASSEMBLED else torchvision.models.get_model(name, **kwargs)
    except OSError as error:  # no network: urllib's URLError, a refused connection, ...
        if not downloads:
            raise
        raise ConfigError(offline_message(downloads, error)) from None
    if name.startswith("ssd"):
        _configure_ssd(model, image_size, options, anchor_size_range, bool(keep_aspect_ratio))
    elif anchor_size_range is not None:
        raise ConfigError(f"model.anchor_size_range is for SSD detectors; {name} takes its anchors from options")
    elif keep_aspect_ratio is False:
        raise ConfigError(f"model.keep_aspect_ratio=false is for SSD detectors; {name} always keeps it")
    if pretrained is not None:
        state = model.state_dict()
        pretrained_rows = {key: state[key] for key in class_tensors(model)}
        replace_classifier(model, num_classes + 1)
        if class_names is not None:
            outputs = [BACKGROUND, *class_names]
            carry_class_rows(model, pretrained_rows, pretrained.meta["categories"], outputs, class_map)
    use_partial_label_loss(model)
    if batch_norm_momentum is not None:
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.momentum = batch_norm_momentum
    if channels_last:
        model.to(memory_format=torch.channels_last)
    return model


def _configure_ssd(
    model: SSD,
    image_size: int,
    options: dict[str, Any],
    anchor_size_range: Sequence[float] | str | None,
    keep_aspect_ratio: bool,
) -> None:
    """SSD's input size is fixed by its builder; anchors are relative to the input, so another
    size, or a shape other than square (``keep_aspect_ratio``: each image's longer side to
    ``image_size``, a batch padded to its largest), works."""
    model.transform.min_size = (image_size,)
    model.transform.max_size = image_size
    model.transform.fixed_size = None if keep_aspect_ratio else (image_size, image_size)
    if anchor_size_range == "auto":
        raise ConfigError(
            "model.anchor_size_range=auto is settled from the training objects when training starts; "
            "to build a model without data give it as [smallest, largest]"
        )
    if anchor_size_range is not None:
        smallest, largest = (float(v) for v in anchor_size_range)
        if not 0 < smallest < largest <= 1:
            raise ConfigError(f"model.anchor_size_range={list(anchor_size_range)}: need 0 < smallest < largest <= 1")
        ratios = model.anchor_generator.aspect_ratios  # the same anchors a location: the heads keep their shapes
        model.anchor_generator = DefaultBoxGenerator(ratios, min_ratio=smallest, max_ratio=largest)
    for key, value in options.items():
        if not hasattr(model, key):
            raise ConfigError(f"model.options.{key} is not an option of SSD detectors")
        setattr(model, key, value)


SSD_BOX_RANGE = (0.2, 0.95)  # torchvision's smallest and largest default box, fractions of the input
SMALLEST_BOX = 0.02  # below this the finest level (stride 16) has boxes a fifth of its cell


def box_range_for(smallest_object: float, image_size: int) -> list[float]:
    """SSD's default-box range for objects from ``smallest_object`` px at the input (the 5th
    percentile of the training objects). torchvision's range, unless those objects are under
    half its smallest box: their overlap with any box is then under 0.25, far below the 0.5 that
    makes a box learn them, so the smallest box starts at their size (never below ``SMALLEST_BOX``).
    The largest stays torchvision's."""
    smallest, largest = SSD_BOX_RANGE
    if smallest_object < smallest * image_size / 2:
        smallest = max(SMALLEST_BOX, smallest_object / image_size)
    return [round(smallest, 3), largest]


def replace_classifier(model: nn.Module, num_outputs: int) -> None:
    """Swap a detector's class-scoring layer for a freshly initialised one with ``num_outputs``."""
    if isinstance(model, FasterRCNN):
        predictor = model.roi_heads.box_predictor
        model.roi_heads.box_predictor = FastRCNNPredictor(predictor.cls_score.in_features, num_outputs)
    elif isinstance(model, RetinaNet):
        model.head.classification_head = retinanet_classifier_like(model.head.classification_head, num_outputs)
    elif isinstance(model, FCOS):
        old = model.head.classification_head
        num_convs = sum(isinstance(layer, nn.Conv2d) for layer in old.conv)
        model.head.classification_head = FCOSClassificationHead(
            old.conv[0].in_channels, old.num_anchors, num_outputs, num_convs
        )
    elif isinstance(model, SSD):
        old = model.head.classification_head.module_list
        in_channels = [block[0][0].in_channels for block in old]
        bn = old[0][0][1]
        norm = partial(type(bn), eps=bn.eps, momentum=bn.momentum)
        model.head.classification_head = SSDLiteClassificationHead(
            in_channels, model.anchor_generator.num_anchors_per_location(), num_outputs, norm
        )
    else:
        raise ConfigError(f"cannot replace the classifier of {type(model).__name__}")
    model.train(model.training)  # the new layer takes the model's mode


def to_model_target(
    target: dict[str, Any], partial_labels: bool = True, gate: float | None = None
) -> dict[str, torch.Tensor]:
    """A detkit target as torchvision detectors take it: labels shifted past background, and
    with ``partial_labels`` the image's ``annotated`` classes (background always labelled) and
    the ``gate`` score of `masked_focal_loss`, if any."""
    model_target = {"boxes": target["boxes"], "labels": to_model_labels(target["labels"])}
    if partial_labels and "annotated" in target:
        annotated = target["annotated"]
        model_target["annotated"] = torch.cat([annotated.new_ones(1), annotated])
        if gate is not None:
            model_target["gate"] = torch.tensor(gate)
    return model_target


def to_model_labels(labels: torch.Tensor) -> torch.Tensor:
    """detkit labels ``0..C-1`` -> torchvision labels ``1..C`` (0 is background)."""
    return labels + 1


def from_model_labels(labels: torch.Tensor) -> torch.Tensor:
    return labels - 1
