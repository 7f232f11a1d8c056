"""Building blocks shared between families and TOML networks: conv-bn-act, inception, residual.

Attribute names follow torchvision (GoogLeNet's BasicConv2d and Inception) so checkpoints load with strict=True.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class BasicConv2d(nn.Module):
    """Conv (no bias) + BatchNorm + ReLU, as in torchvision's GoogLeNet."""

    def __init__(self, in_channels: int, out_channels: int, **conv_kwargs) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **conv_kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class ConvReLU(nn.Module):
    """Conv (with bias) + ReLU: the 2014 GoogLeNet unit, used by TOML inception blocks without batch norm."""

    def __init__(self, in_channels: int, out_channels: int, **conv_kwargs) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, **conv_kwargs)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(x))


ConvBlock = Callable[..., nn.Module]


class Inception(nn.Module):
    """Inception v1 module: 1x1, 3x3, 5x5 and pooling branches concatenated on channels.

    `naive=True` drops the 1x1 reductions (3x3 and 5x5 convs see all input channels, the pool branch
    passes its input through), which is the module of Szegedy et al. Figure 2a. `kernel5` exists
    because torchvision's GoogLeNet uses 3x3 in its "5x5" branch; we keep that for checkpoint compatibility.

    A branch whose output width (ch1x1, ch3x3, ch5x5, pool_proj) is 0 is left out (its attribute is None, the
    others keep their names): a three-tower module has out_channels = the sum of the branches that remain.
    Its reduction width is then unused. A kept branch needs a reduction of at least 1 (not naive).
    """

    def __init__(
        self,
        in_channels: int,
        ch1x1: int,
        ch3x3red: int,
        ch3x3: int,
        ch5x5red: int,
        ch5x5: int,
        pool_proj: int,
        conv_block: ConvBlock = BasicConv2d,
        naive: bool = False,
        kernel5: int = 5,
        pool_ceil_mode: bool = True,
    ) -> None:
        super().__init__()
        widths = {"ch1x1": ch1x1, "ch3x3": ch3x3, "ch5x5": ch5x5, "pool_proj": in_channels if naive else pool_proj}
        if not any(widths.values()):
            raise ValueError("an inception module needs at least one branch: ch1x1, ch3x3, ch5x5 and pool_proj are 0")
        if not naive:
            for red, width, label in ((ch3x3red, ch3x3, "ch3x3"), (ch5x5red, ch5x5, "ch5x5")):
                if width and red < 1:
                    raise ValueError(f"{label}red must be at least 1 when {label} is {width} (0 leaves the branch out)")
        self.branch1 = conv_block(in_channels, ch1x1, kernel_size=1) if ch1x1 else None
        pool = nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=pool_ceil_mode)
        self.branch2: nn.Module | None = None
        self.branch3: nn.Module | None = None
        self.branch4: nn.Module | None = None
        if naive:
            if ch3x3:
                self.branch2 = conv_block(in_channels, ch3x3, kernel_size=3, padding=1)
            if ch5x5:
                self.branch3 = conv_block(in_channels, ch5x5, kernel_size=kernel5, padding=kernel5 // 2)
            self.branch4 = pool
        else:
            if ch3x3:
                self.branch2 = nn.Sequential(
                    conv_block(in_channels, ch3x3red, kernel_size=1),
                    conv_block(ch3x3red, ch3x3, kernel_size=3, padding=1),
                )
            if ch5x5:
                self.branch3 = nn.Sequential(
                    conv_block(in_channels, ch5x5red, kernel_size=1),
                    conv_block(ch5x5red, ch5x5, kernel_size=kernel5, padding=kernel5 // 2),
                )
            if pool_proj:
                self.branch4 = nn.Sequential(pool, conv_block(in_channels, pool_proj, kernel_size=1))
        self.out_channels = sum(widths.values())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = (self.branch1, self.branch2, self.branch3, self.branch4)
        return torch.cat([branch(x) for branch in branches if branch is not None], 1)


class Residual(nn.Module):
    """out = act(body(x) + shortcut(x)); the shortcut is the identity unless a projection is given."""

    def __init__(self, body: nn.Module, shortcut: nn.Module | None = None, activation: nn.Module | None = None) -> None:
        super().__init__()
        self.body = body
        self.shortcut = shortcut if shortcut is not None else nn.Identity()
        self.act = activation if activation is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))
