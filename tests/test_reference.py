"""cnnlab.reference (#14): every NumPy layer against torch.nn.functional, and autograd for the backward passes, to
1e-6 on random float64 inputs; then the `cnnlab conv` and `cnnlab batchnorm` exercises against answers worked out
by hand in the comments, and their bad inputs (one line on stderr, exit status 2)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import cnnlab
from cnnlab.errors import CnnlabError
from cnnlab.reference import (
    avg_pool2d,
    batch_norm_backward,
    batch_norm_inference,
    batch_norm_train,
    batchnorm_columns,
    conv2d,
    conv_cell,
    conv_exercise,
    cross_entropy,
    cross_entropy_grad,
    dense,
    log_softmax,
    max_pool2d,
    output_size,
    parse_matrix,
    read_matrix,
    relu,
    relu_backward,
    render_cell,
    softmax,
    update_running_stats,
)
from tests.conftest import cli_as_terminal

TOL = 1e-6
REPO = Path(__file__).resolve().parents[1]
# A subprocess imports the cnnlab under test, whatever an installed copy elsewhere says.
SOURCE_ROOT = str(Path(cnnlab.__file__).resolve().parents[1])
SUBPROCESS_ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join(filter(None, [SOURCE_ROOT, os.environ.get("PYTHONPATH")])),
}


def close(ours: np.ndarray | float, theirs: torch.Tensor) -> None:
    np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=0, atol=TOL)


def rand(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape)


# --- the layers against PyTorch -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size, kernel, stride, padding, dilation, expected",
    [
        (32, 5, 1, 0, 1, 28),  # LeNet C1: 32 - 5 + 1
        (32, 3, 2, 1, 1, 16),  # floor((32 + 2 - 2 - 1)/2) + 1 = 15 + 1
        (224, 7, 2, 3, 1, 112),  # ResNet stem: floor((224 + 6 - 6 - 1)/2) + 1 = 111 + 1
        (7, 3, 1, 0, 2, 3),  # dilation 2 spans 5: 7 - 5 + 1
        (5, 2, 3, 0, 1, 2),  # floor((5 - 1 - 1)/3) + 1 = 1 + 1: the last column is never seen
    ],
)
def test_output_size_formula(size: int, kernel: int, stride: int, padding: int, dilation: int, expected: int) -> None:
    assert output_size(size, kernel, stride, padding, dilation) == expected


CONV_CASES = [
    # N, C_in, H, W, C_out, (kH, kW), stride, padding, dilation, groups, bias
    (2, 3, 7, 7, 4, (3, 3), 1, 0, 1, 1, True),  # plain
    (2, 3, 8, 11, 5, (3, 3), 2, 1, 1, 1, True),  # stride and padding, non-square input
    (1, 4, 9, 7, 6, (3, 2), (2, 1), (1, 2), 2, 2, False),  # dilation, groups, non-square kernel, per-axis settings
    (2, 6, 10, 12, 6, (3, 3), 1, 1, 1, 6, True),  # depthwise (groups = C_in)
    (1, 4, 12, 9, 8, (5, 3), 3, 2, (2, 3), 4, True),  # everything at once
    (3, 2, 5, 6, 3, (1, 1), 1, 0, 1, 1, True),  # 1x1 convolution
    (1, 2, 4, 5, 2, (4, 5), 1, 0, 1, 1, False),  # kernel as large as the input: one output
    (2, 3, 6, 9, 3, (2, 3), 2, 3, 3, 3, True),  # padding larger than the kernel
]


@pytest.mark.parametrize("n, c_in, h, w, c_out, kernel, stride, padding, dilation, groups, bias", CONV_CASES)
def test_conv2d_matches_torch(
    n: int,
    c_in: int,
    h: int,
    w: int,
    c_out: int,
    kernel: tuple[int, int],
    stride: int | tuple[int, int],
    padding: int | tuple[int, int],
    dilation: int | tuple[int, int],
    groups: int,
    bias: bool,
) -> None:
    rng = np.random.default_rng(0)
    x, weight = rand(rng, n, c_in, h, w), rand(rng, c_out, c_in // groups, *kernel)
    b = rand(rng, c_out) if bias else None
    ours = conv2d(x, weight, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
    theirs = F.conv2d(
        torch.from_numpy(x),
        torch.from_numpy(weight),
        None if b is None else torch.from_numpy(b),
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
    )
    assert ours.shape == tuple(theirs.shape)
    close(ours, theirs)


POOL_CASES = [
    # kernel, stride, padding, input shape
    (2, None, 0, (2, 3, 8, 8)),  # the classic 2x2 / 2
    (3, 2, 1, (2, 3, 9, 7)),  # overlapping windows with padding, non-square input
    ((3, 2), (2, 1), (1, 0), (1, 2, 7, 10)),  # per-axis settings
    (3, 1, 0, (1, 1, 5, 6)),
    (2, 3, 1, (2, 2, 7, 11)),  # stride larger than the kernel: some pixels are never pooled
]


@pytest.mark.parametrize("kernel, stride, padding, shape", POOL_CASES)
def test_pooling_matches_torch(
    kernel: int | tuple[int, int],
    stride: int | tuple[int, int] | None,
    padding: int | tuple[int, int],
    shape: tuple[int, int, int, int],
) -> None:
    x = rand(np.random.default_rng(1), *shape) - 1.0  # mostly negative: padding must never win a max
    t = torch.from_numpy(x)
    close(max_pool2d(x, kernel, stride, padding), F.max_pool2d(t, kernel, stride, padding))
    close(avg_pool2d(x, kernel, stride, padding), F.avg_pool2d(t, kernel, stride, padding))


@pytest.mark.parametrize("bias", [True, False])
def test_dense_matches_torch(bias: bool) -> None:
    rng = np.random.default_rng(2)
    x, weight = rand(rng, 4, 7), rand(rng, 3, 7)
    b = rand(rng, 3) if bias else None
    close(
        dense(x, weight, b),
        F.linear(torch.from_numpy(x), torch.from_numpy(weight), None if b is None else torch.tensor(b)),
    )


def test_relu_forward_and_backward_match_torch() -> None:
    rng = np.random.default_rng(3)
    x, grad_out = rand(rng, 3, 4, 5, 5), rand(rng, 3, 4, 5, 5)
    t = torch.from_numpy(x).requires_grad_()
    out = F.relu(t)
    out.backward(torch.from_numpy(grad_out))
    close(relu(x), out)
    close(relu_backward(grad_out, x), t.grad)


@pytest.mark.parametrize("n, classes, scale", [(5, 10, 1.0), (3, 4, 100.0), (1, 2, 1.0), (16, 7, 30.0)])
def test_softmax_cross_entropy_and_gradient_match_torch(n: int, classes: int, scale: float) -> None:
    rng = np.random.default_rng(4)
    logits = rand(rng, n, classes) * scale  # scale 100: exp would overflow without subtracting the max
    labels = rng.integers(0, classes, n)
    t = torch.from_numpy(logits).requires_grad_()
    loss = F.cross_entropy(t, torch.from_numpy(labels))
    loss.backward()
    close(softmax(logits), F.softmax(t, dim=1))
    close(log_softmax(logits), F.log_softmax(t, dim=1))
    close(cross_entropy(logits, labels), loss)
    close(cross_entropy_grad(logits, labels), t.grad)
    np.testing.assert_allclose(softmax(logits).sum(axis=1), 1.0)


@pytest.mark.parametrize("shape, eps", [((8, 5), 1e-5), ((4, 3, 5, 6), 1e-5), ((2, 3, 1, 7), 1e-3), ((16, 1), 0.1)])
def test_batch_norm_matches_torch(shape: tuple[int, ...], eps: float) -> None:
    rng = np.random.default_rng(5)
    channels = shape[1]
    x, grad_out = rand(rng, *shape) * 3 + 2, rand(rng, *shape)
    gamma, beta = rand(rng, channels), rand(rng, channels)
    running_mean, running_var = rand(rng, channels), rng.uniform(0.5, 2.0, channels)

    # training forward (batch statistics) and the running statistics it updates
    t_x, t_gamma, t_beta = (torch.tensor(a, requires_grad=True) for a in (x, gamma, beta))
    t_mean, t_var = torch.tensor(running_mean), torch.tensor(running_var)
    t_out = F.batch_norm(t_x, t_mean, t_var, t_gamma, t_beta, training=True, momentum=0.1, eps=eps)
    out, cache = batch_norm_train(x, gamma, beta, eps)
    close(out, t_out)
    new_mean, new_var = update_running_stats(running_mean, running_var, cache, momentum=0.1)
    close(new_mean, t_mean)
    close(new_var, t_var)

    # backward for the input, gamma and beta, against autograd
    t_out.backward(torch.from_numpy(grad_out))
    dx, dgamma, dbeta = batch_norm_backward(grad_out, cache)
    close(dx, t_x.grad)
    close(dgamma, t_gamma.grad)
    close(dbeta, t_beta.grad)

    # inference forward with the running statistics
    theirs = F.batch_norm(torch.from_numpy(x), t_mean, t_var, torch.tensor(gamma), torch.tensor(beta), eps=eps)
    close(batch_norm_inference(x, new_mean, new_var, gamma, beta, eps), theirs)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: conv2d(np.ones((1, 1, 4, 4)), np.ones((1, 1, 5, 5))), "larger than the padded input"),
        (lambda: conv2d(np.ones((1, 1, 4, 4)), np.ones((1, 1, 3, 3)), dilation=2), "spanning 5 with dilation 2"),
        (lambda: conv2d(np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2)), stride=0), "stride must be at least 1"),
        (lambda: conv2d(np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2)), dilation=0), "dilation must be at least 1"),
        (lambda: conv2d(np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2)), padding=-1), "padding must be 0 or more"),
        (lambda: conv2d(np.ones((1, 3, 4, 4)), np.ones((4, 1, 2, 2)), groups=2), "must divide both C_in=3"),
        (lambda: conv2d(np.ones((1, 4, 4, 4)), np.ones((4, 1, 2, 2)), groups=2), "C_in/groups = 4/2 needs 2"),
        (lambda: max_pool2d(np.ones((1, 1, 4, 4)), 2, 1, 2), "at most half the kernel"),
        (lambda: cross_entropy(np.ones((2, 3)), np.array([0, 3])), "labels must lie in 0..2"),
        (lambda: dense(np.ones((2, 3)), np.ones((4, 5))), "the same `in`"),
        (lambda: batch_norm_train(np.ones((4, 3)), np.ones(2)), "gamma must have one value per channel (3)"),
        # inputs near float64's largest: inf and nan cells were printed, exit 0
        (lambda: conv_exercise(np.ones((3, 3)), np.full((2, 2), 1e308)), "the convolution overflows: its numbers"),
        (lambda: batchnorm_columns(np.array([[1.0, 2.0], [-1e308, 1e308]])), "batch norm overflows: its numbers"),
    ],
)
def test_bad_settings_are_one_line_cnnlab_errors(call: Callable[[], object], message: str) -> None:
    with pytest.raises(CnnlabError, match=re.escape(message)) as info:
        call()
    assert "\n" not in str(info.value)


# --- text matrices ------------------------------------------------------------------------------------------------


def test_parse_matrix_takes_spaces_commas_and_comments() -> None:
    text = "# a 2x3 matrix\n1, 2,3\n\n4 5\t-6.5   # trailing comment\n"
    np.testing.assert_array_equal(parse_matrix(text), [[1, 2, 3], [4, 5, -6.5]])


@pytest.mark.parametrize(
    "text, message",
    [
        ("1 2 3\n4 5\n", "line 2 has 2 numbers but the first row has 3"),
        ("1 2\n3 x\n", "line 2: 'x' is not a number"),
        ("1,,2\n", "line 1 has an empty cell"),
        ("1 nan\n", "'nan' is not a finite number"),
        ("# only a comment\n\n", "no numbers found"),
        # Python's float() reads '_' between digits (its digit grouping): 1_0 was 10, and 1_000_0 was 10,000
        ("1 2\n3 1_0\n", "line 2: '1_0' is not a number ('_' is neither a digit nor a separator;"),
        ("1_000_0 2\n", "line 1: '1_000_0' is not a number"),
    ],
)
def test_parse_matrix_refuses_what_is_not_a_rectangle_of_numbers(text: str, message: str) -> None:
    with pytest.raises(CnnlabError, match=re.escape(message)):
        parse_matrix(text, "m.txt")


@pytest.mark.parametrize("cell", ["9" * 5000, "x" * 5000, "1_" * 2500])
def test_a_long_matrix_cell_is_shortened_in_its_error(cell: str) -> None:
    """A 5,000-digit cell (not finite as a float) made its one error line 5,000 characters long."""
    with pytest.raises(CnnlabError) as e:
        parse_matrix(f"1 {cell}\n", "m.txt")
    assert str(e.value).startswith(f"m.txt: line 1: {cell[:30]!r}"[:-1] + "...' (5,000 characters) is not a")
    assert len(str(e.value)) < 200, str(e.value)


def test_read_matrix_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(CnnlabError, match="kernel file .*k.txt does not exist"):
        read_matrix(tmp_path / "k.txt", "kernel")
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00 1 2")
    with pytest.raises(CnnlabError, match="cannot read matrix file"):
        read_matrix(tmp_path / "bin.txt")
    with pytest.raises(CnnlabError, match="matrix file /dev/zero is over 1,048,576 bytes"):
        read_matrix("/dev/zero")


# --- the explanation of one cell ----------------------------------------------------------------------------------


def evaluate(arithmetic: str) -> float:
    """The printed sum of products, evaluated as Python arithmetic (numbers, + - * and parentheses only)."""
    assert re.fullmatch(r"[0-9eE.+\-*() ]+", arithmetic), arithmetic
    return eval(arithmetic, {"__builtins__": {}})


@pytest.mark.parametrize(
    "shape, kernel, stride, padding, dilation",
    [((4, 4), (2, 2), 2, 0, 1), ((5, 7), (3, 2), 1, 1, 1), ((6, 5), (2, 3), 2, 2, 2), ((3, 3), (3, 3), 1, 2, 1)],
)
def test_every_explained_cell_evaluates_to_its_value_and_to_conv2d(
    shape: tuple[int, int], kernel: tuple[int, int], stride: int, padding: int, dilation: int
) -> None:
    rng = np.random.default_rng(6)
    matrix = rng.integers(-9, 10, shape).astype(float)
    weights = rng.uniform(-2, 2, kernel).round(2)  # negative and fractional factors too
    output = conv_exercise(matrix, weights, stride, padding, dilation).output
    for row, col in np.ndindex(output.shape):
        text = render_cell(conv_cell(matrix, weights, row, col, stride, padding, dilation))
        formula = text.splitlines()[-1]
        lhs, products, claimed = formula.split(" = ")
        assert lhs == f"out[{row},{col}]"
        assert evaluate(products) == float(claimed)  # the printed arithmetic gives exactly the printed value
        assert float(claimed) == pytest.approx(output[row, col], abs=1e-9)


# --- the CLI, with answers worked out by hand ---------------------------------------------------------------------


def run_main(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int | None, str, str]:
    return cli_as_terminal(argv, capsys)


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


@pytest.fixture
def m4(tmp_path: Path) -> str:
    return write(tmp_path / "m4.txt", "1 2 3 4\n5 6 7 8\n9 10 11 12\n13 14 15 16\n")


def test_conv_stride_2_by_hand(m4: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    kernel = write(tmp_path / "k.txt", "1,2\n3,4\n")
    # 2x2 windows at stride 2 do not overlap; output size floor((4 - 1*(2-1) - 1)/2) + 1 = 2.
    # out[0,0] = 1*1 + 2*2 + 5*3 + 6*4 = 44 (a flipped kernel would give 26)
    # out[0,1] = 3*1 + 4*2 + 7*3 + 8*4 = 64
    # out[1,0] = 9*1 + 10*2 + 13*3 + 14*4 = 124
    # out[1,1] = 11*1 + 12*2 + 15*3 + 16*4 = 144
    code, out, err = run_main(["conv", m4, "--kernel", kernel, "--stride", "2", "--explain", "0,1"], capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert "floor((4 + 2*0 - 1*(2-1) - 1)/2) + 1 = 2" in lines[1]
    assert [line[:21] for line in lines[1:3]] == ["output rows: floor((H", "output cols: floor((W"]
    assert lines[3:5] == [" 44  64", "124 144"]
    assert lines[-1] == "out[0,1] = 3*1 + 4*2 + 7*3 + 8*4 = 64"
    assert evaluate(lines[-1].split(" = ")[1]) == 64


def test_conv_padding_by_hand(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    matrix = write(tmp_path / "m3.txt", "1 2 3\n4 5 6\n7 8 9\n")
    kernel = write(tmp_path / "ones.txt", "1 1 1\n1 1 1\n1 1 1\n")
    # Padded to 5x5; a 3x3 window at stride 2 fits twice per axis: floor((3 + 2 - 2 - 1)/2) + 1 = 2.
    # out[0,0] = 1+2+4+5 = 12 (five padding zeros), out[0,1] = 2+3+5+6 = 16, out[1,0] = 4+5+7+8 = 24, out[1,1] = 28
    code, out, err = run_main(
        ["conv", matrix, "--kernel", kernel, "--stride", "2", "--padding", "1", "--explain", "0,0"], capsys
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[3:5] == ["12 16", "24 28"]
    assert "rows -1..1, cols -1..1" in lines[5] and "padding" in lines[5]
    assert lines[6] == "out[0,0] = 0*1 + 0*1 + 0*1 + 0*1 + 1*1 + 2*1 + 0*1 + 4*1 + 5*1 = 12"


def test_conv_dilation_on_a_non_square_matrix_by_hand(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    matrix = write(tmp_path / "m35.txt", "1 2 3 4 5\n6 7 8 9 10\n11 12 13 14 15\n")
    kernel = write(tmp_path / "k.txt", "1 -1\n2 0\n")
    # Dilation 2: the 2x2 kernel spans 3x3, taps on rows r, r+2 and cols c, c+2; output 1x3.
    # out[0,c] = m[0,c] - m[0,c+2] + 2*m[2,c]: 1 - 3 + 22 = 20, 2 - 4 + 24 = 22, 3 - 5 + 26 = 24
    code, out, err = run_main(["conv", matrix, "--kernel", kernel, "--dilation", "2", "--explain", "0,2"], capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[3] == "20 22 24"
    assert "rows 0..2 (every 2), cols 2..4 (every 2)" in lines[4]
    assert lines[5] == "out[0,2] = 3*1 + 5*(-1) + 13*2 + 15*0 = 24"


def numbers_after(label: str, out: str) -> list[float]:
    line = next(ln for ln in out.splitlines() if ln.startswith(label + " "))
    return [float(v) for v in line.split("=")[0].split()[1:]]


def test_batchnorm_by_hand(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    matrix = write(tmp_path / "b.txt", "1 2\n3 6\n")
    # column 0: mean 2, variance ((1-2)^2 + (3-2)^2)/2 = 1, std 1 -> -1, 1
    # column 1: mean 4, variance ((2-4)^2 + (6-4)^2)/2 = 4, std 2 -> -1, 1
    code, out, err = run_main(["batchnorm", matrix, "--eps", "0"], capsys)
    assert code == 0, err
    assert numbers_after("mean", out) == [2, 4]
    assert numbers_after("variance", out) == [1, 4]
    assert numbers_after("std", out) == [1, 2]
    assert out.splitlines()[-2:] == ["         -1 -1", "          1  1"]
    # gamma (2, 1) and beta 0.5: 2*(-1) + 0.5 = -1.5, 1*(-1) + 0.5 = -0.5; 2*1 + 0.5 = 2.5, 1*1 + 0.5 = 1.5
    code, out, err = run_main(["batchnorm", matrix, "--eps", "0", "--gamma", "2,1", "--beta", "0.5"], capsys)
    assert code == 0, err
    assert [[float(v) for v in line.split()] for line in out.splitlines()[-2:]] == [[-1.5, -0.5], [2.5, 1.5]]


def test_batchnorm_variance_is_biased_and_eps_is_added(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    matrix = write(tmp_path / "b.txt", "1\n2\n3\n6\n")
    # mean 12/4 = 3; squares 4 + 1 + 0 + 9 = 14; variance 14/4 = 3.5 (not 14/3)
    # default eps 1e-5: std = sqrt(3.50001) = 1.870831..., first output (1 - 3)/1.870831 = -1.069044...
    code, out, err = run_main(["batchnorm", matrix], capsys)
    assert code == 0, err
    assert numbers_after("mean", out) == [3]
    assert numbers_after("variance", out) == [3.5]
    assert float(out.splitlines()[-4]) == pytest.approx(-2 / 3.50001**0.5, abs=1e-5)


BAD = {
    "ragged.txt": "1 2 3\n4 5\n",
    "word.txt": "1 2\n3 four\n",
    "empty.txt": "\n# nothing\n",
    "one-row.txt": "1 2 3\n",
    "constant.txt": "1 2\n1 3\n",
    "m2.txt": "1 2\n3 4\n",
    "k3.txt": "1 1 1\n1 1 1\n1 1 1\n",
    "k2.txt": "1 0\n0 1\n",
    "underscore.txt": "1 2\n3 1_0\n",
    "big.txt": ("0 " * 300 + "\n") * 300,  # 300x300 against 150x150: 151^2 * 150^2 = 513,022,500 products
    "big-kernel.txt": ("1 " * 150 + "\n") * 150,
}


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["conv", "ragged.txt", "--kernel", "k2.txt"], "line 2 has 2 numbers but the first row has 3"),
        (["conv", "word.txt", "--kernel", "k2.txt"], "line 2: 'four' is not a number"),
        (["conv", "m2.txt", "--kernel", "underscore.txt"], "kernel file underscore.txt: line 2: '1_0' is not a"),
        (["batchnorm", "underscore.txt"], "matrix file underscore.txt: line 2: '1_0' is not a number"),
        (["conv", "missing.txt", "--kernel", "k2.txt"], "matrix file missing.txt does not exist"),
        (["conv", "m2.txt", "--kernel", "missing.txt"], "kernel file missing.txt does not exist"),
        (["conv", "empty.txt", "--kernel", "k2.txt"], "no numbers found"),
        (["conv", ".", "--kernel", "k2.txt"], "cannot read matrix file"),
        (["conv", "m2.txt", "--kernel", "k3.txt"], "kernel 3 is larger than the padded input"),
        (["conv", "m2.txt", "--kernel", "k2.txt", "--dilation", "2"], "kernel 2 (spanning 3 with dilation 2)"),
        (["conv", "m2.txt", "--kernel", "k2.txt", "--stride", "0"], "stride must be at least 1"),
        (["conv", "m2.txt", "--kernel", "k2.txt", "--dilation", "0"], "dilation must be at least 1"),
        (["conv", "m2.txt", "--kernel", "k2.txt", "--padding", "-1"], "padding must be 0 or more"),
        (["conv", "m2.txt", "--kernel", "k2.txt", "--stride", "two"], "--stride takes an integer, got 'two'"),
        (["conv", "m2.txt", "--kernel", "k2.txt", "--explain", "1,0"], "cell 1,0 is outside the 1x1 output"),
        (["conv", "m2.txt", "--kernel", "k2.txt", "--explain", "0,-1"], "cell 0,-1 is outside the 1x1 output"),
        (["conv", "m2.txt", "--kernel", "k2.txt", "--explain", "1"], "--explain takes ROW,COL"),
        (["conv", "m2.txt", "--kernel", "k2.txt", "--padding", "1000"], "2002x2002 = 4,008,004 values"),
        (["conv", "big.txt", "--kernel", "big-kernel.txt"], "151x151 outputs of 150x150 products each"),
        (["batchnorm", "one-row.txt"], "at least 2 rows"),
        (["batchnorm", "ragged.txt"], "line 2 has 2 numbers"),
        (["batchnorm", "m2.txt", "--gamma", "1,2,3"], "gamma has 3 values for 2 columns"),
        (["batchnorm", "m2.txt", "--beta", "x"], "--beta takes a number, got 'x'"),
        (["batchnorm", "m2.txt", "--eps", "-1"], "eps must be a finite number >= 0"),
        (["batchnorm", "constant.txt", "--eps", "0"], "column 0 is constant"),
    ],
)
def test_bad_input_is_one_line_and_exit_status_2(
    argv: list[str], expected: str, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, text in BAD.items():
        write(tmp_path / name, text)
    monkeypatch.chdir(tmp_path)  # the file names in the messages stay as given
    code, out, err = run_main(argv, capsys)
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and re.match(r"^cnnlab(?: [a-z]+)?: error: ", lines[0]), err
    assert expected in lines[0], err


def test_a_real_process_prints_the_output_and_a_bad_input_without_traceback(m4: str, tmp_path: Path) -> None:
    kernel = write(tmp_path / "k.txt", "0 1\n1 0\n")
    ok = subprocess.run(
        [sys.executable, "-m", "cnnlab.cli", "conv", m4, "--kernel", kernel, "--stride", "2"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=SUBPROCESS_ENV,
        timeout=120,
        check=False,
    )
    # anti-diagonal kernel: out[0,0] = 2 + 5 = 7, out[0,1] = 4 + 7 = 11, out[1,0] = 10 + 13 = 23, out[1,1] = 12 + 15
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines()[3:] == [" 7 11", "23 27"]
    bad = subprocess.run(
        [sys.executable, "-m", "cnnlab.cli", "conv", m4, "--kernel", write(tmp_path / "r.txt", "1 2\n3\n")],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=SUBPROCESS_ENV,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stderr.startswith("cnnlab: error: kernel file") and bad.stderr.count("\n") == 1, bad.stderr
    assert "Traceback" not in bad.stderr


def test_the_reference_layers_refuse_what_pytorch_refuses_in_one_line() -> None:
    """Groups that do not divide the channels, pooling padding over half the kernel, and a running variance from
    one value per channel: a raw NumPy error, a silently wrong shape and a NaN variance in the mutants."""
    with pytest.raises(CnnlabError, match="groups=2 must divide both C_in=4 and C_out=3"):
        conv2d(np.zeros((1, 4, 5, 5)), np.zeros((3, 2, 3, 3)), groups=2)
    with pytest.raises(CnnlabError, match=r"pooling padding \(1, 2\) must be at most half the kernel \(3, 2\)"):
        max_pool2d(np.zeros((1, 1, 6, 6)), (3, 2), padding=(1, 2))
    _, cache = batch_norm_train(np.ones((1, 2)))
    with pytest.raises(CnnlabError, match="needs at least 2 values per channel"):
        update_running_stats(np.zeros(2), np.ones(2), cache)
