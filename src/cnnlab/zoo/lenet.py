"""LeNet-5 as LeCun et al. (1998) built it, and the ReLU/max-pool version taught today.

The faithful model keeps the paper's details that change parameter counts and behaviour:
trainable subsampling (S2, S4: one coefficient and one bias per map), the partial C3 connection
table (Table I), the scaled tanh squashing f(a) = 1.7159 tanh(2a/3), and an output of Euclidean RBF
units whose centres are fixed +-1 codes (buffers, not parameters). Trainable parameters: exactly 60,000.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from cnnlab.zoo.registry import register_model

# Table I of the paper: the S2 maps each C3 map reads.
C3_TABLE: tuple[tuple[int, ...], ...] = (
    (0, 1, 2),
    (1, 2, 3),
    (2, 3, 4),
    (3, 4, 5),
    (4, 5, 0),
    (5, 0, 1),
    (0, 1, 2, 3),
    (1, 2, 3, 4),
    (2, 3, 4, 5),
    (3, 4, 5, 0),
    (4, 5, 0, 1),
    (5, 0, 1, 2),
    (0, 1, 3, 4),
    (1, 2, 4, 5),
    (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)


class ScaledTanh(nn.Module):
    """LeCun's squashing function f(a) = A tanh(S a), A = 1.7159, S = 2/3."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 1.7159 * torch.tanh(x * (2.0 / 3.0))


class Subsampling(nn.Module):
    """S2/S4: each unit sums a 2x2 window, multiplies by its map's trainable coefficient, adds a bias."""

    analysis_kind = "pool"

    def __init__(self, channels: int, kernel_size: int = 2) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size
        self.padding = 0
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.kernel_size
        summed = F.avg_pool2d(x, k) * (k * k)
        return summed * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)

    def macs(self, input_shape: tuple[int, ...], output_shape: tuple[int, ...]) -> tuple[int, str]:
        """One multiply (the map's coefficient) per output unit; the window sum is additions only."""
        n = _numel(output_shape)
        return n, f"one coefficient multiply per output: {_dims(output_shape)} = {n:,}"


class PartialConv2d(nn.Module):
    """A convolution where output map j sees only the input maps `table[j]` (LeNet-5's C3).

    Only connected kernels are parameters, so the parameter count is the paper's:
    sum_j (|table[j]| * k * k + 1) = 1,516 for C3.
    """

    analysis_kind = "conv"

    def __init__(self, in_channels: int, table: tuple[tuple[int, ...], ...], kernel_size: int) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, len(table)
        self.kernel_size, self.stride, self.padding = kernel_size, 1, 0
        pairs = [(j, i) for j, inputs in enumerate(table) for i in inputs]
        # The bounds on the CPU and the weight's arithmetic in place, the same numbers as out of place: on the meta
        # device (`cnnlab models`) PyTorch computes out-of-place arithmetic in Python, importing TorchDynamo (2 s).
        fan_in = torch.tensor([len(table[j]) * kernel_size**2 for j, _ in pairs], dtype=torch.float32, device="cpu")
        weight = torch.rand(len(pairs), kernel_size, kernel_size)
        bound = (1.0 / fan_in).sqrt().view(-1, 1, 1).to(weight.device)
        self.weight = nn.Parameter(weight.mul_(2).sub_(1).mul_(bound))
        self.bias = nn.Parameter(torch.zeros(self.out_channels))
        self.register_buffer("index", torch.tensor([j * in_channels + i for j, i in pairs]), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.kernel_size
        full = self.weight.new_zeros(self.out_channels * self.in_channels, k, k).index_copy(0, self.index, self.weight)
        return F.conv2d(x, full.view(self.out_channels, self.in_channels, k, k), self.bias)

    def macs(self, input_shape: tuple[int, ...], output_shape: tuple[int, ...]) -> tuple[int, str]:
        """Only connected kernels multiply: H_out * W_out * connections * k * k."""
        h, w = output_shape[-2:]
        conns = self.weight.shape[0]
        k = self.kernel_size
        n = h * w * conns * k * k
        return n, f"H_out*W_out*connections*k*k = {h}*{w}*{conns}*{k}*{k} = {n:,}"


class EuclideanRBF(nn.Module):
    """Output layer y_i = sum_j (x_j - c_ij)^2 with fixed +-1 centres; returns -y so argmax is the closest class.

    The paper draws the centres from 7x12 bitmaps of the characters; we use fixed, seeded +-1 codes
    (same across runs), which keeps the property that matters: equidistant-ish targets that are not trained.
    Cross-entropy on -y is the paper's discriminative loss without its constant rejection term.
    """

    analysis_kind = "dense"

    def __init__(self, in_features: int, num_classes: int, seed: int = 1998) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        codes = torch.randint(0, 2, (num_classes, in_features), generator=g).float().mul_(2).sub_(1)  # in place: as C3
        self.register_buffer("centres", codes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -((x.unsqueeze(1) - self.centres) ** 2).sum(-1)

    def macs(self, input_shape: tuple[int, ...], output_shape: tuple[int, ...]) -> tuple[int, str]:
        """One squared difference accumulated per (class, input) pair."""
        n, d = self.centres.shape
        return n * d, f"classes*inputs = {n}*{d} = {n * d:,}"


def _numel(shape: tuple[int, ...]) -> int:
    out = 1
    for s in shape:
        out *= s
    return out


def _dims(shape: tuple[int, ...]) -> str:
    return "*".join(str(s) for s in shape)


@register_model(
    "lenet5",
    family="lenet",
    input_size=(1, 32, 32),
    num_classes=10,
    description="LeNet-5 as in LeCun et al. 1998: partial C3, trainable subsampling, RBF output",
)
def lenet5(num_classes: int = 10, in_channels: int = 1) -> nn.Module:
    return nn.Sequential(
        OrderedDict(
            [
                ("c1", nn.Conv2d(in_channels, 6, 5)),
                ("c1_act", ScaledTanh()),
                ("s2", Subsampling(6)),
                ("s2_act", ScaledTanh()),
                ("c3", PartialConv2d(6, C3_TABLE, 5)),
                ("c3_act", ScaledTanh()),
                ("s4", Subsampling(16)),
                ("s4_act", ScaledTanh()),
                ("c5", nn.Conv2d(16, 120, 5)),
                ("c5_act", ScaledTanh()),
                ("flatten", nn.Flatten()),
                ("f6", nn.Linear(120, 84)),
                ("f6_act", ScaledTanh()),
                ("output", EuclideanRBF(84, num_classes)),
            ]
        )
    )


@register_model(
    "lenet5-modern",
    family="lenet",
    input_size=(1, 32, 32),
    num_classes=10,
    description="LeNet-5 with ReLU, max pooling, a full C3 and a linear output",
)
def lenet5_modern(num_classes: int = 10, in_channels: int = 1) -> nn.Module:
    return nn.Sequential(
        OrderedDict(
            [
                ("c1", nn.Conv2d(in_channels, 6, 5)),
                ("relu1", nn.ReLU(inplace=True)),
                ("s2", nn.MaxPool2d(2)),
                ("c3", nn.Conv2d(6, 16, 5)),
                ("relu2", nn.ReLU(inplace=True)),
                ("s4", nn.MaxPool2d(2)),
                ("c5", nn.Conv2d(16, 120, 5)),
                ("relu3", nn.ReLU(inplace=True)),
                ("flatten", nn.Flatten()),
                ("f6", nn.Linear(120, 84)),
                ("relu4", nn.ReLU(inplace=True)),
                ("output", nn.Linear(84, num_classes)),
            ]
        )
    )
