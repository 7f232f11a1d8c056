"""One output cell of a 2-D convolution, worked out term by term as a student would on paper.

Output (y, x) puts the kernel's top-left tap on padded-input pixel (y*S, x*S); tap (i, j) then sits on input
pixel (y*S + i*D - P, x*S + j*D - P) (minus P: back from padded to input coordinates), which is 0 when it falls
in the padding. The cell is the sum over all taps of input pixel * kernel tap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnlab.errors import CnnlabError
from cnnlab.reference.textmatrix import format_number
from cnnlab.reference.window import output_size


@dataclass(frozen=True)
class Term:
    """One product of the sum: the input pixel at (row, col) times a kernel tap (weight)."""

    row: int
    col: int
    value: float  # 0 when (row, col) lies in the padding, outside the input
    weight: float
    padding: bool


@dataclass(frozen=True)
class CellSum:
    """out[row, col] = sum of value*weight over the terms, in the kernel's row-major order."""

    row: int
    col: int
    terms: tuple[Term, ...]
    rows: tuple[int, ...]  # the input rows the kernel's taps sit on (may be negative or past the end: padding)
    cols: tuple[int, ...]
    input_shape: tuple[int, int]

    @property
    def value(self) -> float:
        total = 0.0
        for t in self.terms:  # left to right, as the printed sum reads
            total += t.value * t.weight
        return total


def conv_cell(
    matrix: np.ndarray, kernel: np.ndarray, row: int, col: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> CellSum:
    """The terms of out[row, col] for a single-channel 2-D convolution (cross-correlation, like conv2d)."""
    h, w = matrix.shape
    kh, kw = kernel.shape
    h_out = output_size(h, kh, stride, padding, dilation)
    w_out = output_size(w, kw, stride, padding, dilation)
    if not (0 <= row < h_out and 0 <= col < w_out):
        raise CnnlabError(
            f"cell {row},{col} is outside the {h_out}x{w_out} output; rows are 0..{h_out - 1} and columns "
            f"0..{w_out - 1} (counting from 0)"
        )
    rows = tuple(row * stride + i * dilation - padding for i in range(kh))  # input row under kernel row i
    cols = tuple(col * stride + j * dilation - padding for j in range(kw))
    terms = []
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            inside = 0 <= r < h and 0 <= c < w
            terms.append(Term(r, c, float(matrix[r, c]) if inside else 0.0, float(kernel[i, j]), padding=not inside))
    return CellSum(row, col, tuple(terms), rows, cols, (h, w))


def _factor(v: float) -> str:
    text = format_number(v)
    return f"({text})" if text.startswith("-") else text  # 2*(-1), not 2*-1


def _positions(indices: tuple[int, ...]) -> str:
    """0..2 for consecutive rows, 0..4 (every 2) for a dilated kernel's."""
    if len(indices) == 1:
        return str(indices[0])
    step = indices[1] - indices[0]
    return f"{indices[0]}..{indices[-1]}" + (f" (every {step})" if step > 1 else "")


def render_cell(cell: CellSum) -> str:
    """Two lines: where the kernel sits on the input, then out[r,c] = a*w + b*v + ... = value (valid Python)."""
    h, w = cell.input_shape
    where = f"out[{cell.row},{cell.col}]: kernel on input rows {_positions(cell.rows)}, cols {_positions(cell.cols)}"
    if any(t.padding for t in cell.terms):
        where += f"; a row outside 0..{h - 1} or a col outside 0..{w - 1} is padding (0)"
    products = " + ".join(f"{_factor(t.value)}*{_factor(t.weight)}" for t in cell.terms)
    return f"{where}\nout[{cell.row},{cell.col}] = {products} = {format_number(cell.value)}"
