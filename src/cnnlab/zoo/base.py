"""A zoo model's convolutional base, to put a head of one's own on (Keras' `VGG16(include_top=False)`).

The base keeps the zoo model's leading top-level modules under their own names, so inside a network file (where it
sits under `BASE`) its tensors are the zoo model's with a `base.` prefix: torchvision weights and zoo runs load into
it by name (cnnlab.transfer.apply). Which modules are kept (`KEEP`):

- `features`: everything before the global pooling: `features` of VGG and AlexNet, the stem and `layer1`-`layer4`
  of a ResNet, the stem and inception modules of GoogLeNet (Keras' `include_top=False`);
- `before-classifier`: that and the pooling too, everything before the classifier (`include_top=False` with
  `pooling="avg"` for ResNet and GoogLeNet; VGG keeps its 7x7 adaptive pool).

Cutting relies on the model's forward being its top-level modules in order (a flatten aside), true of the
families in `FAMILIES` and checked against the whole model's forward in tests/test_heads.py.
"""

from __future__ import annotations

from difflib import get_close_matches

import torch
from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.zoo.registry import create_model, list_models, model_info

BASE = "base"  # the base's module name in a network, hence the prefix of its tensors
KEEP = ("features", "before-classifier")
FAMILIES = ("vgg", "alexnet", "resnet", "googlenet")
POOL = "avgpool"  # the global pooling module every family in FAMILIES names so
SIDE_BRANCHES = ("aux1", "aux2")  # GoogLeNet's auxiliary classifiers: training-time side outputs, not the chain


class Base(nn.Module):
    """The kept modules of zoo model `model_name`, under their names, run one after the other."""

    def __init__(self, model_name: str, keep: str, modules: list[tuple[str, nn.Module]]) -> None:
        super().__init__()
        self.model_name, self.keep = model_name, keep
        for name, module in modules:
            self.add_module(name, module)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for module in self.children():
            x = module(x)
        return x

    def extra_repr(self) -> str:
        return f"{self.model_name}, keep={self.keep}"


def base_models() -> list[str]:
    """The zoo models a network can start from."""
    return [n for n in list_models() if model_info(n).family in FAMILIES]


def base_input_size(name: str, where: str) -> tuple[int, int, int]:
    """The input size of zoo model `name`, checked to be one a base can be cut from (`where` starts errors)."""
    bases = base_models()
    if name not in bases:
        close = get_close_matches(name, bases, n=3)
        hint = f"did you mean {', '.join(close)}?" if close else f"use one of the {', '.join(FAMILIES)} models"
        what = "cannot be cut into a base" if name in list_models() else "is not a zoo model"
        raise CnnlabError(f"{where}: base {name!r} {what}; {hint} (`cnnlab models` lists them)")
    return model_info(name).input_size


def build_base(name: str, keep: str, in_channels: int, where: str) -> Base:
    """The base of zoo model `name` for `in_channels`-channel images; `where` (the network file) starts errors."""
    base_input_size(name, where)
    if keep not in KEEP:
        raise CnnlabError(f"{where}: keep = {keep!r} is not one of {', '.join(KEEP)}")
    model = create_model(name, in_channels=in_channels)
    kept: list[tuple[str, nn.Module]] = []
    for child, module in model.named_children():
        if child == POOL and keep == "features":
            break
        if child not in SIDE_BRANCHES:
            kept.append((child, module))
        if child == POOL:
            break
    return Base(name, keep, kept)


def base_of(model: nn.Module) -> Base | None:
    """The zoo base a network starts from, if it has one."""
    base = getattr(model, BASE, None)
    return base if isinstance(base, Base) else None
