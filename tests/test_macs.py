"""Per-layer cost text of analysis/macs.py (#18): MACs, parameter counts and output-shape formulas, worked out by hand.

Every formula string is user-facing (the summary table and its explanations print it), so each is asserted exactly;
the numbers in them are computed in the comments, never with the code under test.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnlab.analysis.macs import kind_of, layer_macs, layer_params_formula, shape_formula
from cnnlab.zoo.lenet import EuclideanRBF, PartialConv2d, Subsampling
from cnnlab.zoo.spec import Conv2dSame, MaxPool2dSame

Geometry = list[tuple[int, int, int, int, bool]]


def torch_shape(module: nn.Module, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape torch itself gives one sample of `shape` (checks the shapes the tests pass in are real ones)."""
    with torch.no_grad():
        return tuple(module(torch.zeros(1, *shape)).shape[1:])


def both(k: int, s: int, p: int, d: int = 1, ceil: bool = False) -> Geometry:
    """The same (kernel, stride, padding, dilation, ceil) on height and width."""
    return [(k, s, p, d, ceil), (k, s, p, d, ceil)]


class Mix(nn.Module):
    """A 1x1 channel mix with its own MAC count, which needs the input's channels: C_in*C_out per position."""

    def __init__(self, c_out: int) -> None:
        super().__init__()
        self.c_out = c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.sum(1, keepdim=True).expand(-1, self.c_out, -1, -1)

    def macs(self, input_shape: tuple[int, ...], output_shape: tuple[int, ...]) -> tuple[int, str]:
        n = input_shape[0] * output_shape[0] * output_shape[1] * output_shape[2]
        return n, f"C_in*C_out*H*W = {n}"


class Scale(nn.Module):
    """A layer whose only parameter is a scalar (shape ())."""

    def __init__(self) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.tensor(2.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gain


@pytest.mark.parametrize(
    ("module", "kind"),
    [
        (nn.Conv2d(3, 6, 5), "conv"),
        (nn.Conv1d(3, 6, 5), "conv"),
        (nn.ConvTranspose2d(3, 6, 5), "conv"),
        (Conv2dSame(3, 6, 5), "conv"),
        (nn.Linear(4, 2), "dense"),
        (nn.MaxPool2d(2), "pool"),
        (nn.AvgPool2d(2), "pool"),
        (nn.MaxPool1d(2), "pool"),
        (nn.AdaptiveAvgPool2d(1), "pool"),
        (nn.AdaptiveMaxPool2d(1), "pool"),
        (MaxPool2dSame(2), "pool"),
        (nn.ReLU(), "other"),
        (nn.BatchNorm2d(4), "other"),
        (nn.Flatten(), "other"),
        (nn.Dropout(), "other"),
        # our own layers name their kind with `analysis_kind`, whatever they subclass
        (Subsampling(6), "pool"),
        (PartialConv2d(6, ((0, 1, 2), (3, 4, 5)), 5), "conv"),
        (EuclideanRBF(84, 10), "dense"),
    ],
)
def test_kind_of_each_layer_type(module: nn.Module, kind: str) -> None:
    assert kind_of(module) == kind


def test_an_analysis_kind_overrides_the_torch_class() -> None:
    conv = nn.Conv2d(1, 1, 1)
    conv.analysis_kind = "dense"
    assert kind_of(conv) == "dense"
    # an empty analysis_kind names nothing: the torch class decides
    linear = nn.Linear(2, 2)
    linear.analysis_kind = ""
    assert kind_of(linear) == "dense"


def test_conv_macs_and_formula() -> None:
    # LeNet's C1: 28*28 outputs of 6 maps, each a 5x5 window over 3 maps: 28*28*6*3*5*5 = 784*450 = 352,800
    conv = nn.Conv2d(3, 6, 5)
    assert torch_shape(conv, (3, 32, 32)) == (6, 28, 28)
    assert layer_macs(conv, (3, 32, 32), (6, 28, 28)) == (
        352_800,
        "H_out*W_out*C_out*C_in*k_h*k_w = 28*28*6*3*5*5 = 352,800",
    )


def test_grouped_conv_with_a_non_square_kernel() -> None:
    # 4 maps in 2 groups: each output sees 4/2 = 2 maps through a 3x5 window; 10*12*8*2*3*5 = 120*8*30 = 28,800
    conv = nn.Conv2d(4, 8, (3, 5), groups=2, padding=(1, 2))
    assert torch_shape(conv, (4, 10, 12)) == (8, 10, 12)
    assert layer_macs(conv, (4, 10, 12), (8, 10, 12)) == (
        28_800,
        "H_out*W_out*C_out*(C_in/groups)*k_h*k_w = 10*12*8*2*3*5 = 28,800",
    )


def test_linear_macs_on_a_vector_and_per_position() -> None:
    linear = nn.Linear(10, 4)
    # one vector: 10*4 = 40
    assert layer_macs(linear, (10,), (4,)) == (40, "in*out = 10*4 = 40")
    # one position is still a plain vector: no 'positions*'
    assert layer_macs(linear, (1, 10), (1, 4)) == (40, "in*out = 10*4 = 40")
    # 2 positions: 2*10*4 = 80
    assert layer_macs(linear, (2, 10), (2, 4)) == (80, "positions*in*out = 2*10*4 = 80")
    # 5 positions: 5*10*4 = 200
    assert layer_macs(linear, (5, 10), (5, 4)) == (200, "positions*in*out = 5*10*4 = 200")
    # 2*3 = 6 positions: 6*10*4 = 240
    assert layer_macs(linear, (2, 3, 10), (2, 3, 4)) == (240, "positions*in*out = 6*10*4 = 240")
    # thousands separators: 1000*1000 = 1,000,000
    assert layer_macs(nn.Linear(1000, 1000), (1000,), (1000,)) == (1_000_000, "in*out = 1000*1000 = 1,000,000")


@pytest.mark.parametrize("module", [nn.ReLU(), nn.MaxPool2d(2), nn.BatchNorm2d(6), nn.AdaptiveAvgPool2d(1)])
def test_layers_that_do_not_multiply_accumulate_count_zero(module: nn.Module) -> None:
    assert layer_macs(module, (6, 4, 4), (6, 2, 2)) == (0, "0 (only conv and linear layers multiply-accumulate)")


def test_a_layer_with_its_own_macs_gives_them() -> None:
    # LeNet-5's output layer: one squared difference per (class, input) pair, 10*84 = 840
    assert layer_macs(EuclideanRBF(84, 10), (84,), (10,)) == (840, "classes*inputs = 10*84 = 840")
    # C3: 10*10 outputs, 3 connections of 5x5 kernels: 10*10*3*5*5 = 7,500 (not the full 2*3*... of a dense conv)
    c3 = PartialConv2d(3, ((0, 1), (2,)), 5)
    assert layer_macs(c3, (3, 14, 14), (2, 10, 10)) == (7_500, "H_out*W_out*connections*k*k = 10*10*3*5*5 = 7,500")
    # both shapes reach the layer's macs(): 3 channels in, 2*4*5 out: 3*2*4*5 = 120
    mix = Mix(2)
    assert torch_shape(mix, (3, 4, 5)) == (2, 4, 5)
    assert layer_macs(mix, (3, 4, 5), (2, 4, 5)) == (120, "C_in*C_out*H*W = 120")


def test_a_macs_attribute_that_is_not_a_method_is_ignored() -> None:
    # 1*1 outputs, 2*2 in, 3 maps: 1*1*3*2*2*2 = 24
    conv = nn.Conv2d(2, 3, 2)
    conv.macs = 99
    assert layer_macs(conv, (2, 2, 2), (3, 1, 1)) == (24, "H_out*W_out*C_out*C_in*k_h*k_w = 1*1*3*2*2*2 = 24")


def test_conv_parameter_formulas() -> None:
    # (5*5*3 + 1)*6 = 76*6 = 456
    assert layer_params_formula(nn.Conv2d(3, 6, 5)) == "(k_h*k_w*C_in + 1)*C_out = (5*5*3 + 1)*6 = 456"
    # no bias, groups 2: (3*5*(4/2))*8 = 30*8 = 240
    assert (
        layer_params_formula(nn.Conv2d(4, 8, (3, 5), groups=2, bias=False))
        == "(k_h*k_w*C_in/groups)*C_out = (3*5*2)*8 = 240"
    )
    # groups with bias: (3*3*(8/4) + 1)*8 = 19*8 = 152
    assert layer_params_formula(nn.Conv2d(8, 8, 3, groups=4)) == "(k_h*k_w*C_in/groups + 1)*C_out = (3*3*2 + 1)*8 = 152"
    # (3*3*256 + 1)*512 = 2305*512 = 1,180,160
    assert layer_params_formula(nn.Conv2d(256, 512, 3)) == "(k_h*k_w*C_in + 1)*C_out = (3*3*256 + 1)*512 = 1,180,160"


def test_linear_parameter_formulas() -> None:
    # (10 + 1)*4 = 44; without bias 10*4 = 40
    assert layer_params_formula(nn.Linear(10, 4)) == "(in + 1)*out = (10 + 1)*4 = 44"
    assert layer_params_formula(nn.Linear(10, 4, bias=False)) == "(in)*out = (10)*4 = 40"
    # (1000 + 1)*1000 = 1,001,000
    assert layer_params_formula(nn.Linear(1000, 1000)) == "(in + 1)*out = (1000 + 1)*1000 = 1,001,000"


def test_batch_norm_parameter_formula() -> None:
    # scale and shift per channel: 2*16 = 32
    text = "2*C (scale and shift; running mean/var are buffers) = 2*16 = 32"
    assert layer_params_formula(nn.BatchNorm2d(16)) == text
    assert layer_params_formula(nn.BatchNorm1d(16)) == text


def test_layers_without_weights() -> None:
    for module in (nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.BatchNorm2d(4, affine=False)):
        assert layer_params_formula(module) == "0 (no weights)"


def test_other_layers_list_their_parameter_shapes() -> None:
    # LayerNorm over 4x5: weight 4*5 and bias 4*5: 20 + 20 = 40
    assert layer_params_formula(nn.LayerNorm([4, 5])) == "weight 4*5 + bias 4*5 = 40"
    # PReLU with one slope per channel: 3, named, so one tensor does not read "3 = 3"
    assert layer_params_formula(nn.PReLU(3)) == "weight 3 = 3"
    # a scalar parameter has shape (): it counts as 1
    assert layer_params_formula(Scale()) == "gain 1 = 1"
    # LeNet's subsampling: a coefficient and a bias per map, 6 + 6 = 12
    assert layer_params_formula(Subsampling(6)) == "weight 6 + bias 6 = 12"
    # only the layer's own parameters, not its children's
    block = nn.Sequential(nn.Linear(3, 3))
    assert layer_params_formula(block) == "0 (no weights)"
    # attention's own input projection (3*4 rows of 4, and 12 biases), not its child out_proj: 48 + 12 = 60
    assert layer_params_formula(nn.MultiheadAttention(4, 1)) == "in_proj_weight 12*4 + in_proj_bias 12 = 60"
    # an embedding table of 1000 rows of 64: 64,000
    assert layer_params_formula(nn.Embedding(1000, 64)) == "weight 1000*64 = 64,000"


def test_linear_shape_formula() -> None:
    assert shape_formula(nn.Linear(10, 4), (10,), (4,)) == "out_features = 4"
    assert shape_formula(nn.Linear(10, 4), (5, 10), (5, 4)) == "out_features = 4"


def test_shapes_that_are_not_images() -> None:
    # a vector through an activation keeps its shape
    assert shape_formula(nn.ReLU(), (10,), (10,)) == "same as input"
    # flatten changes it, with nothing to explain
    assert shape_formula(nn.Flatten(), (2, 3, 4), (24,)) == ""
    # neither does unflatten (the input is not an image)
    assert shape_formula(nn.Unflatten(0, (2, 3, 4)), (24,), (2, 3, 4)) == ""
    # a sequence that stays a sequence
    assert shape_formula(nn.ReLU(), (3, 4), (3, 4)) == "same as input"


def test_adaptive_pooling_shape_formula() -> None:
    text = "adaptive pooling: H_out = 2, W_out = 3 (its output_size)"
    assert shape_formula(nn.AdaptiveAvgPool2d((2, 3)), (8, 7, 9), (8, 2, 3)) == text
    assert shape_formula(nn.AdaptiveMaxPool2d((2, 3)), (8, 7, 9), (8, 2, 3), both(4, 3, 0)) == text


def test_layers_without_a_window_keep_or_change_the_shape_without_formula() -> None:
    assert shape_formula(nn.ReLU(), (6, 5, 5), (6, 5, 5)) == "same as input"
    assert shape_formula(nn.BatchNorm2d(6), (6, 5, 5), (6, 5, 5), None) == "same as input"
    # a geometry passed for a layer without kernel_size is not used
    assert shape_formula(nn.ReLU(), (6, 5, 5), (6, 5, 5), both(3, 1, 0)) == "same as input"
    assert shape_formula(nn.PixelShuffle(2), (8, 5, 5), (2, 10, 10), both(3, 1, 0)) == ""
    # a window layer without its geometry
    assert shape_formula(nn.Conv2d(3, 3, 3, padding=1), (3, 5, 5), (3, 5, 5)) == "same as input"
    assert shape_formula(nn.Conv2d(3, 6, 5), (3, 32, 32), (6, 28, 28)) == ""


def test_tensorflow_same_shape_formula() -> None:
    # ceil(15/2) = 8 on both axes
    conv = Conv2dSame(3, 8, 3, stride=2)
    assert torch_shape(conv, (3, 15, 15)) == (8, 8, 8)
    assert (
        shape_formula(conv, (3, 15, 15), (8, 8, 8), both(3, 2, 0))
        == "padding 'same' (TensorFlow): H_out = ceil(H/s) = ceil(15/2) = 8, C_out = 8"
    )
    # a wider input: ceil(20/2) = 10
    assert torch_shape(conv, (3, 15, 20)) == (8, 8, 10)
    assert (
        shape_formula(conv, (3, 15, 20), (8, 8, 10), both(3, 2, 0))
        == "padding 'same' (TensorFlow): H_out = ceil(H/s) = ceil(15/2) = 8; W_out = ceil(20/2) = 10, C_out = 8"
    )
    # the same size but a different stride across: ceil(15/3) = 5
    conv = Conv2dSame(3, 8, 3, stride=(2, 3))
    assert torch_shape(conv, (3, 15, 15)) == (8, 8, 5)
    assert (
        shape_formula(conv, (3, 15, 15), (8, 8, 5), [(3, 2, 0, 1, False), (3, 3, 1, 1, False)])
        == "padding 'same' (TensorFlow): H_out = ceil(H/s) = ceil(15/2) = 8; W_out = ceil(15/3) = 5, C_out = 8"
    )
    # pooling has no C_out: ceil(7/2) = 4
    pool = MaxPool2dSame(3, 2)
    assert torch_shape(pool, (4, 7, 7)) == (4, 4, 4)
    assert (
        shape_formula(pool, (4, 7, 7), (4, 4, 4), both(3, 2, 1))
        == "padding 'same' (TensorFlow): H_out = ceil(H/s) = ceil(7/2) = 4"
    )


def test_padding_same_shape_formula() -> None:
    conv = nn.Conv2d(3, 8, 3, padding="same")
    assert torch_shape(conv, (3, 10, 10)) == (8, 10, 10)
    assert (
        shape_formula(conv, (3, 10, 10), (8, 10, 10), both(3, 1, 1)) == "padding 'same': H_out = H_in = 10, C_out = 8"
    )
    assert torch_shape(conv, (3, 10, 12)) == (8, 10, 12)
    assert (
        shape_formula(conv, (3, 10, 12), (8, 10, 12), both(3, 1, 1))
        == "padding 'same': H_out = H_in = 10, W_out = W_in = 12, C_out = 8"
    )


def test_floor_shape_formula() -> None:
    # floor((32 + 0 - 5)/1) + 1 = 28
    conv = nn.Conv2d(3, 6, 5)
    assert (
        shape_formula(conv, (3, 32, 32), (6, 28, 28), both(5, 1, 0))
        == "floor((H + 2p - k)/s) + 1 = floor((32 + 2*0 - 5)/1) + 1 = 28, C_out = 6"
    )
    # pooling: floor((14 - 3)/2) + 1 = 5 + 1 = 6, no C_out
    pool = nn.MaxPool2d(3, 2)
    assert torch_shape(pool, (16, 14, 14)) == (16, 6, 6)
    assert (
        shape_formula(pool, (16, 14, 14), (16, 6, 6), both(3, 2, 0))
        == "floor((H + 2p - k)/s) + 1 = floor((14 + 2*0 - 3)/2) + 1 = 6"
    )


def test_a_window_layer_without_padding() -> None:
    # LPPool2d has a kernel and a stride but no padding attribute: floor((9 - 3)/2) + 1 = 4
    pool = nn.LPPool2d(2, 3, 2)
    assert torch_shape(pool, (4, 9, 9)) == (4, 4, 4)
    assert (
        shape_formula(pool, (4, 9, 9), (4, 4, 4), both(3, 2, 0))
        == "floor((H + 2p - k)/s) + 1 = floor((9 + 2*0 - 3)/2) + 1 = 4"
    )


def test_ceil_shape_formula() -> None:
    # ceil((14 - 3)/2) + 1 = 6 + 1 = 7; the last window starts at 12, inside the input, so torch keeps it
    pool = nn.MaxPool2d(3, 2, ceil_mode=True)
    assert torch_shape(pool, (16, 14, 14)) == (16, 7, 7)
    assert (
        shape_formula(pool, (16, 14, 14), (16, 7, 7), both(3, 2, 0, ceil=True))
        == "ceil((H + 2p - k)/s) + 1 = ceil((14 + 2*0 - 3)/2) + 1 = 7"
    )


def test_dilated_shape_formula() -> None:
    # a 3x3 kernel at dilation 2 spans 2*(3-1)+1 = 5: floor((9 + 2 - 5)/1) + 1 = 7
    conv = nn.Conv2d(1, 1, 3, padding=1, dilation=2)
    assert torch_shape(conv, (1, 9, 9)) == (1, 7, 7)
    assert (
        shape_formula(conv, (1, 9, 9), (1, 7, 7), both(3, 1, 1, 2))
        == "floor((H + 2p - (d*(k-1)+1))/s) + 1 = floor((9 + 2*1 - (2*(3-1)+1))/1) + 1 = 7, C_out = 1"
    )


def test_shape_formula_with_a_different_width() -> None:
    # a different width, the same window: H floor((10 - 3)/1) + 1 = 8, W floor((12 - 3)/1) + 1 = 10
    conv = nn.Conv2d(3, 4, 3)
    assert torch_shape(conv, (3, 10, 12)) == (4, 8, 10)
    assert (
        shape_formula(conv, (3, 10, 12), (4, 8, 10), both(3, 1, 0))
        == "floor((H + 2p - k)/s) + 1 = floor((10 + 2*0 - 3)/1) + 1 = 8; "
        "W_out = floor((12 + 2*0 - 3)/1) + 1 = 10, C_out = 4"
    )
    # the same size, a different window across: W floor((10 - 5)/2) + 1 = 3
    conv = nn.Conv2d(3, 4, (3, 5), stride=(1, 2))
    assert torch_shape(conv, (3, 10, 10)) == (4, 8, 3)
    assert (
        shape_formula(conv, (3, 10, 10), (4, 8, 3), [(3, 1, 0, 1, False), (5, 2, 0, 1, False)])
        == "floor((H + 2p - k)/s) + 1 = floor((10 + 2*0 - 3)/1) + 1 = 8; "
        "W_out = floor((10 + 2*0 - 5)/2) + 1 = 3, C_out = 4"
    )
    # dilation and ceil carry over to the width: ceil((9 + 2 - (2*(3-1)+1))/2) + 1 = 3 + 1 = 4
    pool = nn.MaxPool2d(3, 2, padding=1, dilation=2, ceil_mode=True)
    assert torch_shape(pool, (2, 9, 9)) == (2, 4, 4)
    assert (
        shape_formula(pool, (2, 9, 9), (2, 4, 4), [(3, 2, 1, 2, True), (3, 2, 1, 2, True)])
        == "ceil((H + 2p - (d*(k-1)+1))/s) + 1 = ceil((9 + 2*1 - (2*(3-1)+1))/2) + 1 = 4"
    )
    assert torch_shape(pool, (2, 9, 10)) == (2, 4, 5)
    # width 10: ceil((10 + 2 - 5)/2) + 1 = 4 + 1 = 5
    assert (
        shape_formula(pool, (2, 9, 10), (2, 4, 5), [(3, 2, 1, 2, True), (3, 2, 1, 2, True)])
        == "ceil((H + 2p - (d*(k-1)+1))/s) + 1 = ceil((9 + 2*1 - (2*(3-1)+1))/2) + 1 = 4; "
        "W_out = ceil((10 + 2*1 - (2*(3-1)+1))/2) + 1 = 5"
    )
