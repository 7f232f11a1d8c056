"""Batch normalisation in NumPy: training forward, inference forward, backward, and the running statistics.

Channel c is normalised over every value it has in the batch: the N rows of an (N, C) input, or the N*H*W pixels
of an (N, C, H, W) one; call that count m. Training uses the batch's own statistics:

    mean = (1/m) * sum x           var = (1/m) * sum (x - mean)^2       (biased: divided by m, not m - 1)
    x_hat = (x - mean) / sqrt(var + eps)
    out = gamma * x_hat + beta      (gamma, beta: one learnt scale and shift per channel)

Inference uses running averages gathered in training instead, so one example's output does not depend on the
others in its batch. PyTorch updates them with the unbiased variance var * m/(m-1):

    running = (1 - momentum) * running + momentum * batch value
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnlab.errors import CnnlabError


@dataclass(frozen=True)
class BatchNormCache:
    """What the forward pass keeps for the backward pass (and for showing the statistics)."""

    x_hat: np.ndarray  # the normalised input, same shape as x
    mean: np.ndarray  # (C,) batch mean per channel
    var: np.ndarray  # (C,) biased batch variance per channel (the one used to normalise)
    gamma: np.ndarray  # (C,)
    eps: float

    @property
    def count(self) -> int:
        """m: how many values each channel was normalised over."""
        return self.x_hat.size // self.mean.size


def _axes(x: np.ndarray) -> tuple[int, ...]:
    """Every axis but the channel axis 1: the ones statistics are taken over."""
    if x.ndim < 2:
        raise CnnlabError(f"batch norm takes x as (N, C) or (N, C, H, W); got shape {x.shape}")
    return (0, *range(2, x.ndim))


def _per_channel(v: np.ndarray | float, x: np.ndarray, name: str) -> np.ndarray:
    """A (C,) vector shaped (1, C, 1, ...) so it broadcasts along the channel axis of x."""
    v = np.asarray(v, dtype=np.float64)
    if v.ndim == 0:  # one number for every channel
        v = np.full(x.shape[1], float(v))
    if v.shape != (x.shape[1],):
        raise CnnlabError(f"{name} must have one value per channel ({x.shape[1]}), got shape {v.shape}")
    return v.reshape((1, -1) + (1,) * (x.ndim - 2))


def batch_norm_train(
    x: np.ndarray, gamma: np.ndarray | float = 1.0, beta: np.ndarray | float = 0.0, eps: float = 1e-5
) -> tuple[np.ndarray, BatchNormCache]:
    """Normalise with this batch's mean and variance, so each channel enters the next layer at a steady scale."""
    x = np.asarray(x, dtype=np.float64)
    axes = _axes(x)
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)  # biased: divide by m
    x_hat = (x - mean) / np.sqrt(var + eps)
    g = _per_channel(gamma, x, "gamma")
    out = g * x_hat + _per_channel(beta, x, "beta")
    return out, BatchNormCache(x_hat, mean.ravel(), var.ravel(), g.ravel(), eps)


def batch_norm_inference(
    x: np.ndarray,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    gamma: np.ndarray | float = 1.0,
    beta: np.ndarray | float = 0.0,
    eps: float = 1e-5,
) -> np.ndarray:
    """Normalise with the statistics gathered in training: a fixed per-channel scale and shift."""
    x = np.asarray(x, dtype=np.float64)
    _axes(x)
    x_hat = (x - _per_channel(running_mean, x, "running_mean")) / np.sqrt(
        _per_channel(running_var, x, "running_var") + eps
    )
    return _per_channel(gamma, x, "gamma") * x_hat + _per_channel(beta, x, "beta")


def update_running_stats(
    running_mean: np.ndarray, running_var: np.ndarray, cache: BatchNormCache, momentum: float = 0.1
) -> tuple[np.ndarray, np.ndarray]:
    """New running (mean, var) after one training batch; the variance is unbiased (times m/(m-1)) as in PyTorch."""
    m = cache.count
    if m < 2:
        raise CnnlabError("the unbiased variance needs at least 2 values per channel")
    new_mean = (1 - momentum) * np.asarray(running_mean, float) + momentum * cache.mean
    new_var = (1 - momentum) * np.asarray(running_var, float) + momentum * cache.var * m / (m - 1)
    return new_mean, new_var


def batch_norm_backward(grad_out: np.ndarray, cache: BatchNormCache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(d loss/dx, d loss/dgamma, d loss/dbeta) from d loss/d out, for the training forward pass.

    With g = grad_out and sums over the m values of each channel:
        dbeta  = sum g                  dgamma = sum g * x_hat
        dx     = gamma / (m * sqrt(var + eps)) * (m*g - sum g - x_hat * sum g*x_hat)
    The two subtracted sums are there because mean and var depend on every x too: moving one x moves them."""
    g = np.asarray(grad_out, dtype=np.float64)
    if g.shape != cache.x_hat.shape:
        raise CnnlabError(f"grad_out has shape {g.shape}; the forward output had {cache.x_hat.shape}")
    axes = _axes(g)
    m = cache.count
    dbeta = g.sum(axis=axes)
    dgamma = (g * cache.x_hat).sum(axis=axes)
    scale = _per_channel(cache.gamma / np.sqrt(cache.var + cache.eps), g, "gamma") / m
    dx = scale * (m * g - _per_channel(dbeta, g, "dbeta") - cache.x_hat * _per_channel(dgamma, g, "dgamma"))
    return dx, dgamma, dbeta
