"""SSD: one stage, a softmax classifier over default boxes of fixed input size (SSDlite on
MobileNetV3, the quick start's detector; SSD300 on VGG-16). Its builder fixes the input, set
here after building (`fit_input`); its default boxes can be sized to the objects
(``model.anchor_size_range``, `box_range_for`)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from torch import nn
from torchvision.models.detection.anchor_utils import DefaultBoxGenerator
from torchvision.models.detection.ssd import SSD, SSDClassificationHead
from torchvision.models.detection.ssdlite import SSDLiteClassificationHead

from detkit.exceptions import ConfigError
from detkit.models.families import DetectorFamily

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


def fit_input(
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


def class_tensors(model: nn.Module) -> dict[str, int]:
    """Each level's class layer: the last layer of an SSDlite block, or SSD300's convolution."""
    anchors = model.anchor_generator.num_anchors_per_location()
    blocks = model.head.classification_head.module_list
    last = {i: len(block) - 1 if isinstance(block, nn.Sequential) else None for i, block in enumerate(blocks)}
    return {
        f"head.classification_head.module_list.{i}{'' if j is None else f'.{j}'}.{p}": anchors[i]
        for i, j in last.items()
        for p in ("weight", "bias")
    }


def replace_classifier(model: nn.Module, num_outputs: int) -> None:
    """A fresh classification head of the same kind: SSDlite's (depthwise blocks, its batch norm)
    or SSD300's (one convolution a level)."""
    old = model.head.classification_head
    anchors = model.anchor_generator.num_anchors_per_location()
    if isinstance(old, SSDLiteClassificationHead):
        in_channels = [block[0][0].in_channels for block in old.module_list]
        bn = old.module_list[0][0][1]
        norm = partial(type(bn), eps=bn.eps, momentum=bn.momentum)
        model.head.classification_head = SSDLiteClassificationHead(in_channels, anchors, num_outputs, norm)
    else:
        in_channels = [conv.in_channels for conv in old.module_list]
        model.head.classification_head = SSDClassificationHead(in_channels, anchors, num_outputs)


FAMILY = DetectorFamily(
    name="ssd",
    model_type=SSD,
    detectors={"ssdlite320_mobilenet_v3_large": None, "ssd300_vgg16": None},
    class_tensors=class_tensors,
    replace_classifier=replace_classifier,
    fit_input=fit_input,
    smallest_input={"ssd300_vgg16": 268},  # VGG's last unpadded 3x3 convolutions need 268 px a side (measured)
)
