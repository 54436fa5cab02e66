"""The module that is exported: a torchvision detector behind one plain-tensor signature.

torchvision's detectors take a list of images and return a list of dicts whose key order
differs by family (Faster R-CNN: boxes, labels, scores; SSD: boxes, scores, labels), and their
scripted form returns ``(losses, detections)``. Exported files need one fixed signature:

- input ``images``: float32 ``[B, 3, H, W]``, RGB in ``[0, 1]``, any ``H`` and ``W`` (the model
  resizes and normalises inside);
- outputs ``boxes`` ``[N, 4]`` xyxy in the input's pixels, ``scores`` ``[N]``, ``labels``
  ``[N]`` (class indices ``0..C-1``, detkit's: background is gone) and ``image_index`` ``[N]``
  (which image of the batch each detection is of).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from detkit.deploy.resize import EagerResize
from detkit.models.families import with_partial_label_loss

INPUT_NAME = "images"
OUTPUT_NAMES = ("boxes", "scores", "labels", "image_index")


class DeployedDetector(nn.Module):
    """``detector`` (eval mode) with the signature above."""

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        self.detector = detector

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        found = self.detector(list(images.unbind(0)))
        if torch.jit.is_scripting():  # scripted detectors return (losses, detections)
            found = found[1]
        boxes, scores, labels, image_index = [], [], [], []
        for i, one in enumerate(found):
            keep = one["labels"] > 0  # the background slot, which sigmoid heads score (as `inference.detect`)
            boxes.append(one["boxes"][keep])
            scores.append(one["scores"][keep])
            labels.append(one["labels"][keep] - 1)
            image_index.append(torch.full_like(labels[-1], i))
        return torch.cat(boxes), torch.cat(scores), torch.cat(labels), torch.cat(image_index)


def deployable(detector: nn.Module) -> DeployedDetector:
    """``detector`` ready to export: torchvision's own heads (the partial-label loss is for
    training only), eager PyTorch's resize arithmetic (`detkit.deploy.resize`), eval mode, no
    gradients."""
    with_partial_label_loss(detector, partial=False)  # torchvision's heads, which TorchScript compiles
    if detector.transform.fixed_size is None:
        detector.transform = EagerResize.like(detector.transform)
    deployed = DeployedDetector(detector).eval()
    deployed.requires_grad_(False)
    return deployed
