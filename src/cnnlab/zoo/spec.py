"""Networks declared in TOML: a layer list, built into an nn.Sequential with readable layer names.

    input = [3, 32, 32]            # C, H, W
    [[layers]]
    type = "conv"                  # filters, kernel, stride, padding (number | [h, w] | "same" | "valid"),
    filters = 8                    # dilation, groups, bias, activation (adds an activation layer);
    kernel = 5                     # kernel, stride, dilation: a number or [height, width], e.g. [1, 7]
    [[layers]]
    type = "maxpool"               # maxpool | avgpool (size, stride, padding: number | [h, w] | "same" | "valid"),
                                   # adaptive-avgpool | adaptive-maxpool (output)
    size = 2
    [[layers]]
    type = "linear"                # alias dense; units = N or "num_classes"
    units = "num_classes"

A network can start from a zoo model's base and add its head after it (Keras' `VGG16(include_top=False)` plus
layers; see cnnlab.zoo.base):

    base = "vgg16"                 # a vgg, alexnet, resnet or googlenet model (`cnnlab models`)
    keep = "features"              # features (the conv part) | before-classifier (also the global pooling)
    input = [3, 224, 224]          # default: the zoo model's input size

A network returns class logits: a final softmax or sigmoid is shown but left to predict, and a one-unit dense
layer on two classes is a binary sigmoid head (cnnlab.zoo.heads).

Other types: batchnorm (eps: 1e-5, Keras' 1e-3), lrn (size, alpha, beta, k: AlexNet's 5, 1e-4, 0.75, 2), dropout (rate), flatten, an activation name (relu, leaky-relu, elu, gelu, tanh,
sigmoid, softmax, identity), residual (layers = [...], shortcut = [...], activation) and inception
(ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj, naive, batchnorm; a branch at 0 is left out).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.memory import FLOAT_BYTES, require_memory
from cnnlab.resources import resolve, stem
from cnnlab.tomlfile import check_keys, parse_toml, read_text
from cnnlab.zoo.base import BASE, KEEP, base_input_size, build_base
from cnnlab.zoo.blocks import BasicConv2d, ConvReLU, Inception, Residual
from cnnlab.zoo.heads import output_layers
from cnnlab.zoo.meta import meta_device, shape_probe

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": lambda: nn.ReLU(inplace=True),
    "leaky-relu": lambda: nn.LeakyReLU(0.01, inplace=True),
    "elu": lambda: nn.ELU(inplace=True),
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "softmax": lambda: nn.Softmax(dim=1),
    "identity": nn.Identity,
}
ALIASES = {
    "dense": "linear",
    "fc": "linear",
    "conv2d": "conv",
    "maxpool2d": "maxpool",
    "avgpool2d": "avgpool",
    "bn": "batchnorm",
    "batchnorm2d": "batchnorm",
    "leakyrelu": "leaky-relu",
    "localresponsenorm": "lrn",
}
NETWORK_KEYS = ("name", "input", "num_classes", "base", "keep", "layers")  # a network file's top-level keys; any
# other is refused
MAX_SIZE = 2**31  # a count or size (filters, units, a kernel, the input's C, H, W) must be below it, as --num-classes
MAX_NESTING = 32  # residual blocks inside residual blocks; far deeper ones exhaust Python's recursion limit
SHORT = {
    "conv": "conv",
    "maxpool": "pool",
    "avgpool": "pool",
    "adaptive-avgpool": "gap",
    "adaptive-maxpool": "gmp",
    "linear": "fc",
    "batchnorm": "bn",
    "lrn": "lrn",
    "dropout": "drop",
    "flatten": "flatten",
    "residual": "res",
    "inception": "inception",
}


class TensorFlowSame:
    """Keras/TensorFlow 'same' padding at any stride: output = ceil(input / stride), the odd pixel padded on the far
    side. Mixed into conv and pool layers; the analysis reads `same_padding` for shapes and receptive fields."""

    def same_padding(self, size: int, axis: int) -> tuple[int, int]:
        """(before, after) padding along one spatial axis for an input of `size`."""
        k = (_pair(self.kernel_size)[axis] - 1) * _pair(getattr(self, "dilation", 1))[axis] + 1
        s = _pair(self.stride)[axis]
        total = max((math.ceil(size / s) - 1) * s + k - size, 0)
        return total // 2, total - total // 2

    def pad_same(self, x: torch.Tensor, value: float = 0.0) -> torch.Tensor:
        # int(): plain numbers even while an exporter traces (a model exports for its input size); where nothing is
        # padded (an even size at stride 2) no pad runs: no copy, and ONNX keeps the size a later adaptive pool needs
        top, bottom = self.same_padding(int(x.shape[-2]), 0)
        left, right = self.same_padding(int(x.shape[-1]), 1)
        if not (top or bottom or left or right):
            return x
        return F.pad(x, (left, right, top, bottom), value=value)


def _pair(v: int | tuple[int, ...]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[-1]))


class Conv2dSame(TensorFlowSame, nn.Conv2d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(self.pad_same(x))


class MaxPool2dSame(TensorFlowSame, nn.MaxPool2d):
    """Padded with -inf, so a window at the border takes the maximum of the pixels it covers (as TensorFlow does)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(self.pad_same(x, float("-inf")))


class AvgPool2dSame(TensorFlowSame, nn.AvgPool2d):
    """A window at the border averages only the pixels it covers (TensorFlow's 'same' average pooling)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        covered = super().forward(self.pad_same(torch.ones_like(x[:1, :1])))
        return super().forward(self.pad_same(x)) / covered


class _Builder:
    """Turns layer tables into modules while tracking the (C, H, W) shape to size channels and linear inputs."""

    def __init__(self, source: str, num_classes: int) -> None:
        self.source, self.num_classes = source, num_classes
        self.counts: dict[str, int] = {}
        self.activations = 0  # values every layer outputs for one image: the memory estimate before allocating

    def fail(self, where: str, msg: str) -> CnnlabError:
        return CnnlabError(f"{self.source}: {where}: {msg}")

    def name(self, kind: str, taken: Sequence[tuple[str, nn.Module]] = ()) -> str:
        """The next made-up name for a `kind` layer (conv1, conv2, ...), past any name `taken` by an earlier layer
        of the same list: a layer named "conv1" by hand, then an unnamed conv, was given conv1 too."""
        short = SHORT.get(kind, kind.replace("-", "_"))
        while True:
            self.counts[short] = self.counts.get(short, 0) + 1
            if all(name != f"{short}{self.counts[short]}" for name, _ in taken):
                return f"{short}{self.counts[short]}"

    def build(
        self, layers: Any, shape: tuple[int, ...], where: str
    ) -> tuple[list[tuple[str, nn.Module]], tuple[int, ...]]:
        if not isinstance(layers, list) or not all(isinstance(x, dict) for x in layers):
            raise self.fail(where, "expected a list of layer tables ([[layers]] entries)")
        out: list[tuple[str, nn.Module]] = []
        for i, spec in enumerate(layers, start=1):
            here = f"{where}[{i}]"
            spec = dict(spec)
            kind = str(spec.pop("type", "")).lower()
            kind = ALIASES.get(kind, kind)
            given_name = spec.pop("name", None)
            if given_name is not None and (not isinstance(given_name, str) or "." in given_name):
                raise self.fail(here, f'name must be text without dots (e.g. "conv1"), got {given_name!r}')
            activation = spec.pop("activation", None) if kind in ("conv", "linear") else None
            try:
                module = self.layer(kind, spec, shape, here)
            except RuntimeError as e:  # sizes whose product PyTorch cannot count: "Storage size calculation overflowed"
                if "overflow" not in str(e):
                    raise
                raise self.fail(
                    here, f"too large to build ({e}); use fewer filters or units, or smaller kernels"
                ) from None
            if spec:
                raise self.fail(here, f"unknown option(s) {', '.join(sorted(spec))} for a {kind} layer")
            self.add(out, given_name or self.name(kind, out), module, here)
            shape = self.propagate(module, shape)
            self.activations += math.prod(shape)
            if activation:
                act = self.activation(str(activation).lower(), here)
                self.add(out, self.name(str(activation).lower(), out), act, here)
        return out, shape

    def add(self, out: list[tuple[str, nn.Module]], name: str, module: nn.Module, where: str) -> None:
        """Append a named layer; a name already taken (given twice, or given as one made for another layer) would
        silently replace the earlier layer in the network."""
        if any(name == taken for taken, _ in out):
            raise self.fail(where, f"layer name {name!r} is already taken by an earlier layer; give it another name")
        out.append((name, module))

    @staticmethod
    def propagate(module: nn.Module, shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape after `module`, by a forward on the meta device; an impossible shape keeps only the channel count."""
        named = [*module.named_parameters(), *module.named_buffers()]
        state = {k: torch.empty_like(v, device="meta") for k, v in named}
        try:
            with shape_probe():  # a batch of two: batch norm after a dense layer refuses a batch of one
                out = torch.func.functional_call(module, state, (torch.empty(2, *shape),))
            return tuple(out.shape[1:])
        except Exception:
            channels = getattr(module, "out_channels", shape[0] if shape else 1)
            return (channels, 0, 0)

    def activation(self, kind: str, where: str) -> nn.Module:
        if kind not in ACTIVATIONS:
            raise self.fail(where, f"unknown activation {kind!r}; use one of {', '.join(ACTIVATIONS)}")
        return ACTIVATIONS[kind]()

    def layer(self, kind: str, spec: dict, shape: tuple[int, ...], where: str) -> nn.Module:
        take = _Taker(spec, self, where)
        if kind == "conv":
            return self.conv(take, shape[0])
        if kind in ("maxpool", "avgpool"):
            return self.pool(kind, take)
        if kind in ("adaptive-avgpool", "adaptive-maxpool"):
            output = take.int("output", 1)
            return nn.AdaptiveAvgPool2d(output) if kind == "adaptive-avgpool" else nn.AdaptiveMaxPool2d(output)
        if kind == "batchnorm":  # eps: PyTorch's 1e-5 by default; Keras' BatchNormalization uses 1e-3
            eps = take.float("eps", 1e-5)
            if not 0 < eps < math.inf:
                raise self.fail(where, f"batchnorm eps must be a positive number (Keras' is 1e-3), got {eps}")
            return nn.BatchNorm2d(shape[0], eps=eps) if len(shape) == 3 else nn.BatchNorm1d(shape[0], eps=eps)
        if kind == "lrn":  # AlexNet's section 3.3 values; torch (like Caffe) divides alpha by size
            size = take.int("size", 5)
            alpha, beta, k = take.float("alpha", 1e-4), take.float("beta", 0.75), take.float("k", 2.0)
            return nn.LocalResponseNorm(size, alpha=alpha, beta=beta, k=k)
        if kind == "dropout":
            rate = take.float("rate", 0.5)
            if not 0 <= rate < 1:
                raise self.fail(where, f"dropout rate must be in [0, 1), got {rate}")
            return nn.Dropout(rate)
        if kind == "flatten":
            return nn.Flatten()
        if kind == "linear":
            return self.linear(take, shape)
        if kind == "residual":
            return self.residual(spec, shape, where)
        if kind == "inception":
            return self.inception(take, shape[0])
        if kind in ACTIVATIONS:
            return self.activation(kind, where)
        known = sorted(set(SHORT) | set(ACTIVATIONS))
        raise self.fail(where, f"unknown layer type {kind!r}; use one of {', '.join(known)}")

    def pool(self, kind: str, take: _Taker) -> nn.Module:
        size = take.pair("size", take.pair("kernel", 2))
        stride = take.pair("stride", size)
        ceil = take.bool("ceil_mode", False)
        padding = take.spec.pop("padding", 0)
        if padding == "same":
            return (MaxPool2dSame if kind == "maxpool" else AvgPool2dSame)(size, stride=stride)
        take.spec["padding"] = 0 if padding == "valid" else padding
        padding = take.pair("padding", 0, minimum=0)
        cls = nn.MaxPool2d if kind == "maxpool" else nn.AvgPool2d
        return cls(size, stride=stride, padding=padding, ceil_mode=ceil)

    def linear(self, take: _Taker, shape: tuple[int, ...]) -> nn.Module:
        units = take.spec.pop("units", None)
        if units == "num_classes" or units is None:
            units = self.num_classes
        if not isinstance(units, int) or isinstance(units, bool) or not 1 <= units < MAX_SIZE:
            raise take.fail(f'units must be a positive integer below 2**31 or "num_classes", got {units!r}')
        return nn.Linear(max(math.prod(shape), 1), units, bias=take.bool("bias", True))

    def residual(self, spec: dict, shape: tuple[int, ...], where: str) -> nn.Module:
        if where.count(".") >= MAX_NESTING:  # each nesting level adds one ".layers" / ".shortcut" to `where`
            raise CnnlabError(
                f"{self.source}: residual blocks nested more than {MAX_NESTING} deep; flatten the network"
            )
        layers = spec.pop("layers", None)
        if layers == []:  # x + x: a doubling, not a block; as an empty network, refused
            raise self.fail(where, "a residual block needs at least one layer in its layers = [...]")
        body, body_shape = self.build(layers, shape, f"{where}.layers")
        shortcut_spec = spec.pop("shortcut", None)
        shortcut = None
        if shortcut_spec is not None:
            cut, cut_shape = self.build(shortcut_spec, shape, f"{where}.shortcut")
            shortcut = nn.Sequential(OrderedDict(cut))
        else:
            cut_shape = shape
        if body_shape != cut_shape and 0 not in body_shape:
            raise self.fail(
                where,
                f"residual body gives {_fmt(body_shape)} but the shortcut gives {_fmt(cut_shape)}; "
                "add a shortcut projection (e.g. a 1x1 conv with the same stride)",
            )
        act = spec.pop("activation", None)
        return Residual(
            nn.Sequential(OrderedDict(body)), shortcut, self.activation(str(act).lower(), where) if act else None
        )

    def inception(self, take: _Taker, in_channels: int) -> nn.Module:
        naive = take.bool("naive", False)
        block = BasicConv2d if take.bool("batchnorm", False) else ConvReLU
        # a branch at 0 is left out; its reduction may then be left out too (naive modules have none)
        outputs = {k: take.int(k, None, minimum=0) for k in ("ch1x1", "ch3x3", "ch5x5")}
        outputs["pool_proj"] = take.int("pool_proj", 0 if naive else None, minimum=0)
        reductions = {}
        for k in ("ch3x3red", "ch5x5red"):
            needed = not naive and outputs[k[:-3]] > 0
            reductions[k] = take.int(k, None if needed else 0, minimum=1 if needed else 0)
        if not naive and not any(outputs.values()):
            raise take.fail("an inception module needs a branch: ch1x1, ch3x3, ch5x5 and pool_proj are 0")
        sizes = [{**outputs, **reductions}[k] for k in ("ch1x1", "ch3x3red", "ch3x3", "ch5x5red", "ch5x5")]
        sizes.append(outputs["pool_proj"])
        return Inception(in_channels, *sizes, conv_block=block, naive=naive, pool_ceil_mode=False)

    def conv(self, take: _Taker, in_channels: int) -> nn.Module:
        filters = take.int("filters", take.int("out_channels", None) if "out_channels" in take.spec else None)
        kernel = take.pair("kernel", 3)
        stride = take.pair("stride", 1)
        dilation = take.pair("dilation", 1)
        groups = take.int("groups", 1)
        bias = take.bool("bias", True)
        padding = take.spec.pop("padding", 0)
        if in_channels % groups or filters % groups:
            raise take.fail(f"groups={groups} must divide both input channels ({in_channels}) and filters ({filters})")
        args = dict(kernel_size=kernel, stride=stride, dilation=dilation, groups=groups, bias=bias)
        if padding == "same":
            if stride in (1, (1, 1)):
                return nn.Conv2d(in_channels, filters, padding="same", **args)
            return Conv2dSame(in_channels, filters, padding=0, **args)
        if padding == "valid":
            padding = 0
        if isinstance(padding, list):
            take.spec["padding"] = padding
            padding = take.pair("padding", 0, minimum=0)
        elif not isinstance(padding, int) or isinstance(padding, bool) or padding < 0:
            raise take.fail(
                f'padding must be a non-negative integer, [height, width], "same" or "valid", got {padding!r}'
            )
        return nn.Conv2d(in_channels, filters, padding=padding, **args)


class _Taker:
    """Pops typed options from a layer table, with errors that name the layer."""

    def __init__(self, spec: dict, builder: _Builder, where: str) -> None:
        self.spec, self.builder, self.where = spec, builder, where

    def fail(self, msg: str) -> CnnlabError:
        return self.builder.fail(self.where, msg)

    def int(self, key: str, default: int | None, minimum: int = 1) -> int:
        value = self.spec.pop(key, default)
        if value is None:
            raise self.fail(f"missing option {key!r}")
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise self.fail(f"{key} must be an integer >= {minimum}, got {value!r}")
        if value >= MAX_SIZE:
            raise self.fail(f"{key} must be below 2**31, got {value!r}")
        return value

    def pair(self, key: str, default: int | tuple[int, int], minimum: int = 1) -> int | tuple[int, int]:
        """A number for both spatial axes, or [height, width] (e.g. kernel = [1, 7] for a 1x7 kernel)."""
        value = self.spec.pop(key, default)
        if isinstance(value, (list, tuple)):
            ok = len(value) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            if not ok or min(value) < minimum or max(value) >= MAX_SIZE:
                raise self.fail(
                    f"{key} must be an integer >= {minimum} or a list [height, width] of two such integers, "
                    f"got {list(value)!r}"
                )
            return (value[0], value[1])
        self.spec[key] = value
        return self.int(key, None, minimum=minimum)

    def float(self, key: str, default: float) -> float:
        value = self.spec.pop(key, default)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value):
            raise self.fail(f"{key} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise self.fail(f"{key} must be a finite number, got {value!r}")
        return float(value)

    def bool(self, key: str, default: bool) -> bool:
        value = self.spec.pop(key, default)
        if not isinstance(value, bool):
            raise self.fail(f"{key} must be true or false, got {value!r}")
        return value


def _size(value: Any) -> bool:
    """A count or size a file may give: a whole number (not true/false) from 1 to below 2**31."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value < MAX_SIZE


def _fmt(shape: tuple[int, ...]) -> str:
    return "x".join(str(s) for s in shape)


def network_text(path: str | Path) -> str:
    """The text of a network file (a path, or net:NAME for a shipped one): a run builds its model from the text
    it read once and keeps it, so that it is rebuilt as it trained wherever the file goes and whatever it says later."""
    return read_text(
        resolve(path, "net"), "network file", "give a zoo model name (`cnnlab models`) or a path to a .toml file"
    )


def same_network(path: str | Path, text: str) -> bool:
    """Whether the network file `path` declares the network `text` does (a run's copy): the same values, whatever
    the comments and layout. A file that is no TOML now is another network."""
    try:
        return parse_toml(network_text(path), path) == parse_toml(text, path)
    except CnnlabError:
        return False


def load_spec(path: str | Path, text: str | None = None) -> dict:
    """Read and minimally validate a TOML network file (a path, or net:NAME for a shipped one), or the `text` of
    the one `path` names as a run kept it (the file may be gone). Errors name `path` as spelt."""
    spec = parse_toml(network_text(path) if text is None else text, path)
    check_keys(spec, NETWORK_KEYS, str(path))
    if "layers" not in spec:
        raise CnnlabError(f"{path}: no [[layers]] found; a network file lists its layers as [[layers]] tables")
    if spec["layers"] == []:
        raise CnnlabError(f"{path}: layers is empty; a network needs at least one [[layers]] table")
    if "keep" in spec and "base" not in spec:
        raise CnnlabError(f'{path}: keep = {spec["keep"]!r} without a base; add base = "vgg16" (or another zoo model)')
    return spec


def _build(spec: dict, source: str, shape: tuple[int, ...], classes: int) -> tuple[nn.Sequential, int]:
    """The network on the current device, and the values its layers output for one image."""
    builder = _Builder(source, classes)
    front: list[tuple[str, nn.Module]] = []
    if "base" in spec:
        base = build_base(str(spec["base"]), str(spec.get("keep", KEEP[0])), shape[0], source)
        front = [(BASE, base)]
        shape = builder.propagate(base, shape)
    layers, _ = builder.build(spec["layers"], shape, "layers")
    layers = output_layers(layers, classes, builder.name, lambda msg: builder.fail("layers", msg))
    names = [name for name, _ in front + layers]
    taken = next((name for i, name in enumerate(names) if name in names[:i]), None)
    if taken is not None:  # the base's row, or a name made for the head's last layer, given to a layer too
        raise builder.fail("layers", f"layer name {taken!r} is taken twice; give the layer another name")
    return nn.Sequential(OrderedDict(front + layers)), builder.activations


def _default_input(spec: dict, source: str) -> list[int]:
    """The network's input: its own, else its base's zoo model's, else 3x32x32."""
    if "input" in spec:
        return spec["input"]
    if "base" in spec:
        return list(base_input_size(str(spec["base"]), source))
    return [3, 32, 32]


def build_from_toml(
    path: str | Path, num_classes: int | None = None, in_channels: int | None = None, text: str | None = None
) -> nn.Module:
    """Build the network a TOML file declares (or its `text`, see load_spec); `input = [C, H, W]` in the file gives
    its default input."""
    spec = load_spec(path, text)
    source = str(path)
    inp = _default_input(spec, source)
    if not (isinstance(inp, list) and len(inp) == 3 and all(_size(v) for v in inp)):
        raise CnnlabError(f"{source}: input must be [C, H, W] with positive integers below 2**31, got {inp!r}")
    if in_channels is not None:
        inp = [in_channels, *inp[1:]]
    classes = num_classes if num_classes is not None else spec.get("num_classes", 10)
    if not _size(classes):
        raise CnnlabError(f"{source}: num_classes must be a positive integer below 2**31, got {classes!r}")
    if torch.get_default_device().type != "meta":  # estimate on the meta device before allocating for real
        with meta_device():
            probe, activations = _build(spec, source, tuple(inp), classes)
        require_memory(
            FLOAT_BYTES * (sum(p.numel() for p in probe.parameters()) + activations),
            f"{source} at input {_fmt(tuple(inp))}",
            "parameters and activations",
            "use fewer filters or units, or a smaller input",
        )
    model, _ = _build(spec, source, tuple(inp), classes)
    model.input_size = tuple(inp)
    model.model_name = str(spec.get("name", stem(path)))
    return model
