"""FCOS on a MobileNetV3-Large FPN: a sigmoid-classified detector light enough for a CPU.

torchvision ships its sigmoid detectors (RetinaNet, FCOS) only on ResNet-50, which does not
learn from scratch in minutes on a CPU; this one is assembled from torchvision's own parts
(``mobilenet_v3_large``, ``BackboneWithFPN``, ``FCOS``) so partial-label training (which needs
a per-class sigmoid, `detkit.models.partial_labels`) is usable on a laptop. Levels are strides
16-128 (P4-P7, the MobileNet's stride-16 and stride-32 outputs plus two extra levels), with a
thinner FPN and head than FCOS-ResNet: objects from about 16 px up. ``smallest_stride=8`` adds
the stride-8 output (P3, FCOS's own first level), which small objects need (docs/training.md).
Its box-side distances pass through softplus before torchvision's ReLU (`SoftplusDistances`), and
its level ranges can follow the input size (``level_scale``).
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models import MobileNet_V3_Large_Weights, mobilenet_v3_large
from torchvision.models.detection import FCOS
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.ops.feature_pyramid_network import LastLevelP6P7
from torchvision.ops.misc import FrozenBatchNorm2d

from detkit.exceptions import ConfigError
from detkit.models.partial_labels import PartialLabelFCOSHead

# The last MobileNetV3-Large ``features`` block at each stride the FPN can start from
OUTPUTS = {8: "6", 16: "12", 32: "16"}
DISTANCE_ACTIVATIONS = ("softplus", "relu")
PAPER_INPUT = 800  # the shorter image side FCOS's level ranges were chosen for (torchvision's min_size)


class SoftplusDistances(nn.Conv2d):
    """FCOS's box-regression conv with softplus on its output. torchvision's head keeps the four
    box-side distances positive with a ReLU alone; once one side's output is negative at every
    location (a step of AdamW from scratch can do it), that ReLU passes no gradient again and the
    side stays 0 for the rest of the run: a chess export's seed-1 run ended at dev mAP50 0.23 with
    every right-side distance 0 (docs/training.md). Softplus is positive with a gradient
    everywhere, so the ReLU that follows changes nothing and no side can die."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.softplus(self._conv_forward(x, self.weight, self.bias))  # TorchScript: no super()


def fcos_mobilenet_v3_large_fpn(
    *,
    weights: str | None = None,
    weights_backbone: str | None = None,
    num_classes: int = 91,
    trainable_backbone_layers: int | None = None,
    fpn_channels: int = 128,
    head_convs: int = 2,
    smallest_stride: int = 16,
    distance_activation: str = "relu",
    level_scale: float | str = 1.0,
    **kwargs,
) -> FCOS:
    """The detector, with ``num_classes`` outputs (background included, as torchvision counts).

    ``weights_backbone`` (e.g. "DEFAULT") loads ImageNet MobileNetV3 weights through
    torchvision's weights API, with frozen batch norm and the last ``trainable_backbone_layers``
    (default 3 of 17) blocks trained; from scratch every block trains. There are no COCO weights
    for this detector. ``smallest_stride`` is the finest level's, 16 or 8. ``distance_activation``
    "softplus" puts `SoftplusDistances` before the head's ReLU ("relu": torchvision's alone, what
    runs saved before it was an option were trained with). FCOS learns each object on the level
    whose range holds its largest box-side distance: under 64 px on the finest level P3, 64-128 on
    P4, ... (the paper's, for 800 px images; at a 320 px input every object under about 100 px
    lands on P3 alone). ``level_scale`` multiplies those ranges, "auto" by the input over 800 (0.4
    at 320: objects up to about 50 px on P3, 50-100 on P4, 100-200 on P5), keeping the
    centre-sampling radius at 1.5 strides; 1.0 is torchvision's and older runs'. ``kwargs`` go
    to `FCOS` (``min_size``, ``score_thresh``, ...).
    """
    if weights is not None:
        raise ConfigError(
            "fcos_mobilenet_v3_large_fpn has no pretrained detector weights; use model.weights=null "
            "and model.weights_backbone=DEFAULT for an ImageNet backbone"
        )
    backbone_weights = MobileNet_V3_Large_Weights.verify(weights_backbone)
    pretrained = backbone_weights is not None
    features = mobilenet_v3_large(
        weights=backbone_weights, norm_layer=FrozenBatchNorm2d if pretrained else nn.BatchNorm2d
    ).features
    trainable = trainable_backbone_layers if trainable_backbone_layers is not None else (3 if pretrained else None)
    if trainable is not None:
        for block in features[: max(0, len(features) - trainable)]:
            block.requires_grad_(False)
    if smallest_stride not in (8, 16):
        raise ConfigError(f"model.options.smallest_stride={smallest_stride}: 8 or 16")
    if distance_activation not in DISTANCE_ACTIVATIONS:
        raise ConfigError(f"model.options.distance_activation={distance_activation!r}: one of {DISTANCE_ACTIVATIONS}")
    scale = _level_scale(level_scale, kwargs.get("min_size", PAPER_INPUT))
    outputs = {stride: block for stride, block in OUTPUTS.items() if stride >= smallest_stride}
    backbone = BackboneWithFPN(
        features,
        return_layers={block: f"p{stride.bit_length() - 1}" for stride, block in outputs.items()},
        in_channels_list=[features[int(block)].out_channels for block in outputs.values()],
        out_channels=fpn_channels,
        extra_blocks=LastLevelP6P7(fpn_channels, fpn_channels),
    )
    strides = [*outputs, 64, 128]
    # torchvision's FCOS takes each level's range (4-8x) and centre-sampling radius (1.5x) from the
    # width of its points' anchor boxes (the stride): scaling the widths scales the ranges, and the
    # radius is divided back to 1.5 strides in pixels.
    anchors = AnchorGenerator(tuple((stride * scale,) for stride in strides), ((1.0,),) * len(strides))
    kwargs.setdefault("center_sampling_radius", 1.5 / scale)
    head = PartialLabelFCOSHead(fpn_channels, 1, num_classes, num_convs=head_convs)
    if distance_activation == "softplus":
        plain = head.regression_head.bbox_reg
        head.regression_head.bbox_reg = SoftplusDistances(fpn_channels, 4, kernel_size=3, padding=1)
        head.regression_head.bbox_reg.load_state_dict(plain.state_dict())  # torchvision's initialisation
    return FCOS(backbone, num_classes, anchor_generator=anchors, head=head, **kwargs)


def _level_scale(level_scale: float | str, min_size: int | tuple[int, ...]) -> float:
    """``level_scale`` as a number: "auto" is the input's shorter side over FCOS's 800."""
    if level_scale == "auto":
        return min(min_size if isinstance(min_size, tuple | list) else (min_size,)) / PAPER_INPUT
    if isinstance(level_scale, int | float) and not isinstance(level_scale, bool) and level_scale > 0:
        return float(level_scale)
    raise ConfigError(f"model.options.level_scale={level_scale!r}: a positive number or auto")
