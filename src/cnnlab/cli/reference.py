"""The numeric exercises on small text matrices: conv, batchnorm (the arithmetic lives in cnnlab.reference)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from cnnlab.cli.common import typed
from cnnlab.errors import CnnlabError


def parse_cell(text: str) -> tuple[int, int]:
    """'0,1' -> (0, 1): the output cell --explain shows."""
    parts = text.split(",")
    try:
        cell = tuple(int(p) for p in parts)
    except ValueError:
        cell = ()
    if len(cell) != 2:
        raise CnnlabError(f"--explain takes ROW,COL (two integers counting from 0, e.g. 0,1), got {text!r}")
    return cell  # type: ignore[return-value]


def parse_values(flag: str) -> Callable[[str], list[float]]:
    """An argparse type: '2' or '1,0.5' -> [2.0] or [1.0, 0.5], one value for every column or one per column."""
    number = typed(float, flag)

    def parse(text: str) -> list[float]:
        return [float(number(p)) for p in text.split(",")]  # type: ignore[arg-type]

    return parse


def cmd_conv(args: argparse.Namespace) -> int:
    from cnnlab.reference import conv_exercise, read_matrix, render_conv

    matrix, kernel = read_matrix(args.matrix, "matrix"), read_matrix(args.kernel, "kernel")
    print(render_conv(conv_exercise(matrix, kernel, args.stride, args.padding, args.dilation, args.explain)))
    return 0


def cmd_batchnorm(args: argparse.Namespace) -> int:
    from cnnlab.reference import batchnorm_columns, read_matrix, render_columns

    matrix = read_matrix(args.matrix, "matrix")
    print(render_columns(batchnorm_columns(matrix, args.eps, args.gamma, args.beta)))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("conv", help="convolve a small text matrix with a kernel and show the arithmetic")
    c.add_argument("matrix", help="text file: one row per line, numbers separated by spaces or commas")
    c.add_argument("--kernel", required=True, help="text file with the kernel, in the same format")
    c.add_argument("--stride", type=typed(int, "--stride"), default=1, help="step between windows (default 1)")
    c.add_argument("--padding", type=typed(int, "--padding"), default=0, help="zeros added on every side")
    c.add_argument("--dilation", type=typed(int, "--dilation"), default=1, help="1 = no gaps between kernel taps")
    c.add_argument("--explain", type=parse_cell, metavar="ROW,COL", help="print the sum of products of one cell")
    c.set_defaults(func=cmd_conv)

    b = sub.add_parser("batchnorm", help="batch-normalise each column of a small text matrix over its rows")
    b.add_argument("matrix", help="text file: one example per row, one feature per column")
    b.add_argument("--eps", type=typed(float, "--eps"), default=1e-5, help="added to the variance (default 1e-5)")
    b.add_argument("--gamma", type=parse_values("--gamma"), default=[1.0], help="scale: one value or one per column")
    b.add_argument("--beta", type=parse_values("--beta"), default=[0.0], help="shift: one value or one per column")
    b.set_defaults(func=cmd_batchnorm)
