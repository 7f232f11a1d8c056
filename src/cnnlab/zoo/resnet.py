"""ResNet (He et al. 2015): 18/34/50/101/152 layers, with the ImageNet stem or the CIFAR stem.

Module names and forward follow ``torchvision.models.resnet`` (conv1, bn1, relu, maxpool, layer1..4, avgpool,
fc; blocks with conv1/bn1/conv2/bn2[/conv3/bn3]/downsample.0/.1), so its checkpoints load with ``strict=True``.
The blocks are written out here rather than built from `blocks.Residual`, whose body/shortcut naming would
break those keys. Like torchvision, Bottleneck strides in its 3x3 conv ("ResNet v1.5"); the paper's v1 strides
in the first 1x1 conv (``stride_in_1x1=True``, registered as resnet50-v1/101-v1/152-v1): the same weights and
keys, but v1's 1x1 computes only a quarter of the positions, so v1 costs fewer MACs (ResNet-50: 3.86 G against
4.09 G) while its 1x1/2 skips three in four input positions (v1.5 is a little more accurate).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Literal

import torch
from torch import nn

from cnnlab.zoo.registry import register_model

Stem = Literal["imagenet", "cifar"]
Builder = Callable[..., nn.Module]


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution with padding; no bias because a BatchNorm follows."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution, for bottleneck reductions and projection shortcuts."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convs plus the shortcut (ResNet-18/34)."""

    expansion: int = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand (x4) plus the shortcut (ResNet-50/101/152): depth at a fraction of the FLOPs."""

    expansion: int = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        stride_in_1x1: bool = False,
    ) -> None:
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes, stride if stride_in_1x1 else 1)  # v1: the paper's place for it
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, 1 if stride_in_1x1 else stride)  # v1.5: torchvision's
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


Block = type[BasicBlock] | type[Bottleneck]


class ResNet(nn.Module):
    """Stem, four stages of residual blocks (64/128/256/512 wide, stride 1/2/2/2), global average pool, fc.

    ``stem="imagenet"`` is the paper's 7x7/2 conv + 3x3/2 max-pool (224 -> 56 before layer1).
    ``stem="cifar"`` is a 3x3/1 conv and no pooling (``maxpool`` is an ``nn.Identity`` so keys are unchanged),
    because the ImageNet stem would shrink a 32x32 image to 8x8 before the first block.
    ``stride_in_1x1=True`` is the paper's v1 bottleneck (see the module docstring); BasicBlock nets ignore it.
    """

    def __init__(
        self,
        block: Block,
        layers: list[int],
        num_classes: int = 1000,
        in_channels: int = 3,
        stem: Stem = "imagenet",
        zero_init_residual: bool = False,
        stride_in_1x1: bool = False,
    ) -> None:
        super().__init__()
        self.inplanes = 64
        self.stride_in_1x1 = stride_in_1x1
        if stem not in ("imagenet", "cifar"):
            raise ValueError(f"stem must be 'imagenet' or 'cifar', got {stem!r}")
        imagenet = stem == "imagenet"
        k, s = (7, 2) if imagenet else (3, 1)
        self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=k, stride=s, padding=k // 2, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1) if imagenet else nn.Identity()
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        self._init_weights(zero_init_residual)

    def _make_layer(self, block: Block, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        """One stage; its first block projects the shortcut (1x1 conv + BN) when shape or width changes."""
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        first = {"stride_in_1x1": True} if self.stride_in_1x1 and block is Bottleneck else {}
        layers = [block(self.inplanes, planes, stride, downsample, **first)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def _init_weights(self, zero_init_residual: bool) -> None:
        """torchvision's init: He-normal convs, unit BN; optionally zero the last BN of each block.

        Zeroing makes every block start as the identity, which helps large-batch training (Goyal et al. 2017).
        """
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    nn.init.zeros_(m.bn3.weight)
                elif isinstance(m, BasicBlock):
                    nn.init.zeros_(m.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


def _register(name: str, description: str, v1: bool = False) -> Callable[[Builder], Builder]:
    """Register `name` (ImageNet stem, 224x224, 1000 classes) and `name-cifar` (CIFAR stem, 32x32, 10 classes);
    with `v1`, also `name-v1`: the paper's bottleneck, with the stride in the first 1x1 conv."""

    def decorate(builder: Builder) -> Builder:
        register_model(name, family="resnet", input_size=(3, 224, 224), num_classes=1000, description=description)(
            builder
        )
        register_model(
            f"{name}-cifar",
            family="resnet",
            input_size=(3, 32, 32),
            num_classes=10,
            description=f"{description}; 3x3 stem, no max-pool",
        )(partial(builder, stem="cifar"))
        if v1:
            register_model(
                f"{name}-v1",
                family="resnet",
                input_size=(3, 224, 224),
                num_classes=1000,
                description=f"{description}; v1: stride in the first 1x1 conv, as in the paper",
            )(partial(builder, stride_in_1x1=True))
        return builder

    return decorate


@_register("resnet18", "ResNet-18, BasicBlock [2, 2, 2, 2]")
def resnet18(
    num_classes: int = 1000, in_channels: int = 3, stem: Stem = "imagenet", zero_init_residual: bool = False
) -> ResNet:
    """ResNet-18: the smallest member, 11.7M parameters; with `stem="cifar"` the usual CIFAR baseline."""
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes, in_channels, stem, zero_init_residual)


@_register("resnet34", "ResNet-34, BasicBlock [3, 4, 6, 3]")
def resnet34(
    num_classes: int = 1000, in_channels: int = 3, stem: Stem = "imagenet", zero_init_residual: bool = False
) -> ResNet:
    """ResNet-34: the paper's plain-vs-residual comparison depth."""
    return ResNet(BasicBlock, [3, 4, 6, 3], num_classes, in_channels, stem, zero_init_residual)


@_register("resnet50", v1=True, description="ResNet-50, Bottleneck [3, 4, 6, 3]")
def resnet50(
    num_classes: int = 1000,
    in_channels: int = 3,
    stem: Stem = "imagenet",
    zero_init_residual: bool = False,
    stride_in_1x1: bool = False,
) -> ResNet:
    """ResNet-50: ResNet-34's stage depths with bottleneck blocks, 25.6M parameters."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes, in_channels, stem, zero_init_residual, stride_in_1x1)


@_register("resnet101", v1=True, description="ResNet-101, Bottleneck [3, 4, 23, 3]")
def resnet101(
    num_classes: int = 1000,
    in_channels: int = 3,
    stem: Stem = "imagenet",
    zero_init_residual: bool = False,
    stride_in_1x1: bool = False,
) -> ResNet:
    """ResNet-101: deepens stage 3, where most ImageNet capacity pays off."""
    return ResNet(Bottleneck, [3, 4, 23, 3], num_classes, in_channels, stem, zero_init_residual, stride_in_1x1)


@_register("resnet152", v1=True, description="ResNet-152, Bottleneck [3, 8, 36, 3]")
def resnet152(
    num_classes: int = 1000,
    in_channels: int = 3,
    stem: Stem = "imagenet",
    zero_init_residual: bool = False,
    stride_in_1x1: bool = False,
) -> ResNet:
    """ResNet-152: the paper's deepest ImageNet model."""
    return ResNet(Bottleneck, [3, 8, 36, 3], num_classes, in_channels, stem, zero_init_residual, stride_in_1x1)
