"""GoogLeNet / Inception v1 (Szegedy et al. 2014), as torchvision builds it, plus the naive-inception ablation.

Module names, forward and outputs follow ``torchvision.models.googlenet`` (with ``transform_input=False``), so its
checkpoints load with ``strict=True``. The convs are `blocks.BasicConv2d` (conv + BN + ReLU; the 2014 network had
no batch norm, torchvision's port adds it) and the modules are `blocks.Inception`.

torchvision's "5x5" branch actually uses a 3x3 kernel (pytorch/vision#906, a known deviation from the paper); we
keep ``kernel5=3`` by default so checkpoints fit, and ``kernel5=5`` gives the paper's kernel.
"""

from __future__ import annotations

from collections import namedtuple
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from cnnlab.zoo.blocks import BasicConv2d, Inception
from cnnlab.zoo.registry import register_model

GoogLeNetOutputs = namedtuple("GoogLeNetOutputs", ["logits", "aux_logits2", "aux_logits1"])
"""What a model with `aux_logits=True` returns in train mode, in torchvision's field order."""

InceptionKind = Literal["reduction", "naive"]

# Table 1 of the paper: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj. Input widths follow from the
# previous module, so the same table serves the naive variant, whose modules pass their input through the pool.
INCEPTION_CFG: dict[str, tuple[int, int, int, int, int, int]] = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}


class InceptionAux(nn.Module):
    """Auxiliary classifier on 4a and 4d: it adds gradient to the middle of the network during training."""

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.7) -> None:
        super().__init__()
        self.conv = BasicConv2d(in_channels, 128, kernel_size=1)
        self.fc1 = nn.Linear(2048, 1024)
        self.fc2 = nn.Linear(1024, num_classes)
        self.dropout = nn.Dropout(p=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(x, (4, 4))  # torchvision's stand-in for the paper's 5x5/3 avg pool
        x = torch.flatten(self.conv(x), 1)
        x = F.relu(self.fc1(x), inplace=True)
        return self.fc2(self.dropout(x))


class GoogLeNet(nn.Module):
    """Stem (7x7/2, 1x1, 3x3 convs with max-pools), nine Inception modules, global average pool, dropout, fc.

    With ``aux_logits=True`` the model also has torchvision's `aux1`/`aux2` heads, and in train mode `forward`
    returns ``GoogLeNetOutputs(logits, aux_logits2, aux_logits1)``; in eval mode it always returns the logits.
    ``inception="naive"`` swaps every module for the naive one (no 1x1 reductions, the pool branch passes its
    input through), which shows what the reductions save: widths, parameters and FLOPs balloon.
    The engine adds each aux head's loss with weight `aux_weight` (0.3, the paper's discount weight).
    """

    aux_weight = 0.3

    def __init__(
        self,
        num_classes: int = 1000,
        in_channels: int = 3,
        aux_logits: bool = False,
        inception: InceptionKind = "reduction",
        kernel5: int = 3,
        dropout: float = 0.2,
        dropout_aux: float = 0.7,
    ) -> None:
        super().__init__()
        if inception not in ("reduction", "naive"):
            raise ValueError(f"inception must be 'reduction' or 'naive', got {inception!r}")
        if not (isinstance(kernel5, int) and kernel5 > 0 and kernel5 % 2):
            raise ValueError(f"kernel5 must be an odd kernel size (e.g. 3 or 5), got {kernel5!r}")
        self.aux_logits = aux_logits

        self.conv1 = BasicConv2d(in_channels, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        width = 192

        def module(stage: str) -> Inception:
            nonlocal width
            block = Inception(width, *INCEPTION_CFG[stage], naive=inception == "naive", kernel5=kernel5)
            width = block.out_channels
            return block

        self.inception3a = module("3a")
        self.inception3b = module("3b")
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)

        self.inception4a = module("4a")
        aux1_width = width
        self.inception4b = module("4b")
        self.inception4c = module("4c")
        self.inception4d = module("4d")
        aux2_width = width
        self.inception4e = module("4e")
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)

        self.inception5a = module("5a")
        self.inception5b = module("5b")

        self.aux1: InceptionAux | None = None
        self.aux2: InceptionAux | None = None
        if aux_logits:
            self.aux1 = InceptionAux(aux1_width, num_classes, dropout=dropout_aux)
            self.aux2 = InceptionAux(aux2_width, num_classes, dropout=dropout_aux)

        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(width, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        """torchvision's init: truncated N(0, 0.01) for convs and linears, unit BN."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor | GoogLeNetOutputs:
        x = self.conv1(x)
        x = self.maxpool1(x)
        x = self.conv2(x)
        x = self.conv3(x)
        x = self.maxpool2(x)

        x = self.inception3a(x)
        x = self.inception3b(x)
        x = self.maxpool3(x)

        x = self.inception4a(x)
        aux1 = self.aux1(x) if self.aux1 is not None and self.training else None
        x = self.inception4b(x)
        x = self.inception4c(x)
        x = self.inception4d(x)
        aux2 = self.aux2(x) if self.aux2 is not None and self.training else None
        x = self.inception4e(x)
        x = self.maxpool4(x)

        x = self.inception5a(x)
        x = self.inception5b(x)

        x = torch.flatten(self.avgpool(x), 1)
        x = self.fc(self.dropout(x))
        if self.training and self.aux_logits:
            return GoogLeNetOutputs(x, aux2, aux1)
        return x


@register_model(
    "googlenet",
    family="googlenet",
    input_size=(3, 224, 224),
    num_classes=1000,
    description="GoogLeNet / Inception v1, torchvision layout (BN, 3x3 '5x5' branch; kernel5=5: the paper's)",
)
def googlenet(
    num_classes: int = 1000,
    in_channels: int = 3,
    aux_logits: bool = False,
    inception: InceptionKind = "reduction",
    kernel5: int = 3,
    dropout: float = 0.2,
    dropout_aux: float = 0.7,
) -> GoogLeNet:
    """GoogLeNet with 6,624,904 parameters at 1000 classes (no aux heads); see `GoogLeNet` for the options.

    Aux heads are off by default (torchvision's class defaults them on) because they only help when training
    from scratch, and a model without them returns plain logits in both modes.
    """
    return GoogLeNet(num_classes, in_channels, aux_logits, inception, kernel5, dropout, dropout_aux)
