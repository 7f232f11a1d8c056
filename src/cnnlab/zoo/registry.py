"""A timm-style model registry: one decorator makes a builder discoverable by name."""

from __future__ import annotations

import collections.abc
import functools
import inspect
import re
import types
import typing
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnlab.coexist import keep_triton_from_tensorflow
from cnnlab.errors import CnnlabError, echoed, first_line, option, speaking_to_cli
from cnnlab.memory import require_memory
from cnnlab.resources import named_kind
from cnnlab.zoo.meta import meta_device, shape_probe


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
        raise CnnlabError(f"unknown model {echoed(name)}: {hint} (or net:NAME, or a path to a .toml network)") from None


def model_name(model: Any) -> str:
    """A model argument as the text that names it (a path given as a Path, too), or a one-line error for anything
    else: a model object, which a run could not rebuild from its config."""
    if isinstance(model, Path):
        return str(model)
    if isinstance(model, str):
        return model
    if isinstance(model, nn.Module):
        raise CnnlabError(
            f"model must be a zoo name or a TOML network file, not a {type(model).__name__} object (a run rebuilds "
            "its model from its settings); register its builder with @cnnlab.zoo.register_model and give the name"
        )
    raise CnnlabError(f"model must be a zoo name or a TOML network file, got {model!r}")


def is_spec_path(name: str) -> bool:
    """A model argument that names a TOML network file rather than a zoo model (a path, or KIND:NAME of a shipped
    file: net:NAME, or another kind, which load_spec then refuses by name). A name no zoo model has that is spelt as
    a path (a folder in it, or a file suffix: nets/mine, mine.net) is one even where no such file is: a run resumed
    from another folder rebuilds it from the text it kept, and elsewhere the missing file is what is named."""
    if name.endswith(".toml") or named_kind(name) is not None or _is_file(name):
        return True
    return name not in _REGISTRY and bool(re.search(r"[/\\]|\.\w+$", name))


def _is_file(name: str) -> bool:
    """Whether `name` is a file; a name the file system cannot hold (too long: `OSError: File name too long`, a
    traceback from Python) is none, so the unknown model is named in one line."""
    try:
        return Path(name).is_file()
    except OSError:
        return False


FIXED = ("num_classes", "in_channels")  # every builder's first two parameters, with flags of their own


def model_options(name: str) -> dict[str, inspect.Parameter]:
    """The options a zoo model's builder takes besides num_classes and in_channels, by name (a network file: none).

    Read from the builder's signature, so a `functools.partial` registration (resnet50-v1) shows its bound value
    as the default."""
    if is_spec_path(name):
        return {}
    params = inspect.signature(model_info(name).builder).parameters.values()
    skip = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return {p.name: p for p in params if p.name not in FIXED and p.kind not in skip}


def describe_options(name: str) -> str:
    """`aux_logits=false, inception=reduction, kernel5=3, ...`: each option with its default, or "none"."""
    options = model_options(name)
    return ", ".join(f"{k}={_show(p.default)}" for k, p in options.items()) or "none"


def _show(value: Any) -> str:
    if value is inspect.Parameter.empty:
        return "(required)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (tuple, list)):
        return ",".join(_show(v) for v in value)
    return str(value)  # as typed after --option KEY=


def parse_option(text: str) -> tuple[str, Any]:
    """`KEY=VALUE` from the command line: the value becomes a bool (true/false), int, float, a list of those for
    comma-separated values (widths=32,64,128, or as an experiment file writes it, widths=[32, 64, 128]), else
    stays a string (quotes, as TOML has them, are dropped)."""
    key, sep, value = text.partition("=")
    key = key.strip().replace("-", "_")
    if not sep or not key.isidentifier():
        raise CnnlabError(f"--option takes KEY=VALUE (e.g. kernel5=5), got {text!r}")
    if key in FIXED:
        raise CnnlabError(f"--option {text}: give {key} with --{key.replace('_', '-')}, not as an option")
    value = value.strip()
    bracketed = value.startswith("[") and value.endswith("]")
    if bracketed or "," in value:
        items = value[1:-1] if bracketed else value
        return key, [_scalar(v.strip()) for v in items.split(",") if v.strip()]
    return key, _scalar(value)


def _scalar(text: str) -> Any:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text


def check_model_options(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """`options` checked against the builder's signature and type hints, with ints widened where a float is
    wanted; unknown options and values of the wrong kind are one-line errors naming the options the model takes."""
    if not options:
        return {}
    if is_spec_path(name):
        raise CnnlabError(
            f"{name}: a network file takes no options (got {', '.join(sorted(options))}); change the file instead"
        )
    known = model_options(name)
    takes = f"{name} takes: {describe_options(name)}"
    checked = {}
    for key, value in options.items():
        if key in FIXED:
            flag = "--" + key.replace("_", "-")
            raise CnnlabError(f"model {name!r}: give {key} with {flag}, not as an option; {takes}")
        if key not in known:
            raise CnnlabError(f"model {name!r} has no option {key!r}; {takes}")
        ok, converted, wanted = _conform(value, _hints(name).get(key, Any))
        if not ok:
            raise CnnlabError(f"model {name!r}: option {key} must be {wanted}, got {_show(value)}; {takes}")
        checked[key] = converted
    return checked


def _hints(name: str) -> dict[str, Any]:
    builder = model_info(name).builder
    while isinstance(builder, functools.partial):
        builder = builder.func
    try:
        return typing.get_type_hints(builder)
    except Exception:  # an annotation that does not resolve: take the values unchecked
        return {}


def _conform(value: Any, hint: Any) -> tuple[bool, Any, str]:
    """(fits, value converted, what was wanted) for a value against a type hint; unknown hints take anything."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is bool:
        return isinstance(value, bool), value, "true or false"
    if hint is int:  # a size of 2**31 or more overflows PyTorch's (hidden=10**22: an OverflowError or TypeError)
        whole = isinstance(value, int) and not isinstance(value, bool)
        return whole and abs(value) < 2**31, value, "an integer below 2**31" if whole else "an integer"
    if hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return ok, float(value) if ok else value, "a number"
    if hint is str:
        return isinstance(value, str), value, "a string"
    if origin is typing.Literal:
        return value in args and not isinstance(value, bool), value, "one of " + ", ".join(map(str, args))
    if origin in (typing.Union, types.UnionType):
        wanted = []
        for arg in args:
            if arg is type(None):
                if value is None:
                    return True, value, ""
                continue
            ok, converted, what = _conform(value, arg)
            if ok:
                return True, converted, ""
            wanted.append(what)
        return False, value, " or ".join(wanted)
    if origin in (list, tuple, collections.abc.Sequence):  # one value is a list of one
        items = list(value) if isinstance(value, (list, tuple)) else [value]
        if len(args) != 1:  # Sequence without an item type, or a fixed-length tuple: the builder checks items
            return True, items, "a comma-separated list"
        kinds = [_conform(item, args[0]) for item in items]  # hidden=1.5 was cut to 1 by mlp's int(h)
        wanted = next((k[2] for k in kinds if not k[0]), kinds[0][2] if kinds else "a value")
        return (
            all(k[0] for k in kinds),
            [k[1] for k in kinds],
            f"a comma-separated list, each {wanted}",
        )
    return True, value, "any value"


def create_model(
    name: str, num_classes: int | None = None, in_channels: int | None = None, network: str | None = None, **kwargs
) -> nn.Module:
    """Build a zoo model or a TOML network by name or path.

    `num_classes` and `in_channels` default to the model's own (e.g. 1000 and 3 for ImageNet models).
    The model gets an `input_size` attribute (C, H, W) that the analysis and training use as default input.
    `network` is the text of the network file `name` names, built instead of what the file says now (a run's own
    copy). Other keyword arguments are the builder's options (`model_options`), checked first (`check_model_options`).
    """
    keep_triton_from_tensorflow()  # a network file's build traces it with torch.func, which loads TorchDynamo
    for label, value in (("num_classes", num_classes), ("in_channels", in_channels)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not 1 <= value < 2**31):
            raise CnnlabError(f"{option(label)} must be a positive integer below 2**31, got {value!r}")
    name = model_name(name)
    if network is not None or is_spec_path(name):
        from cnnlab.zoo.spec import build_from_toml

        check_model_options(name, kwargs)
        return build_from_toml(name, num_classes=num_classes, in_channels=in_channels, text=network)
    info = model_info(name)
    n = info.num_classes if num_classes is None else num_classes
    c = info.input_size[0] if in_channels is None else in_channels
    kwargs = check_model_options(name, kwargs)
    _check_options(name, info.builder, num_classes=n, in_channels=c, **kwargs)
    wider = n > info.num_classes or c > info.input_size[0]  # may not fit in memory: probed first, as options are
    if (kwargs or wider) and torch.get_default_device().type != "meta":  # options such as image_size may not work
        with meta_device(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "zero-element tensors": the probe below says what is wrong
            probe = _build(name, info.builder, n, c, kwargs)
        asked = {"num_classes": n} if n > info.num_classes else {}
        asked.update({"in_channels": c} if c > info.input_size[0] else {})
        _check_probe(name, probe, getattr(probe, "input_size", (c, *info.input_size[1:])), {**asked, **kwargs})
    model = _build(name, info.builder, n, c, kwargs)
    if not hasattr(model, "input_size"):  # builders with a size option (mlp) set their own
        model.input_size = (c, *info.input_size[1:])
    model.model_name = name
    return model


def _build(name: str, builder: Callable[..., nn.Module], n: int, c: int, options: dict[str, Any]) -> nn.Module:
    """The builder's call; a ValueError it raises over a given option, or PyTorch's RuntimeError over the sizes
    the option gave (hidden=-1: "negative dimension"), is the user's error, in one line."""
    try:
        return builder(num_classes=n, in_channels=c, **options)
    except (ValueError, RuntimeError, OverflowError) as e:  # hidden=10**22: "cannot convert float infinity"
        if not options:
            raise
        given = _given(options)
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CnnlabError(f"model {name!r} with {given}: {first}; {name} takes: {describe_options(name)}") from None


def _check_probe(name: str, probe: nn.Module, input_size: tuple[int, ...], given: dict[str, Any]) -> None:
    """Refuse, in one line, a model built on the meta device with the `given` options (or more classes or channels
    than its own) whose tensors would not fit this machine's memory, or that cannot run on its own input (an
    image_size too small for its pools). Only what building allocates is counted: activations are the trainer's to
    check, and which layer fails is the analysis' to say (`summarize`), as the zoo stands beneath it."""
    label = f"model {name} with {_given(given)}"
    where = "x".join(map(str, input_size))
    if not all(size > 0 for size in input_size):
        raise CnnlabError(f"{label} is built for input {where}, which holds no pixels; give a positive size")
    params, buffers = list(probe.parameters()), list(probe.buffers())
    nbytes = sum(t.numel() * t.element_size() for t in params + buffers)
    counted = f"{sum(t.numel() for t in params):,} parameters"
    if any(t.numel() for t in buffers):  # LeNet-5's fixed RBF codes, batch norm's running statistics
        counted += f" and {sum(t.numel() for t in buffers):,} buffer values"
    require_memory(nbytes, label, counted, "give smaller options, fewer channels or a smaller model")
    try:
        with shape_probe():
            probe.eval()(torch.empty(1, *input_size))  # a batch of one: batch norm after a dense layer needs eval
    except Exception as e:  # torch's own shape errors, whatever their type: the options made a net that cannot run
        raise CnnlabError(
            f"{label} cannot run on its own input {where} ({first_line(e)}); change the options, or see which layer with "
            f"{'cnnlab summary' if speaking_to_cli() else 'summarize'}"
        ) from None


def _given(options: dict[str, Any]) -> str:
    """Options as a message names them: `hidden=64,32, image_size=8`."""
    return ", ".join(f"{k}={_show(v)}" for k, v in options.items())


def _check_options(name: str, builder: Callable[..., nn.Module], *args, **options) -> None:
    """Unknown or missing options are the user's error; a TypeError raised inside a builder is a bug and propagates."""
    try:
        inspect.signature(builder).bind(*args, **options)
    except TypeError as e:
        raise CnnlabError(f"model {name!r} does not take these options: {e}") from None
