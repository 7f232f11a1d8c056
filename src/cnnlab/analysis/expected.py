"""What each row of a student's table should hold, worked out from the model's analysis.

For a model layer (or a block, summed over its layers), the network's input, a weightless softmax and the total,
trainable and non-trainable footer rows, an `Expected` holds the right output shape, activation size, parameters,
MACs, FLOPs, LeCun's connections and receptive field size, each with the formula that gives it ("(5*5*1 + 1)*6
= 156"), under the PyTorch or the Keras parameter convention. It is apart from matching and grading so that this
arithmetic and the explanations a student reads live in one place, whichever rule paired the row with its layer.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from cnnlab.analysis.receptive import Field
from cnnlab.analysis.summary import LayerRow, ModelSummary

__all__ = [
    "Expected",
    "Value",
    "from_row",
    "input_expected",
    "softmax_expected",
    "total_expected",
    "trainable_expected",
]

Value = int | tuple[int, ...]
FOOTER_LABELS = {"total": "Total params", "trainable": "Trainable params", "nontrainable": "Non-trainable params"}


@dataclass
class Expected:
    """What one table row should say, and why; `cannot` says why its model layer cannot exist."""

    layer: str
    values: dict[str, Value]
    formulas: dict[str, str]
    cannot: str = ""
    keras_params: int | None = None  # Keras' parameter count where it differs from the one graded (torch convention)
    # the receptive field whose size is values["rf"]: its jump and start, for a size/jump/start cell
    field: Field | None = None


def _connections(r: LayerRow) -> tuple[int, str] | None:
    """LeCun's connections (LeNet-5's C1: 122,304): links from inputs and biases to output units, shared or not.

    Conv: (weights per output unit + bias) * output units; pool: k_h*k_w window inputs (+ 1 for a bias) per
    output unit; dense: one per weight and bias, the parameters. Other layers: None (not counted).
    """
    out = r.output_shape
    if r.kind == "conv" and len(out) == 3:
        c, h, w = out
        n = r.params * h * w
        if r.window and len(r.input_shape) == 3:
            (kh, kw), cin = r.window, r.input_shape[0]
            for bias in (" + 1", ""):
                if r.params == (kh * kw * cin + bool(bias)) * c:
                    return n, f"(k_h*k_w*C_in{bias})*C_out*H_out*W_out = ({kh}*{kw}*{cin}{bias})*{c}*{h}*{w} = {n:,}"
        return n, (
            f"parameters*H_out*W_out (every output position has the layer's own weights and biases) = "
            f"{r.params:,}*{h}*{w} = {n:,}"
        )
    if r.kind == "pool" and r.window and len(out) == 3:
        kh, kw = r.window
        dims = "*".join(map(str, out))
        if r.params:
            n = (kh * kw + 1) * math.prod(out)
            return n, f"(k_h*k_w + 1)*C*H_out*W_out (window inputs and a bias) = ({kh}*{kw} + 1)*{dims} = {n:,}"
        n = kh * kw * math.prod(out)
        return n, f"k_h*k_w*C*H_out*W_out (window inputs) = {kh}*{kw}*{dims} = {n:,}"
    if r.kind == "dense":
        if r.params:
            return r.params, "parameters (one connection per weight and bias) = " + r.formulas.get("params", "")
        return r.macs, "inputs*outputs (no weights to learn) = " + r.formulas.get("macs", f"{r.macs:,}")
    return None


def _keras_params_formula(r: LayerRow, rows: list[LayerRow]) -> str:
    """How Keras' parameter count of a row comes about: batch norm's 4C (gamma, beta, moving mean, moving
    variance; 2C non-trainable), a block's as the sum of its layers'."""
    if not r.leaf:
        parts = [(x.keras_params, _keras_params_formula(x, rows)) for x in _inside(r, rows)]
        return _sum_formula(parts, r.keras_params, "its layers")
    if not r.moving_stats:  # a layer of a block or total: counted as PyTorch counts it
        return r.formulas.get("params", "")
    c = r.moving_stats // 2
    if r.params == 2 * c:
        return (
            f"4*C (gamma, beta, moving mean and moving variance; Keras counts the moving two as non-trainable "
            f"parameters, PyTorch as buffers) = 4*{c} = {r.keras_params:,}"
        )
    return f"{r.params:,} + 2*C (moving mean and variance, non-trainable) = {r.params:,} + 2*{c} = {r.keras_params:,}"


def from_row(r: LayerRow, rows: list[LayerRow], convention: str = "torch") -> Expected:
    keras = convention == "keras"
    values: dict[str, Value] = {
        "shape": r.output_shape,
        "size": r.activations,
        "params": r.keras_params if keras else r.params,
        "macs": r.macs,
        "flops": 2 * r.macs,
    }
    f = r.formulas if r.leaf else _block_formulas(r, rows)
    formulas = {
        "shape": f.get("output_shape", ""),
        "size": _size_formula(r.output_shape),
        "params": f.get("params", ""),
        "macs": f.get("macs", ""),
    }
    if keras and r.moving_stats:
        formulas["params"] = _keras_params_formula(r, rows)
    other = r.keras_params if not keras and r.moving_stats else None
    if r.rf is not None:
        values["rf"], formulas["rf"] = _field_size(r.rf), f.get("rf", "")
    formulas["flops"] = f"2*MACs = 2*{r.macs:,} = {2 * r.macs:,}" + (f" (MACs: {formulas['macs']})" if r.macs else "")
    connections = _connections(r) if r.leaf else _sum_of(r, rows, _connections)
    if connections is not None:
        values["connections"], formulas["connections"] = connections
    return Expected(r.name, values, formulas, keras_params=other, field=r.rf)


def _field_size(rf: Field) -> Value:
    """The receptive field's size as a student writes it: 16, or (height, width) where they differ (1x7)."""
    h, w = rf.h.size, rf.w.size  # whole numbers as ints (receptive._whole)
    return h if h == w else (h, w)


def _size_formula(shape: tuple[int, ...]) -> str:
    """How many values a shape holds ('16*5*5 = 400'); nothing for a vector, whose length is its size."""
    return "*".join(map(str, shape)) + f" = {math.prod(shape):,}" if len(shape) > 1 else ""


def _sum_formula(parts: list[tuple[int, str]], total: int, what: str) -> str:
    """`total` as the sum of the parts (value, working) that are not 0, or a sum over `what` past ten of them. Where
    one part is the total, its own working (a conv block of a conv and its ReLU is counted as its conv is): a sum of
    one would say '5 = 5'."""
    counted = [(value, working) for value, working in parts if value]
    if len(counted) == 1:
        return counted[0][1]
    if not counted or len(counted) > 10:
        return f"sum over {what} = {total:,}"
    return " + ".join(f"{value:,}" for value, _ in counted) + f" = {total:,}"


def _inside(block: LayerRow, rows: list[LayerRow]) -> list[LayerRow]:
    start = rows.index(block) + 1
    end = next((i for i in range(start, len(rows)) if rows[i].depth <= block.depth), len(rows))
    return [r for r in rows[start:end] if r.leaf]


def _block_formulas(block: LayerRow, rows: list[LayerRow]) -> dict[str, str]:
    inside = _inside(block, rows)
    return {
        key: _sum_formula(
            [(getattr(r, key), r.formulas.get(key, "")) for r in inside], getattr(block, key), "its layers"
        )
        for key in ("params", "macs")
    }


def _sum_of(
    block: LayerRow | None, rows: list[LayerRow], count: Callable[[LayerRow], tuple[int, str] | None]
) -> tuple[int, str] | None:
    """`count` (value, formula) summed over a block's layers (all layers for None); None when no layer has one."""
    found = [c for c in map(count, _inside(block, rows) if block else [r for r in rows if r.leaf]) if c]
    if not found:
        return None
    total = sum(value for value, _ in found)
    return total, _sum_formula(found, total, "its layers" if block else "all layers")


def input_expected(s: ModelSummary) -> Expected:
    size = math.prod(s.input_shape)
    return Expected(
        "input",
        {"shape": s.input_shape, "size": size, "params": 0, "macs": 0, "flops": 0, "connections": 0, "rf": 1},
        {
            "shape": "the network's input",
            "size": _size_formula(s.input_shape),
            "params": "0 (the input has no weights)",
            "macs": "0 (the input computes nothing)",
            "flops": "0 (the input computes nothing)",
            "connections": "0 (nothing connects into the input)",
            "rf": "1 (an input pixel sees itself)",
        },
        field=Field.of_input(*s.input_shape[1:]) if len(s.input_shape) == 3 else None,
    )


def softmax_expected(s: ModelSummary) -> Expected:
    size = math.prod(s.output_shape)
    return Expected(
        "softmax",
        {"shape": s.output_shape, "size": size, "params": 0, "macs": 0, "flops": 0},
        {
            "shape": "same as the last layer's output",
            "size": _size_formula(s.output_shape),
            "params": "0 (no weights)",
            "macs": "0 (no multiply-accumulates)",
            "flops": "0 (counted as no FLOPs)",
        },
    )


def total_expected(s: ModelSummary, sizes: list[int], convention: str) -> Expected:
    """The total row: the model's parameters, MACs, FLOPs and connections, and the sum of `sizes`, the
    activation sizes of the rows above it."""
    leaves = s.leaves
    keras = convention == "keras"
    params = s.keras_params if keras else s.params
    values: dict[str, Value] = {"size": sum(sizes), "params": params, "macs": s.macs, "flops": 2 * s.macs}
    formulas = {
        "size": _sum_formula([(size, "") for size in sizes], sum(sizes), "the rows above"),
        "params": _sum_formula(
            [
                (r.keras_params, _keras_params_formula(r, s.rows))
                if keras
                else (r.params, r.formulas.get("params", ""))
                for r in leaves
            ],
            params,
            "all layers",
        )
        + (
            f" (Keras' count: {s.params:,} parameters + {s.moving_stats:,} moving means and variances of batch norm)"
            if keras and s.moving_stats
            else ""
        ),
        "macs": _sum_formula([(r.macs, r.formulas.get("macs", "")) for r in leaves], s.macs, "all layers"),
        "flops": f"2*MACs = 2*{s.macs:,} = {2 * s.macs:,}",
    }
    connections = _sum_of(None, s.rows, _connections)
    if connections is not None:
        values["connections"], formulas["connections"] = connections
    return Expected("total", values, formulas, keras_params=s.keras_params if s.moving_stats else None)


def trainable_expected(s: ModelSummary, kind: str, convention: str) -> Expected:
    """Keras' 'Trainable params' or 'Non-trainable params' line: frozen parameters are non-trainable, and
    under the Keras convention so are batch norm's moving mean and variance (2C per layer)."""
    frozen = s.params - s.trainable_params
    if kind == "trainable":
        value, formula = s.trainable_params, f"parameters that train = {s.trainable_params:,}"
    elif convention == "keras":
        value = frozen + s.moving_stats
        formula = (
            f"frozen parameters + batch norm's moving means and variances (2*C per layer) = "
            f"{frozen:,} + {s.moving_stats:,} = {value:,}"
        )
    else:
        value = frozen
        other = frozen + s.moving_stats if s.moving_stats else None
        formula = f"frozen parameters = {frozen:,}" + (
            f" (batch norm's {s.moving_stats:,} moving means and variances are buffers, not parameters, in "
            "PyTorch; --convention keras counts them as Keras does)"
            if s.moving_stats
            else ""
        )
        return Expected(FOOTER_LABELS[kind], {"params": value}, {"params": formula}, keras_params=other)
    return Expected(FOOTER_LABELS[kind], {"params": value}, {"params": formula})
