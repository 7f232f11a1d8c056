"""A timm-style model registry: one decorator makes a builder discoverable by name."""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from cnnlab.errors import CnnlabError


@dataclass(frozen=True)
class ModelInfo:
    """What `cnnlab models` shows about a registered model."""

    name: str
    family: str
    input_size: tuple[int, int, int]
    num_classes: int
    builder: Callable[..., nn.Module]
    description: str = ""


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(
    name: str, *, family: str, input_size: tuple[int, int, int], num_classes: int, description: str = ""
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Register `builder(num_classes=..., in_channels=..., **kwargs)` under `name`."""

    def decorate(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        _REGISTRY[name] = ModelInfo(name, family, input_size, num_classes, builder, description)
        return builder

    return decorate


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a glob pattern, in registration order."""
    from fnmatch import fnmatch

    return [n for n in _REGISTRY if fnmatch(n, pattern)]


def model_info(name: str) -> ModelInfo:
    """The registry entry for `name`; unknown names get an error listing close matches."""
    try:
        return _REGISTRY[name]
    except KeyError:
        from difflib import get_close_matches

        close = get_close_matches(name, list(_REGISTRY), n=3)
        hint = f"did you mean {', '.join(close)}?" if close else "run `cnnlab models` to list them"
        raise CnnlabError(f"unknown model {name!r}: {hint} (or give a path to a .toml network)") from None


def is_spec_path(name: str) -> bool:
    """A model argument that names a TOML network file rather than a zoo model."""
    return name.endswith(".toml") or Path(name).is_file()


def create_model(name: str, num_classes: int | None = None, in_channels: int | None = None, **kwargs) -> nn.Module:
    """Build a zoo model or a TOML network by name or path.

    `num_classes` and `in_channels` default to the model's own (e.g. 1000 and 3 for ImageNet models).
    The model gets an `input_size` attribute (C, H, W) that the analysis and training use as default input.
    """
    for label, value in (("num_classes", num_classes), ("in_channels", in_channels)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise CnnlabError(f"{label} must be a positive integer, got {value!r}")
    if is_spec_path(name):
        from cnnlab.zoo.spec import build_from_toml

        _check_options(name, build_from_toml, name, num_classes=num_classes, in_channels=in_channels, **kwargs)
        return build_from_toml(name, num_classes=num_classes, in_channels=in_channels, **kwargs)
    info = model_info(name)
    n = info.num_classes if num_classes is None else num_classes
    c = info.input_size[0] if in_channels is None else in_channels
    _check_options(name, info.builder, num_classes=n, in_channels=c, **kwargs)
    if kwargs and torch.get_default_device().type != "meta":  # options such as image_size may not work: probe first
        from cnnlab.analysis.fits import check_fits

        with torch.device("meta"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "zero-element tensors": the check below says what is wrong
            probe = info.builder(num_classes=n, in_channels=c, **kwargs)
        probe.model_name = name
        check_fits(probe, getattr(probe, "input_size", (c, *info.input_size[1:])))
    model = info.builder(num_classes=n, in_channels=c, **kwargs)
    if not hasattr(model, "input_size"):  # builders with a size option (mlp) set their own
        model.input_size = (c, *info.input_size[1:])
    model.model_name = name
    return model


def _check_options(name: str, builder: Callable[..., nn.Module], *args, **options) -> None:
    """Unknown or missing options are the user's error; a TypeError raised inside a builder is a bug and propagates."""
    try:
        inspect.signature(builder).bind(*args, **options)
    except TypeError as e:
        raise CnnlabError(f"model {name!r} does not take these options: {e}") from None
