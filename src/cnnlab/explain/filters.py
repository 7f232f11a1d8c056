"""Learned kernels of a conv layer as pictures: what the network's filters look for.

A layer that reads 3 channels (the first layer on RGB images) shows each filter in colour; other layers show each
filter as the mean over its input channels, or with `channels="each"` one grayscale tile per input channel
(a row per filter).
"""

from __future__ import annotations

import torch
from PIL import Image
from torch import nn

from cnnlab.errors import CnnlabError, option
from cnnlab.explain.gradcam import conv_layers, find_conv_layer
from cnnlab.explain.images import display_scale, grid, to_image

CHANNEL_MODES = ("mean", "each")
TILE_MIN_SIDE = 32


def conv_kernels(model: nn.Module, layer: str | None) -> tuple[str, torch.Tensor]:
    """(name, weight (out, in, kh, kw)) of a conv layer, by name or the first one."""
    name, module = find_conv_layer(model, layer if layer is not None else next(iter(conv_layers(model)), None))
    weight = getattr(module, "weight", None)
    if not isinstance(weight, torch.Tensor) or weight.dim() != 4:
        raise CnnlabError(
            f"layer {name!r} ({type(module).__name__}) keeps no (out, in, h, w) kernel tensor to draw; "
            "choose a plain conv layer"
        )
    return name, weight.detach().float()


def filter_grid(weight: torch.Tensor, channels: str = "mean") -> Image.Image:
    """A grid of kernels, each scaled to its own min..max so that sign and shape show whatever its magnitude."""
    if channels not in CHANNEL_MODES:
        raise CnnlabError(f"{option('channels')} {channels!r} is not one of {', '.join(CHANNEL_MODES)}")
    out_c, in_c, kh, kw = weight.shape
    flat = weight.reshape(out_c, -1)
    low, high = flat.amin(1).view(-1, 1, 1, 1), flat.amax(1).view(-1, 1, 1, 1)
    scaled = (weight - low) / (high - low).clamp(min=1e-12)
    scale = display_scale(kh, kw, min_side=TILE_MIN_SIDE)
    if in_c == 3:
        return grid([to_image(k.permute(1, 2, 0).numpy(), scale) for k in scaled])
    if channels == "mean":
        means = weight.mean(1)
        low, high = means.amin((1, 2), keepdim=True), means.amax((1, 2), keepdim=True)
        return grid([to_image(k.numpy(), scale) for k in (means - low) / (high - low).clamp(min=1e-12)])
    return grid([to_image(k.numpy(), scale) for k in scaled.reshape(-1, kh, kw)], cols=in_c)
