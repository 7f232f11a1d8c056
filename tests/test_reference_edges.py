"""Edges of the from-scratch layers (cnnlab.reference) that a mutation run found untested (2026-12-06): each layer
computes in float64 whatever it is given, the defaults a student leaves out are PyTorch's, softmax stays finite for
logits far apart, every refusal is said whole, and the text matrices' comments, sizes and numbers. Expected values
come from torch.nn.functional or are worked out by hand in a comment."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnnlab.errors import CnnlabError
from cnnlab.reference.activations import relu, relu_backward
from cnnlab.reference.batchnorm import batch_norm_backward, batch_norm_inference, batch_norm_train, update_running_stats
from cnnlab.reference.conv import conv2d
from cnnlab.reference.dense import dense
from cnnlab.reference.exercises import batchnorm_columns, conv_exercise, render_columns, render_conv
from cnnlab.reference.explain import conv_cell, render_cell
from cnnlab.reference.pool import avg_pool2d, max_pool2d
from cnnlab.reference.softmax import cross_entropy_grad, log_softmax, softmax
from cnnlab.reference.textmatrix import MAX_TEXT_BYTES, format_matrix, format_number, parse_matrix, read_matrix
from cnnlab.reference.window import check_window, output_size, output_size_formula, span

RNG = np.random.default_rng(0)
X = RNG.standard_normal((2, 3, 5, 5)).astype(np.float32)  # float32 on purpose: the layers must not keep it


def refusal(call) -> str:
    with pytest.raises(CnnlabError) as e:
        call()
    return str(e.value)


@pytest.mark.parametrize(
    "layer",
    [
        relu,
        lambda x: relu_backward(x, x),
        lambda x: max_pool2d(x, 2),
        lambda x: avg_pool2d(x, 3, 1, 1),
        lambda x: softmax(x.reshape(6, 25)),
        lambda x: log_softmax(x.reshape(6, 25)),
        lambda x: cross_entropy_grad(x.reshape(6, 25), np.arange(6)),
        lambda x: batch_norm_train(x)[0],
        lambda x: batch_norm_inference(x, np.zeros(3), np.ones(3)),
        lambda x: batch_norm_backward(x, batch_norm_train(x.astype(np.float64))[1])[0],
        lambda x: np.concatenate(
            update_running_stats(x[0, :, 0, 0], x[1, :, 0, 0], batch_norm_train(x.astype(np.float64))[1])
        ),
    ],
)
def test_every_layer_computes_in_float64_whatever_it_is_given(layer) -> None:
    # float32 pixels in: the same float64 numbers out as from float64 pixels, to the last bit (a reference that
    # rounded to float32 on the way would differ in the 8th digit)
    got, want = layer(X), layer(X.astype(np.float64))
    assert got.dtype == np.float64 and np.array_equal(got, want)


def test_the_defaults_a_student_leaves_out_are_pytorchs() -> None:
    x = X.astype(np.float64)
    t = torch.from_numpy(x)
    w = RNG.standard_normal((4, 3, 3, 3))
    assert np.allclose(conv2d(x, w), F.conv2d(t, torch.from_numpy(w)).numpy(), atol=1e-12)  # stride 1, no padding
    assert np.allclose(max_pool2d(x, 2), F.max_pool2d(t, 2).numpy())  # stride = kernel, no padding: 2x2 out
    assert np.allclose(avg_pool2d(x, 2), F.avg_pool2d(t, 2).numpy())
    out, cache = batch_norm_train(x)  # gamma 1, beta 0, eps 1e-5
    want = F.batch_norm(t, None, None, training=True, eps=1e-5).numpy()
    assert np.allclose(out, want, atol=1e-12)
    mean, var = np.full(3, 0.5), np.full(3, 2.0)
    eval_want = F.batch_norm(t, torch.from_numpy(mean), torch.from_numpy(var), eps=1e-5).numpy()
    assert np.allclose(batch_norm_inference(x, mean, var), eval_want, atol=1e-12)
    running_mean, running_var = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    F.batch_norm(t, running_mean, running_var, training=True)  # momentum 0.1, unbiased variance
    new_mean, new_var = update_running_stats(np.zeros(3), np.ones(3), cache)
    assert np.allclose(new_mean, running_mean.numpy()) and np.allclose(new_var, running_var.numpy())
    # a 3-wide kernel on 5: floor((5 + 0 - 1*(3-1) - 1)/1) + 1 = 3; it spans 3 pixels
    assert output_size(5, 3) == 3 and span(3) == 3
    assert output_size_formula(5, 3) == "floor((H + 2P - D*(K-1) - 1)/S) + 1 = floor((5 + 2*0 - 1*(3-1) - 1)/1) + 1 = 3"
    check_window(3, 3, 1, 0)  # a kernel as wide as the input, undilated: fits once
    assert format_matrix(np.array([[1 / 3, 2]])) == "0.333333        2"  # six significant digits, right-aligned


def test_softmax_stays_finite_for_logits_far_apart_and_takes_one_vector() -> None:
    # each row is shifted by its own maximum: exp(-1000) underflows to 0 and nothing overflows; by one maximum
    # for all rows, the second would be 0/0
    z = np.array([[1000.0, 0.0], [0.0, -1000.0]])
    assert np.array_equal(softmax(z), [[1.0, 0.0], [1.0, 0.0]])
    assert np.array_equal(log_softmax(z), [[0.0, -1000.0], [0.0, -1000.0]])
    # one vector of scores is one row: ln(e^0 + e^ln3) = ln 4
    v = np.array([0.0, np.log(3.0)])
    assert np.allclose(softmax(v), [0.25, 0.75]) and np.allclose(log_softmax(v), [np.log(0.25), np.log(0.75)])


def test_relu_passes_no_gradient_at_zero() -> None:
    # PyTorch's ReLU has gradient 0 at exactly 0 (autograd of x.clamp(min=0) there)
    x = torch.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    F.relu(x).backward(torch.ones(3))
    assert np.array_equal(relu_backward(np.ones(3), x.detach().numpy()), x.grad.numpy()) and x.grad[1] == 0


W = np.zeros((4, 3, 3, 3))
BN = batch_norm_train(np.zeros((2, 3, 4, 4)) + np.arange(3).reshape(1, 3, 1, 1))[1]


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: conv2d(X[0], W), "conv2d takes x as N,C,H,W and weight as C_out,C_in/groups,kH,kW; got (3, 5, 5), (4, 3, 3, 3)"),
        (lambda: conv2d(X, W[0]), "conv2d takes x as N,C,H,W and weight as C_out,C_in/groups,kH,kW; got (2, 3, 5, 5), (3, 3, 3)"),
        (lambda: conv2d(X, np.zeros((4, 2, 3, 3))), "weight has 2 input channels per filter; C_in/groups = 3/1 needs 3"),
        (lambda: conv2d(X, W, stride=(1, 1, 1)), "stride must be one integer or a (height, width) pair, got (1, 1, 1)"),
        (lambda: conv2d(X, W, padding=(1, 1, 1)), "padding must be one integer or a (height, width) pair, got (1, 1, 1)"),
        (lambda: conv2d(X, W, dilation=(1, 1, 1)), "dilation must be one integer or a (height, width) pair, got (1, 1, 1)"),
        (lambda: max_pool2d(X[0], 2), "pooling takes x as N,C,H,W; got shape (3, 5, 5)"),
        (lambda: max_pool2d(X, (2, 2, 2)), "kernel must be one integer or a (height, width) pair, got (2, 2, 2)"),
        (lambda: max_pool2d(X, 2, (1, 1, 1)), "stride must be one integer or a (height, width) pair, got (1, 1, 1)"),
        (lambda: avg_pool2d(X, 2, 2, (1, 1, 1)), "padding must be one integer or a (height, width) pair, got (1, 1, 1)"),
        (lambda: output_size(5, 0), "kernel size must be at least 1, got 0"),
        (lambda: check_window(5, 0, 1, 0, axis="W"), "kernel size must be at least 1 (W), got 0"),
        # a 9-wide kernel on 3 pixels padded by 2 on each side: 3 + 2*2 = 7 < 9
        (
            lambda: output_size(3, 9, padding=2),
            "kernel 9 is larger than the padded input: 3 + 2*2 = 7; use a smaller kernel or dilation, or more padding",
        ),
        (lambda: dense(np.zeros(3), np.zeros((2, 3))), "dense takes x (N, in) and weight (out, in) with the same `in`; got (3,), (2, 3)"),
        (lambda: dense(np.zeros((1, 3)), np.zeros(3)), "dense takes x (N, in) and weight (out, in) with the same `in`; got (1, 3), (3,)"),
        (lambda: cross_entropy_grad(np.zeros(3), [0]), "logits must be (N, classes); got shape (3,)"),
        (lambda: cross_entropy_grad(np.zeros((2, 3)), [[0, 1]]), "labels must be 2 integer class indices, one per row of logits; got shape (1, 2)"),
        (lambda: cross_entropy_grad(np.zeros((2, 3)), [0.0, 1.0]), "labels must be 2 integer class indices, one per row of logits; got shape (2,)"),
        (lambda: batch_norm_train(np.zeros(3)), "batch norm takes x as (N, C) or (N, C, H, W); got shape (3,)"),
        (lambda: batch_norm_train(X, beta=np.zeros(2)), "beta must have one value per channel (3), got shape (2,)"),
        (lambda: batch_norm_inference(X, np.zeros(2), np.ones(3)), "running_mean must have one value per channel (3), got shape (2,)"),
        (lambda: batch_norm_inference(X, np.zeros(3), np.ones(2)), "running_var must have one value per channel (3), got shape (2,)"),
        (lambda: batch_norm_inference(X, np.zeros(3), np.ones(3), gamma=np.ones(2)), "gamma must have one value per channel (3), got shape (2,)"),
        (lambda: batch_norm_inference(X, np.zeros(3), np.ones(3), beta=np.ones(2)), "beta must have one value per channel (3), got shape (2,)"),
        (lambda: batch_norm_backward(np.zeros((2, 3, 4, 5)), BN), "grad_out has shape (2, 3, 4, 5); the forward output had (2, 3, 4, 4)"),
        (lambda: update_running_stats(np.zeros(3), np.ones(3), batch_norm_train(np.zeros((1, 3)))[1]), "the unbiased variance needs at least 2 values per channel"),
    ],
)  # fmt: skip
def test_each_refusal_is_said_whole(call, message: str) -> None:
    assert refusal(call) == message


def test_batch_norm_works_per_channel_on_a_2d_batch_and_two_values_make_a_variance() -> None:
    # (N, C) = (2, 2): channel 0 holds 1 and 3 (mean 2, biased variance 1), channel 1 holds 5 and 5 (variance 0);
    # gamma 2 and beta 1 given per channel; two values per channel are enough for the unbiased variance (1 * 2/1)
    x = np.array([[1.0, 5.0], [3.0, 5.0]])
    out, cache = batch_norm_train(x, gamma=np.array([2.0, 2.0]), beta=np.array([1.0, 1.0]), eps=0.0 + 1e-12)
    assert np.allclose(out, [[-1.0, 1.0], [3.0, 1.0]])
    mean, var = update_running_stats(np.zeros(2), np.ones(2), cache)
    assert np.allclose(mean, [0.2, 0.5]) and np.allclose(var, [0.9 + 0.1 * 2.0, 0.9])
    dx, dgamma, dbeta = batch_norm_backward(np.array([[1.0, 0.0], [0.0, 0.0]]), cache)
    xt = torch.tensor(x, requires_grad=True)
    w = torch.tensor([2.0, 2.0], dtype=torch.float64, requires_grad=True)
    F.batch_norm(xt, None, None, w, torch.ones(2, dtype=torch.float64), training=True, eps=1e-12).backward(
        torch.tensor([[1.0, 0.0], [0.0, 0.0]], dtype=torch.float64)
    )
    assert np.allclose(dx, xt.grad.numpy()) and np.allclose(dgamma, w.grad.numpy()) and np.allclose(dbeta, [1, 0])


def test_a_matrix_comment_starts_at_its_first_hash_and_numbers_print_whole_below_1e15(tmp_path: Path) -> None:
    assert np.array_equal(parse_matrix("1 2 # a comment # with a hash\n3 4"), [[1, 2], [3, 4]])
    assert refusal(lambda: parse_matrix("1 2\n3")) == (
        "matrix: line 2 has 1 numbers but the first row has 2; every row needs the same count"
    )
    assert format_number(1e15 - 1) == "999999999999999" and format_number(1e15) == "1000000000000000.0"
    assert format_number(0.1, None) == "0.1" and format_number(2 / 3, 3) == "0.667"
    assert np.array_equal(read_matrix("matrix:sobel-x"), [[1, 0, -1], [2, 0, -2], [1, 0, -1]])  # a shipped one
    # a file of exactly MAX_TEXT_BYTES is read (its byte-order mark is no number); one byte more is refused
    exact = tmp_path / "exact.txt"
    exact.write_bytes(b"\xef\xbb\xbf" + b"1" + b" " * (MAX_TEXT_BYTES - 4))
    assert np.array_equal(read_matrix(exact), [[1.0]])
    over = tmp_path / "over.txt"
    over.write_bytes(b"1" + b" " * MAX_TEXT_BYTES)
    assert (
        refusal(lambda: read_matrix(over))
        == f"matrix file {over} is over {MAX_TEXT_BYTES:,} bytes; give a small matrix"
    )
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"1 \xff")
    assert refusal(lambda: read_matrix(binary, "kernel")) == (
        f"cannot read kernel file {binary}: 'utf-8' codec can't decode byte 0xff in position 2: invalid start byte; "
        "give a text file of numbers"
    )
    assert refusal(lambda: read_matrix(tmp_path)) == (
        f"cannot read matrix file {tmp_path}: Is a directory; give a text file of numbers"
    )


M = np.arange(1.0, 10.0).reshape(3, 3)  # 1 2 3 / 4 5 6 / 7 8 9
K = np.array([[1.0, 0.0], [0.0, -1.0]])


def test_a_conv_exercise_says_its_settings_and_dilation_spreads_the_kernel() -> None:
    # undilated, each output is top-left minus bottom-right: 1 - 5 = -4 everywhere; dilated by 2 the taps are
    # (0, 0) and (2, 2): 1 - 9 = -8, one output
    assert render_conv(conv_exercise(M, K)) == (
        "input 3x3, kernel 2x2, stride 1, padding 0, dilation 1\n"
        "output rows: floor((H + 2P - D*(K-1) - 1)/S) + 1 = floor((3 + 2*0 - 1*(2-1) - 1)/1) + 1 = 2\n"
        "output cols: floor((W + 2P - D*(K-1) - 1)/S) + 1 = floor((3 + 2*0 - 1*(2-1) - 1)/1) + 1 = 2\n"
        "-4 -4\n-4 -4"
    )
    assert render_conv(conv_exercise(M, K, dilation=2)) == (
        "input 3x3, kernel 2x2, stride 1, padding 0, dilation 2\n"
        "output rows: floor((H + 2P - D*(K-1) - 1)/S) + 1 = floor((3 + 2*0 - 2*(2-1) - 1)/1) + 1 = 1\n"
        "output cols: floor((W + 2P - D*(K-1) - 1)/S) + 1 = floor((3 + 2*0 - 2*(2-1) - 1)/1) + 1 = 1\n"
        "-8"
    )


def test_one_cell_is_explained_with_its_padding_and_dilation() -> None:
    # out[0,1] with padding 1 and dilation 2 reads input rows -1 and 1, cols 0 and 2: 0*1 + 0*0 + 4*0 + 6*(-1)
    assert render_cell(conv_cell(M, K, 0, 1, padding=1, dilation=2)) == (
        "out[0,1]: kernel on input rows -1..1 (every 2), cols 0..2 (every 2); a row outside 0..2 or a col outside "
        "0..2 is padding (0)\nout[0,1] = 0*1 + 0*0 + 4*0 + 6*(-1) = -6"
    )
    # a one-row kernel meets one row: 7*1 + 8*(-1); by default stride 1, no padding, no dilation: 5 - 9 = -4
    assert render_cell(conv_cell(M, np.array([[1.0, -1.0]]), 2, 0)) == (
        "out[2,0]: kernel on input rows 2, cols 0..1\nout[2,0] = 7*1 + 8*(-1) = -1"
    )
    assert conv_cell(M, K, 1, 1).value == -4
    # each term keeps the input position it reads, padding's included
    padded = conv_cell(M, K, 0, 1, padding=1, dilation=2)
    assert [(t.row, t.col, t.padding) for t in padded.terms] == [
        (-1, 0, True),
        (-1, 2, True),
        (1, 0, False),
        (1, 2, False),
    ]
    # dilated by 2, the 2x2 kernel fits the 3x3 input once: there is no cell 1,1
    assert refusal(lambda: conv_cell(M, K, 1, 1, dilation=2)) == (
        "cell 1,1 is outside the 1x1 output; rows are 0..0 and columns 0..0 (counting from 0)"
    )
    for row, col in ((0, 2), (2, 0)):
        assert refusal(lambda row=row, col=col: conv_cell(M, K, row, col)) == (
            f"cell {row},{col} is outside the 2x2 output; rows are 0..1 and columns 0..1 (counting from 0)"
        )


def test_an_exercise_is_limited_to_a_million_values_and_a_hundred_million_products() -> None:
    # 2x2 padded by 499: 1000x1000, exactly the limit; by 500: 1002x1002
    assert conv_exercise(np.ones((2, 2)), np.ones((1, 1)), padding=499).output.shape == (1000, 1000)
    assert refusal(lambda: conv_exercise(np.ones((2, 2)), np.ones((1, 1)), padding=500)) == (
        "padding 500 makes the 2x2 input 1002x1002 = 1,004,004 values; exercises are limited to 1,000,000: use less "
        "padding"
    )
    # a 100x100 kernel on 199x199: 100x100 outputs of 10,000 products, exactly the limit; on 200x199 one row more
    assert conv_exercise(np.ones((199, 199)), np.ones((100, 100))).output[0, 0] == 10_000
    # a 500-tall kernel dilated by 2 spans 999 rows of 1000: 2x1000 outputs of 500 products, 1,000,000, where
    # undilated it would be 501x1000 of them, 250,500,000; and the same on its side
    assert conv_exercise(np.ones((1000, 1000)), np.ones((500, 1)), dilation=2).output.shape == (2, 1000)
    assert conv_exercise(np.ones((1000, 1000)), np.ones((1, 500)), dilation=2).output.shape == (1000, 2)
    assert refusal(lambda: conv_exercise(np.ones((200, 199)), np.ones((100, 100)))) == (
        "101x100 outputs of 100x100 products each is 101,000,000 multiplications; exercises are limited to "
        "100,000,000: use cnnlab.reference.conv2d from Python for bigger ones"
    )


def test_the_batchnorm_exercise_shows_gamma_and_beta_when_they_are_not_the_defaults() -> None:
    # columns (1, 3) and (2, 6): means 2 and 4, variances 1 and 4; with gamma 2 and beta (0.5, -1) the first
    # row is 2*(1 - 2)/sqrt(1 + 1e-5) + 0.5 = -1.49999 and 2*(2 - 4)/sqrt(4 + 1e-5) - 1 = -3 (to 6 digits)
    x = np.array([[1.0, 2.0], [3.0, 6.0]])
    assert render_columns(batchnorm_columns(x, gamma=2, beta=[0.5, -1])) == (
        "batch norm of 2 rows (the batch) x 2 columns (features), each column alone; eps 1e-05\n"
        "mean            2        4  = sum(x) / 2\n"
        "variance        1        4  = sum((x - mean)^2) / 2  (biased, as in training)\n"
        "std             1        2  = sqrt(variance + eps)\n"
        "gamma           2        2\n"
        "beta          0.5       -1\n"
        "output = gamma * (x - mean) / std + beta:\n"
        "         -1.49999       -3\n"
        "          2.49999 0.999998"
    )
    gamma_only = render_columns(batchnorm_columns(x, gamma=2)).splitlines()
    assert gamma_only[4:6] == ["gamma           2        2", "beta            0        0"]  # both rows, for one
    beta_only = render_columns(batchnorm_columns(x, beta=1)).splitlines()
    assert [line.split()[0] for line in beta_only[4:6]] == ["gamma", "beta"]
    assert [line.split()[0] for line in render_columns(batchnorm_columns(x)).splitlines()[1:5]] == [
        "mean",
        "variance",
        "std",
        "output",
    ]  # the defaults, 1 and 0, are not shown
    # a constant column: variance 0, std sqrt(0 + 1e-5) = 0.00316228, its outputs 0
    constant = render_columns(batchnorm_columns(np.array([[5.0, 1.0], [5.0, 6.0]])))
    assert "std      0.00316228" in constant
    assert refusal(lambda: batchnorm_columns(np.array([[5.0, 1.0], [5.0, 6.0]]), eps=0)) == (
        "column 0 is constant (variance 0), so with eps 0 it would divide by zero; give an eps above 0"
    )
    assert refusal(lambda: batchnorm_columns(x, beta=[1, 2, 3])) == (
        "beta has 3 values for 2 columns; give one value, or one per column"
    )


def test_an_exercise_that_overflows_says_so_in_one_line_without_numpys_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NumPy's overflow warnings would be a second message
        assert refusal(lambda: batchnorm_columns(np.array([[1e308, 0.0], [-1e308, 1.0]]))) == (
            "batch norm overflows: its numbers pass float64's largest, about 1.8e308; use smaller values (exercises "
            "are worked by hand)"
        )
        # a column of two 1e308s sums past float64 to inf, and inf - inf is not a number (NumPy's "invalid")
        assert refusal(lambda: batchnorm_columns(np.array([[1e308, 0.0], [1e308, 1.0]]))).startswith(
            "batch norm overflows"
        )
        for kernel in (np.ones((2, 2)), np.array([[2.0, -2.0]])):  # 4e308 overflows; 2e308 - 2e308 is invalid
            assert refusal(lambda kernel=kernel: conv_exercise(np.full((2, 2), 1e308), kernel)).startswith(
                "the convolution overflows: "
            )
