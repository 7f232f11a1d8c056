"""Layer-by-layer analysis of a model: shapes, activations, parameters, MACs and receptive fields.

The model runs once on the meta device (no memory, no arithmetic), so even resnet152 at 224x224 takes a
fraction of a second. Forward hooks record one row per module call; a TorchFunctionMode follows the
receptive field through functional code between modules (residual additions, inception concatenations).
"""

from __future__ import annotations

import copy
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from cnnlab.analysis.macs import kind_of, layer_macs, layer_params_formula, shape_formula
from cnnlab.analysis.receptive import Field, adaptive_window, conv_output, field_formula, size_formula
from cnnlab.coexist import keep_triton_from_tensorflow
from cnnlab.errors import CnnlabError, ShapeError, first_line, option, speaking_to_cli
from cnnlab.zoo.meta import shape_probe

WINDOW_FUNCS = {"conv2d", "max_pool2d", "avg_pool2d", "max_pool2d_with_indices"}
ADAPTIVE_FUNCS = {"adaptive_avg_pool2d", "adaptive_max_pool2d", "adaptive_max_pool2d_with_indices"}
MULTI_INPUT = {
    "cat",
    "concat",
    "concatenate",
    "stack",
    "add",
    "__add__",
    "__radd__",
    "__iadd__",
    "add_",
    "sub",
    "__sub__",
    "mul",
    "__mul__",
    "__rmul__",
    "mul_",
    "maximum",
}


@dataclass
class LayerRow:
    """One module call. Block rows (inception, residual, ...) summarise their children and have leaf=False."""

    name: str
    type: str
    depth: int
    leaf: bool
    input_shape: tuple[int, ...] = ()
    output_shape: tuple[int, ...] = ()
    params: int = 0
    trainable_params: int = 0
    moving_stats: int = 0  # batch norm's running mean and variance: buffers in PyTorch, parameters in Keras
    macs: int = 0
    kind: str = "other"
    rf: Field | None = None
    geometry: tuple[int, int, int, int, bool] | None = None  # (kernel, stride, padding, dilation, ceil), height axis
    window: tuple[int, int] | None = None  # (kernel height, kernel width) of a sliding-window layer
    geometry_w: tuple[int, int, int, int, bool] | None = None  # the same as `geometry`, width axis
    formulas: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    shared: bool = False  # a later call of a module with a row already: its parameters are counted at the first

    @property
    def activations(self) -> int:
        return math.prod(self.output_shape) if self.output_shape else 0

    @property
    def frozen_params(self) -> int:
        return self.params - self.trainable_params

    @property
    def keras_params(self) -> int:
        """What Keras counts: the parameters plus batch norm's moving mean and variance (2C per layer)."""
        return self.params + self.moving_stats

    @property
    def keras_non_trainable(self) -> int:
        """Keras' non-trainable parameters: frozen ones plus the moving mean and variance."""
        return self.frozen_params + self.moving_stats


@dataclass
class ModelSummary:
    """The analysis of one model at one input size; render it with cnnlab.analysis.render."""

    model_name: str
    input_shape: tuple[int, int, int]
    rows: list[LayerRow]
    params: int
    trainable_params: int
    output_shape: tuple[int, ...] = ()
    notes: list[str] = field(default_factory=list)
    moving_stats: int = 0  # batch norm's running mean and variance elements in all (Keras counts them as parameters)
    base_model: str | None = None  # the zoo model a network file's `base` is cut from (resnet50 for resnet50-head)

    @property
    def keras_params(self) -> int:
        return self.params + self.moving_stats

    @property
    def keras_trainable(self) -> int:
        return self.trainable_params

    @property
    def keras_non_trainable(self) -> int:
        return self.params - self.trainable_params + self.moving_stats

    def keras_totals(self) -> dict[str, int]:
        """Keras' footer: Total params, Trainable params, Non-trainable params (frozen + moving mean/variance)."""
        return {
            "params": self.keras_params,
            "trainable_params": self.keras_trainable,
            "non_trainable_params": self.keras_non_trainable,
            "moving_stats": self.moving_stats,
        }

    @property
    def leaves(self) -> list[LayerRow]:
        return [r for r in self.rows if r.leaf]

    @property
    def macs(self) -> int:
        return sum(r.macs for r in self.leaves)

    @property
    def activations(self) -> int:
        return sum(r.activations for r in self.leaves)

    def shares(self) -> dict[str, dict[str, float]]:
        """Fraction of parameters and MACs in conv versus dense layers."""
        out: dict[str, dict[str, float]] = {}
        total_p = sum(r.params for r in self.leaves) or 1
        total_m = self.macs or 1
        for kind in ("conv", "dense"):
            rows = [r for r in self.leaves if r.kind == kind]
            out[kind] = {"params": sum(r.params for r in rows) / total_p, "macs": sum(r.macs for r in rows) / total_m}
        return out

    def totals(self) -> dict[str, int]:
        return {
            "params": self.params,
            "trainable_params": self.trainable_params,
            "frozen_params": self.params - self.trainable_params,
            "macs": self.macs,
            "flops": 2 * self.macs,
            "activations": self.activations,
        }

    def render(self, fmt: str = "table", convention: str = "torch") -> str:
        from cnnlab.analysis.render import render

        return render(self, fmt, convention)

    def __str__(self) -> str:
        """`print(summary)` prints the terminal table, as `cnnlab summary` does."""
        return self.render()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython's plain-text view is the terminal table, not the dataclass fields."""
        printer.text(self.render())

    def _repr_html_(self) -> str:
        """Jupyter shows the terminal table as HTML (the same cells and footer)."""
        from cnnlab.analysis.render import render_html

        return render_html(self)


def _geometry(module: nn.Module, h: int, w: int) -> list[tuple[int, int, int, int, bool]] | None:
    """(kernel, stride, padding, dilation, ceil) per axis for sliding-window modules, else None."""
    if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        out = module.output_size
        oh, ow = (out, out) if isinstance(out, int) else (out[0] or h, out[1] or w)
        return [(*adaptive_window(size, o), 0, 1, False) for size, o in ((h, oh), (w, ow))]
    if not hasattr(module, "kernel_size") or not hasattr(module, "stride"):
        return None

    def pair(v: Any) -> tuple[int, int]:
        return (v, v) if isinstance(v, int) else (int(v[0]), int(v[-1]))

    k = pair(module.kernel_size)
    s = pair(module.stride or module.kernel_size)
    d = pair(getattr(module, "dilation", 1))
    pad = getattr(module, "padding", 0)
    if hasattr(module, "same_padding"):
        p = (module.same_padding(h, 0)[0], module.same_padding(w, 1)[0])
    elif pad == "same":
        p = ((d[0] * (k[0] - 1)) // 2, (d[1] * (k[1] - 1)) // 2)
    elif pad == "valid":
        p = (0, 0)
    else:
        p = pair(pad)
    ceil = bool(getattr(module, "ceil_mode", False))
    return [(k[i], s[i], p[i], d[i], ceil) for i in range(2)]


class _Tracer(TorchFunctionMode):
    """Carries receptive fields through functional code that runs between modules."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[int, tuple[torch.Tensor, Field]] = {}
        self.inside_leaf = 0

    def get(self, t: Any) -> Field | None:
        hit = self.fields.get(id(t)) if isinstance(t, torch.Tensor) else None
        return hit[1] if hit is not None and hit[0] is t else None

    def put(self, t: Any, f: Field | None) -> None:
        for x in t if isinstance(t, (tuple, list)) else (t,):
            if isinstance(x, torch.Tensor) and f is not None:
                self.fields[id(x)] = (x, f)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if self.inside_leaf:
            return out
        tensors = [t for t in _flat(args) if isinstance(t, torch.Tensor)]
        known = [f for f in map(self.get, tensors) if f is not None]
        if not known:
            return out
        name = getattr(func, "__name__", "")
        if name in WINDOW_FUNCS and isinstance(out, torch.Tensor) and out.dim() == 4:
            self.put(out, _functional_field(name, args, kwargs or {}, known[0], out))
            return out
        if name in ADAPTIVE_FUNCS and isinstance(out, torch.Tensor) and out.dim() == 4:
            self.put(out, Field(known[0].h.adaptive(out.shape[-2]), known[0].w.adaptive(out.shape[-1])))
            return out
        f = known[0]
        if name in MULTI_INPUT:
            for other in known[1:]:
                f = f.merge(other)
        self.put(out, f)
        return out


def _functional_field(name: str, args: tuple, kwargs: dict, f: Field, out: torch.Tensor) -> Field:
    """Receptive field after F.conv2d / F.max_pool2d / F.avg_pool2d called outside any module."""
    is_conv = name == "conv2d"
    k = tuple(args[1].shape[-2:]) if is_conv else _arg(args, kwargs, 1, "kernel_size")
    s = _arg(args, kwargs, 3 if is_conv else 2, "stride") or (1 if is_conv else k)
    p = _arg(args, kwargs, 4 if is_conv else 3, "padding") or 0
    d = (_arg(args, kwargs, 5 if is_conv else 4, "dilation") or 1) if name != "avg_pool2d" else 1
    k, s, d = (_axes(v) for v in (k, s, d))
    if isinstance(p, str):
        p = tuple(d[i] * (k[i] - 1) // 2 if p == "same" else 0 for i in range(2))
    else:
        p = _axes(p)
    h = f.h.through(k[0], s[0], p[0], d[0], out.shape[-2])
    return Field(h, f.w.through(k[1], s[1], p[1], d[1], out.shape[-1]))


def _axes(v: Any) -> tuple[int, int]:
    """(height, width) from an int or a pair."""
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[-1]))


def _flat(args: Any):
    for a in args:
        if isinstance(a, (list, tuple)):
            yield from _flat(a)
        else:
            yield a


def _arg(args: tuple, kwargs: dict | None, i: int, key: str) -> Any:
    if kwargs and key in kwargs:
        return kwargs[key]
    return args[i] if len(args) > i else None


def _first_tensor(x: Any) -> torch.Tensor | None:
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, (tuple, list)):
        for v in x:
            t = _first_tensor(v)
            if t is not None:
                return t
    if isinstance(x, dict):
        return _first_tensor(list(x.values()))
    return None


def _is_block(module: nn.Module) -> bool:
    """Containers worth a row of their own: not the plain Sequential/ModuleList that only group layers."""
    return not isinstance(module, (nn.Sequential, nn.ModuleList, nn.ModuleDict))


class _Recorder:
    """Forward hooks that write one LayerRow per module call on the meta copy: shapes, parameters, MACs, window
    geometry and receptive field for leaves; sums over their descendants for blocks."""

    def __init__(self, meta: nn.Module, name: str) -> None:
        self.name = name
        self.rows: list[LayerRow] = []
        self.tracer = _Tracer()
        self.names = {m: n for n, m in meta.named_modules()}
        self.calls: dict[nn.Module, int] = {}
        self.open_rows: list[LayerRow] = []
        self.starts: list[int] = []  # index in `rows` where each open row's descendants begin

    def attach(self, meta: nn.Module) -> list:
        """Hook the root (unless it only groups layers), every leaf and every block; returns the handles."""
        handles = []
        root_is_leaf = not any(True for _ in meta.children())
        for m in meta.modules():
            if m is meta and not root_is_leaf:
                continue
            if m is not meta and not _is_block(m) and any(True for _ in m.children()):
                continue
            handles.append(m.register_forward_pre_hook(self.pre_hook))
            handles.append(m.register_forward_hook(self.post_hook))
        return handles

    def pre_hook(self, module: nn.Module, inputs: tuple) -> None:
        leaf = not any(True for _ in module.children())
        x = _first_tensor(inputs)
        self.calls[module] = self.calls.get(module, 0) + 1
        label = self.names[module] or self.name
        if self.calls[module] > 1:
            label += f" (call {self.calls[module]})"
        row = LayerRow(
            label,
            type(module).__name__,
            len(self.open_rows) + 1,
            leaf,
            input_shape=tuple(x.shape[1:]) if x is not None else (),
            kind=kind_of(module) if leaf else "block",
        )
        if leaf and x is not None and x.dim() == 4:
            _check_window(module, row, x, self.rows)
        self.rows.append(row)
        self.open_rows.append(row)
        self.starts.append(len(self.rows))
        if leaf:
            self.tracer.inside_leaf += 1

    def post_hook(self, module: nn.Module, inputs: tuple, output: Any) -> None:
        row = self.open_rows.pop()
        first_child = self.starts.pop()
        y = _first_tensor(output)
        row.output_shape = tuple(y.shape[1:]) if y is not None else ()
        own = list(module.parameters(recurse=not row.leaf))
        row.params = sum(p.numel() for p in own)
        row.trainable_params = sum(p.numel() for p in own if p.requires_grad)
        row.moving_stats = moving_stats(module, recurse=not row.leaf)
        if self.calls[module] > 1:  # the Params column adds up to the model's parameters, as Keras lists a
            row.params = row.trainable_params = row.moving_stats = 0  # shared layer's weights once
            row.shared = True
        if row.leaf:
            self.tracer.inside_leaf -= 1
            self._leaf(module, row, _first_tensor(inputs), output)
        else:
            row.rf = self.tracer.get(y)
            row.kind = "block"
            row.macs = sum(r.macs for r in self.rows[first_child:] if r.leaf)

    def _leaf(self, module: nn.Module, row: LayerRow, x: torch.Tensor | None, output: Any) -> None:
        row.kind = kind_of(module)
        row.macs, mac_formula = layer_macs(module, row.input_shape, row.output_shape)
        geo = _geometry(module, row.input_shape[1], row.input_shape[2]) if len(row.input_shape) == 3 else None
        if geo:
            row.geometry, row.geometry_w = geo
            row.window = (geo[0][0], geo[1][0])
        row.formulas = {
            "params": layer_params_formula(module),
            "macs": mac_formula,
            "output_shape": shape_formula(module, row.input_shape, row.output_shape, geo),
            "activations": "*".join(map(str, row.output_shape)) + f" = {row.activations:,}",
        }
        in_field = self.tracer.get(x) or _input_field(row.input_shape)
        row.rf = _leaf_field(module, in_field, row.input_shape, _first_tensor(output))
        self.tracer.put(output, row.rf)
        if geo:
            kernel = (geo[0][3] * (geo[0][0] - 1) + 1, geo[1][3] * (geo[1][0] - 1) + 1)
        else:  # a dense layer sees its input's every position; other layers have no window
            kernel = (in_field.h.extent, in_field.w.extent) if row.kind == "dense" else (1, 1)
        row.formulas["rf"] = field_formula(in_field, row.rf, kernel)

    def run(self, meta: nn.Module, shape: tuple[int, ...]) -> torch.Tensor | None:
        """One forward pass of a meta input through the hooked copy; the model's first output tensor."""
        handles = self.attach(meta)
        try:
            x = torch.empty(1, *shape, device="meta")  # an input of 2**63 values or more overflows: one line below
            self.tracer.put(x, _input_field(shape))
            with self.tracer, shape_probe():
                return _first_tensor(meta(x))
        except ShapeError as e:
            e.input_shape = e.input_shape or shape
            raise
        except CnnlabError:
            raise
        except Exception as e:  # torch's own shape errors: report them as the user's input problem
            first = first_line(e)
            layer = self.open_rows[-1] if self.open_rows else None
            where = layer.name if layer else self.name
            raise ShapeError(
                f"{self.name} cannot run on input {'x'.join(map(str, shape))} (at layer {where!r}): {first}; "
                f"{_shape_hint(layer, first)}",
                rows=[r for r in self.rows if r.output_shape],
                layer=layer,
                input_shape=shape,
            ) from None
        finally:
            for h in handles:
                h.remove()


def summarize(
    model: nn.Module | str | os.PathLike,
    input_shape: tuple[int, int, int] | None = None,
    num_classes: int | None = None,
    in_channels: int | None = None,
    options: dict[str, Any] | None = None,
) -> ModelSummary:
    """Analyse `model` (an nn.Module, a zoo name / TOML path built with `options` for the channels of
    `input_shape`, or a run directory: its trained model, frozen layers frozen) on one C,H,W input (batch of one).

    Raises ShapeError (a CnnlabError) naming the first layer whose output would be empty, with the rows
    analysed up to it, and CnnlabError when the model cannot run on the input for another reason.
    """
    keep_triton_from_tensorflow()  # the meta-device forward below imports TorchDynamo
    from cnnlab.rundir import RunDir

    if isinstance(model, os.PathLike):
        model = os.fspath(model)
    if isinstance(model, str) and RunDir(model).exists():
        return _run_summary(model, input_shape, num_classes, in_channels, options)
    if input_shape is not None and not _is_shape(input_shape):  # before a model is built for its channels
        raise CnnlabError(f"input must be C,H,W with three positive integers, got {input_shape!r}")
    if in_channels is not None and input_shape and input_shape[0] != in_channels:
        raise CnnlabError(
            f"in_channels {in_channels} and input {'x'.join(map(str, input_shape))} disagree on the channels; "
            f"give one of them ({option('in_channels')} or {option('input', 'input_shape')}"
            f"{' C,H,W' if speaking_to_cli() else ''})"
        )
    if isinstance(model, str):
        from cnnlab.zoo import create_model
        from cnnlab.zoo.meta import meta_device

        name = model
        if in_channels is None and input_shape:  # built for the input's channels, as the CLI did
            in_channels = input_shape[0]
        with meta_device():
            model = create_model(model, num_classes=num_classes, in_channels=in_channels, **(options or {}))
    else:
        name = model_label(model)
    shape = tuple(input_shape or getattr(model, "input_size", None) or ())
    if not shape:
        raise CnnlabError(
            f"{name} does not say its input size; pass it: summarize(model, (C, H, W)) (--input C,H,W on the CLI)"
        )
    if not _is_shape(shape):
        if input_shape is None:  # the model's own size, from its options (image_size=0)
            raise CnnlabError(
                f"{name} is built for input {'x'.join(map(str, shape))}, which holds no pixels; give it options that "
                "make a positive size"
            )
        raise CnnlabError(f"input must be C,H,W with three positive integers, got {input_shape!r}")
    meta = _meta_copy(model)
    meta.eval()
    recorder = _Recorder(meta, name)
    y = recorder.run(meta, shape)
    unique = list(model.parameters())
    return ModelSummary(
        name,
        shape,
        recorder.rows,
        sum(p.numel() for p in unique),
        sum(p.numel() for p in unique if p.requires_grad),
        output_shape=tuple(y.shape[1:]) if y is not None else (),
        notes=_base_notes(model),
        moving_stats=moving_stats(model),
        base_model=getattr(_base(model), "model_name", None),
    )


def model_label(model: nn.Module | str | os.PathLike) -> str:
    """The name a summary gives `model`: a zoo name or file as given, else the module's model_name or class."""
    if isinstance(model, str | os.PathLike):
        return os.fspath(model)
    return getattr(model, "model_name", type(model).__name__)


def _is_shape(shape: object) -> bool:
    """Whether `shape` is C,H,W: three positive integers (a bare 32 was a TypeError)."""
    return isinstance(shape, tuple | list) and len(shape) == 3 and all(isinstance(v, int) and v > 0 for v in shape)


def _run_summary(
    path: str,
    input_shape: tuple[int, int, int] | None,
    num_classes: int | None,
    in_channels: int | None,
    options: dict[str, Any] | None,
) -> ModelSummary:
    """A run's trained model at the input it trained on, with its frozen layers, as `cnnlab summary RUN` shows it:
    a run is summarised as it was trained, so a shape or option given with it is refused, not ignored."""
    from cnnlab.rundir import open_run
    from cnnlab.transfer import frozen

    given = [
        option(flag, python)
        for flag, python, value in (
            ("input", "input_shape", input_shape),
            ("in-channels", None, in_channels),
            ("num-classes", None, num_classes),
            ("option", "options", options or None),
        )
        if value is not None
    ]
    if given:
        raise CnnlabError(
            f"{' and '.join(given)} cannot change a run: {path} is summarised as it was trained; give a model name "
            "or network file to try other shapes"
        )
    run = open_run(path)
    with frozen(run.model, run.config.freeze) as model:
        return summarize(model, run.input_shape)


def _base(model: nn.Module) -> nn.Module | None:
    from cnnlab.zoo.base import base_of

    return base_of(model)


def class_scores(model: nn.Module) -> int | None:
    """How many class scores `model` gives at its own input size, None where it gives feature maps (a module to
    analyse, such as net:inception-naive) or cannot run on that input (net:dilated-chain, made to show that)."""
    try:
        out = summarize(model, model.input_size).output_shape
    except CnnlabError:
        return None
    return out[0] if len(out) == 1 else None


def _base_notes(model: nn.Module) -> list[str]:
    """Which rows are a zoo base and which its head, as Keras' summary of Sequential([base, Flatten(), ...]) shows
    the base as one row: here its row `base` sums the indented layers under it."""
    from cnnlab.zoo.base import BASE, base_of

    base = base_of(model)
    if base is None:
        return []
    params = sum(p.numel() for p in base.parameters())
    head = [name for name, _ in model.named_children() if name != BASE]
    return [
        f"Base: {base.model_name}'s {base.keep} (row {BASE}, {params:,} params, tensors {BASE}.*); "
        f"head: {', '.join(head)}"
    ]


def moving_stats(module: nn.Module, recurse: bool = True) -> int:
    """Elements of batch norm's running mean and variance: PyTorch keeps them as buffers, Keras counts them as
    non-trainable parameters (its moving_mean and moving_variance). num_batches_tracked has no Keras counterpart."""
    seen: set[int] = set()
    n = 0
    for name, b in module.named_buffers(recurse=recurse):
        if b is not None and name.rsplit(".", 1)[-1] in ("running_mean", "running_var") and id(b) not in seen:
            seen.add(id(b))
            n += b.numel()
    return n


def _meta_copy(model: nn.Module) -> nn.Module:
    """The same architecture on the meta device, leaving the caller's model (and its weights) untouched."""
    if all(p.device.type == "meta" for p in model.parameters()):
        return model
    memo: dict[int, torch.Tensor] = {
        id(p): nn.Parameter(torch.empty_like(p, device="meta"), p.requires_grad) for p in model.parameters()
    }
    memo.update({id(b): torch.empty_like(b, device="meta") for b in model.buffers()})
    return copy.deepcopy(model, memo)


def _input_field(shape: tuple[int, ...]) -> Field:
    h, w = (shape[-2], shape[-1]) if len(shape) >= 2 else (1, 1)
    return Field.of_input(h, w)


def _leaf_field(module: nn.Module, f: Field, in_shape: tuple[int, ...], y: torch.Tensor | None) -> Field:
    if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)) and y is not None and y.dim() == 4:
        return Field(f.h.adaptive(y.shape[-2]), f.w.adaptive(y.shape[-1]))  # its windows may differ in size
    if len(in_shape) == 3:
        geo = _geometry(module, in_shape[1], in_shape[2])
        if geo is not None and y is not None and y.dim() == 4:
            (kh, sh, ph, dh, _), (kw, sw, pw, dw, _) = geo
            return Field(f.h.through(kh, sh, ph, dh, y.shape[-2]), f.w.through(kw, sw, pw, dw, y.shape[-1]))
    if isinstance(module, nn.Linear) or kind_of(module) == "dense":
        return Field(f.h.whole(), f.w.whole())
    return f


def _same_padding(module: nn.Module) -> bool:
    """Padded "same" (PyTorch's, or TensorFlow's at any stride), which may pad one side more than the other."""
    return hasattr(module, "same_padding") or getattr(module, "padding", None) == "same"


def _shape_hint(layer: LayerRow | None, error: str) -> str:
    """What to change when PyTorch refuses (with `error`) the input that reached `layer`."""
    got = layer.input_shape if layer else ()
    if layer and layer.type in ("Linear", "LazyLinear") and len(got) > 1:
        shown = "x".join(map(str, got))
        return f"a dense layer cannot take the {shown} feature map: put a flatten (or global pooling) layer before it"
    sizes = re.search(r"got \[\d+, (\d+)\] X \[(\d+), \d+\]", error)  # torch's matmul: [N, got] X [wants, out]
    if layer and layer.type == "Linear" and sizes:
        return (
            f"the dense layer takes {int(sizes[2]):,} inputs but gets {int(sizes[1]):,}: give the --input it was "
            "built for, or build it for this input (a size option such as image_size, or a global pool before it)"
        )
    if layer and "Conv" in layer.type and len(got) == 1:
        return "a conv layer cannot take a flat vector: put conv layers before the flatten layer"
    if layer and "Conv" in layer.type and "channel" in error.lower():
        return (
            f"its input has {got[0]} channels: give the channels it expects ({option('in_channels')}, or C of "
            f"{option('input', 'input_shape')} C,H,W)"
        )
    return f"check {option('input', 'input_shape')} and the layer sizes"


def _check_window(module: nn.Module, row: LayerRow, x: torch.Tensor, rows: list[LayerRow]) -> None:
    """Raise a one-line ShapeError before a window layer would produce an empty output."""
    h, w = x.shape[-2:]
    geo = _geometry(module, h, w)
    if geo is None or _same_padding(module):  # "same" keeps at least one pixel: ceil(size / stride)
        return
    for (k, s, p, d, ceil), size, axis in zip(geo, (h, w), "HW"):
        if conv_output(size, k, s, p, d, ceil) < 1:
            kh, _, ph, dh, _ = geo[0]
            kw, _, pw, dw, _ = geo[1]
            eff = f"{dh * (kh - 1) + 1}x{dw * (kw - 1) + 1}"
            dil = (f", dilation {dh}" if dh == dw else f", dilation {dh}x{dw}") if max(dh, dw) > 1 else ""
            pad = str(ph) if ph == pw else f"{ph}x{pw}"
            row.geometry, row.window = geo[0], (kh, kw)
            raise ShapeError(
                f"layer {row.name!r} ({row.type} {kh}x{kw}{dil}, padding {pad}): its {h}x{w} input is smaller than "
                f"its effective {eff} kernel, so its output would be empty ({axis}_out = "
                f"{size_formula(size, k, s, p, d, ceil)}); use a larger input, less stride or dilation before it, "
                "or more padding",
                rows=[r for r in rows if r.output_shape],
                layer=row,
            )
