"""Models built on PyTorch's meta device, for their shapes and counts only, with their initialisers skipped.

A meta tensor has a shape and no numbers, yet `nn.init`'s functions and the in-place fills they call still run on
it, each through PyTorch's Python reference implementation (about a millisecond apiece; a ResNet-152 makes
hundreds of calls): most of the time `cnnlab models` took to build the zoo. There are no numbers to draw on the
meta device, so skipping those calls leaves every shape, dtype and count as it was. The same idea as
`torch.nn.utils.skip_init` and Hugging Face's `init_empty_weights`, for modules we build ourselves."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

_INITIALISERS = "uniform_ normal_ trunc_normal_ constant_ ones_ zeros_ eye_ dirac_ xavier_uniform_ xavier_normal_"
_INITIALISERS += " kaiming_uniform_ kaiming_normal_ orthogonal_ sparse_"
# By identity: not every callable PyTorch hands to a mode is hashable.
_FILLS = frozenset(id(getattr(nn.init, name)) for name in _INITIALISERS.split())
_FILLS |= frozenset(id(getattr(torch.Tensor, name)) for name in ("normal_", "uniform_", "fill_", "zero_"))


class _SkipFills(TorchFunctionMode):
    """Returns a meta tensor unchanged from an initialiser or fill; everything else runs as usual."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if id(func) in _FILLS:
            tensor = args[0] if args else kwargs.get("tensor")
            if isinstance(tensor, torch.Tensor) and tensor.is_meta:
                return tensor
        return func(*args, **kwargs)


@contextmanager
def meta_device() -> Iterator[None]:
    """`with meta_device(): model = create_model(...)`: as `with torch.device("meta")`, only faster to build."""
    with torch.device("meta"), _SkipFills():
        yield


@contextmanager
def shape_probe() -> Iterator[None]:
    """A forward pass on the meta device for shapes only: PyTorch's note that an even kernel with padding "same"
    copies its input is about speed, and a meta tensor copies nothing, so it is not shown."""
    with torch.device("meta"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Using padding='same' with even kernel")
        yield
