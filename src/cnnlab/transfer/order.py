"""Mapping a source's tensors onto a model by position, as the VGG paper grew its deeper nets (Simonyan & Zisserman
2014, sec. 3.1: config A trained first; the deeper configs started with "the first four convolutional layers and
the last three fully-connected layers" of A, the layers between initialised at random).

Names cannot do this (a VGG-11's `features.3` is a VGG-16's `features.5`), positions can: the k-th source layer
whose tensors have given names and shapes (a 3x3 conv from 256 to 512 channels with its bias) goes to the k-th
model layer with the same, so a layer's weight and bias stay together and a conv's bias never lands in a dense
layer of the same width. Layers are taken in the order of their names with numbers compared as numbers
(`features.3` before `features.11`): a safetensors file keeps its tensors sorted by name, not in the model's order."""

from __future__ import annotations

import re

import torch

Signature = tuple[tuple[str, tuple[int, ...], torch.dtype], ...]


def _natural(name: str) -> list[tuple[int, int | str]]:
    """A sort key comparing the numbers in a name as numbers."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", name) if part]


def _layers(state: dict[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
    """The tensors grouped by the layer they belong to, in natural order: {"features.0": {"bias": ..., ...}}."""
    layers: dict[str, dict[str, torch.Tensor]] = {}
    for name in sorted(state, key=_natural):
        layer, _, role = name.rpartition(".")
        layers.setdefault(layer, {})[role] = state[name]
    return layers


def _signature(tensors: dict[str, torch.Tensor]) -> Signature:
    return tuple(sorted((role, tuple(t.shape), t.dtype) for role, t in tensors.items()))


def _name(layer: str, role: str) -> str:
    return f"{layer}.{role}" if layer else role


def match_by_order(own: dict[str, torch.Tensor], source: dict[str, torch.Tensor]) -> dict[str, str]:
    """{model tensor name: source tensor name}, pairing layers of one signature in the order each lists them."""
    free: dict[Signature, list[str]] = {}
    for layer, tensors in _layers(own).items():
        free.setdefault(_signature(tensors), []).append(layer)
    mapping = {}
    for layer, tensors in _layers(source).items():
        queue = free.get(_signature(tensors))
        if queue:
            target = queue.pop(0)
            mapping.update({_name(target, role): _name(layer, role) for role in tensors})
    return mapping
