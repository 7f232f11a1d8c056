"""Feature maps: what one layer outputs for one image, each channel drawn as a small picture in a grid."""

from __future__ import annotations

from collections.abc import Callable

import torch
from PIL import Image
from torch import nn

from cnnlab.errors import CnnlabError, option
from cnnlab.explain.images import colorize, display_scale, grid, to_image

TILE_MIN_SIDE = 48


@torch.no_grad()
def feature_maps(model: nn.Module, x: torch.Tensor, layer: str) -> torch.Tensor:
    """The (C, H, W) output of the module named `layer` for one model input x (1, C, H, W).

    One forward pass with hooks on every module also finds which layers have spatial maps, so a wrong name gets
    the list of names that would work."""
    modules = dict(model.named_modules())
    spatial: list[str] = []
    kept: list[torch.Tensor] = []

    def watch(name: str) -> Callable[[nn.Module, tuple, object], None]:
        def hook(_: nn.Module, __: tuple, output: object) -> None:
            if isinstance(output, torch.Tensor) and output.dim() == 4:
                spatial.append(name)
                if name == layer and not kept:
                    kept.append(output.clone())  # before any in-place op that follows the layer

        return hook

    handles = [m.register_forward_hook(watch(name)) for name, m in modules.items() if name]
    try:
        model.eval()
        model(x[:1])
    finally:
        for h in handles:
            h.remove()
    if not kept:
        names = ", ".join(dict.fromkeys(spatial))
        what = "has no (C, H, W) feature maps" if layer in modules else "is not a layer of the model"
        raise CnnlabError(f"{option('layer')} {layer!r} {what}; layers with feature maps: {names}")
    return kept[0][0]


def feature_grid(maps: torch.Tensor, cmap: str = "viridis") -> Image.Image:
    """Each channel scaled to its own min..max (so weak maps still show their pattern), in a near-square grid."""
    flat = maps.reshape(len(maps), -1)
    low, high = flat.amin(1).view(-1, 1, 1), flat.amax(1).view(-1, 1, 1)
    scaled = ((maps - low) / (high - low).clamp(min=1e-12)).numpy()
    scale = display_scale(*maps.shape[-2:], min_side=TILE_MIN_SIDE)
    return grid([to_image(colorize(m, cmap), scale) for m in scaled])
