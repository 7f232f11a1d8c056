"""Grad-CAM (Selvaraju et al. 2017) and Grad-CAM++ (Chattopadhay et al. 2018) for any model with a conv layer.

A forward hook keeps the chosen layer's output A (N, K, h, w); autograd gives dScore/dA for the explained class's
logit. Grad-CAM weighs each map by its mean gradient, Grad-CAM++ by positive gradients with per-pixel
coefficients; the weighted sum, rectified, upsampled to the input and scaled to a maximum of 1, is the heatmap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cnnlab.errors import CnnlabError, option

METHODS = ("gradcam", "gradcam++")


@dataclass(frozen=True)
class CamResult:
    layer: str
    heatmaps: torch.Tensor  # (N, H, W) in [0, 1] at the input's resolution
    targets: torch.Tensor  # (N,) the class each heatmap explains
    probabilities: torch.Tensor  # (N, classes) softmax of the model's output (a run's: of its test-time views)

    @property
    def predicted(self) -> torch.Tensor:
        return self.probabilities.argmax(1)


def conv_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Convolutional layers by their module name, in registration order (nn.Conv2d and cnnlab's own conv layers)."""
    return {
        name: m
        for name, m in model.named_modules()
        if name and (isinstance(m, nn.Conv2d) or getattr(m, "analysis_kind", None) == "conv")
    }


def find_conv_layer(model: nn.Module, name: str | None) -> tuple[str, nn.Module]:
    """The conv layer called `name`, or the last one; anything else is an error that lists the valid names."""
    layers = conv_layers(model)
    if not layers:
        raise CnnlabError("the model has no convolutional layer to explain; Grad-CAM needs one")
    if name is None:
        return next(reversed(layers.items()))
    if name not in layers:
        what = "is not a convolutional layer" if name in dict(model.named_modules()) else "is not a layer of the model"
        raise CnnlabError(f"{option('layer')} {name!r} {what}; conv layers: {', '.join(layers)}")
    return name, layers[name]


def map_shapes(model: nn.Module, x: torch.Tensor) -> dict[str, tuple[int, int, int]]:
    """Each module's output (C, H, W) for inputs `x` where it is a map, at its first call (one forward pass, no
    gradients); modules the pass does not reach, or whose output is not a map, are left out."""
    shapes: dict[str, tuple[int, int, int]] = {}

    def keeper(name: str) -> Callable[..., None]:
        def keep(_: nn.Module, __: tuple, out: torch.Tensor) -> None:  # returns None: the output stays as it is
            if isinstance(out, torch.Tensor) and out.dim() == 4:
                shapes.setdefault(name, (out.shape[1], out.shape[2], out.shape[3]))

        return keep

    handles = [m.register_forward_hook(keeper(name)) for name, m in model.named_modules() if name]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return shapes


def explained_layer(model: nn.Module, x: torch.Tensor, name: str | None) -> tuple[str, nn.Module]:
    """The layer Grad-CAM explains for inputs `x`: `name` (a conv layer, or any module whose output is a map: a
    residual or inception block), or by default the last conv layer whose maps have more than one pixel, or the
    block that joins it to other branches (joining_block). A 1x1 map (LeNet-5's C5, whose 5x5 kernels cover its
    whole 5x5 input) is one number per channel: its Grad-CAM is the same value over the whole image, a flat overlay
    that explains nothing."""
    find_conv_layer(model, None)  # a model without conv layers: the usual error
    shapes, modules = map_shapes(model, x[:1]), dict(model.named_modules())
    convs = conv_layers(model)
    wide = [n for n, (_, h, w) in shapes.items() if h * w > 1]
    if name is None:
        last = [n for n in wide if n in convs]
        if not last:
            raise CnnlabError("every conv layer of the model gives 1x1 maps; Grad-CAM needs maps of several pixels")
        block = joining_block(last[-1], shapes)
        return block, modules[block]
    if name not in shapes:
        if name in convs:  # a conv layer the forward pass does not reach
            return find_conv_layer(model, name)
        what = "gives no feature maps (C, H, W)" if name in modules else "is not a layer of the model"
        raise CnnlabError(
            f"{option('layer')} {name!r} {what}; conv layers: {', '.join(convs)} (or a block that gives maps)"
        )
    if name not in wide:
        raise CnnlabError(
            f"{option('layer')} {name!r} gives 1x1 maps, so its Grad-CAM would be one value over the whole image; "
            f"choose a layer with larger maps: {', '.join(n for n in wide if n in convs) or 'none has them'}"
        )
    return name, modules[name]


def joining_block(conv: str, shapes: dict[str, tuple[int, int, int]]) -> str:
    """The outermost block around conv layer `conv` whose output is its maps joined with other branches' (more
    channels at the same size: GoogLeNet's inception5b, whose last conv is the pool branch's 128 of 1,024
    channels), else `conv` itself (a residual block adds into the same channels, a VGG stage pools after)."""
    c, h, w = shapes[conv]
    chosen, parts = conv, conv.split(".")
    for i in range(len(parts) - 1, 0, -1):
        block = shapes.get(".".join(parts[:i]))
        if block is not None and block[1:] == (h, w) and block[0] > c:
            chosen = ".".join(parts[:i])
    return chosen


def _weights(a: torch.Tensor, g: torch.Tensor, method: str) -> torch.Tensor:
    """Per-map weights (N, K) from activations and gradients (N, K, h, w)."""
    if method == "gradcam":
        return g.mean((2, 3))
    g2 = g.pow(2)
    denominator = 2 * g2 + a.sum((2, 3), keepdim=True) * g2 * g
    alpha = torch.where(g != 0, g2 / denominator.where(denominator != 0, torch.ones_like(denominator)), 0.0)
    return (alpha * g.clamp(min=0)).sum((2, 3))


def _cam_batch(
    model: nn.Module, module: nn.Module, x: torch.Tensor, targets: torch.Tensor | None, method: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    kept: list[torch.Tensor] = []

    def hook(_: nn.Module, __: tuple, output: torch.Tensor) -> torch.Tensor:
        kept.append(output)
        return output.clone()  # later in-place ops (ReLU(inplace=True)) change the clone, not the kept maps

    handle = module.register_forward_hook(hook)
    try:
        with torch.enable_grad():
            logits = model(x.detach().requires_grad_(True))
            if not kept or kept[-1].dim() != 4:
                raise CnnlabError(
                    f"the chosen layer gave no (N, C, H, W) output in the forward pass; choose another {option('layer')}"
                )
            a = kept[-1]
            t = logits.argmax(1) if targets is None else targets
            (g,) = torch.autograd.grad(logits.gather(1, t[:, None]).sum(), a)
    finally:
        handle.remove()
    a, g = a.detach(), g.detach()
    cam = F.relu((_weights(a, g, method)[:, :, None, None] * a).sum(1, keepdim=True))
    cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    cam = cam / cam.amax((1, 2), keepdim=True).clamp(min=1e-12)
    return cam, t.detach(), torch.softmax(logits.detach(), 1)


def grad_cam(
    model: nn.Module,
    x: torch.Tensor,
    layer: str | None = None,
    target: int | torch.Tensor | None = None,
    method: str = "gradcam",
    batch_size: int = 64,
) -> CamResult:
    """Heatmaps for model inputs `x` (N, C, H, W), explaining `target` (a class for all, one per image, or None
    for each image's predicted class) at conv layer `layer` (default: the last with maps of more than one pixel,
    explained_layer). The model is put in eval mode, so dropout and batch norm do not make an image's map depend on
    its batch."""
    if method not in METHODS:
        raise CnnlabError(f"{option('method')} {method!r} is not one of {', '.join(METHODS)}")
    if batch_size < 1:
        raise CnnlabError(f"{option('batch_size')} must be at least 1, got {batch_size}")
    model.eval()
    name, module = explained_layer(model, x, layer)
    targets = None if target is None else torch.as_tensor(target, dtype=torch.long).expand(len(x))
    parts = [
        _cam_batch(
            model, module, x[i : i + batch_size], None if targets is None else targets[i : i + batch_size], method
        )
        for i in range(0, len(x), batch_size)
    ]
    heat, t, probs = (torch.cat(p) for p in zip(*parts))
    return CamResult(name, heat, t, probs)
