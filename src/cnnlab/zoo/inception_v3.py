"""Inception v3 (Szegedy et al. 2016, "Rethinking the Inception Architecture for Computer Vision").

Module names, forward and outputs follow ``torchvision.models.inception_v3`` (with ``transform_input=False``), so its
checkpoints load with ``strict=True``. Every conv is `blocks.BasicConv2d` (conv + BN with eps 0.001 + ReLU), as in
torchvision and the paper's BN-auxiliary version. The modules are written out here rather than built from
`blocks.Inception` because v3's towers differ (factorised 5x5 -> two 3x3, n x n -> 1xn + nx1, the expanded
"filter bank" outputs of the last two modules) and their torchvision attribute names must be kept.

The paper's grid sizes at 299x299: 35x35x288 after the stem and Mixed_5b-d (Figure 5 modules), 17x17x768 after the
grid reduction Mixed_6a and Mixed_6b-e (Figure 6, n = 7), 8x8x2048 after Mixed_7a and Mixed_7b-c (Figure 7).

torchvision's pretrained weights expect inputs normalised with mean = std = 0.5 per channel (torchvision folds that
into the model with ``transform_input=True``; cnnlab carries it as the weights' preprocessing instead).
"""

from __future__ import annotations

from collections import namedtuple

import torch
from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.zoo.blocks import BasicConv2d
from cnnlab.zoo.registry import register_model

InceptionOutputs = namedtuple("InceptionOutputs", ["logits", "aux_logits"])
"""What a model with `aux_logits=True` returns in train mode, in torchvision's field order."""

AUX_MIN_GRID = 17  # the aux head's 5/3 average pool then 5x5 conv need 17x17 (299x299 inputs): smaller is refused
AUX_WEIGHT = 0.4
"""Weight of the aux head's loss in training, as in PyTorch's Inception v3 fine-tuning recipe (loss + 0.4 * aux)."""


def _avg_pool() -> nn.AvgPool2d:
    """3x3/1 average pool keeping the size, before the pool branch's 1x1 conv (torchvision counts the padding)."""
    return nn.AvgPool2d(kernel_size=3, stride=1, padding=1)


def _conv(in_channels: int, out_channels: int, kernel: int | tuple[int, int], stride: int = 1) -> BasicConv2d:
    """BasicConv2d with 'same' padding for odd kernels at stride 1 ((1, 7) pads (0, 3)), none when striding."""
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    padding = (kh // 2, kw // 2) if stride == 1 else 0
    return BasicConv2d(in_channels, out_channels, kernel_size=kernel, stride=stride, padding=padding)


class InceptionA(nn.Module):
    """Figure 5 module at 35x35: 1x1, 5x5 (torchvision keeps a real 5x5 here), double 3x3 and pool towers."""

    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = _conv(in_channels, 64, 1)
        self.branch5x5_1 = _conv(in_channels, 48, 1)
        self.branch5x5_2 = _conv(48, 64, 5)
        self.branch3x3dbl_1 = _conv(in_channels, 64, 1)
        self.branch3x3dbl_2 = _conv(64, 96, 3)
        self.branch3x3dbl_3 = _conv(96, 96, 3)
        self.pool = _avg_pool()
        self.branch_pool = _conv(in_channels, pool_features, 1)
        self.out_channels = 64 + 64 + 96 + pool_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(self.pool(x))
        return torch.cat([b1, b5, b3, bp], 1)


class InceptionB(nn.Module):
    """Grid reduction 35 -> 17 (Figure 10): strided 3x3 and double-3x3 towers beside a max-pool, concatenated so
    the width grows as the grid shrinks, without the representational bottleneck of pooling first."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = _conv(in_channels, 384, 3, stride=2)
        self.branch3x3dbl_1 = _conv(in_channels, 64, 1)
        self.branch3x3dbl_2 = _conv(64, 96, 3)
        self.branch3x3dbl_3 = _conv(96, 96, 3, stride=2)
        self.pool = nn.MaxPool2d(kernel_size=3, stride=2)
        self.out_channels = 384 + 96 + in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3(x)
        b3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([b3, b3dbl, self.pool(x)], 1)


class InceptionC(nn.Module):
    """Figure 6 module at 17x17: n x n convs factorised into 1xn then nx1 (n = 7), a third cheaper per layer."""

    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = _conv(in_channels, 192, 1)
        self.branch7x7_1 = _conv(in_channels, c7, 1)
        self.branch7x7_2 = _conv(c7, c7, (1, 7))
        self.branch7x7_3 = _conv(c7, 192, (7, 1))
        self.branch7x7dbl_1 = _conv(in_channels, c7, 1)
        self.branch7x7dbl_2 = _conv(c7, c7, (7, 1))
        self.branch7x7dbl_3 = _conv(c7, c7, (1, 7))
        self.branch7x7dbl_4 = _conv(c7, c7, (7, 1))
        self.branch7x7dbl_5 = _conv(c7, 192, (1, 7))
        self.pool = _avg_pool()
        self.branch_pool = _conv(in_channels, 192, 1)
        self.out_channels = 4 * 192

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        b7dbl = self.branch7x7dbl_1(x)
        for conv in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            b7dbl = conv(b7dbl)
        bp = self.branch_pool(self.pool(x))
        return torch.cat([b1, b7, b7dbl, bp], 1)


class InceptionD(nn.Module):
    """Grid reduction 17 -> 8: a strided 3x3 tower, a 1x7/7x1/3x3-stride-2 tower and a max-pool."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = _conv(in_channels, 192, 1)
        self.branch3x3_2 = _conv(192, 320, 3, stride=2)
        self.branch7x7x3_1 = _conv(in_channels, 192, 1)
        self.branch7x7x3_2 = _conv(192, 192, (1, 7))
        self.branch7x7x3_3 = _conv(192, 192, (7, 1))
        self.branch7x7x3_4 = _conv(192, 192, 3, stride=2)
        self.pool = nn.MaxPool2d(kernel_size=3, stride=2)
        self.out_channels = 320 + 192 + in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_1(x)
        for conv in (self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4):
            b7 = conv(b7)
        return torch.cat([b3, b7, self.pool(x)], 1)


class InceptionE(nn.Module):
    """Figure 7 module at 8x8: the 3x3 towers end in parallel 1x3 and 3x1 convs whose outputs are concatenated
    (expanded filter banks), for high-dimensional representations on the coarsest grid."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch1x1 = _conv(in_channels, 320, 1)
        self.branch3x3_1 = _conv(in_channels, 384, 1)
        self.branch3x3_2a = _conv(384, 384, (1, 3))
        self.branch3x3_2b = _conv(384, 384, (3, 1))
        self.branch3x3dbl_1 = _conv(in_channels, 448, 1)
        self.branch3x3dbl_2 = _conv(448, 384, 3)
        self.branch3x3dbl_3a = _conv(384, 384, (1, 3))
        self.branch3x3dbl_3b = _conv(384, 384, (3, 1))
        self.pool = _avg_pool()
        self.branch_pool = _conv(in_channels, 192, 1)
        self.out_channels = 320 + 2 * 384 + 2 * 384 + 192

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        b3dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        b3dbl = torch.cat([self.branch3x3dbl_3a(b3dbl), self.branch3x3dbl_3b(b3dbl)], 1)
        bp = self.branch_pool(self.pool(x))
        return torch.cat([b1, b3, b3dbl, bp], 1)


class InceptionAux(nn.Module):
    """Auxiliary classifier on the 17x17 grid (Figure 8); the paper finds it acts as a regulariser rather than
    speeding up early training, and that batch norm in it helps."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(kernel_size=5, stride=3)
        self.conv0 = _conv(in_channels, 128, 1)
        self.conv1 = BasicConv2d(128, 768, kernel_size=5)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(768, num_classes)
        self.fc.stddev = 0.001  # type: ignore[assignment]  # init std, read by Inception3._init_weights

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(self.conv0(self.pool(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class Inception3(nn.Module):
    """Stem (five convs, two max-pools: 299 -> 35), 3 x InceptionA, InceptionB, 4 x InceptionC, InceptionD,
    2 x InceptionE, global average pool, dropout, fc.

    With ``aux_logits=True`` the model also has torchvision's `AuxLogits` head on Mixed_6e, and in train mode
    `forward` returns ``InceptionOutputs(logits, aux_logits)``; in eval mode it always returns the logits. The
    engine adds the aux loss with weight `aux_weight`.
    """

    aux_weight = AUX_WEIGHT

    def __init__(
        self, num_classes: int = 1000, in_channels: int = 3, aux_logits: bool = False, dropout: float = 0.5
    ) -> None:
        super().__init__()
        self.aux_logits = aux_logits
        self.Conv2d_1a_3x3 = _conv(in_channels, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)  # valid padding, the paper's Table 1
        self.Conv2d_2b_3x3 = _conv(32, 64, 3)
        self.maxpool1 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.Conv2d_3b_1x1 = _conv(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.maxpool2 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.AuxLogits = InceptionAux(768, num_classes) if aux_logits else None
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280)
        self.Mixed_7c = InceptionE(2048)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(2048, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        """torchvision's init: truncated normal (std 0.1, or a layer's own `stddev`) for convs and linears, unit BN."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                std = float(getattr(m, "stddev", 0.1))
                nn.init.trunc_normal_(m.weight, mean=0.0, std=std, a=-2, b=2)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor | InceptionOutputs:
        for layer in (self.Conv2d_1a_3x3, self.Conv2d_2a_3x3, self.Conv2d_2b_3x3, self.maxpool1):
            x = layer(x)
        for layer in (self.Conv2d_3b_1x1, self.Conv2d_4a_3x3, self.maxpool2):
            x = layer(x)
        for layer in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a):
            x = layer(x)
        for layer in (self.Mixed_6b, self.Mixed_6c, self.Mixed_6d, self.Mixed_6e):
            x = layer(x)
        aux = None
        if self.AuxLogits is not None and self.training:
            if min(x.shape[-2:]) < AUX_MIN_GRID:
                raise CnnlabError(
                    f"inception_v3's aux head needs Mixed_6e's grid to be at least {AUX_MIN_GRID}x{AUX_MIN_GRID}, "
                    f"got {x.shape[-2]}x{x.shape[-1]}: train it on 299x299 inputs (--input 3,299,299) or without "
                    "aux_logits"
                )
            aux = self.AuxLogits(x)
        for layer in (self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = layer(x)
        x = torch.flatten(self.avgpool(x), 1)
        x = self.fc(self.dropout(x))
        if self.training and aux is not None:
            return InceptionOutputs(x, aux)
        return x


@register_model(
    "inception_v3",
    family="inception_v3",
    input_size=(3, 299, 299),
    num_classes=1000,
    description="Inception v3 (Szegedy et al. 2016), torchvision layout; aux_logits=true adds the aux head",
)
def inception_v3(
    num_classes: int = 1000, in_channels: int = 3, aux_logits: bool = False, dropout: float = 0.5
) -> Inception3:
    """Inception v3 with 23,834,568 parameters at 1000 classes, 27,161,264 with the aux head (torchvision's count).

    The aux head is off by default, as for googlenet, so the model returns plain logits in both modes; torchvision's
    ImageNet checkpoint holds the head's weights too, and loads strictly into ``aux_logits=True``.
    """
    return Inception3(num_classes, in_channels, aux_logits, dropout)
