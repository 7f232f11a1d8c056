"""Render a ModelSummary as a terminal table, markdown, CSV or JSON, in torch (CHW) or Keras (HWC) convention."""

from __future__ import annotations

import csv
import io
import json

from cnnlab.analysis.summary import LayerRow, ModelSummary
from cnnlab.errors import CnnlabError

FORMATS = ("table", "markdown", "csv", "json")
CONVENTIONS = ("torch", "keras")
MAC_NOTE = (
    "One MAC = one multiply-accumulate of a conv or linear layer (FLOPs = 2 x MACs); pooling, activations, "
    "batch norm and additions count 0. Receptive field: size/jump/start in input pixels."
)


def shape_in(shape: tuple[int, ...], convention: str) -> tuple[int, ...]:
    """Shapes are CHW inside; Keras users read HWC."""
    if convention == "keras" and len(shape) == 3:
        return (shape[1], shape[2], shape[0])
    return tuple(shape)


def fmt_shape(shape: tuple[int, ...], convention: str) -> str:
    return "x".join(str(s) for s in shape_in(shape, convention)) or "-"


def human(n: float) -> str:
    """1234567 -> '1.23M': compact counts for the footer."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.2f}{unit}"
    return f"{n:g}"


def keras_notes(summary: ModelSummary) -> list[str]:
    """Where Keras would build or compute this layer differently from PyTorch."""
    from cnnlab.analysis.keras_notes import notes_for

    return notes_for(summary)


def _rows(summary: ModelSummary, convention: str) -> list[dict]:
    out = []
    for r in summary.rows:
        out.append(
            {
                "name": r.name,
                "type": r.type,
                "depth": r.depth,
                "block": not r.leaf,
                "output_shape": list(shape_in(r.output_shape, convention)),
                "activations": r.activations,
                "params": r.params,
                "trainable_params": r.trainable_params,
                "frozen_params": r.frozen_params,
                "macs": r.macs,
                "kind": r.kind,
                "receptive_field": r.rf.as_dict() if r.rf else None,
                "formulas": r.formulas,
            }
        )
    return out


def to_dict(summary: ModelSummary, convention: str = "torch") -> dict:
    """The JSON document scripts read: layers, totals, conv/dense shares and notes."""
    notes = [MAC_NOTE, *summary.notes]
    if convention == "keras":
        notes += keras_notes(summary)
    return {
        "model": summary.model_name,
        "convention": convention,
        "input_shape": list(shape_in(summary.input_shape, convention)),
        "output_shape": list(shape_in(summary.output_shape, convention)),
        "layers": _rows(summary, convention),
        "totals": summary.totals(),
        "shares": summary.shares(),
        "notes": notes,
    }


def _cells(r: LayerRow, convention: str, show_frozen: bool) -> list[str]:
    indent = "  " * max(r.depth - 1, 0)
    rf = r.rf.label() if r.rf else "-"
    cells = [
        indent + r.name,
        r.type,
        fmt_shape(r.output_shape, convention),
        f"{r.activations:,}",
        f"{r.params:,}" if r.params or r.leaf else "",
        f"{r.macs:,}" if r.macs or r.leaf else "",
        rf,
    ]
    if show_frozen:
        cells.insert(5, f"{r.frozen_params:,}" if r.frozen_params else "")
    return cells


def _hw(v: object) -> object:
    """A receptive-field number, or 'HxW' where height and width differ (asymmetric kernels)."""
    return "x".join(f"{x:g}" for x in v) if isinstance(v, list) else v


def _header(summary: ModelSummary, convention: str, show_frozen: bool) -> list[str]:
    shape = "Output (H,W,C)" if convention == "keras" else "Output (C,H,W)"
    head = ["Layer", "Type", shape, "Activations", "Params", "MACs", "RF size/jump/start"]
    if show_frozen:
        head.insert(5, "Frozen")
    return head


def _footer(summary: ModelSummary, convention: str) -> list[str]:
    t = summary.totals()
    sh = summary.shares()
    lines = [
        f"Input {fmt_shape(summary.input_shape, convention)} -> output {fmt_shape(summary.output_shape, convention)}",
        f"Params: {t['params']:,} ({human(t['params'])}); trainable {t['trainable_params']:,}, frozen {t['frozen_params']:,}",
        f"MACs: {t['macs']:,} ({human(t['macs'])}); FLOPs = 2 x MACs = {human(t['flops'])}",
        f"Activations (sum of layer outputs, batch 1): {t['activations']:,}",
        f"Conv layers: {sh['conv']['params']:.1%} of params, {sh['conv']['macs']:.1%} of MACs; "
        f"dense layers: {sh['dense']['params']:.1%} of params, {sh['dense']['macs']:.1%} of MACs",
        MAC_NOTE,
    ]
    lines += summary.notes
    if convention == "keras":
        lines += keras_notes(summary) or ["Keras would build every layer as shown."]
    return lines


def render(summary: ModelSummary, fmt: str = "table", convention: str = "torch") -> str:
    """Text in one of FORMATS; 'table' is for terminals, 'markdown' for reports, 'csv'/'json' for scripts."""
    if fmt not in FORMATS:
        raise CnnlabError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if convention not in CONVENTIONS:
        raise CnnlabError(f"unknown convention {convention!r}; use torch or keras")
    if fmt == "json":
        return json.dumps(to_dict(summary, convention), indent=2)
    show_frozen = summary.params != summary.trainable_params
    head = _header(summary, convention, show_frozen)
    body = [_cells(r, convention, show_frozen) for r in summary.rows]
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(
            [
                "name",
                "type",
                "depth",
                "block",
                "output_shape",
                "activations",
                "params",
                "trainable_params",
                "macs",
                "rf_size",
                "rf_jump",
                "rf_start",
            ]
        )
        for r in summary.rows:
            rf = r.rf.as_dict() if r.rf else {"size": "", "jump": "", "start": ""}
            w.writerow(
                [
                    r.name,
                    r.type,
                    r.depth,
                    int(not r.leaf),
                    fmt_shape(r.output_shape, convention),
                    r.activations,
                    r.params,
                    r.trainable_params,
                    r.macs,
                    *(_hw(rf[k]) for k in ("size", "jump", "start")),
                ]
            )
        return buf.getvalue()
    if fmt == "markdown":
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        lines += ["| " + " | ".join(c.strip() or " " for c in cells) + " |" for cells in body]
        return "\n".join(lines) + "\n\n" + "\n".join(f"- {x}" for x in _footer(summary, convention)) + "\n"
    numeric = {3, 4, 5, 6} if show_frozen else {3, 4, 5}
    widths = [max(len(str(x[i])) for x in [head, *body]) for i in range(len(head))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(widths[i]) if i in numeric else c.ljust(widths[i]) for i, c in enumerate(cells)
        ).rstrip()

    rule = "-" * len(line(head))
    out = [f"{summary.model_name}", rule, line(head), rule, *[line(c) for c in body], rule]
    return "\n".join(out + _footer(summary, convention)) + "\n"
