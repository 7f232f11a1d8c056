"""The ResNet paper's CIFAR-10 networks (He et al. 2016, "Deep Residual Learning for Image Recognition", sec. 4.2)
and their plain twins, for the paper's plain-versus-residual experiment.

6n + 2 weighted layers: a 3x3 conv with 16 filters, three stages of n blocks of two 3x3 convs with 16, 32 and 64
filters on 32x32, 16x16 and 8x8 maps (each later stage starts with stride 2), global average pooling and a
10-way fc. n = 3, 5, 7, 9, 18 gives ResNet-20, 32, 44, 56 and 110. Shortcuts are the paper's option A: the
identity, and where a stage halves the map and doubles the width, the input subsampled by 2 with the new channels
zero-padded, so shortcuts add no parameters. The plain twins (``plain20`` ...) are the same layers without any
shortcut: the paper's Fig. 6 shows plain nets getting worse with depth and residual nets getting better.

Module names: ``conv1``, ``bn1``, ``layer1``..``layer3`` (blocks ``i.conv1/bn1/conv2/bn2``), ``avgpool``, ``fc``.
Parameters (ResNet-20): conv1 432 + bn1 32, layer1 14,016, layer2 51,072, layer3 203,520, fc 650 = 269,722
("0.27M" in the paper's Table 6); 40.55M MACs per 32x32 image. A plain twin has exactly as many.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from cnnlab.zoo.registry import register_model
from cnnlab.zoo.resnet import conv3x3

WIDTHS = (16, 32, 64)


class ShortcutA(nn.Module):
    """Option A: take every `stride`-th pixel and append zero channels up to `planes`; no parameters.

    `kernel_size` and `stride` say what the slicing is, a 1x1 window at that stride, so that `summary` gives the
    shortcut's output size and receptive field (its jump doubles) as it does for a pool's."""

    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.extra = 1, stride, planes - in_planes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x[:, :, :: self.stride, :: self.stride], (0, 0, 0, 0, 0, self.extra))


class CifarBlock(nn.Module):
    """Two 3x3 conv + batch norm layers; with `residual`, the input (or its option-A shortcut) is added before the
    last ReLU."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1, residual: bool = True) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_planes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut: nn.Module | None = None
        if residual:
            changes = stride != 1 or in_planes != planes
            self.shortcut = ShortcutA(in_planes, planes, stride) if changes else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return self.relu(out)


class CifarResNet(nn.Module):
    """6n + 2 layers on 32x32 images (see the module docstring); `residual=False` builds the plain twin."""

    def __init__(self, n: int, num_classes: int = 10, in_channels: int = 3, residual: bool = True) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_channels, WIDTHS[0])
        self.bn1 = nn.BatchNorm2d(WIDTHS[0])
        self.relu = nn.ReLU(inplace=True)
        stages, in_planes = [], WIDTHS[0]
        for i, planes in enumerate(WIDTHS):
            stride = 1 if i == 0 else 2
            blocks = [CifarBlock(in_planes, planes, stride, residual)]
            blocks += [CifarBlock(planes, planes, 1, residual) for _ in range(n - 1)]
            stages.append(nn.Sequential(*blocks))
            in_planes = planes
        self.layer1, self.layer2, self.layer3 = stages
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(WIDTHS[-1], num_classes)
        for m in self.modules():  # the paper initialises as in He et al. 2015 (its reference [13])
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def _register(depth: int) -> None:
    """Register `resnet{depth}` and its plain twin `plain{depth}` (CIFAR-10: 3x32x32, 10 classes)."""
    n = (depth - 2) // 6

    def builder(residual: bool) -> Callable[..., nn.Module]:
        def build(num_classes: int = 10, in_channels: int = 3, **kwargs: Any) -> CifarResNet:
            return CifarResNet(n, num_classes, in_channels, residual=residual, **kwargs)

        return build

    for name, residual, kind in (
        (f"resnet{depth}", True, "option-A shortcuts"),
        (f"plain{depth}", False, "no shortcuts"),
    ):
        register_model(
            name,
            family="resnet-cifar",
            input_size=(3, 32, 32),
            num_classes=10,
            description=f"He et al. 2016 CIFAR net, {depth} layers (n={n}), {kind}",
        )(builder(residual))


for _depth in (20, 32, 44, 56, 110):
    _register(_depth)
