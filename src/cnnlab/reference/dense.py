"""A dense (fully connected) layer in NumPy, with nn.Linear's weight layout (out_features, in_features).

out[n, o] = bias[o] + sum over i of x[n, i] * weight[o, i]      i.e.  out = x @ weight.T + bias
"""

from __future__ import annotations

import numpy as np

from cnnlab.errors import CnnlabError


def dense(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """Every output is a weighted sum of every input: x (N, in) -> (N, out)."""
    x, weight = np.asarray(x, dtype=np.float64), np.asarray(weight, dtype=np.float64)
    if x.ndim != 2 or weight.ndim != 2 or x.shape[1] != weight.shape[1]:
        raise CnnlabError(
            f"dense takes x (N, in) and weight (out, in) with the same `in`; got {x.shape}, {weight.shape}"
        )
    out = x @ weight.T
    if bias is not None:
        out = out + np.asarray(bias, dtype=np.float64)  # broadcast: one bias per output, the same for every row
    return out
