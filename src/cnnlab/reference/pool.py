"""Max and average pooling in NumPy, matching torch.nn.functional.max_pool2d and avg_pool2d (floor mode).

A pooling window slides like a convolution kernel (same output size, floor((H + 2P - K)/S) + 1, no dilation)
but has no weights and works on each channel alone:

    max: out[n, c, y, x] = max over i, j of in_pad[n, c, y*S + i, x*S + j]      (padding is -inf: never the max)
    avg: out[n, c, y, x] = (1 / (kH*kW)) * sum over i, j of the same pixels   (padding is 0 and is counted, as in
                                                                              PyTorch's default count_include_pad)
"""

from __future__ import annotations

import numpy as np

from cnnlab.errors import CnnlabError
from cnnlab.reference.window import output_size, pair, tap


def _taps(
    x: np.ndarray,
    kernel: int | tuple[int, int],
    stride: int | tuple[int, int] | None,
    padding: int | tuple[int, int],
    fill: float,
) -> list[np.ndarray]:
    """For each window position (i, j), the (N, C, H_out, W_out) pixels it covers across all windows."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 4:
        raise CnnlabError(f"pooling takes x as N,C,H,W; got shape {x.shape}")
    (kh, kw) = pair(kernel, "kernel")
    (sh, sw) = pair(kernel if stride is None else stride, "stride")  # PyTorch's default stride is the kernel size
    (ph, pw) = pair(padding, "padding")
    if 2 * ph > kh or 2 * pw > kw:
        # PyTorch's rule: with more padding a window could lie wholly in the padding.
        raise CnnlabError(f"pooling padding ({ph}, {pw}) must be at most half the kernel ({kh}, {kw})")
    h_out = output_size(x.shape[2], kh, sh, ph)
    w_out = output_size(x.shape[3], kw, sw, pw)
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    return [padded[:, :, tap(i, sh, h_out), tap(j, sw, w_out)] for i in range(kh) for j in range(kw)]


def max_pool2d(
    x: np.ndarray,
    kernel: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
) -> np.ndarray:
    """The largest value in each window: keeps whether a feature was found nearby, not exactly where."""
    return np.maximum.reduce(_taps(x, kernel, stride, padding, fill=-np.inf))


def avg_pool2d(
    x: np.ndarray,
    kernel: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
) -> np.ndarray:
    """The mean of each window, dividing by kH*kW even where the window overlaps the zero padding."""
    taps = _taps(x, kernel, stride, padding, fill=0.0)
    return np.add.reduce(taps) / len(taps)
