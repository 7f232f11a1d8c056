"""Receptive-field arithmetic (Dumoulin & Visin; Araujo et al. 2019), one spatial axis at a time.

size: how many input pixels one unit sees; jump: input pixels between neighbouring units;
start: centre of the first unit's field in input coordinates (pixel i covers [i, i+1), so the input starts at 0.5);
extent: how many units the tensor has along the axis (dense layers see all of them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Axis:
    size: int = 1
    jump: int = 1
    start: float = 0.5
    extent: int = 1

    def through(self, kernel: int, stride: int, padding: int, dilation: int = 1, out_extent: int | None = None) -> Axis:
        """The field after a sliding window (conv or pool) with these settings."""
        k = dilation * (kernel - 1) + 1
        return Axis(
            size=self.size + (k - 1) * self.jump,
            jump=self.jump * stride,
            start=self.start + ((k - 1) / 2 - padding) * self.jump,
            extent=out_extent if out_extent is not None else max((self.extent + 2 * padding - k) // stride + 1, 0),
        )

    def whole(self) -> Axis:
        """The field of a unit that sees every position (dense layer, global pooling)."""
        return self.through(self.extent, max(self.extent, 1), 0, out_extent=1)


@dataclass(frozen=True)
class Field:
    """Receptive field on both spatial axes (height, width)."""

    h: Axis
    w: Axis

    @staticmethod
    def of_input(height: int, width: int) -> Field:
        return Field(Axis(extent=height), Axis(extent=width))

    def merge(self, other: Field) -> Field:
        """Where branches meet (add, concat) a unit sees the union: keep the larger field per axis."""
        return Field(max(self.h, other.h, key=lambda a: a.size), max(self.w, other.w, key=lambda a: a.size))

    def as_dict(self) -> dict:
        """JSON form: plain numbers when both axes agree, [height, width] pairs otherwise."""

        def pick(a: float, b: float) -> float | list:
            return a if a == b else [a, b]

        start = pick(self.h.start, self.w.start)
        return {"size": pick(self.h.size, self.w.size), "jump": pick(self.h.jump, self.w.jump), "start": start}

    def label(self) -> str:
        d = self.as_dict()
        return f"{_num(d['size'])}/{_num(d['jump'])}/{_num(d['start'])}"


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
