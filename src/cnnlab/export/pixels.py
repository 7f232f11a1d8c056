"""The NumPy twin of cnnlab.data.adapt and cnnlab.data.augment.to_inputs: pixels fitted to a network's input and
scaled and standardised as its training data was, for predicting with an exported model where PyTorch is absent.

Resizing follows torch.nn.functional.interpolate(mode="bilinear", antialias=True), itself Pillow's resampling
(libImaging/Resample.c): a triangle filter whose support widens by the scale factor when shrinking, weights
normalised per output pixel, applied along the width, then the height."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cnnlab.errors import CnnlabError
from cnnlab.imagefile import LUMA, pad_amounts


def _channels(x: np.ndarray, channels: int) -> np.ndarray:
    have = x.shape[1]
    if have == channels:
        return x
    if have == 1 and channels == 3:
        return np.repeat(x, 3, axis=1)
    if have == 3 and channels == 1:
        luma = np.asarray(LUMA, dtype=np.float32).reshape(1, 3, 1, 1)
        return np.clip(np.rint((x.astype(np.float32) * luma).sum(1, keepdims=True)), 0, 255).astype(np.uint8)
    raise CnnlabError(f"cannot adapt {have}-channel images to {channels} channels: only 1 <-> 3 is supported")


def resample_taps(size_in: int, size_out: int) -> tuple[np.ndarray, np.ndarray]:
    """(first input index, weights) per output pixel of an antialiased bilinear resize: a triangle around the
    pixel's centre, normalised, zero past its taps. Rounded to float32 at each step where ATen's _compute_weights_aa
    is (float inputs compute in float), so the resized pixels agree with PyTorch's exactly."""
    f32, f64 = np.float32, np.float64
    scale = f32(size_in) / f32(size_out)
    support = scale if scale >= 1 else f32(1)  # the triangle's half-width in input pixels
    inv = f32(1) / scale if scale >= 1 else f32(1)
    centers = (f64(scale) * (np.arange(size_out) + 0.5)).astype(f32)
    firsts = np.maximum(((centers - support).astype(f64) + 0.5).astype(np.int64), 0)
    ends = np.minimum(((centers + support).astype(f64) + 0.5).astype(np.int64), size_in)
    taps = np.arange((ends - firsts).max())
    at = ((firsts[:, None] + taps).astype(f32) - centers[:, None]).astype(f64) + 0.5
    weights = np.maximum(f32(0), f32(1) - np.abs((at * f64(inv)).astype(f32)))
    weights[taps >= (ends - firsts)[:, None]] = 0
    total = np.zeros(size_out, dtype=f32)
    for k in taps:  # summed in order, in float32
        total += weights[:, k]
    return firsts, weights / total[:, None]


def _resample(x: np.ndarray, axis: int, size_out: int) -> np.ndarray:
    """Resize float32 `x` along `axis`: each output pixel's taps summed in order with one rounding per tap (a fused
    multiply-add: the float32 product is exact in float64), as ATen's compiled loop does."""
    size_in = x.shape[axis]
    firsts, weights = resample_taps(size_in, size_out)
    x = np.moveaxis(x, axis, -1)
    out = np.zeros((*x.shape[:-1], size_out), dtype=np.float32)
    for k in range(weights.shape[1]):
        index = np.minimum(firsts + k, size_in - 1)  # past the support the weight is zero
        out = (out + x[..., index].astype(np.float64) * weights[:, k]).astype(np.float32)
    return np.moveaxis(out, -1, axis)


def adapt(x: np.ndarray, target_chw: Sequence[int], mode: str = "pad") -> np.ndarray:
    """uint8 (N, C, H, W) images -> `target_chw`: grayscale <-> RGB, then centred zero padding ("pad") or
    antialiased bilinear resizing rounded back to uint8 ("resize"), as cnnlab.data.adapt does."""
    channels, height, width = target_chw
    x = _channels(x, channels)
    pads = pad_amounts(mode, tuple(x.shape[-2:]), (height, width))
    h, w = x.shape[-2:]
    if (h, w) == (height, width):
        return x
    if pads is not None:
        top, bottom, left, right = pads
        return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    out = x.astype(np.float32)
    if w != width:  # along the width first, then the height, as ATen does
        out = _resample(out, 3, width)
    if h != height:
        out = _resample(out, 2, height)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def to_inputs(
    pixels: np.ndarray, scale: float, mean: Sequence[float] | None, std: Sequence[float] | None
) -> np.ndarray:
    """Pixels in 0..255 -> float32 model inputs: times `scale`, then standardised with mean/std given in 0..1 units
    (scaled by scale * 255, as cnnlab.data.augment.to_inputs does)."""
    x = pixels.astype(np.float32) * np.float32(scale)
    if mean is None or std is None:
        return x
    units = scale * 255
    m = np.asarray([v * units for v in mean], dtype=np.float32).reshape(1, -1, 1, 1)
    s = np.asarray([v * units for v in std], dtype=np.float32).reshape(1, -1, 1, 1)
    return (x - m) / s
