"""Receptive-field arithmetic (Dumoulin & Visin; Araujo et al. 2019), one spatial axis at a time.

size: how many input pixels one unit sees; jump: input pixels between neighbouring units;
start: centre of the first unit's field in input coordinates (pixel i covers [i, i+1), so the input starts at 0.5);
extent: how many units the tensor has along the axis (dense layers see all of them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

Span = tuple[float, float]  # the input pixels [lo, hi) one unit sees


@dataclass(frozen=True)
class Axis:
    """One axis's field: the same for every unit (spans None: unit i sees start - size/2 + i*jump onwards), or, after
    an adaptive pool whose windows differ in size and step, or branches whose fields are offset, each unit's own
    span, from which size (the largest) and start (the first unit's centre) are read. jump is the recurrence's
    (the pool's input/output ratio where it is not whole), as hand calculations carry it."""

    size: float = 1
    jump: float = 1
    start: float = 0.5
    extent: int = 1
    spans: tuple[Span, ...] | None = field(default=None, compare=False, repr=False)

    def through(self, kernel: int, stride: int, padding: int, dilation: int = 1, out_extent: int | None = None) -> Axis:
        """The field after a sliding window (conv or pool) with these settings."""
        k = dilation * (kernel - 1) + 1
        extent = out_extent if out_extent is not None else max((self.extent + 2 * padding - k) // stride + 1, 0)
        if self.spans is not None:
            first = (j * stride - padding for j in range(extent))
            return _from_spans([self._span(a, a + k - 1) for a in first], self.jump * stride)
        return Axis(
            size=self.size + (k - 1) * self.jump,
            jump=self.jump * stride,
            start=self.start + ((k - 1) / 2 - padding) * self.jump,
            extent=extent,
        )

    def adaptive(self, out: int) -> Axis:
        """The field after adaptive pooling to `out` positions: output j reads inputs floor(j*n/out) to
        ceil((j+1)*n/out) - 1, windows that differ in size and step unless n is a multiple of out."""
        n = self.extent
        windows = [(j * n // out, -(-(j + 1) * n // out) - 1) for j in range(out)]
        sizes, steps = {b - a + 1 for a, b in windows}, {v[0] - u[0] for u, v in zip(windows, windows[1:])}
        if len(sizes) == 1 and len(steps) <= 1:  # one window size and step (n a multiple of out, or 7 to 3)
            return self.through(sizes.pop(), steps.pop() if steps else n, 0, out_extent=out)
        return _from_spans([self._span(a, b) for a, b in windows], self.jump * n / out)

    def whole(self) -> Axis:
        """The field of a unit that sees every position (dense layer, global pooling)."""
        if self.spans is not None:
            return _from_spans([self._span(0, self.extent - 1)], self.jump * self.extent)
        return self.through(self.extent, max(self.extent, 1), 0, out_extent=1)

    def union(self, other: Axis) -> Axis:
        """Where branches meet, a unit sees what it sees through either: the union of the two spans, unit by unit
        (larger than either where one branch's field is offset from the other's: even kernels, one-sided padding)."""
        if self.extent != other.extent or self.jump != other.jump or not self.extent:
            return max(self, other, key=lambda a: a.size)  # not a real meeting of branches: the larger field
        return _from_spans(
            [(min(a[0], b[0]), max(a[1], b[1])) for a, b in zip(self._spans(), other._spans())], self.jump
        )

    def _spans(self) -> list[Span]:
        return list(self.spans) if self.spans is not None else [self._span(i, i) for i in range(self.extent)]

    def _span(self, first: int, last: int) -> Span:
        """What units first..last see together; positions outside 0..extent-1 are padding, placed where the
        grid would put them (a uniform field's formula, or the step between the edge units)."""
        if self.spans is None:
            lo = self.start - self.size / 2
            return lo + first * self.jump, lo + self.size + last * self.jump
        los, his = self._edges
        return _at(los, first, self.jump), _at(his, last, self.jump)

    @cached_property
    def _edges(self) -> tuple[list[float], list[float]]:
        """The spans' starts and ends, listed once (a window reads one of each per output unit)."""
        return [lo for lo, _ in self.spans or ()], [hi for _, hi in self.spans or ()]


def _at(values: list[float], i: int, jump: float) -> float:
    """values[i], continued past either end by the step between the two values there (`jump` for one value)."""
    n = len(values)
    if 0 <= i < n:
        return values[i]
    if i < 0:
        return values[0] + i * (values[1] - values[0] if n > 1 else jump)
    return values[-1] + (i - n + 1) * (values[-1] - values[-2] if n > 1 else jump)


def _from_spans(spans: list[Span], jump: float) -> Axis:
    """An Axis from each unit's span, kept only where the units' fields differ in size or step."""
    if not spans:
        return Axis(jump=jump, extent=0)
    sizes = {hi - lo for lo, hi in spans}
    steps = {b[0] - a[0] for a, b in zip(spans, spans[1:])}
    uniform = len(sizes) == 1 and steps <= {jump}
    (lo, hi) = spans[0]
    return Axis(_whole(max(sizes)), _whole(jump), (lo + hi) / 2, len(spans), None if uniform else tuple(spans))


def _whole(v: float) -> float:
    """A whole number as an int, as the uniform arithmetic gives it (sizes and jumps print and compare alike)."""
    return int(v) if float(v).is_integer() else v


@dataclass(frozen=True)
class Field:
    """Receptive field on both spatial axes (height, width)."""

    h: Axis
    w: Axis

    @staticmethod
    def of_input(height: int, width: int) -> Field:
        return Field(Axis(extent=height), Axis(extent=width))

    def merge(self, other: Field) -> Field:
        """Where branches meet (add, concat) a unit sees the union of what each branch sees."""
        return Field(self.h.union(other.h), self.w.union(other.w))

    def as_dict(self) -> dict:
        """JSON form: plain numbers when both axes agree, [height, width] pairs otherwise."""

        def pick(a: float, b: float) -> float | list:
            return a if a == b else [a, b]

        start = pick(self.h.start, self.w.start)
        return {"size": pick(self.h.size, self.w.size), "jump": pick(self.h.jump, self.w.jump), "start": start}

    def label(self) -> str:
        d = self.as_dict()
        return f"{_num(d['size'])}/{_num(d['jump'])}/{_num(d['start'])}"


def field_formula(before: Field, after: Field, kernel: tuple[int, int]) -> str:
    """How a window of (k_h, k_w) input positions (a dilated kernel's span, a dense layer's whole input) grows the
    field, r_in + (k-1)*j_in, as arithmetic that evaluates to what it claims, for a student's receptive-field
    column; '' where the recurrence does not give it (adaptive windows that differ in size, offset branches)."""
    if (before.h.size, before.w.size) == (after.h.size, after.w.size):
        return "the same as its input's"
    axes = []
    for a, b, k in zip((before.h, before.w), (after.h, after.w), kernel):
        if a.size + (k - 1) * a.jump != b.size:
            return ""
        axes.append(f"{_num(a.size)} + ({k}-1)*{_num(a.jump)} = {_num(b.size)}")
    return "r_in + (k-1)*j_in = " + (axes[0] if axes[0] == axes[1] else f"{axes[0]} (height), {axes[1]} (width)")


def _num(v: float | list) -> str:
    if isinstance(v, list):
        return "x".join(_num(x) for x in v)
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def adaptive_window(size: int, out: int) -> tuple[int, int]:
    """(kernel, stride) that covers what adaptive pooling from `size` to `out` positions reads."""
    if out >= size:
        return 1, 1
    stride = size // out
    return size - (out - 1) * stride, stride


def conv_output(size: int, kernel: int, stride: int, padding: int, dilation: int = 1, ceil: bool = False) -> int:
    """Output length of a sliding window; may be <= 0 for impossible layers."""
    k = dilation * (kernel - 1) + 1
    span = size + 2 * padding - k
    steps = math.ceil(span / stride) if ceil else span // stride
    if ceil and steps * stride >= size + padding:  # torch: the last window must start inside the input or left padding
        steps -= 1
    return steps + 1


def size_formula(size: int, kernel: int, stride: int, padding: int, dilation: int = 1, ceil: bool = False) -> str:
    """conv_output as arithmetic that evaluates to what it claims: 'floor((62 + 2*0 - (4*(5-1)+1))/2) + 1 = 23'."""
    eff = f"({dilation}*({kernel}-1)+1)" if dilation > 1 else str(kernel)
    out = conv_output(size, kernel, stride, padding, dilation, ceil)
    text = f"{'ceil' if ceil else 'floor'}(({size} + 2*{padding} - {eff})/{stride}) + 1"
    if ceil and math.ceil((size + 2 * padding - (dilation * (kernel - 1) + 1)) / stride) + 1 != out:
        return f"{text} - 1 = {out} (torch drops a last window that would start in the right padding)"
    return f"{text} = {out}"
