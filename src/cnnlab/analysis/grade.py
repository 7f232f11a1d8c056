"""Grade a hand-made layer table (markdown or CSV) against the analysis of the model it describes.

Students compute output shapes, activation sizes, parameter counts, connections, MACs and receptive fields by hand;
`grade` checks every cell of their table (and the working in it, "5*5*6+6 = 156") and explains each wrong one with the
formula that gives the right value::

    table = read_table("table:lenet-like-published")
    result = grade(table, summarize("net:lenet-like"))
    print(result.render())          # one line per wrong cell, then "N of M cells right"

`check` does both and also grades a table of a model that cannot run up to the layer that cannot exist.
Tables are markdown pipe tables, CSV, or Keras `model.summary()` printouts (Keras 3 box drawing or Keras 2 text).
Reading them is cnnlab.analysis.table's job, pairing their rows with model layers cnnlab.analysis.match's and
what each row should hold cnnlab.analysis.expected's; this module grades the cells and keeps the documented
entry points (`read_table`, `parse_number`, `parse_shape`, `shapes_match` and `label_kind` are re-exported).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from cnnlab import display
from cnnlab.analysis.expected import Expected, Value
from cnnlab.analysis.match import align, label_kind
from cnnlab.analysis.summary import LayerRow, ModelSummary, model_label
from cnnlab.analysis.table import (
    DASHES,
    Number,
    Table,
    TableRow,
    channels_last,
    parse_number,
    parse_shape,
    plain,
    read_table,
    shapes_match,
    squeeze,
)
from cnnlab.analysis.working import WorkingError, evaluate, split_working
from cnnlab.errors import CnnlabError, ShapeError, echoed

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "CellResult",
    "Grade",
    "Number",
    "Table",
    "TableRow",
    "check",
    "grade",
    "label_kind",
    "parse_number",
    "parse_shape",
    "read_table",
    "shapes_match",
]

COLUMN_NAMES = {
    "shape": "shape",
    "size": "activation size",
    "params": "parameters",
    "macs": "MACs",
    "flops": "FLOPs",
    "connections": "connections",
    "rf": "receptive field",
}
COLUMN_WORDS = {"params": ("param", "parameter"), "macs": ("mac",), "flops": ("flop",), "connections": ("connection",)}
NUMBER_COLUMNS = ("size", "params", "macs", "flops", "connections")
FLOPS_CONVENTIONS = ("auto", "macs", "2macs")
FLOPS_NAMES = {"macs": "MACs", "2macs": "2 x MACs"}
CONVENTIONS = ("torch", "keras")
SKIP_REASONS = {
    "connections": "connections are counted for conv, pool and dense layers",
    "shape": "it has no shape",
    "rf": "it has no receptive field",
}
# what an unreadable cell is not; else a number
READ_AS = {"shape": "shape", "rf": "receptive field size (or size/jump/start)"}


@dataclass
class CellResult:
    """One graded cell; `expected` is None when the row has no counterpart in the model (`formula` says why)."""

    row: str
    column: str
    given: str
    expected: Value | None
    ok: bool
    formula: str = ""
    expected_text: str = ""
    layer: str = ""
    line: int = 0
    readable: bool = True
    value_ok: bool = False  # the value is right; the cell is still wrong when its working does not give it
    working: str = ""  # working that does not give the value written after it: "(3*3*3)*64 = 1,728"

    def message(self) -> str:
        if self.expected is None:
            return f"{self.row}: {self.formula}"
        if not self.readable:
            verdict = f"is not a {READ_AS.get(self.column, 'number')}"
        elif self.value_ok:
            verdict = f"has working that does not give its value: {self.working}"
        else:
            verdict = "is wrong"
            if self.working:
                verdict += f", and its working does not give its value either: {self.working}"
        return f"{self._subject()}: {echoed(self.given, quote=False)} {verdict}; right: {self.expected_text}"

    def _subject(self) -> str:
        """The row and the column, the column left out where the row already names it (Keras' `Total params`)."""
        words = self.row.lower().split()
        if words and words[-1].rstrip("s") in COLUMN_WORDS.get(self.column, ()):
            return self.row
        return f"{self.row} {COLUMN_NAMES[self.column]}"


@dataclass
class Grade:
    """Every graded cell of a table, plus notes: model layers the table leaves out, columns and cells not graded,
    the FLOPs convention used. `cannot` names the model layer that cannot exist (the model stops there), if any;
    `flops` is the FLOPs convention used ("macs" or "2macs"; "" without a FLOPs column)."""

    cells: list[CellResult]
    notes: list[str] = field(default_factory=list)
    cannot: str = ""
    flops: str = ""

    @property
    def right(self) -> int:
        return sum(c.ok for c in self.cells)

    @property
    def ok(self) -> bool:
        return self.right == len(self.cells) and not self.cannot

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    @property
    def wrong(self) -> list[CellResult]:
        return [c for c in self.cells if not c.ok]

    def messages(self) -> list[str]:
        """One line per wrong cell (one per unmatched row)."""
        return list(dict.fromkeys(c.message() for c in self.wrong))

    def score(self) -> str:
        return f"{self.right} of {len(self.cells)} cells right"

    def render(self) -> str:
        """One line per wrong cell (one per unmatched row), the notes, then 'N of M cells right'."""
        return "\n".join([*self.messages(), *self.notes, self.score()]) + "\n"

    def __str__(self) -> str:
        """`print(grade)` prints what `cnnlab check` prints."""
        return self.render()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.render())

    def _repr_html_(self) -> str:
        """In Jupyter: the score first, then the wrong cells as a list and the notes (the lines `render` prints)."""
        return (
            display.lines([self.score()], bold_first=True)
            + display.bullets(self.messages())
            + display.lines(self.notes)
        )


# ---------------------------------------------------------------------------------------------- grading

_Reading = tuple[Number | None, list[tuple[str, Fraction]]]


def check(
    table: Table,
    model: str | os.PathLike | nn.Module,
    input_shape: tuple[int, int, int] | None = None,
    num_classes: int | None = None,
    flops: str = "auto",
    convention: str = "torch",
    options: dict | None = None,
) -> Grade:
    """Grade `table` against the model (zoo name or TOML network, built with `options`, or a module); a model that
    cannot run at some layer is graded up to that layer, and the row for it is reported as a layer that cannot
    exist."""
    from cnnlab.analysis.summary import summarize

    try:
        summary = summarize(model, input_shape, num_classes=num_classes, options=options)
    except ShapeError as e:
        if not isinstance(e.layer, LayerRow):
            raise
        leaves = [r for r in e.rows if r.leaf]
        partial = ModelSummary(
            model_label(model),
            e.input_shape,  # summarize names the input of every ShapeError it raises
            e.rows,
            sum(r.params for r in leaves),
            sum(r.trainable_params for r in leaves),
            output_shape=e.rows[-1].output_shape if e.rows else (),
            moving_stats=sum(r.moving_stats for r in leaves),
        )
        return grade(table, partial, flops, failure=e, convention=convention)
    return grade(table, summary, flops, convention=convention)


def grade(
    table: Table,
    summary: ModelSummary,
    flops: str = "auto",
    failure: ShapeError | None = None,
    convention: str = "torch",
) -> Grade:
    """Check every filled cell of `table` against `summary`; empty cells are not graded.

    flops: how a FLOPs column counts, "macs" or "2macs" (2 x MACs), or "auto": from the table's values when they
    fit one consistently, else 2 x MACs. failure: the ShapeError of a model that cannot run; `summary` then holds
    the layers before the one that cannot exist (`failure.layer`). convention: "torch" counts parameters as
    PyTorch does; "keras" as Keras' model.summary() does, with batch norm's moving mean and variance as
    non-trainable parameters (4C per batch-norm layer, 2C of them non-trainable).
    """
    if not isinstance(summary, ModelSummary):
        raise CnnlabError(
            f"grade takes a model summary (cnnlab.summarize(model, input_shape)), got {type(summary).__name__}; "
            "to grade against a model by name or file, use check(table, model)"
        )
    if flops not in FLOPS_CONVENTIONS:
        raise CnnlabError(f"unknown FLOPs convention {flops!r}; use auto, macs or 2macs")
    if convention not in CONVENTIONS:
        raise CnnlabError(f"unknown convention {convention!r}; use torch or keras")
    failed = failure.layer if failure is not None and isinstance(failure.layer, LayerRow) else None
    targets, notes = align(table, summary, failed, str(failure) if failure is not None else "", convention)
    readings = _read_cells(table)
    counting, flops_note = _flops_convention(table, targets, readings, flops)
    hwc = _uses_hwc(table, targets)
    cells, skipped, after, hints = _grade_rows(table, targets, readings, hwc, counting)
    if table.ignored:
        notes.append("not graded: " + ", ".join(echoed(column, quote=False) for column in table.ignored))
    for column, labels in skipped.items():
        why = SKIP_REASONS.get(column, "not defined for these rows")
        notes.append(f"not graded: the {COLUMN_NAMES[column]} of {', '.join(labels)} ({why})")
    if flops_note:
        notes.append(flops_note)
    if convention == "keras":  # Keras' own model of this name is built differently (resnet50's conv biases)
        from cnnlab.analysis.keras_notes import reference_notes

        notes += reference_notes(summary)
    if keras_counts := hints["keras"]:
        notes.append(
            f"{keras_counts} parameter cell{'s' if keras_counts != 1 else ''} hold{'s' if keras_counts == 1 else ''} "
            "Keras' count, with batch norm's moving mean and variance as non-trainable parameters (4C per layer); "
            "grade with --convention keras to count them as Keras does"
        )
    if doubled := hints["flops"]:
        notes.append(
            f"{doubled} MACs cell{'s' if doubled != 1 else ''} hold{'s' if doubled == 1 else ''} 2 x MACs, the FLOPs "
            "(a multiply-accumulate counts once as a MAC, twice as FLOPs); if FLOPs were meant, name the column FLOPs"
        )
    cannot = ""
    if failure is not None:
        cannot = failed.name if failed is not None else summary.model_name
        if after:
            notes.append(f"not graded, after the layer that cannot exist: {', '.join(after)}")
        if not any(c.formula.startswith("this layer cannot exist") for c in cells):
            notes.append(f"the model cannot run: {failure}")
    return Grade(cells, notes, cannot, counting if "flops" in table.columns else "")


def _grade_rows(
    table: Table,
    targets: list[Expected | str | None],
    readings: dict[tuple[int, str], _Reading],
    hwc: bool,
    counting: str,
) -> tuple[list[CellResult], dict[str, list[str]], list[str], dict[str, int]]:
    """Every filled cell graded against its row's target. Also returns the columns a row has no value for (by
    column), the filled rows after a layer that cannot exist, and how many wrong cells hold a known other count:
    "keras", parameter cells with Keras' (batch norm's moving statistics as parameters), and "flops", MACs cells
    with 2 x MACs."""
    cells: list[CellResult] = []
    skipped: dict[str, list[str]] = {}
    after: list[str] = []
    hints = {"keras": 0, "flops": 0}
    for i, (row, target) in enumerate(zip(table.rows, targets)):
        label = _short_label(row)
        filled = [
            (column, given)
            for column, given in row.cells.items()
            if given.strip() and not (column in READ_AS and plain(given).lower() in DASHES)
        ]
        if target is None:
            after += [label] if filled else []
            continue
        for column, given in filled:
            if isinstance(target, str) or target.cannot:
                why = target if isinstance(target, str) else f"this layer cannot exist: {target.cannot}"
                layer = "" if isinstance(target, str) else target.layer
                cells.append(CellResult(label, column, given, None, False, why, layer=layer, line=row.line))
            elif column in target.values:
                reading = readings.get((i, column))
                cells.append(_grade_cell(label, column, given, target, hwc, row.line, reading, counting))
                number = reading[0] if reading is not None else None
                if not cells[-1].ok and number is not None:
                    if column == "params" and target.keras_params is not None:
                        hints["keras"] += number.covers(target.keras_params)
                    if column == "macs" and target.values["macs"]:
                        hints["flops"] += number.covers(2 * target.values["macs"])
            else:
                skipped.setdefault(column, []).append(label)
    return cells, skipped, after, hints


def _read_cells(table: Table) -> dict[tuple[int, str], _Reading]:
    """Each number cell's value and its working ('5*5*6+6 = 156': 156 and [('5*5*6+6', 156)]), by (row, column).

    Raises CnnlabError for working that is not plain arithmetic."""
    out: dict[tuple[int, str], _Reading] = {}
    for i, row in enumerate(table.rows):
        for column, given in row.cells.items():
            if column not in (*NUMBER_COLUMNS, "rf"):
                continue
            working, value = split_working(plain(given))
            steps = []
            for expr in working:
                try:
                    steps.append((expr, evaluate(expr)))
                except WorkingError as e:
                    raise CnnlabError(
                        f"{table.source} line {row.line}: cannot read the working {echoed(expr)} in the "
                        f"{echoed(table.columns[column])} cell {echoed(given)}: {e}; write working with numbers and "
                        "+ - * / ( ) only, or give just the value"
                    ) from None
            out[i, column] = (parse_number(value), steps)
    return out


def _flops_convention(
    table: Table, targets: list[Expected | str | None], readings: dict[tuple[int, str], _Reading], flops: str
) -> tuple[str, str]:
    """The FLOPs convention to grade with ("macs" or "2macs") and a note that says which and why."""
    if "flops" not in table.columns:
        return "2macs", ""
    column = f"{echoed(plain(table.columns['flops']), quote=False)} column"
    if flops != "auto":
        return flops, f"{column} graded as {FLOPS_NAMES[flops]} (--flops {flops})"
    fits = {"macs": 0, "2macs": 0}
    for i, target in enumerate(targets):
        number = readings.get((i, "flops"), (None, []))[0]
        if not isinstance(target, Expected) or number is None or not target.values.get("macs"):
            continue
        macs = int(target.values["macs"])
        as_macs, as_flops = number.covers(macs), number.covers(2 * macs)
        if as_macs != as_flops:
            fits["macs" if as_macs else "2macs"] += 1
    for found, other in (("macs", "2macs"), ("2macs", "macs")):
        if fits[found] and not fits[other]:
            return found, (
                f"{column} graded as {FLOPS_NAMES[found]}: {fits[found]} of its values fit {FLOPS_NAMES[found]} and "
                f"none fit {FLOPS_NAMES[other]} (--flops {other} grades it as {FLOPS_NAMES[other]})"
            )
    return "2macs", (
        f"{column} graded as 2 x MACs, the usual convention: its values fit neither convention throughout "
        f"({fits['macs']} fit MACs, {fits['2macs']} fit 2 x MACs; --flops macs grades it as MACs)"
    )


def _short_label(row: TableRow) -> str:
    """'CONV1 (f=5, s=1)' -> 'CONV1'; numeric labels become 'layer 3'; empty ones 'line 7'; a long one is echoed
    by its start (errors.echoed), as a long value is: it heads its row's grading lines and the notes naming it."""
    if re.search(r"\(\s*\d[a-z]\s*\)", row.label, re.IGNORECASE):  # 'inception(3a) #1x1' names the module
        return echoed(row.label.strip(), quote=False)
    short = row.label.split("(")[0].strip().rstrip(":").strip() or row.label
    if not short:
        return f"line {row.line}"
    return echoed(f"layer {short}" if short.isdigit() else short, quote=False)


def _fraction_text(v: Fraction) -> str:
    return f"{int(v):,}" if v.denominator == 1 else f"{float(v):,.6g}"


def _grade_field(
    label: str, given: str, target: Expected, line: int, working: list[tuple[str, Fraction]]
) -> CellResult:
    """A receptive-field cell: its size (16, 16x16, 1x7), or size/jump/start as `cnnlab summary` prints them
    (16/4/8), each part graded; working before it ('14 + (2-1)*2 = 16') must give the size."""
    expected, formula = target.values["rf"], target.formulas["rf"]  # set with the value, "" where none applies
    parts = split_working(plain(given))[1].split("/")
    size = parse_shape(parts[0]) if len(parts) in (1, 3) else None
    steps = [_axes(p) for p in parts[1:]]
    readable = size is not None and None not in steps
    size_ok = readable and size in ((expected,), (expected, expected), expected)
    gives = size if size is not None and len(set(size)) == 1 else None  # the one number working can give
    off = [f"{echoed(e, quote=False)} = {_fraction_text(v)}" for e, v in working if gives is None or v != gives[0]]
    right = "x".join(map(str, expected)) if isinstance(expected, tuple) else str(expected)
    text = right + (f" = {formula}" if formula else "")
    value_ok = size_ok
    if len(parts) == 3 and target.field is not None:
        as_dict = target.field.as_dict()
        value_ok = size_ok and all(
            given_axes in _axes_spellings(as_dict[k]) for given_axes, k in zip(steps, ("jump", "start"))
        )
        text = f"{target.field.label()} (size/jump/start; size {text})"
    ok = value_ok and not off
    return CellResult(
        label, "rf", given, expected, ok, formula, text, target.layer, line, readable, value_ok, "; ".join(off)
    )


def _axes(text: str) -> tuple[float, ...] | None:
    """A field's jump or start as written: '4', '2.5', or height x width ('1x3.5'); None if unreadable."""
    try:
        return tuple(float(v) for v in re.split(r"\s*[x×]\s*", text.strip()))
    except ValueError:
        return None


def _axes_spellings(value: float | list) -> tuple[tuple[float, ...], ...]:
    """How a right jump or start may be written: 4 or 4x4 where both axes agree, height x width otherwise."""
    return (tuple(value),) if isinstance(value, list) else ((value,), (value, value))


def _grade_cell(
    label: str,
    column: str,
    given: str,
    target: Expected,
    hwc: bool,
    line: int,
    reading: _Reading | None = None,
    convention: str = "2macs",
) -> CellResult:
    expected = target.values[column]
    formula = target.formulas.get(column, "")
    if column == "flops" and convention == "macs":
        expected = target.values["macs"]
        formula = "FLOPs counted as MACs: " + (target.formulas.get("macs") or f"{expected:,}")
    if column == "shape":
        shape = parse_shape(given)
        ok = shape is not None and shapes_match(shape, expected)
        text = _shape_text(expected, given, shape, hwc)
        text += f" ({formula})" if formula else ""
        return CellResult(label, column, given, expected, ok, formula, text, target.layer, line, shape is not None, ok)
    if column == "rf":
        return _grade_field(label, given, target, line, reading[1] if reading is not None else [])
    number, working = reading if reading is not None else (parse_number(given), [])
    value_ok = number is not None and number.covers(expected)
    off = [
        f"{echoed(expr, quote=False)} = {_fraction_text(v)}"
        for expr, v in working
        if number is not None and not number.covers(v)
    ]
    text = f"{expected:,}"
    if number is not None and number.step is not None:
        text += f" (≈ {number.like(expected)})"
    text += f" = {formula}" if formula else ""
    ok = value_ok and not off
    return CellResult(
        label,
        column,
        given,
        expected,
        ok,
        formula,
        text,
        target.layer,
        line,
        number is not None,
        value_ok,
        "; ".join(off),
    )


def _uses_hwc(table: Table, targets: list[Expected | str | None]) -> bool:
    """Whether the student writes 3-D shapes channels-last: a vote over the shapes that tell the orders apart."""
    votes = 0
    for row, target in zip(table.rows, targets):
        shape = parse_shape(row.cells.get("shape", ""))
        if not isinstance(target, Expected) or shape is None:
            continue
        true = target.values.get("shape")
        if not isinstance(true, tuple):
            continue
        votes += _order_vote(shape, true)
    return votes > 0


def _order_vote(shape: tuple[int, ...], true: tuple[int, ...]) -> int:
    """+1 when a 3-D shape agrees with the true one in more places read as HWC, -1 as CHW, else 0."""
    if len(shape) != 3 or len(true) != 3:
        return 0
    chw = sum(a == b for a, b in zip(shape, true))
    hwc = sum(a == b for a, b in zip(shape, channels_last(true)))
    return (hwc > chw) - (chw > hwc)


def _shape_text(expected: tuple[int, ...], given: str, shape: tuple[int, ...] | None, hwc: bool) -> str:
    """The right shape written the way the student writes shapes: same order, brackets and separators."""
    vote = _order_vote(shape, expected) if shape else 0
    dims = channels_last(expected) if vote > 0 or (hwc and vote == 0) else expected
    if len(expected) == 1 and shape and len(shape) > 1 and len(squeeze(shape)) <= 1:
        pos = next((i for i, d in enumerate(shape) if d != 1), 0)
        dims = tuple(expected[0] if i == pos else 1 for i in range(len(shape)))
    if shape is not None and len(shape) == len(dims):
        numbers = iter(map(str, dims))
        return re.sub(r"\d+", lambda _: next(numbers), plain(given))
    return "x".join(map(str, dims))
