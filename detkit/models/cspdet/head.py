"""CSPDet's decoupled head (YOLOX, Ge et al. 2021): at each level, one branch of convolutions
scores the classes and another regresses the box, each box side as a distribution over
``reg_max + 1`` distances in strides (GFL, Li et al. 2020), whose expectation is the side."""

import math

import torch
from torch import Tensor, nn

from detkit.models.cspdet.network import ConvBlock

SIDE_PRIOR = 2.5  # strides from a cell's centre to each side of its first boxes (a Gaussian over distances)
PRIOR = 0.01  # every class's score at the start (RetinaNet's prior): the background's many cells do not swamp the loss


def class_layer(channels: int, num_classes: int) -> nn.Conv2d:
    """A fresh 1x1 class layer whose sigmoid scores start at ``PRIOR``."""
    layer = nn.Conv2d(channels, num_classes, 1)
    nn.init.normal_(layer.weight, std=0.01)
    nn.init.constant_(layer.bias, -math.log((1 - PRIOR) / PRIOR))
    return layer


class LevelHead(nn.Module):
    """One level's head: a 1x1 stem to ``channels``, then two 3x3 blocks for the classes
    (``cls_pred``) and two for the box sides (``reg_pred``)."""

    def __init__(self, in_channels: int, channels: int, num_classes: int, reg_max: int) -> None:
        super().__init__()
        self.stem = ConvBlock(in_channels, channels, 1)
        self.cls_convs = nn.Sequential(ConvBlock(channels, channels, 3), ConvBlock(channels, channels, 3))
        self.reg_convs = nn.Sequential(ConvBlock(channels, channels, 3), ConvBlock(channels, channels, 3))
        self.cls_pred = class_layer(channels, num_classes)
        self.reg_pred = nn.Conv2d(channels, 4 * (reg_max + 1), 1)
        nn.init.zeros_(self.reg_pred.weight)
        with torch.no_grad():  # every side starts near SIDE_PRIOR strides: a box of the size its level holds
            distances = torch.arange(reg_max + 1, dtype=torch.float32)
            self.reg_pred.bias.copy_((-((distances - SIDE_PRIOR) ** 2) / 2).repeat(4))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = self.stem(x)
        return self.cls_pred(self.cls_convs(x)), self.reg_pred(self.reg_convs(x))


class DecoupledHead(nn.Module):
    """A `LevelHead` per level. Returns the class logits ``[B, N, num_classes]`` and the side
    logits ``[B, N, 4 * (reg_max + 1)]`` of the ``N`` cells of all levels, level by level, row by row."""

    def __init__(self, in_channels: list[int], channels: int, num_classes: int, reg_max: int) -> None:
        super().__init__()
        self.reg_max = reg_max
        self.levels = nn.ModuleList(LevelHead(c, channels, num_classes, reg_max) for c in in_channels)

    def forward(self, features: list[Tensor]) -> tuple[Tensor, Tensor]:
        classes, sides = [], []
        for i, level in enumerate(self.levels):
            scores, box = level(features[i])
            classes.append(cells_last(scores))
            sides.append(cells_last(box))
        return torch.cat(classes, dim=1), torch.cat(sides, dim=1)


def cells_last(x: Tensor) -> Tensor:
    """``[B, C, H, W]`` -> ``[B, H * W, C]``."""
    return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1, x.shape[1])


def expected_sides(side_logits: Tensor, reg_max: int) -> Tensor:
    """``[..., 4 * (reg_max + 1)]`` logits -> ``[..., 4]`` expected distances (in strides)."""
    probabilities = side_logits.unflatten(-1, (4, reg_max + 1)).softmax(-1)
    return probabilities @ torch.arange(reg_max + 1, dtype=probabilities.dtype, device=probabilities.device)
