"""Property-based tests (Hypothesis) of the layer arithmetic (#18): random conv/pool chains, checked against PyTorch.

Shapes and parameter counts come from running the chain for real; MACs from their definition (one multiply-add per
kernel tap per output element); receptive fields from gradients: the input pixels that can change one output unit.
"""

from __future__ import annotations

import math

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from cnnlab.analysis.summary import summarize

PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def window(draw: st.DrawFn, dilated: bool) -> dict:
    kernel = draw(st.integers(1, 5))
    return {
        "kernel_size": kernel,
        "stride": draw(st.integers(1, 3)),
        "padding": draw(st.integers(0, kernel // 2)),
        "dilation": draw(st.integers(1, 3)) if dilated else 1,
    }


@st.composite
def chain(draw: st.DrawFn, pools: tuple[str, ...] = ("max", "avg")) -> tuple[nn.Sequential, tuple[int, int, int]]:
    """A chain of 1-4 convs (groups, dilation, bias or not) and pools on an input big enough to stay non-empty."""
    channels = draw(st.sampled_from([1, 2, 3, 4]))
    size = draw(st.integers(24, 48))
    layers: list[nn.Module] = []
    c, h = channels, size
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(("conv", "conv") + pools))
        g = draw(window(dilated=kind == "conv"))
        reach = g["dilation"] * (g["kernel_size"] - 1) + 1
        if (h + 2 * g["padding"] - reach) // g["stride"] + 1 < 1:
            break
        if kind == "conv":
            groups = draw(st.sampled_from([d for d in (1, 2, c) if c % d == 0]))
            out = groups * draw(st.integers(1, 3))
            layers.append(nn.Conv2d(c, out, groups=groups, bias=draw(st.booleans()), **g))
            c = out
        elif kind == "max":
            layers.append(nn.MaxPool2d(**g))
        else:
            layers.append(nn.AvgPool2d(g["kernel_size"], g["stride"], g["padding"]))
        h = (h + 2 * g["padding"] - reach) // g["stride"] + 1
    if not layers:
        layers.append(nn.Conv2d(c, 2, 3, padding=1))
    return nn.Sequential(*layers), (channels, size, size)


@PROPERTY
@given(chain())
def test_shapes_and_parameters_agree_with_pytorch(case: tuple[nn.Sequential, tuple[int, int, int]]) -> None:
    model, shape = case
    s = summarize(model, shape)
    x = torch.zeros(1, *shape)
    assert s.params == sum(p.numel() for p in model.parameters())
    leaves = [r for r in s.rows if r.leaf]
    assert len(leaves) == len(model)
    for row, layer in zip(leaves, model):
        x = layer(x)
        assert tuple(row.output_shape) == tuple(x.shape[1:]), row.name
        assert row.params == sum(p.numel() for p in layer.parameters()), row.name


@PROPERTY
@given(chain(pools=()))
def test_conv_macs_are_one_multiply_add_per_tap_per_output(case: tuple[nn.Sequential, tuple[int, int, int]]) -> None:
    model, shape = case
    s = summarize(model, shape)
    x = torch.zeros(1, *shape)
    for row, conv in zip([r for r in s.rows if r.leaf], model):
        x = conv(x)
        taps = conv.in_channels // conv.groups * math.prod(conv.kernel_size)
        assert row.macs == x.numel() * taps, row.name


def _gradient_support(model: nn.Sequential, shape: tuple[int, int, int], unit: tuple[int, int]) -> tuple[range, range]:
    """The rows and columns of input pixels whose gradient reaches output unit `unit` (positive weights, so nothing
    cancels)."""
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(1.0)
    x = torch.ones(1, *shape, requires_grad=True)
    y = model(x)
    y[0, :, unit[0], unit[1]].sum().backward()
    hit = x.grad[0].abs().sum(0) > 0
    rows = torch.nonzero(hit.any(1)).flatten()
    cols = torch.nonzero(hit.any(0)).flatten()
    return range(int(rows[0]), int(rows[-1]) + 1), range(int(cols[0]), int(cols[-1]) + 1)


@PROPERTY
@given(chain(pools=("avg",)))
def test_receptive_field_is_what_gradients_reach(case: tuple[nn.Sequential, tuple[int, int, int]]) -> None:
    """For an output unit whose whole field lies inside the image, the field's size and centre are exactly the span of
    input pixels with a non-zero gradient (average pools stand in for max pools: same geometry, gradient to every
    tap)."""
    model, shape = case
    s = summarize(model, shape)
    rf = s.rows[-1].rf
    assert rf is not None
    out_h = s.rows[-1].output_shape[1]
    half = rf.h.size / 2
    inside = [i for i in range(out_h) if half <= rf.h.start + i * rf.h.jump <= shape[1] - half]
    if not inside:
        return
    i = inside[len(inside) // 2]
    rows, cols = _gradient_support(model, shape, (i, i))
    assert len(rows) == rf.h.size and len(cols) == rf.w.size
    assert (rows.start + rows.stop) / 2 == rf.h.start + i * rf.h.jump
    assert (cols.start + cols.stop) / 2 == rf.w.start + i * rf.w.jump
