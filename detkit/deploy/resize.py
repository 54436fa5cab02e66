"""The resize of torchvision's detectors, computed as eager PyTorch computes it, in exported files too.

Written here because torchvision's own differs between modes: under scripting and tracing it
divides the target size by the image's side in float32, eagerly in float64
(pytorch/vision#3654, pytorch/pytorch#58234), so an exported model can resize an image one
pixel smaller than the eager model it came from (240x400 to 320 px: 191x319 instead of
192x320) and find other objects. Detectors with a fixed input size (SSD) do no arithmetic
and keep torchvision's transform.
"""

import math

import torch
import torchvision
from torch import Tensor
from torch.nn import functional as F
from torchvision.models.detection.transform import GeneralizedRCNNTransform

# No ``from __future__ import annotations`` here: TorchScript compiles `EagerResize.resize`
# and needs its annotations as objects.


class EagerResize(GeneralizedRCNNTransform):
    """torchvision's transform whose evaluation-mode resize gives eager PyTorch's size in every
    mode: ``floor(side * scale)``, ``scale`` in float64 (a float64 tensor when traced for ONNX)."""

    @classmethod
    def like(cls, transform: GeneralizedRCNNTransform) -> "EagerResize":
        return cls(
            transform.min_size,
            transform.max_size,
            transform.image_mean,
            transform.image_std,
            transform.size_divisible,
            transform.fixed_size,
        ).train(transform.training)

    def resize(self, image: Tensor, target: dict[str, Tensor] | None = None) -> tuple[Tensor, dict[str, Tensor] | None]:
        if self.training or target is not None or self.fixed_size is not None:
            raise RuntimeError("EagerResize is for exporting: evaluation mode, no targets, no fixed size")
        if torchvision._is_tracing():
            return _traced_resize(image, float(self.min_size[-1]), float(self.max_size)), target
        height, width = image.shape[-2], image.shape[-1]
        scale = min(float(self.min_size[-1]) / min(height, width), float(self.max_size) / max(height, width))
        size = [math.floor(height * scale), math.floor(width * scale)]
        return F.interpolate(image[None], size=size, mode="bilinear", align_corners=False)[0], target


@torch.jit.unused
def _traced_resize(image: Tensor, min_size: float, max_size: float) -> Tensor:
    """The same size from the image's shape as a tensor, so that ONNX keeps it dynamic."""
    sides = torch._shape_as_tensor(image)[-2:].to(torch.float64)
    # tensor / tensor: the exporter turns a Python number divided by a tensor into float32
    limits = torch.tensor([min_size, max_size], dtype=torch.float64)
    scale = (limits / torch.stack([sides.min(), sides.max()])).min()
    size = torch.floor(sides * scale).to(torch.int64)
    return F.interpolate(image[None], size=[size[0], size[1]], mode="bilinear", align_corners=False)[0]
