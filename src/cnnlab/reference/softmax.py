"""Softmax and cross-entropy in NumPy, forward and the gradient with respect to the logits.

softmax(z)_k = exp(z_k - m) / sum_j exp(z_j - m)       with m = max_j z_j (subtracting m changes nothing
                                                         mathematically but keeps exp from overflowing)
loss = -(1/N) * sum over n of log softmax(z_n)[y_n]     (the mean over the batch, as F.cross_entropy)
d loss / d z[n, k] = (softmax(z_n)_k - [k == y_n]) / N   (predicted minus one-hot target)
"""

from __future__ import annotations

import numpy as np

from cnnlab.errors import CnnlabError


def softmax(logits: np.ndarray) -> np.ndarray:
    """Turn each row of scores (N, classes) into probabilities that are positive and sum to 1."""
    z = np.asarray(logits, dtype=np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log softmax(z) = z - m - log(sum_j exp(z_j - m)): no log(0) even when a probability underflows."""
    z = np.asarray(logits, dtype=np.float64)
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _check_labels(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    if logits.ndim != 2:
        raise CnnlabError(f"logits must be (N, classes); got shape {logits.shape}")
    labels = np.asarray(labels)
    n, classes = logits.shape
    if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
        raise CnnlabError(f"labels must be {n} integer class indices, one per row of logits; got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise CnnlabError(f"labels must lie in 0..{classes - 1} for {classes} classes")
    return labels


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-probability of the right class: small when the net is confidently right."""
    z = np.asarray(logits, dtype=np.float64)
    labels = _check_labels(z, labels)
    return float(-log_softmax(z)[np.arange(len(labels)), labels].mean())


def cross_entropy_grad(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """d loss / d logits = (softmax - one_hot) / N: why softmax and cross-entropy are always used together."""
    z = np.asarray(logits, dtype=np.float64)
    labels = _check_labels(z, labels)
    grad = softmax(z)
    grad[np.arange(len(labels)), labels] -= 1.0  # subtract the one-hot target
    return grad / len(labels)
