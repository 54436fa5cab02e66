"""CSPDet's feature network: a CSP backbone (CSPNet, Wang et al. 2020: each stage's blocks see
half the channels and the other half joins them after) with a spatial pyramid pooling block on
its last stage, and a PAN neck (PANet, Liu et al. 2018: a top-down pass as an FPN's, then a
bottom-up one) giving features at strides 8, 16 and 32. Widths and depths scale by multipliers,
as the n and s sizes of YOLO-style detectors do.

Written here because torchvision has none of these blocks; the layout follows YOLOX's (its
Apache-2.0 paper and code were read, not copied)."""

import torch
from torch import Tensor, nn

BASE_CHANNELS = (64, 128, 256, 512, 1024)  # the stem and the four stages at width 1
BASE_BLOCKS = (3, 9, 9, 3)  # CSP blocks of the four stages at depth 1
STRIDES = (8, 16, 32)  # the neck's outputs
IMAGENET_MEAN = [0.485, 0.456, 0.406]  # the input normalisation (a timm backbone states its own)
IMAGENET_STD = [0.229, 0.224, 0.225]


class ConvBlock(nn.Sequential):
    """Convolution (no bias), batch norm, SiLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int = 1, stride: int = 1) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.SiLU(inplace=True),
        )


class Bottleneck(nn.Module):
    """1x1 then 3x3 convolution, added to its input when ``shortcut``."""

    def __init__(self, channels: int, shortcut: bool) -> None:
        super().__init__()
        self.reduce = ConvBlock(channels, channels, 1)
        self.conv = ConvBlock(channels, channels, 3)
        self.shortcut = shortcut

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv(self.reduce(x))
        return x + y if self.shortcut else y


class CSPLayer(nn.Module):
    """Cross-stage partial layer: ``blocks`` bottlenecks on half the channels, the other half
    carried past them, both joined by a 1x1 convolution."""

    def __init__(self, in_channels: int, out_channels: int, blocks: int, shortcut: bool = True) -> None:
        super().__init__()
        hidden = out_channels // 2
        self.main = ConvBlock(in_channels, hidden, 1)
        self.carried = ConvBlock(in_channels, hidden, 1)
        self.blocks = nn.Sequential(*(Bottleneck(hidden, shortcut) for _ in range(blocks)))
        self.join = ConvBlock(2 * hidden, out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.join(torch.cat([self.blocks(self.main(x)), self.carried(x)], dim=1))


class SpatialPyramidPooling(nn.Module):
    """SPP (He et al. 2015) with 5, 9 and 13 px windows, as three chained 5 px max pools (the same
    maxima, fewer comparisons)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        hidden = in_channels // 2
        self.reduce = ConvBlock(in_channels, hidden, 1)
        self.pool = nn.MaxPool2d(5, stride=1, padding=2)
        self.join = ConvBlock(4 * hidden, out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.reduce(x)
        p1 = self.pool(x)
        p2 = self.pool(p1)
        return self.join(torch.cat([x, p1, p2, self.pool(p2)], dim=1))


def scaled(channels: int, width: float) -> int:
    """``channels`` x ``width``, a multiple of 8 (at least 8)."""
    return max(8, round(channels * width / 8) * 8)


def depth_of(blocks: int, depth: float) -> int:
    return max(1, round(blocks * depth))


class CSPBackbone(nn.Module):
    """Stem (stride 2) and four stages (each a stride-2 convolution and a CSP layer; the last
    with SPP before it); returns the stride 8, 16 and 32 features."""

    def __init__(self, width: float, depth: float) -> None:
        super().__init__()
        stem, *stages = (scaled(c, width) for c in BASE_CHANNELS)
        self.stem = ConvBlock(3, stem, 3, 2)
        layers, previous = [], stem
        for i, (channels, blocks) in enumerate(zip(stages, BASE_BLOCKS)):
            last = i == len(stages) - 1
            stage = [ConvBlock(previous, channels, 3, 2)]
            if last:
                stage.append(SpatialPyramidPooling(channels, channels))
            stage.append(CSPLayer(channels, channels, depth_of(blocks, depth), shortcut=not last))
            layers.append(nn.Sequential(*stage))
            previous = channels
        self.stages = nn.ModuleList(layers)
        self.out_channels = stages[1:]

    def forward(self, x: Tensor) -> list[Tensor]:
        x = self.stem(x)
        outputs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i >= 1:
                outputs.append(x)
        return outputs


class PAN(nn.Module):
    """PANet's neck on three levels: top-down (upsampled, joined by CSP layers), then bottom-up
    (downsampled by stride-2 convolutions, joined again); out channels are the inputs'."""

    def __init__(self, channels: list[int], depth: float) -> None:
        super().__init__()
        c3, c4, c5 = channels
        blocks = depth_of(3, depth)
        self.lateral5 = ConvBlock(c5, c4, 1)
        self.top_down4 = CSPLayer(2 * c4, c4, blocks, shortcut=False)
        self.lateral4 = ConvBlock(c4, c3, 1)
        self.top_down3 = CSPLayer(2 * c3, c3, blocks, shortcut=False)
        self.down3 = ConvBlock(c3, c3, 3, 2)
        self.bottom_up4 = CSPLayer(2 * c3, c4, blocks, shortcut=False)
        self.down4 = ConvBlock(c4, c4, 3, 2)
        self.bottom_up5 = CSPLayer(2 * c4, c5, blocks, shortcut=False)

    def forward(self, features: list[Tensor]) -> list[Tensor]:
        x3, x4, x5 = features
        lateral5 = self.lateral5(x5)
        p4 = self.top_down4(torch.cat([self._up(lateral5, x4), x4], dim=1))
        lateral4 = self.lateral4(p4)
        out3 = self.top_down3(torch.cat([self._up(lateral4, x3), x3], dim=1))
        out4 = self.bottom_up4(torch.cat([self.down3(out3), lateral4], dim=1))
        out5 = self.bottom_up5(torch.cat([self.down4(out4), lateral5], dim=1))
        return [out3, out4, out5]

    def _up(self, x: Tensor, like: Tensor) -> Tensor:
        """``x`` upsampled to ``like``'s size (an input side not a multiple of 32 rounds up at each stride)."""
        return nn.functional.interpolate(x, size=like.shape[-2:], mode="nearest")
