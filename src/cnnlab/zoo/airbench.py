"""Airbench: the small, fast CIFAR-10 net of Keller Jordan's airbench94, for training to target accuracy in minutes.

The design follows Jordan (2024), "94% on CIFAR-10 in 3.29 seconds on a single GPU" (arXiv:2404.00498,
github.com/KellerJordan/cifar10-airbench), which builds on tysam-code's hlb-CIFAR10 and David Page's "How to
train your ResNet" (myrtle.ai, 2018). The net is written here from the paper's description:

* ``whiten``: a 2x2 conv, no padding, with bias and ``2 * in_channels * 2 * 2`` filters (24 for RGB), meant to be
  initialised by patch whitening (`cnnlab.train.whiten.whiten_first_conv`) and kept frozen, then a GELU;
* three `AirbenchBlock`s: 3x3 conv (no bias) -> 2x2 max-pool -> batch norm -> GELU -> 3x3 conv -> batch norm -> GELU;
* a global max pool, a linear layer without bias, and the logits multiplied by a fixed ``scale`` (1/9), which
  stands in for a temperature so the un-normalised head starts with small logits.

Two more airbench details are kept because they matter for training speed: every 3x3 conv starts with its first
``in_channels`` filters as the identity (``nn.init.dirac_``, an implicit residual path), and batch norm uses
momentum 0.4 (airbench's 0.6 in its own convention), eps 1e-12 and a frozen scale (only the shift trains).

Option ``whiten_stride=2`` moves the whitening conv's 2x2 window by two pixels, so its patches tile the image
without overlap: a lossless space-to-depth stem (each 2x2x3 patch becomes 24 whitened channels at half the
resolution), the idea of the "patchify" stems of ViT (Dosovitskiy et al. 2021) and ConvNeXt (Liu et al. 2022,
"A ConvNet for the 2020s") and of TResNet's space-to-depth stem (Ridnik et al. 2021). Every later layer then
works on a quarter of the pixels; on a 2-core CPU that bought more accuracy per second of one-epoch training
than smaller images did, so recipe:cifar10-70-fast uses it (with a wider first block). Parameters and state dict
are the same as with stride 1.

Option ``activation="relu"`` swaps every GELU for a ReLU (the same weights and state dict): on a 2-core CPU one
epoch of the 24/48/96 net took 3-8% less time, and one Muon epoch lost about a point (72.59% against 73.79% at
28x28, seed 0). On digits it loses nothing and survives bf16 better than GELU, so recipe:mnist-99 uses it.

Sizes: a 32x32 image gives 31 after ``whiten``, then 15, 7 and 3 after the blocks' pools; a 28x28 MNIST digit gives
27, 13, 6, 3. The global max pool takes whatever is left, so any input of at least 9x9 works (16x16 with
``whiten_stride=2``, which gives 16, 8, 4, 2 from 32x32 and 17, 8, 4, 2 from 34x34).

State-dict keys (i = 1, 2, 3): ``whiten.weight``, ``whiten.bias``, ``blocki.conv1.weight``,
``blocki.norm1.{weight,bias,running_mean,running_var,num_batches_tracked}``, ``blocki.conv2.weight``,
``blocki.norm2.{...}``, ``fc.weight``. Parameters (all, frozen batch-norm scales included):

* ``airbench-cifar`` (widths 64/256/256, 10 classes): 1,972,792 (whiten 312, blocks 50,944 + 738,304 + 1,180,672,
  fc 2,560); 1,971,640 trainable (the 1,152 batch-norm scales are frozen), 1,971,328 once a
  frozen whitening takes ``whiten``'s 312.
* ``airbench-cifar-m`` (widths 64/128/128, airbench93's in the same repository): 569,656 (whiten 312, blocks
  50,944 + 221,696 + 295,424, fc 1,280); 569,016 trainable.
* ``airbench-cifar-s`` (widths 32/64/128): 295,096 (whiten 312, blocks 16,256 + 55,552 + 221,696, fc 1,280);
  294,648 trainable.
* ``mnist-fast`` (1 channel, 8 whitening filters, widths 24/48/96): 164,104 (whiten 40, blocks 7,008 + 31,296
  + 124,800, fc 960); 163,768 trainable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.zoo.registry import register_model

WHITEN_KERNEL = 2
BN_MOMENTUM = 0.4  # PyTorch convention (weight of the new batch); airbench writes it as 0.6 = 1 - 0.4
BN_EPS = 1e-12
# for grey images: digits' blank margins leave channels of almost no variance, which 1e-12 turns into gradient norms
# past 1e4 (mnist-fast's default; training sets it for the other airbench nets on grey data, train/setup.py)
GREY_BN_EPS = 1e-5
DEFAULT_SCALE = 1 / 9
Activation = Literal["gelu", "relu"]
WhitenStride = Literal[1, 2]
ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU}  # airbench's GELU; ReLU is cheaper on a CPU (see `Airbench`)


def _norm(channels: int, eps: float) -> nn.BatchNorm2d:
    """Batch norm as airbench uses it: fast-moving running stats and a frozen scale (its shift still trains)."""
    norm = nn.BatchNorm2d(channels, eps=eps, momentum=BN_MOMENTUM)
    norm.weight.requires_grad_(False)
    return norm


def _conv3x3(in_channels: int, out_channels: int) -> nn.Conv2d:
    """3x3 'same' conv without bias (a batch norm follows), its first filters the identity on the first inputs."""
    conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False)
    with torch.no_grad():
        nn.init.dirac_(conv.weight[: min(in_channels, out_channels)])
    return conv


class AirbenchBlock(nn.Module):
    """conv -> pool -> norm -> GELU -> conv -> norm -> GELU (or ReLU): pooling right after the first conv halves the cost
    of everything after it."""

    def __init__(
        self, in_channels: int, out_channels: int, eps: float = BN_EPS, activation: Activation = "gelu"
    ) -> None:
        super().__init__()
        self.conv1 = _conv3x3(in_channels, out_channels)
        self.pool = nn.MaxPool2d(2)
        self.norm1 = _norm(out_channels, eps)
        self.conv2 = _conv3x3(out_channels, out_channels)
        self.norm2 = _norm(out_channels, eps)
        self.act = _activation(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.norm1(self.pool(self.conv1(x))))
        return self.act(self.norm2(self.conv2(x)))


class Mul(nn.Module):
    """Multiply by a fixed constant (not a parameter, not in the state dict); a module so summaries show it."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale

    def extra_repr(self) -> str:
        return f"scale={self.scale:.6g}"


class Airbench(nn.Module):
    """The airbench94 layout: whitening conv, three conv blocks, global max pool, scaled linear head."""

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 3,
        widths: Sequence[int] = (64, 256, 256),
        scale: float = DEFAULT_SCALE,
        eps: float = BN_EPS,
        activation: Activation = "gelu",
        whiten_stride: WhitenStride = 1,
    ) -> None:
        super().__init__()
        widths = _check_widths(widths)
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0:
            raise CnnlabError(f"scale must be a positive number, got {scale!r}")
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 < eps < 1:
            raise CnnlabError(f"bn_eps must be a number between 0 and 1, got {eps!r}")
        if whiten_stride not in (1, 2) or isinstance(whiten_stride, bool):  # 3 or more would skip pixels
            raise CnnlabError(f"whiten_stride must be 1 or 2 (the whitening conv is 2x2), got {whiten_stride!r}")
        whiten_width = 2 * in_channels * WHITEN_KERNEL * WHITEN_KERNEL  # +/- copies of every whitened direction
        self.whiten = nn.Conv2d(in_channels, whiten_width, WHITEN_KERNEL, stride=whiten_stride, padding=0, bias=True)
        self.act = _activation(activation)
        self.block1 = AirbenchBlock(whiten_width, widths[0], eps, activation)
        self.block2 = AirbenchBlock(widths[0], widths[1], eps, activation)
        self.block3 = AirbenchBlock(widths[1], widths[2], eps, activation)
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(widths[2], num_classes, bias=False)
        self.scale = Mul(float(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.whiten(x))
        x = self.block3(self.block2(self.block1(x)))
        return self.scale(self.fc(self.flatten(self.pool(x))))


def _activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise CnnlabError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]()


def _check_widths(widths: Sequence[int]) -> tuple[int, int, int]:
    """Three positive ints, or a one-line error saying what was given."""
    values = tuple(widths) if isinstance(widths, (tuple, list)) else ()
    if len(values) != 3 or not all(isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in values):
        raise CnnlabError(f"widths must be three positive integers (one per block), got {widths!r}")
    return values  # type: ignore[return-value]


@register_model(
    "airbench-cifar",
    family="airbench",
    input_size=(3, 32, 32),
    num_classes=10,
    description="airbench94 (Jordan 2024): 2x2 whitening conv, 3 conv blocks 64/256/256, GELU; 94% CIFAR-10",
)
def airbench_cifar(
    num_classes: int = 10,
    in_channels: int = 3,
    widths: Sequence[int] = (64, 256, 256),
    scale: float = DEFAULT_SCALE,
    activation: Activation = "gelu",
    whiten_stride: WhitenStride = 1,
    bn_eps: float = BN_EPS,
) -> Airbench:
    """The full airbench94 net, the one that reaches 94% on CIFAR-10 in about ten epochs."""
    return Airbench(num_classes, in_channels, widths, scale, bn_eps, activation=activation, whiten_stride=whiten_stride)


@register_model(
    "airbench-cifar-s",
    family="airbench",
    input_size=(3, 32, 32),
    num_classes=10,
    description="narrow airbench (widths 32/64/128) for under-a-minute CIFAR-10 targets on a CPU",
)
def airbench_cifar_s(
    num_classes: int = 10,
    in_channels: int = 3,
    widths: Sequence[int] = (32, 64, 128),
    scale: float = DEFAULT_SCALE,
    activation: Activation = "gelu",
    whiten_stride: WhitenStride = 1,
    bn_eps: float = BN_EPS,
) -> Airbench:
    """A narrow airbench, about 7x fewer parameters and far fewer MACs, for quick CPU runs."""
    return Airbench(num_classes, in_channels, widths, scale, bn_eps, activation=activation, whiten_stride=whiten_stride)


@register_model(
    "airbench-cifar-m",
    family="airbench",
    input_size=(3, 32, 32),
    num_classes=10,
    description="airbench93's widths 64/128/128: about a quarter of airbench94's MACs; 88-89% on the JPEG CIFAR-10",
)
def airbench_cifar_m(
    num_classes: int = 10,
    in_channels: int = 3,
    widths: Sequence[int] = (64, 128, 128),
    scale: float = DEFAULT_SCALE,
    activation: Activation = "gelu",
    whiten_stride: WhitenStride = 1,
    bn_eps: float = BN_EPS,
) -> Airbench:
    """The middle width, airbench93's (93% in 11 GPU epochs on the original images, at about a quarter of
    airbench94's FLOPs); on the shared JPEG copy it stops short of 90% (88.78% after 18 epochs), which takes the
    full width (cifar10-90)."""
    return Airbench(num_classes, in_channels, widths, scale, bn_eps, activation=activation, whiten_stride=whiten_stride)


@register_model(
    "mnist-fast",
    family="airbench",
    input_size=(1, 28, 28),
    num_classes=10,
    description="airbench layout for MNIST: 8-filter whitening conv, blocks 24/48/96; 99% in seconds",
)
def mnist_fast(
    num_classes: int = 10,
    in_channels: int = 1,
    widths: Sequence[int] = (24, 48, 96),
    scale: float = DEFAULT_SCALE,
    activation: Activation = "gelu",
    whiten_stride: WhitenStride = 1,
    bn_eps: float = GREY_BN_EPS,
) -> Airbench:
    """The airbench layout sized for 28x28 digits (27, 13, 6, 3 after each stage), small enough for CPU seconds.
    Batch norm keeps PyTorch's eps 1e-5: a digit's blank margins give channels of almost no variance, which
    airbench's 1e-12 turns into gradient norms past 1e4."""
    return Airbench(num_classes, in_channels, widths, scale, bn_eps, activation=activation, whiten_stride=whiten_stride)
