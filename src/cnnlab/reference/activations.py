"""ReLU in NumPy, forward and backward.

relu(x) = max(0, x)          d relu / dx = 1 where x > 0, else 0 (PyTorch also takes 0 at x = 0)
"""

from __future__ import annotations

import numpy as np


def relu(x: np.ndarray) -> np.ndarray:
    """Pass positives, zero the rest: the cheapest non-linearity, and its gradient does not shrink for x > 0."""
    return np.maximum(np.asarray(x, dtype=np.float64), 0.0)


def relu_backward(grad_out: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The gradient flows back only where the input was positive (chain rule with the 0/1 derivative)."""
    return np.asarray(grad_out, dtype=np.float64) * (np.asarray(x) > 0)
