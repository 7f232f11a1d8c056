"""From scratch: the layers of a CNN in plain NumPy, written to be read (float64, NCHW, PyTorch's layouts).

Each module is one layer or one job, with the formula it implements at the top; tests/test_reference.py checks
every one against torch.nn.functional (and autograd for the backward passes) to 1e-6.

    window.py       output size floor((H + 2P - D*(K-1) - 1)/S) + 1 and the checks on kernel/stride/padding
    conv.py         conv2d (stride, padding, dilation, groups)
    pool.py         max_pool2d, avg_pool2d
    dense.py        dense (fully connected)
    activations.py  relu, relu_backward
    softmax.py      softmax, log_softmax, cross_entropy and its gradient w.r.t. the logits
    batchnorm.py    training and inference forward, running statistics, backward
    textmatrix.py   small matrices as text (read, parse, format)
    explain.py      one convolution output cell as a sum of products
    exercises.py    the `cnnlab conv` and `cnnlab batchnorm` exercises: compute, then render
"""

from cnnlab.reference.activations import relu, relu_backward
from cnnlab.reference.batchnorm import (
    BatchNormCache,
    batch_norm_backward,
    batch_norm_inference,
    batch_norm_train,
    update_running_stats,
)
from cnnlab.reference.conv import conv2d
from cnnlab.reference.dense import dense
from cnnlab.reference.exercises import batchnorm_columns, conv_exercise, render_columns, render_conv
from cnnlab.reference.explain import CellSum, conv_cell, render_cell
from cnnlab.reference.pool import avg_pool2d, max_pool2d
from cnnlab.reference.softmax import cross_entropy, cross_entropy_grad, log_softmax, softmax
from cnnlab.reference.textmatrix import format_matrix, parse_matrix, read_matrix
from cnnlab.reference.window import output_size

__all__ = [
    "BatchNormCache",
    "CellSum",
    "avg_pool2d",
    "batch_norm_backward",
    "batch_norm_inference",
    "batch_norm_train",
    "batchnorm_columns",
    "conv2d",
    "conv_cell",
    "conv_exercise",
    "cross_entropy",
    "cross_entropy_grad",
    "dense",
    "format_matrix",
    "log_softmax",
    "max_pool2d",
    "output_size",
    "parse_matrix",
    "read_matrix",
    "relu",
    "relu_backward",
    "render_cell",
    "render_columns",
    "render_conv",
    "softmax",
    "update_running_stats",
]
