"""The course's numeric exercises on small 2-D matrices (`cnnlab conv`, `cnnlab batchnorm`): each is a compute
function returning the numbers and a render function turning them into the text a student checks by hand."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cnnlab.errors import CnnlabError
from cnnlab.reference.batchnorm import BatchNormCache, batch_norm_train
from cnnlab.reference.conv import conv2d
from cnnlab.reference.explain import CellSum, conv_cell, render_cell
from cnnlab.reference.textmatrix import format_matrix, format_number
from cnnlab.reference.window import output_size, output_size_formula

MAX_CELLS = 1_000_000  # values in the padded input of a `cnnlab conv` exercise
MAX_PRODUCTS = 100_000_000  # multiplications (about a second of NumPy)


@dataclass(frozen=True)
class ConvExercise:
    """A convolution exercise worked out: the settings, the output, and optionally one cell term by term."""

    matrix: np.ndarray
    kernel: np.ndarray
    stride: int
    padding: int
    dilation: int
    output: np.ndarray
    cell: CellSum | None  # the explained output cell, if one was asked for


def conv_exercise(
    matrix: np.ndarray,
    kernel: np.ndarray,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    explain: tuple[int, int] | None = None,
) -> ConvExercise:
    """Convolve one 2-D matrix with one 2-D kernel (a single channel, no bias); optionally explain a cell.

    Exercises are small: a padded input or an amount of arithmetic beyond what one could check is refused before
    any of it is allocated (--padding 20000 would otherwise ask for gigabytes of zeros)."""
    (h, w), (kh, kw) = matrix.shape, kernel.shape
    h_out = output_size(h, kh, stride, padding, dilation)  # first: refuses stride < 1, padding < 0, ...
    w_out = output_size(w, kw, stride, padding, dilation)
    padded = (h + 2 * padding) * (w + 2 * padding)
    if padded > MAX_CELLS:
        raise CnnlabError(
            f"padding {padding} makes the {h}x{w} input {h + 2 * padding}x{w + 2 * padding} = {padded:,} values; "
            f"exercises are limited to {MAX_CELLS:,}: use less padding"
        )
    if h_out * w_out * kh * kw > MAX_PRODUCTS:
        raise CnnlabError(
            f"{h_out}x{w_out} outputs of {kh}x{kw} products each is {h_out * w_out * kh * kw:,} multiplications; "
            f"exercises are limited to {MAX_PRODUCTS:,}: use cnnlab.reference.conv2d from Python for bigger ones"
        )
    # conv2d wants N, C, H, W: one image of one channel, and one filter.
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is said below, in one line
        output = conv2d(matrix[None, None], kernel[None, None], stride=stride, padding=padding, dilation=dilation)[0, 0]
    _finite(output, "the convolution")
    cell = None if explain is None else conv_cell(matrix, kernel, *explain, stride, padding, dilation)
    return ConvExercise(matrix, kernel, stride, padding, dilation, output, cell)


def render_conv(ex: ConvExercise) -> str:
    """The settings, the output-size arithmetic for rows and columns, the output matrix, then the explained cell."""
    (h, w), (kh, kw) = ex.matrix.shape, ex.kernel.shape
    lines = [
        f"input {h}x{w}, kernel {kh}x{kw}, stride {ex.stride}, padding {ex.padding}, dilation {ex.dilation}",
        "output rows: " + output_size_formula(h, kh, ex.stride, ex.padding, ex.dilation),
        "output cols: " + output_size_formula(w, kw, ex.stride, ex.padding, ex.dilation, axis="W"),
        format_matrix(ex.output),
    ]
    if ex.cell is not None:
        lines.append(render_cell(ex.cell))
    return "\n".join(lines)


@dataclass(frozen=True)
class ColumnNorm:
    """A batch-norm exercise worked out: the statistics per column and the normalised matrix."""

    matrix: np.ndarray
    output: np.ndarray
    stats: BatchNormCache
    gamma: np.ndarray
    beta: np.ndarray


def _per_column(value: float | Sequence[float], columns: int, name: str) -> np.ndarray:
    v = np.atleast_1d(np.asarray(value, dtype=np.float64))
    if v.size == 1:
        return np.full(columns, v[0])
    if v.shape != (columns,):
        raise CnnlabError(f"{name} has {v.size} values for {columns} columns; give one value, or one per column")
    return v


def batchnorm_columns(
    matrix: np.ndarray, eps: float = 1e-5, gamma: float | Sequence[float] = 1.0, beta: float | Sequence[float] = 0.0
) -> ColumnNorm:
    """Batch-normalise a (batch, features) matrix: each column over its rows, with the training-time statistics."""
    rows, columns = matrix.shape
    if rows < 2:
        raise CnnlabError(
            f"batch norm needs at least 2 rows (examples of the batch) to take statistics over; got {rows} row of "
            f"{columns} columns; write one example per line"
        )
    if not (math.isfinite(eps) and eps >= 0):
        raise CnnlabError(f"eps must be a finite number >= 0, got {eps}")
    constant = np.flatnonzero(matrix.min(axis=0) == matrix.max(axis=0))
    if eps == 0 and constant.size:
        raise CnnlabError(
            f"column {constant[0]} is constant (variance 0), so with eps 0 it would divide by zero; give an eps above 0"
        )
    g, b = _per_column(gamma, columns, "gamma"), _per_column(beta, columns, "beta")
    with np.errstate(over="ignore", invalid="ignore"):  # said below, in one line, instead of NumPy's warnings
        output, stats = batch_norm_train(matrix, g, b, eps)
    _finite(np.concatenate([output.ravel(), stats.mean, stats.var]), "batch norm")
    return ColumnNorm(matrix, output, stats, g, b)


def _finite(values: np.ndarray, what: str) -> None:
    """Refuse results that overflowed float64 (inputs near 1e308): finite numbers in, finite numbers out."""
    if not np.isfinite(values).all():
        raise CnnlabError(
            f"{what} overflows: its numbers pass float64's largest, about 1.8e308; use smaller values (exercises "
            "are worked by hand)"
        )


def render_columns(r: ColumnNorm) -> str:
    """Mean, variance and std per column, each with its formula, aligned over the output matrix."""
    rows, columns = r.matrix.shape
    table = [
        ("mean", r.stats.mean, f"= sum(x) / {rows}"),
        ("variance", r.stats.var, f"= sum((x - mean)^2) / {rows}  (biased, as in training)"),
        ("std", np.sqrt(r.stats.var + r.stats.eps), "= sqrt(variance + eps)"),
    ]
    if np.any(r.gamma != 1) or np.any(r.beta != 0):
        table += [("gamma", r.gamma, ""), ("beta", r.beta, "")]
    numbers = [v for _, vec, _ in table for v in vec] + list(r.output.ravel())
    width = max(len(format_number(v, 6)) for v in numbers)

    def line(label: str, values: np.ndarray, note: str = "") -> str:
        return (label.ljust(9) + " ".join(format_number(v, 6).rjust(width) for v in values) + "  " + note).rstrip()

    eps = format_number(r.stats.eps)
    lines = [f"batch norm of {rows} rows (the batch) x {columns} columns (features), each column alone; eps {eps}"]
    lines += [line(label, values, note) for label, values, note in table]
    lines.append("output = gamma * (x - mean) / std + beta:")
    lines += [line("", row) for row in r.output]
    return "\n".join(lines)
