"""Receptive-field arithmetic of analysis/receptive.py (#18): size, jump and start through chains of windows, output
lengths and the printed size formulas, all worked out by hand (and the formulas evaluated to check what they claim).
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from cnnlab.analysis.receptive import Axis, Field, adaptive_window, conv_output, field_formula, size_formula


def torch_length(module: nn.Module, size: int) -> int:
    """The output length torch gives for an input of `size` pixels along one axis."""
    with torch.no_grad():
        return int(module(torch.zeros(1, 1, size)).shape[-1])


def evaluate(formula: str) -> tuple[int, int]:
    """(value of the arithmetic left of the last ' = ', the number it claims) for a size formula."""
    left, _, right = formula.rpartition(" = ")
    claimed = int(right.split(" ")[0])
    value = eval(left.replace("floor", "math.floor").replace("ceil", "math.ceil"), {"math": math})
    return value, claimed


def test_the_input_field() -> None:
    # one pixel sees itself, neighbours are one apart, pixel 0 is centred at 0.5
    assert Axis() == Axis(size=1, jump=1, start=0.5, extent=1)
    assert Field.of_input(28, 32) == Field(Axis(1, 1, 0.5, 28), Axis(1, 1, 0.5, 32))


def test_a_chain_of_windows() -> None:
    a = Axis(extent=32)
    # conv 5, stride 1, no padding: size 1 + 4*1 = 5, jump 1, start 0.5 + (4/2 - 0)*1 = 2.5, extent 32 - 5 + 1 = 28
    a = a.through(5, 1, 0)
    assert a == Axis(size=5, jump=1, start=2.5, extent=28)
    # pool 2, stride 2: size 5 + 1*1 = 6, jump 2, start 2.5 + (1/2)*1 = 3.0, extent (28 - 2)//2 + 1 = 14
    a = a.through(2, 2, 0)
    assert a == Axis(size=6, jump=2, start=3.0, extent=14)
    # conv 3 at dilation 2 (span 5), padding 1: size 6 + 4*2 = 14, jump 2, start 3 + (2 - 1)*2 = 5.0,
    # extent (14 + 2 - 5)//1 + 1 = 12
    a = a.through(3, 1, 1, dilation=2)
    assert a == Axis(size=14, jump=2, start=5.0, extent=12)
    # conv 3, stride 2, padding 1: size 14 + 2*2 = 18, jump 4, start 5 + (1 - 1)*2 = 5.0, extent (12 + 2 - 3)//2 + 1 = 6
    a = a.through(3, 2, 1)
    assert a == Axis(size=18, jump=4, start=5.0, extent=6)
    # padding 2 on a 3-window shifts the start back: start 5 + (1 - 2)*4 = 1.0, size 18 + 2*4 = 26,
    # extent (6 + 4 - 3)//1 + 1 = 8
    assert a.through(3, 1, 2) == Axis(size=26, jump=4, start=1.0, extent=8)


def test_a_stride_three_window_and_an_even_kernel() -> None:
    # kernel 4, stride 3, padding 1 on 10 pixels: size 4, jump 3, start 0.5 + (3/2 - 1)*1 = 1.0,
    # extent (10 + 2 - 4)//3 + 1 = 2 + 1 = 3
    assert Axis(extent=10).through(4, 3, 1) == Axis(size=4, jump=3, start=1.0, extent=3)


def test_the_extent_given_wins_and_an_impossible_window_has_none() -> None:
    # torch's ceil mode may add a position the formula does not: the caller passes the extent it saw
    assert Axis(extent=14).through(3, 2, 0, out_extent=7) == Axis(size=3, jump=2, start=1.5, extent=7)
    assert Axis(extent=14).through(3, 2, 0, out_extent=0).extent == 0
    # a 5-window on 2 pixels: (2 - 5)//1 + 1 = -2, no positions
    assert Axis(extent=2).through(5, 1, 0).extent == 0
    # on 4 pixels: (4 - 5)//1 + 1 = 0
    assert Axis(extent=4).through(5, 1, 0).extent == 0
    # on 5 pixels exactly one
    assert Axis(extent=5).through(5, 1, 0).extent == 1


def test_a_unit_that_sees_every_position() -> None:
    # after conv 5 and pool 2 (size 6, jump 2, start 3, 14 positions), a dense layer reads all 14:
    # size 6 + 13*2 = 32, jump 2*14 = 28, start 3 + (13/2)*2 = 16.0, one position
    a = Axis(size=6, jump=2, start=3.0, extent=14)
    assert a.whole() == Axis(size=32, jump=28, start=16.0, extent=1)
    # on a single position nothing changes but the extent stays one
    one = Axis(size=5, jump=3, start=2.5, extent=1)
    assert one.whole() == one
    # the whole 32-pixel input: size 32, jump 32, centre 16
    assert Axis(extent=32).whole() == Axis(size=32, jump=32, start=16.0, extent=1)


def test_merge_keeps_the_larger_field_per_axis() -> None:
    small, big = Axis(3, 1, 1.5, 30), Axis(5, 1, 2.5, 28)
    a = Field(small, big)
    b = Field(big, small)
    assert a.merge(b) == Field(big, big)
    assert b.merge(a) == Field(big, big)
    # equal sizes: the first branch's axis is kept
    other = Axis(3, 2, 0.5, 30)
    assert Field(small, small).merge(Field(other, other)) == Field(small, small)


def test_as_dict_and_label() -> None:
    same = Field(Axis(5, 2, 2.5, 14), Axis(5, 2, 2.5, 14))
    assert same.as_dict() == {"size": 5, "jump": 2, "start": 2.5}
    assert same.label() == "5/2/2.5"
    differ = Field(Axis(3, 1, 1.5, 8), Axis(5, 2, 2.0, 8))
    assert differ.as_dict() == {"size": [3, 5], "jump": [1, 2], "start": [1.5, 2.0]}
    # whole numbers print without a decimal point
    assert differ.label() == "3x5/1x2/1.5x2"
    assert Field.of_input(8, 8).label() == "1/1/0.5"
    assert Field(Axis(7, 4, 16.0, 1), Axis(7, 4, 16.0, 1)).label() == "7/4/16"
    # an input padded far enough puts the first centre before the input: negative starts print as they are
    assert Field(Axis(3, 1, -0.5, 1), Axis(3, 1, -0.25, 1)).label() == "3/1/-0.5x-0.25"


def test_a_label_prints_large_whole_numbers_in_full() -> None:
    # twenty 2-windows at stride 2: jump 2**20 = 1048576, size 1 + (1 + 2 + ... + 2**19) = 2**20,
    # start 0.5 + (1/2)*(1 + 2 + ... + 2**19) = 0.5 + (2**20 - 1)/2 = 2**19 = 524288
    a = Axis(extent=2**20)
    for _ in range(20):
        a = a.through(2, 2, 0)
    assert a == Axis(size=1048576, jump=1048576, start=524288.0, extent=1)
    assert Field(a, a).label() == "1048576/1048576/524288"


@pytest.mark.parametrize(
    ("size", "out", "window"),
    [
        # stride 7//3 = 2, kernel 7 - 2*2 = 3: windows [0,3), [2,5), [4,7) (torch reads [0,3), [2,5), [4,7))
        (7, 3, (3, 2)),
        # stride 10//3 = 3, kernel 10 - 2*3 = 4
        (10, 3, (4, 3)),
        # global pooling: one window over all 6
        (6, 1, (6, 6)),
        # stride 8//4 = 2, kernel 8 - 3*2 = 2
        (8, 4, (2, 2)),
        # as many outputs as inputs, or more: each reads one pixel
        (8, 8, (1, 1)),
        (5, 7, (1, 1)),
    ],
)
def test_adaptive_window(size: int, out: int, window: tuple[int, int]) -> None:
    assert adaptive_window(size, out) == window


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        # (32 - 5)//1 + 1 = 28
        ((32, 5, 1, 0), 28),
        # (14 - 3)//2 + 1 = 6
        ((14, 3, 2, 0), 6),
        # (10 + 2 - 4)//3 + 1 = 3
        ((10, 4, 3, 1), 3),
        # span 2*(3-1)+1 = 5: (9 + 2 - 5)//1 + 1 = 7
        ((9, 3, 1, 1, 2), 7),
        # span 3*(3-1)+1 = 7: (20 + 0 - 7)//2 + 1 = 7
        ((20, 3, 2, 0, 3), 7),
        # an impossible window: (3 - 5)//1 + 1 = -1
        ((3, 5, 1, 0), -1),
    ],
)
def test_conv_output_floor(args: tuple[int, ...], expected: int) -> None:
    assert conv_output(*args) == expected


def test_conv_output_ceil() -> None:
    # ceil((14 - 3)/2) + 1 = 6 + 1 = 7: the last window starts at 12 < 14, inside the input
    assert conv_output(14, 3, 2, 0, ceil=True) == 7 == torch_length(nn.MaxPool1d(3, 2, ceil_mode=True), 14)
    # ceil((5 + 2 - 2)/2) + 1 = 4, but the last window would start at 3*2 = 6 >= 5 + 1, in the right padding: 3
    assert conv_output(5, 2, 2, 1, ceil=True) == 3 == torch_length(nn.MaxPool1d(2, 2, 1, ceil_mode=True), 5)
    # ceil((6 + 2 - 2)/2) + 1 = 4: the last window starts at 6 < 6 + 1 (the left padding shifts it): kept
    assert conv_output(6, 2, 2, 1, ceil=True) == 4 == torch_length(nn.MaxPool1d(2, 2, 1, ceil_mode=True), 6)
    # exact division: ceil and floor agree, (13 - 3)/2 + 1 = 6
    assert conv_output(13, 3, 2, 0, ceil=True) == 6 == conv_output(13, 3, 2, 0)
    # dilated: span 2*(2-1)+1 = 3, ceil((8 - 3)/2) + 1 = 3 + 1 = 4, last start 6 < 8
    pool = nn.MaxPool1d(2, 2, dilation=2, ceil_mode=True)
    assert conv_output(8, 2, 2, 0, dilation=2, ceil=True) == 4 == torch_length(pool, 8)


def test_size_formula_text() -> None:
    assert size_formula(32, 5, 1, 0) == "floor((32 + 2*0 - 5)/1) + 1 = 28"
    # the docstring's example: span 4*(5-1)+1 = 17, floor(45/2) + 1 = 23
    assert size_formula(62, 5, 2, 0, dilation=4) == "floor((62 + 2*0 - (4*(5-1)+1))/2) + 1 = 23"
    # dilation 2 is written out, dilation 1 is not
    assert size_formula(9, 3, 1, 1, 2) == "floor((9 + 2*1 - (2*(3-1)+1))/1) + 1 = 7"
    assert size_formula(9, 3, 1, 1, 1) == "floor((9 + 2*1 - 3)/1) + 1 = 9"
    assert size_formula(14, 3, 2, 0, ceil=True) == "ceil((14 + 2*0 - 3)/2) + 1 = 7"
    # torch drops the last window: the formula subtracts it and says why
    assert (
        size_formula(5, 2, 2, 1, ceil=True)
        == "ceil((5 + 2*1 - 2)/2) + 1 - 1 = 3 (torch drops a last window that would start in the right padding)"
    )
    # the same drop with a dilated window: span 2*(2-1)+1 = 3, ceil((5 + 2 - 3)/2) + 1 = 3, last start 4 >= 5 + 1? no
    assert size_formula(5, 2, 2, 1, 2, True) == "ceil((5 + 2*1 - (2*(2-1)+1))/2) + 1 = 3"
    # span 3 on 4 pixels with padding 1: ceil((4 + 2 - 3)/2) + 1 = 3, last start 4 >= 4 + 1? no: kept
    assert size_formula(4, 2, 2, 1, 2, True) == "ceil((4 + 2*1 - (2*(2-1)+1))/2) + 1 = 3"
    # span 3 on 5 pixels with padding 1, stride 3: ceil((5 + 2 - 3)/3) + 1 = 3, last start 2*3 = 6 >= 5 + 1: dropped
    assert (
        size_formula(5, 2, 3, 1, 2, True) == "ceil((5 + 2*1 - (2*(2-1)+1))/3) + 1 - 1 = 2 "
        "(torch drops a last window that would start in the right padding)"
    )


@pytest.mark.parametrize(
    "args",
    [
        (32, 5, 1, 0, 1, False),
        (62, 5, 2, 0, 4, False),
        (9, 3, 1, 1, 2, False),
        (14, 3, 2, 0, 1, True),
        (5, 2, 2, 1, 1, True),
        (5, 2, 3, 1, 2, True),
        (11, 3, 3, 1, 1, True),
        (224, 7, 2, 3, 1, False),
    ],
)
def test_size_formulas_evaluate_to_what_they_claim_and_to_torch(args: tuple) -> None:
    size, kernel, stride, padding, dilation, ceil = args
    value, claimed = evaluate(size_formula(*args))
    assert value == claimed == conv_output(*args)
    pool = nn.MaxPool1d(kernel, stride, padding, dilation, ceil_mode=ceil)
    assert claimed == torch_length(pool, size)


def test_an_adaptive_pool_whose_windows_differ_keeps_each_units_span() -> None:
    # 13 to 7: output j reads floor(13j/7) .. ceil(13(j+1)/7) - 1: [0,1], [1,3], [3,5], [5,7], [7,9], [9,11], [11,12],
    # so the largest field is 3 pixels (not the 7 of one window 13 - 6*1 at stride 1), the first centred at 1.0,
    # and the recurrence's jump is 13/7
    a = Axis(extent=13).adaptive(7)
    assert (a.size, a.start, a.extent) == (3, 1.0, 7) and a.jump == pytest.approx(13 / 7)
    assert a.spans == ((0, 2), (1, 4), (3, 6), (5, 8), (7, 10), (9, 12), (11, 13))
    # 6 to 7 (VGG's 7x7 pool after 200x200 images): windows of one or two pixels, never one of 1
    assert Axis(extent=6).adaptive(7).size == 2
    # a dense layer after it sees all 13 pixels, not 3 + 6 * 13/7
    assert a.whole().size == 13 and a.whole().start == 6.5
    # windows of one size and step stay the plain arithmetic: 14 to 7 is a 2-window at stride 2, 7 to 3 a 3-window
    # at stride 2 ([0,3), [2,5), [4,7))
    assert Axis(extent=14).adaptive(7) == Axis(size=2, jump=2, start=1.0, extent=7)
    assert Axis(extent=7).adaptive(3) == Axis(size=3, jump=2, start=1.5, extent=3)
    # a 3-window after the uneven pool: unit j sees units j-1..j+1 (padding 1 beyond the ends continues the step
    # between the edge units): the middle unit 3 sees [3,6) to [7,10): 7 pixels
    b = a.through(3, 1, 1)
    assert b.spans[3] == (3, 10) and b.size == max(hi - lo for lo, hi in b.spans)
    assert b.spans[0] == (-1, 4) and b.spans[-1] == (9, 14)  # the edge units' padding one step out: 2 and 1 pixels
    # 5 to 3 reads [0,2), [1,4), [3,5): windows of 2, 3, 2 pixels; two 2-windows after it see 5 pixels, not the
    # 5.67 a uniform jump of 5/3 would give
    assert Axis(extent=5).adaptive(3).through(2, 1, 0).through(2, 1, 0).size == 5


def test_branches_that_see_offset_fields_meet_in_their_union() -> None:
    # two 2-windows with "same" padding (left 0, right 1) see [i, i+3); a 3-window with padding 1 sees [i-1, i+2):
    # together [i-1, i+3), 4 pixels centred at i + 1, which neither branch alone reaches
    body = Axis(extent=16).through(2, 1, 0, out_extent=16).through(2, 1, 0, out_extent=16)
    shortcut = Axis(extent=16).through(3, 1, 1)
    assert (body.size, body.start, shortcut.size, shortcut.start) == (3, 1.5, 3, 0.5)
    assert body.union(shortcut) == Axis(size=4, jump=1, start=1.0, extent=16)
    # branches centred alike: the union is the larger field, as before
    assert Axis(extent=8).through(5, 1, 2).union(Axis(extent=8).through(3, 1, 1)) == Axis(extent=8).through(5, 1, 2)


class _OffsetBranches(nn.Module):
    """A residual block whose body (two 2x2 "same" convs, padded right and below) and shortcut (a 3x3 conv) see
    offset fields."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 1, 2, padding="same"), nn.Conv2d(1, 1, 2, padding="same"))
        self.shortcut = nn.Conv2d(1, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.shortcut(x)


def _reached(model: nn.Module, shape: tuple[int, int, int], unit: tuple[int, int]) -> tuple[int, int]:
    """(first, last + 1) of the input rows whose gradient reaches output unit `unit` (weights 1: nothing cancels)."""
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(1.0)
    x = torch.ones(1, *shape, requires_grad=True)
    model(x)[0, :, unit[0], unit[1]].sum().backward()
    rows = torch.nonzero((x.grad[0].abs().sum(0) > 0).any(1)).flatten()
    return int(rows[0]), int(rows[-1]) + 1


@pytest.mark.parametrize(
    ("model", "shape"),
    [
        (nn.Sequential(nn.Conv2d(1, 1, 1), nn.AdaptiveAvgPool2d(7)), (1, 13, 13)),
        (nn.Sequential(nn.Conv2d(1, 1, 1), nn.AdaptiveAvgPool2d(7)), (1, 6, 6)),
        (nn.Sequential(nn.Conv2d(1, 1, 1), nn.AdaptiveAvgPool2d(4)), (1, 6, 6)),
        (nn.Sequential(nn.Conv2d(1, 1, 3), nn.AdaptiveAvgPool2d((5, 5)), nn.Conv2d(1, 1, 2)), (1, 14, 14)),
        (nn.Sequential(_OffsetBranches()), (1, 16, 16)),
    ],
    ids=["13 to 7", "6 to 7", "6 to 4", "conv, 12 to 5, conv", "offset branches"],
)
def test_fields_after_uneven_pools_and_offset_branches_are_what_gradients_reach(
    model: nn.Module, shape: tuple[int, int, int]
) -> None:
    """Every output unit whose field lies inside the image: its span is exactly the rows its gradient reaches, and
    the largest such span is the size the summary prints (the summary said 7 for 13 to 7, and 3 for the offset
    branches, where 3 and 4 are true)."""
    from cnnlab.analysis.summary import summarize

    last = str(len(model) - 1)  # the model's last layer (a block's row, not its last child's)
    rf = next(row.rf for row in summarize(model, shape).rows if row.name == last)
    assert rf is not None
    spans = rf.h._spans()
    inside = [i for i, (lo, hi) in enumerate(spans) if lo >= 0 and hi <= shape[1]]
    assert inside
    for i in inside:
        assert _reached(model, shape, (i, i)) == spans[i], i
    assert rf.h.size == max(hi - lo for lo, hi in spans)


def test_a_functional_pool_without_a_stride_strides_by_its_kernel_and_same_padding_counts_dilation() -> None:
    """F.max_pool2d(x, 2) has stride 2 as nn.MaxPool2d(2) has; padding="same" of a dilated 3x3 is 2 a side."""
    from cnnlab.analysis import summarize

    class Pooled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.b(torch.nn.functional.max_pool2d(self.a(x), 2))

    last = summarize(Pooled(), (1, 16, 16)).rows[-1].rf.h
    assert (last.size, last.jump, last.start) == (8, 2, 4.0)  # 3, then 4 at jump 1 -> 2, then 3 at jump 2
    dilated = summarize(nn.Sequential(nn.Conv2d(1, 1, 3, padding="same", dilation=2)), (1, 9, 9)).rows[-1].rf.h
    assert (dilated.size, dilated.jump, dilated.start) == (5, 1, 0.5)


def test_padding_after_an_uneven_pool_continues_the_step_between_the_edge_units() -> None:
    """A strided, padded chain after an uneven pool: each unit's span by hand, the padding beyond either end placed
    one edge step further out (a wrong step there moved the edge units' fields and the printed start)."""
    # conv 3, stride 2, padding 1 on 10 pixels: size 3, jump 2, 5 positions, unit i sees [2i - 1, 2i + 2)
    # adaptive 5 to 3 reads positions 0..1, 1..3, 3..4: [-1, 4), [1, 8), [5, 10); the recurrence's jump 2*5/3
    a = Axis(extent=10).through(3, 2, 1).adaptive(3)
    assert a.spans == ((-1, 4), (1, 8), (5, 10)) and a.jump == pytest.approx(10 / 3)
    # conv 3, stride 2, padding 1 on those 3 units reads units -1..1 and 1..3; unit -1 starts one step (1 - -1 = 2)
    # before unit 0, unit 3 ends one step (10 - 8 = 2) after unit 2: [-3, 8) and [1, 12)
    b = a.through(3, 2, 1)
    assert b.spans == ((-3, 8), (1, 12)) and b.jump == pytest.approx(20 / 3)
    assert (b.size, b.start) == (11, 2.5)
    # two units left: the step beyond either end is the one between them, 4 (not the recurrence's 20/3)
    c = b.through(3, 1, 1)
    assert c.spans == ((-7, 12), (-3, 16)) and (c.size, c.start) == (19, 2.5)


def test_a_window_wider_than_an_uneven_pools_output_has_no_positions_and_keeps_the_jump() -> None:
    """As on a uniform axis, a 9-window over the 7 units of a 13 to 7 pool gives none, with the pool's jump."""
    a = Axis(extent=13).adaptive(7)
    empty = a.through(9, 1, 0)
    assert (empty.extent, empty.jump) == (0, a.jump)


def test_fields_the_same_for_every_unit_go_back_to_the_recurrence() -> None:
    """Spans are kept only where units differ: offset branches whose union is the same 4 pixels for every unit, and a
    dense layer after an uneven pool, are plain size/jump/start again, in whole numbers (the JSON says 13, not 13.0)."""
    body = Axis(extent=16).through(2, 1, 0, out_extent=16).through(2, 1, 0, out_extent=16)
    union = body.union(Axis(extent=16).through(3, 1, 1))
    assert union.spans is None and union == Axis(size=4, jump=1, start=1.0, extent=16)
    # 13 to 7, then every unit: all 13 pixels, one unit, jump 13/7 * 7 = 13
    dense = Axis(extent=13).adaptive(7).whole()
    assert dense.spans is None
    assert json.dumps(Field(dense, dense).as_dict()) == '{"size": 13, "jump": 13, "start": 6.5}'


def test_adaptive_pools_to_one_unit_and_from_one_pixel() -> None:
    """Global adaptive pooling is a dense layer's field; a 1-pixel input pooled to 3 gives 3 units that all see it."""
    assert Axis(extent=6).adaptive(1) == Axis(extent=6).whole() == Axis(size=6, jump=6, start=3.0, extent=1)
    # windows 0..0 three times: size 1, step 0 between units, all centred on pixel 0
    assert Axis(extent=1).adaptive(3) == Axis(size=1, jump=0, start=0.5, extent=3)


_CONV5_POOL2 = Axis(extent=32).through(5, 1, 0).through(2, 2, 0)  # size 6, jump 2: 14 positions


@pytest.mark.parametrize(
    ("before", "after", "kernel", "formula"),
    [
        # conv 3 on the input: 1 + 2*1
        (Axis(extent=8), Axis(extent=8).through(3, 1, 1), 3, "r_in + (k-1)*j_in = 1 + (3-1)*1 = 3"),
        # pool 2 after conv 5: 5 + 1*1
        (Axis(extent=32).through(5, 1, 0), _CONV5_POOL2, 2, "r_in + (k-1)*j_in = 5 + (2-1)*1 = 6"),
        # conv 3 at dilation 2 spans 5 inputs, at jump 2: 6 + 4*2
        (_CONV5_POOL2, _CONV5_POOL2.through(3, 1, 2, dilation=2), 5, "r_in + (k-1)*j_in = 6 + (5-1)*2 = 14"),
        # a ReLU or 1x1 conv keeps the field
        (_CONV5_POOL2, _CONV5_POOL2, 1, "the same as its input's"),
        # 13 to 7 reads 3 pixels at most, not the 7 of a 7-window at stride 1: no formula gives it
        (Axis(extent=13), Axis(extent=13).adaptive(7), 7, ""),
    ],
    ids=["conv", "pool", "dilated conv", "same field", "uneven adaptive pool"],
)
def test_field_formula(before: Axis, after: Axis, kernel: int, formula: str) -> None:
    """The r_in + (k-1)*j_in line the grader shows under a wrong receptive-field cell, on square fields."""
    assert field_formula(Field(before, before), Field(after, after), (kernel, kernel)) == formula


def test_field_formula_of_a_field_that_differs_by_axis() -> None:
    """A 3x5 conv grows height and width apart: both lines, each named; a mismatch on one axis gives none."""
    before = Field.of_input(8, 8)
    after = Field(Axis(extent=8).through(3, 1, 1), Axis(extent=8).through(5, 1, 2))
    assert field_formula(before, after, (3, 5)) == (
        "r_in + (k-1)*j_in = 1 + (3-1)*1 = 3 (height), 1 + (5-1)*1 = 5 (width)"
    )
    assert field_formula(before, after, (3, 3)) == ""
