"""Render a ModelSummary as a terminal table, markdown, CSV or JSON, in torch (CHW) or Keras (HWC) convention."""

from __future__ import annotations

import csv
import io
import json

from cnnlab import display
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


def keras_bytes(n: int) -> str:
    """A count of float32 weights as Keras 3 prints its size: 138,357,544 -> '527.79 MB' (1 KB = 1024 B)."""
    size = 4.0 * n
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size / 1024 < 1:
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} PB"


def keras_footer(summary: ModelSummary) -> list[str]:
    """Keras 3's three lines under model.summary(), with batch norm's moving mean and variance counted as
    non-trainable parameters the way Keras counts them (float32 sizes)."""
    k = summary.keras_totals()
    return [
        f"Total params: {k['params']:,} ({keras_bytes(k['params'])})",
        f"Trainable params: {k['trainable_params']:,} ({keras_bytes(k['trainable_params'])})",
        f"Non-trainable params: {k['non_trainable_params']:,} ({keras_bytes(k['non_trainable_params'])})",
    ]


def keras_bn_note(summary: ModelSummary) -> str:
    """How the Keras counts differ from PyTorch's, or '' when they do not."""
    if not summary.moving_stats:
        return ""
    return (
        f"Keras counts batch norm's moving mean and variance as non-trainable parameters (2C per layer, "
        f"{summary.moving_stats:,} here: 4C per layer with gamma and beta); PyTorch keeps them as buffers "
        f"(--convention torch: {summary.params:,} parameters)"
    )


def _show_extra(summary: ModelSummary, convention: str) -> bool:
    """Whether the table gets a Frozen column (torch) or a Non-trainable column (keras)."""
    if convention == "keras":
        return summary.keras_non_trainable > 0
    return summary.params != summary.trainable_params


def keras_notes(summary: ModelSummary) -> list[str]:
    """Where Keras would build or compute this layer differently from PyTorch."""
    from cnnlab.analysis.keras_notes import notes_for

    return notes_for(summary)


def keras_reference_notes(summary: ModelSummary) -> list[str]:
    """Where the keras.applications model of the same name is built differently from ours (resnet50)."""
    from cnnlab.analysis.keras_notes import reference_notes

    return reference_notes(summary)


def _rows(summary: ModelSummary, convention: str) -> list[dict]:
    out = []
    for r in summary.rows:
        row = {
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
        if convention == "keras":  # Keras' counts: batch norm's moving mean and variance are parameters
            row["params"] = r.keras_params
            row["non_trainable_params"] = r.keras_non_trainable
            row["moving_stats"] = r.moving_stats
        out.append(row)
    return out


def to_dict(summary: ModelSummary, convention: str = "torch") -> dict:
    """The JSON document scripts read: layers, totals, conv/dense shares and notes."""
    notes = [MAC_NOTE, *summary.notes]
    totals: dict = summary.totals()
    if convention == "keras":
        notes += [n for n in (keras_bn_note(summary),) if n] + keras_reference_notes(summary) + keras_notes(summary)
        totals.update(summary.keras_totals())
    return {
        "model": summary.model_name,
        "convention": convention,
        "input_shape": list(shape_in(summary.input_shape, convention)),
        "output_shape": list(shape_in(summary.output_shape, convention)),
        "layers": _rows(summary, convention),
        "totals": totals,
        "shares": summary.shares(),
        "notes": notes,
    }


def _cells(r: LayerRow, convention: str, show_frozen: bool) -> list[str]:
    indent = "  " * max(r.depth - 1, 0)
    rf = r.rf.label() if r.rf else "-"
    params, extra = (r.keras_params, r.keras_non_trainable) if convention == "keras" else (r.params, r.frozen_params)
    cells = [
        indent + r.name,
        r.type,
        fmt_shape(r.output_shape, convention),
        f"{r.activations:,}",
        f"{params:,}" if params or (r.leaf and not r.shared) else "",
        f"{r.macs:,}" if r.macs or r.leaf else "",
        rf,
    ]
    if show_frozen:
        cells.insert(5, f"{extra:,}" if extra else "")
    return cells


def _hw(v: object) -> object:
    """A receptive-field number, or 'HxW' where height and width differ (asymmetric kernels)."""
    return "x".join(f"{x:g}" for x in v) if isinstance(v, list) else v


def _header(summary: ModelSummary, convention: str, show_frozen: bool) -> list[str]:
    shape = "Output (H,W,C)" if convention == "keras" else "Output (C,H,W)"
    head = ["Layer", "Type", shape, "Activations", "Params", "MACs", "RF size/jump/start"]
    if show_frozen:
        head.insert(5, "Non-trainable" if convention == "keras" else "Frozen")
    return head


def _footer(summary: ModelSummary, convention: str) -> list[str]:
    t = summary.totals()
    sh = summary.shares()
    if convention == "keras":
        params = keras_footer(summary) + [n for n in (keras_bn_note(summary),) if n] + keras_reference_notes(summary)
    else:
        params = [
            f"Params: {t['params']:,} ({human(t['params'])}); trainable {t['trainable_params']:,}, "
            f"frozen {t['frozen_params']:,}"
        ]
    lines = [
        f"Input {fmt_shape(summary.input_shape, convention)} -> output {fmt_shape(summary.output_shape, convention)}",
        *params,
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


def _check_convention(convention: str) -> None:
    if convention not in CONVENTIONS:
        raise CnnlabError(f"unknown convention {convention!r}; use torch or keras")


def _table(summary: ModelSummary, convention: str) -> tuple[list[str], list[list[str]], set[int]]:
    """The layer table's header, rows of cells and right-aligned columns: what the text and the HTML both show."""
    show_frozen = _show_extra(summary, convention)
    numeric = {3, 4, 5, 6} if show_frozen else {3, 4, 5}
    return (
        _header(summary, convention, show_frozen),
        [_cells(r, convention, show_frozen) for r in summary.rows],
        numeric,
    )


def render_html(summary: ModelSummary, convention: str = "torch") -> str:
    """The terminal table as HTML, for Jupyter: the model's name, the layer rows and the footer lines."""
    _check_convention(convention)
    head, body, numeric = _table(summary, convention)
    return (
        display.lines([summary.model_name], bold_first=True)
        + display.table(head, body, numeric)
        + display.lines(_footer(summary, convention))
    )


def render(summary: ModelSummary, fmt: str = "table", convention: str = "torch") -> str:
    """Text in one of FORMATS; 'table' is for terminals, 'markdown' for reports, 'csv'/'json' for scripts."""
    if fmt not in FORMATS:
        raise CnnlabError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    _check_convention(convention)
    if fmt == "json":
        return json.dumps(to_dict(summary, convention), indent=2)
    head, body, numeric = _table(summary, convention)
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
                    r.keras_params if convention == "keras" else r.params,
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
    table = display.aligned(head, body, numeric, rule="frame")
    return "\n".join([summary.model_name, table, *_footer(summary, convention)]) + "\n"
