"""Test-time augmentation: the logits averaged over views of each image (airbench evaluates with flip and
one-pixel translations; Jordan 2024). Views: none; flip (the image and its mirror); translate (the image and it
shifted by one pixel up-left and down-right, the shifts weighted half as much: for digits and text, which a mirror
turns into other glyphs); flip,translate (both: the image and its mirror, each also shifted)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _shift(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Translate by (dy, dx) pixels, filling with the edge (reflection keeps the image statistics)."""
    h, w = x.shape[-2:]
    padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
    return padded[..., 1 - dy : 1 - dy + h, 1 - dx : 1 - dx + w]


def logits(model: nn.Module, x: torch.Tensor, views: str = "none") -> torch.Tensor:
    """The model's logits for a batch, averaged over `views` (see the module docstring). Each view is a forward
    pass of its own: one batch of six times the images falls out of a CPU's caches (with 128-image batches
    besides, `cnnlab eval` of a flip,translate run took 30.6 s instead of 45.7 s on 2 cores)."""
    if views == "none":
        return model(x)
    # No Python int from the batch size below: a traced or exported graph (cnnlab.export) keeps the batch dynamic.
    images = (x, x.flip(-1)) if "flip" in views else (x,)
    plain = sum(model(image) for image in images) / len(images)
    if "translate" not in views:
        return plain
    shifted = sum(model(_shift(image, d, d)) for image in images for d in (1, -1)) / (2 * len(images))
    return 0.5 * plain + 0.5 * shifted
