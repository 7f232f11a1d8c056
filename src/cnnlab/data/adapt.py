"""Fit uint8 images to a network's input shape: MNIST 1x28x28 -> LeNet-5's 1x32x32 or a VGG's 3x32x32."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from cnnlab.errors import CnnlabError
from cnnlab.imagefile import LUMA, pad_amounts

# Images are resized in float batches of about this many bytes: small enough to stay in the CPU's cache between
# the conversion, the resize and the rounding (50,000 CIFAR-10 images to 28x28 in 0.67 s in batches of 682
# against 1.33 s in batches of 4,096 on an AMD EPYC Zen 4 with 32 MB of L3; the same pixels either way).
RESIZE_CHUNK_BYTES = 8 << 20


def _channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    have = x.shape[1]
    if have == channels:
        return x
    if have == 1 and channels == 3:
        return x.expand(-1, 3, -1, -1).contiguous()
    if have == 3 and channels == 1:
        luma = torch.tensor(LUMA).view(1, 3, 1, 1)
        return (x.float() * luma).sum(1, keepdim=True).round_().clamp_(0, 255).to(torch.uint8)
    raise CnnlabError(f"cannot adapt {have}-channel images to {channels} channels: only 1 <-> 3 is supported")


def adapt(x: torch.Tensor, target_chw: tuple[int, int, int], mode: str = "pad") -> torch.Tensor:
    """Convert uint8 (N, C, H, W) images to `target_chw`: grayscale <-> RGB, then centred zero padding
    ("pad", as LeCun padded MNIST 28 -> 32) or antialiased bilinear resizing ("resize")."""
    channels, height, width = target_chw
    x = _channels(x, channels)
    pads = pad_amounts(mode, tuple(x.shape[-2:]), (height, width))
    if tuple(x.shape[-2:]) == (height, width):
        return x
    if pads is not None:
        top, bottom, left, right = pads
        return F.pad(x, (left, right, top, bottom))
    out = torch.empty((len(x), channels, height, width), dtype=torch.uint8, device=x.device)
    chunk = max(1, RESIZE_CHUNK_BYTES // max(1, 4 * math.prod(x.shape[1:])))
    for i in range(0, len(x), chunk):
        part = F.interpolate(x[i : i + chunk].float(), size=(height, width), mode="bilinear", antialias=True)
        out[i : i + chunk] = part.round_().clamp_(0, 255).to(torch.uint8)
    return out
