"""VGG (Simonyan & Zisserman 2014): configurations A, A-LRN, B, C, D, E (with and without batch norm for A, B, D,
E), for ImageNet and CIFAR.

Layout and state-dict keys follow ``torchvision.models.vgg`` (features.N, avgpool, classifier.N), so its
checkpoints load with ``strict=True``. One config table, `cfgs`, drives every variant;
each builder is registered twice, as ``vggN[_bn]`` (ImageNet head) and ``vggN[_bn]-cifar`` (see `VGG`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Literal

import torch
from torch import nn

from cnnlab.zoo.alexnet import LRN_ALPHA, LRN_BETA, LRN_K, LRN_SIZE
from cnnlab.zoo.registry import register_model

# Output channels of each 3x3 conv; "M" is a 2x2 max-pool, "LRN" a local response norm (AlexNet's settings),
# (1, N) a 1x1 conv with N filters. Keys are the paper's column names (Table 1).
cfgs: dict[str, list[int | str | tuple[int, int]]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "A-LRN": [64, "LRN", "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "C": [64, 64, "M", 128, 128, "M", 256, 256, (1, 256), "M", 512, 512, (1, 512), "M", 512, 512, (1, 512), "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}

Head = Literal["imagenet", "cifar"]
Builder = Callable[..., nn.Module]


def make_layers(
    cfg: list[int | str | tuple[int, int]], batch_norm: bool = False, in_channels: int = 3
) -> nn.Sequential:
    """The convolutional trunk; with batch norm each conv becomes conv-bn-relu, which shifts the indices."""
    layers: list[nn.Module] = []
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        if v == "LRN":  # after the first conv's ReLU in A-LRN, with AlexNet's parameters (paper sec. 2.3)
            layers.append(nn.LocalResponseNorm(LRN_SIZE, alpha=LRN_ALPHA, beta=LRN_BETA, k=LRN_K))
            continue
        kernel, v = v if isinstance(v, tuple) else (3, v)
        assert isinstance(v, int)
        layers.append(nn.Conv2d(in_channels, v, kernel_size=kernel, padding=kernel // 2))
        if batch_norm:
            layers.append(nn.BatchNorm2d(v))
        layers.append(nn.ReLU(inplace=True))
        in_channels = v
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """A VGG trunk plus one of two heads.

    ``head="imagenet"`` is torchvision's: adaptive 7x7 average pool, then 25088-4096-4096-classes with dropout.
    ``head="cifar"`` is the common small-image head: five 2x2 pools take a 32x32 input to 1x1x512, so there is
    no pool (``avgpool`` is an ``nn.Identity``) and the classifier is Linear(512, 512)-ReLU-Dropout-Linear(512,
    classes). The three 4096-wide layers would hold ~120M parameters for a 10-class, 50k-image problem; the
    512-wide head keeps the model at ~15M (VGG-16) while leaving the trunk, and its checkpoint keys, untouched.
    The CIFAR head therefore needs exactly 32x32 input.
    """

    def __init__(
        self, features: nn.Module, num_classes: int = 1000, head: Head = "imagenet", dropout: float = 0.5
    ) -> None:
        super().__init__()
        self.features = features
        if head == "imagenet":
            self.avgpool: nn.Module = nn.AdaptiveAvgPool2d((7, 7))
            self.classifier = nn.Sequential(
                nn.Linear(512 * 7 * 7, 4096),
                nn.ReLU(inplace=True),
                nn.Dropout(p=dropout),
                nn.Linear(4096, 4096),
                nn.ReLU(inplace=True),
                nn.Dropout(p=dropout),
                nn.Linear(4096, num_classes),
            )
        elif head == "cifar":
            self.avgpool = nn.Identity()
            self.classifier = nn.Sequential(
                nn.Linear(512, 512),
                nn.ReLU(inplace=True),
                nn.Dropout(p=dropout),
                nn.Linear(512, num_classes),
            )
        else:
            raise ValueError(f"head must be 'imagenet' or 'cifar', got {head!r}")
        self._init_weights()

    def _init_weights(self) -> None:
        """torchvision's VGG init: He-normal convs, N(0, 0.01) linears, zero biases, unit BN scales."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


def _vgg(
    cfg: str, batch_norm: bool, num_classes: int, in_channels: int, head: Head = "imagenet", dropout: float = 0.5
) -> VGG:
    """Every public builder is this with a config letter; `head="cifar"` selects the 32x32 variant."""
    return VGG(make_layers(cfgs[cfg], batch_norm, in_channels), num_classes=num_classes, head=head, dropout=dropout)


def _register(name: str, description: str) -> Callable[[Builder], Builder]:
    """Register `name` (ImageNet, 224x224, 1000 classes) and `name-cifar` (CIFAR head, 32x32, 10 classes)."""

    def decorate(builder: Builder) -> Builder:
        register_model(name, family="vgg", input_size=(3, 224, 224), num_classes=1000, description=description)(builder)
        register_model(
            f"{name}-cifar",
            family="vgg",
            input_size=(3, 32, 32),
            num_classes=10,
            description=f"{description}; 512-wide CIFAR head",
        )(partial(builder, head="cifar"))
        return builder

    return decorate


@_register("vgg11", "VGG-11 (config A)")
def vgg11(num_classes: int = 1000, in_channels: int = 3, head: Head = "imagenet", dropout: float = 0.5) -> VGG:
    """VGG-11, the paper's shallowest configuration (A): 8 convs + 3 fully connected layers."""
    return _vgg("A", False, num_classes, in_channels, head, dropout)


@_register("vgg11_bn", "VGG-11 (config A) with batch norm")
def vgg11_bn(num_classes: int = 1000, in_channels: int = 3, head: Head = "imagenet", dropout: float = 0.5) -> VGG:
    """VGG-11 with batch norm after every conv, which lets it train without the paper's staged initialisation."""
    return _vgg("A", True, num_classes, in_channels, head, dropout)


@_register("vgg11-lrn", "VGG-11 with LRN (config A-LRN)")
def vgg11_lrn(num_classes: int = 1000, in_channels: int = 3, head: Head = "imagenet", dropout: float = 0.5) -> VGG:
    """Config A-LRN: A plus local response normalisation after the first conv's ReLU; LRN has no parameters, so
    it has A's 132,863,336 (the paper found it no better than A and dropped LRN from the deeper nets)."""
    return _vgg("A-LRN", False, num_classes, in_channels, head, dropout)


@_register("vgg13", "VGG-13 (config B)")
def vgg13(num_classes: int = 1000, in_channels: int = 3, head: Head = "imagenet", dropout: float = 0.5) -> VGG:
    """VGG-13 (config B): A plus a second conv in the first two stages."""
    return _vgg("B", False, num_classes, in_channels, head, dropout)


@_register("vgg13_bn", "VGG-13 (config B) with batch norm")
def vgg13_bn(num_classes: int = 1000, in_channels: int = 3, head: Head = "imagenet", dropout: float = 0.5) -> VGG:
    """VGG-13 with batch norm after every conv."""
    return _vgg("B", True, num_classes, in_channels, head, dropout)


@_register("vgg16c", "VGG-16 with 1x1 convs (config C)")
def vgg16c(num_classes: int = 1000, in_channels: int = 3, head: Head = "imagenet", dropout: float = 0.5) -> VGG:
    """Config C: B plus a 1x1 conv (stride 1, ReLU) as the last conv of each of the last three stages: 16 weight
    layers like D, but 133,638,952 parameters at 1000 classes; the paper's D (3x3 there) did better."""
    return _vgg("C", False, num_classes, in_channels, head, dropout)


@_register("vgg16", "VGG-16 (config D)")
def vgg16(num_classes: int = 1000, in_channels: int = 3, head: Head = "imagenet", dropout: float = 0.5) -> VGG:
    """VGG-16 (config D), the classic: 13 convs + 3 fully connected layers, 138,357,544 parameters."""
    return _vgg("D", False, num_classes, in_channels, head, dropout)


@_register("vgg16_bn", "VGG-16 (config D) with batch norm")
def vgg16_bn(num_classes: int = 1000, in_channels: int = 3, head: Head = "imagenet", dropout: float = 0.5) -> VGG:
    """VGG-16 with batch norm after every conv."""
    return _vgg("D", True, num_classes, in_channels, head, dropout)


@_register("vgg19", "VGG-19 (config E)")
def vgg19(num_classes: int = 1000, in_channels: int = 3, head: Head = "imagenet", dropout: float = 0.5) -> VGG:
    """VGG-19 (config E): four convs in each of the last three stages."""
    return _vgg("E", False, num_classes, in_channels, head, dropout)


@_register("vgg19_bn", "VGG-19 (config E) with batch norm")
def vgg19_bn(num_classes: int = 1000, in_channels: int = 3, head: Head = "imagenet", dropout: float = 0.5) -> VGG:
    """VGG-19 with batch norm after every conv."""
    return _vgg("E", True, num_classes, in_channels, head, dropout)
