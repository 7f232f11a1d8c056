"""Mapping a source's tensors onto a model by position, as the VGG paper grew its deeper nets (Simonyan & Zisserman
2014, sec. 3.1: config A trained first; the deeper configs started with "the first four convolutional layers and
the last three fully-connected layers" of A, the layers between initialised at random).

Names cannot do this (a VGG-11's `features.3` is a VGG-16's `features.5`), positions can: the k-th source tensor of
a given shape and role (weight, bias, running mean, ...) goes to the k-th model tensor of that shape and role."""

from __future__ import annotations

import torch

Key = tuple[tuple[int, ...], torch.dtype, str]


def _key(name: str, tensor: torch.Tensor) -> Key:
    return tuple(tensor.shape), tensor.dtype, name.rsplit(".", 1)[-1]


def match_by_order(own: dict[str, torch.Tensor], source: dict[str, torch.Tensor]) -> dict[str, str]:
    """{model tensor name: source tensor name}, pairing tensors of one shape and role in the order each lists them."""
    free: dict[Key, list[str]] = {}
    for name, tensor in own.items():
        free.setdefault(_key(name, tensor), []).append(name)
    mapping = {}
    for name, tensor in source.items():
        queue = free.get(_key(name, tensor))
        if queue:
            mapping[queue.pop(0)] = name
    return mapping
