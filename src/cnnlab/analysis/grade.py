"""Grade a hand-made layer table (markdown or CSV) against the analysis of the model it describes.

Students compute output shapes, activation sizes, parameter counts, connections and MACs by hand; `grade`
checks every cell of their table (and the working in it, "5*5*6+6 = 156") and explains each wrong one with the
formula that gives the right value::

    table = read_table("table:lenet-like-published")
    result = grade(table, summarize("net:lenet-like"))
    print(result.render())          # one line per wrong cell, then "N of M cells right"

`check` does both and also grades a table of a model that cannot run up to the layer that cannot exist.
Tables are markdown pipe tables, CSV, or Keras `model.summary()` printouts (Keras 3 box drawing or Keras 2 text).
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from cnnlab import display
from cnnlab.analysis.summary import LayerRow, ModelSummary
from cnnlab.analysis.working import WorkingError, evaluate, split_working
from cnnlab.errors import CnnlabError, ShapeError
from cnnlab.resources import resolve

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

Value = int | tuple[int, ...]
COLUMN_NAMES = {
    "shape": "shape",
    "size": "activation size",
    "params": "parameters",
    "macs": "MACs",
    "flops": "FLOPs",
    "connections": "connections",
}
FOOTER_LABELS = {"total": "Total params", "trainable": "Trainable params", "nontrainable": "Non-trainable params"}
NUMBER_COLUMNS = ("size", "params", "macs", "flops", "connections")
FLOPS_CONVENTIONS = ("auto", "macs", "2macs")
FLOPS_NAMES = {"macs": "MACs", "2macs": "2 x MACs"}
CONVENTIONS = ("torch", "keras")
DASHES = {"-", "--", "—", "–", "n/a", "none"}
UNITS = {
    "k": 3,
    "thousand": 3,
    "kilo": 3,
    "m": 6,
    "mil": 6,
    "mio": 6,
    "mn": 6,
    "million": 6,
    "mega": 6,
    "b": 9,
    "bn": 9,
    "g": 9,
    "billion": 9,
    "giga": 9,
    "t": 12,
    "trillion": 12,
    "tera": 12,
}
_NUMBER = re.compile(
    r"^[~≈]?\s*(?P<int>\d{1,3}(?:[,\u00a0\u2009\u202f _']\d{3})+|\d+)?(?P<frac>\.\d+)?"
    r"(?:\s*e(?P<exp>[+-]?\d+)|\s*[x×*]\s*10\s*\^\s*(?P<pow>[+-]?\d+))?"
    r"(?P<unit>\s*(?:" + "|".join(sorted(UNITS, key=len, reverse=True)) + r"))?"
    r"(?:\s*(?:flops?|macs?|params?|parameters|weights|mult-adds|multiply-adds))?\.?$",
    re.IGNORECASE,
)
_SHAPE = re.compile(r"^[(\[{]?\s*\d+(?:\s*(?:,|x|×|\*|@|by)\s*\d+)*\s*,?\s*[)\]}]?$", re.IGNORECASE)
_SHAPE_LIKE = re.compile(r"\d\s*[x×*@]\s*\d|[(\[]")
# Label patterns in the order they are tried; model block types (Inception, BasicBlock, ...) come before these.
LABEL_KINDS = [
    ("softmax", r"softmax|\boutput|logits"),
    ("batchnorm", r"\bbn\d*\b|batch"),
    ("pool", r"pool|subsampl|\bs\d+\b"),
    ("conv", r"conv|\bc\d+\b"),
    ("dense", r"\bfc|dense|linear|\bf\d+\b|full|affine"),
    ("flatten", r"flatten"),
    ("dropout", r"dropout"),
    ("activation", r"relu|tanh|sigmoid|gelu|\belu|swish|activation"),
    ("block", r"block|residual|module|stage"),
]
ACTIVATION_TYPES = re.compile(r"relu|tanh|sigmoid|gelu|elu|silu|swish|mish|softplus|hardtanh")


@dataclass
class TableRow:
    """One body row: the text of its label columns and its gradable cells by column role."""

    label: str
    cells: dict[str, str]
    line: int


@dataclass
class Table:
    """A hand-made layer table; `columns` maps each gradable role (shape, size, params, macs, flops, connections)
    to its header; `ignored` names the other columns that are not layer labels (not graded)."""

    source: str
    columns: dict[str, str]
    rows: list[TableRow]
    ignored: list[str] = field(default_factory=list)


@dataclass
class Number:
    """A count as written: exact for plain integers, an interval [low, high) for rounded notations like 3.2M."""

    value: Fraction
    step: Fraction | None = None  # the unit of the last written digit, None when exact
    unit: str = ""
    decimals: int = 0

    def covers(self, n: int) -> bool:
        if self.step is None:
            return self.value == n
        return self.value - self.step / 2 <= n < self.value + self.step / 2

    def like(self, n: int) -> str:
        """`n` in this number's notation: 3216000 -> '3.2M' when the student wrote '3.3M'."""
        scale = self.step * 10**self.decimals if self.step is not None else Fraction(1)
        return f"{float(n / scale):.{self.decimals}f}{self.unit}"


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
            verdict = f"is not a {'shape' if self.column == 'shape' else 'number'}"
        elif self.value_ok:
            verdict = f"has working that does not give its value: {self.working}"
        else:
            verdict = "is wrong"
            if self.working:
                verdict += f", and its working does not give its value either: {self.working}"
        return f"{self.row} {COLUMN_NAMES[self.column]}: {self.given} {verdict}; right: {self.expected_text}"


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

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.render())

    def _repr_html_(self) -> str:
        """In Jupyter: the score first, then the wrong cells as a list and the notes (the lines `render` prints)."""
        return (
            display.lines([self.score()], bold_first=True)
            + display.bullets(self.messages())
            + display.lines(self.notes)
        )


# ---------------------------------------------------------------------------------------------- values


def parse_number(text: str) -> Number | None:
    """'6,272', '6 272', '3.2M', '1.1 billion', '1.2e6', '48k', '-' (0) ... as a Number; None if unreadable."""
    t = _plain(text)
    if t.lower() in DASHES:
        return Number(Fraction(0))
    m = _NUMBER.match(t)
    if not m or not (m["int"] or m["frac"]):
        return None
    unit = (m["unit"] or "").strip().lower()
    digits = re.sub(r"\D", "", m["int"] or "0")
    decimals = len(m["frac"] or ".") - 1
    power = UNITS.get(unit, 0) + int(m["exp"] or m["pow"] or 0)
    value = Fraction(digits + (m["frac"] or "")) * Fraction(10) ** power
    if not unit and m["exp"] is None and m["pow"] is None:
        return Number(value)
    suffix = m["unit"] or f"e{power}"
    return Number(value, Fraction(10) ** (power - decimals), suffix, decimals)


def parse_shape(text: str) -> tuple[int, ...] | None:
    """'(28,28,8)', '28x28x8', '28 × 28 × 8', '[8, 28, 28]', '6@28x28', '(None, 28, 28, 8)', '120' as a tuple;
    Keras 2 writes input shapes in a list, '[(None, 224, 224, 3)]'."""
    t = re.sub(r"None\s*,\s*", "", _plain(text))
    t = re.sub(r"^\[\s*(\(.*\))\s*\]$", r"\1", t)
    if not _SHAPE.match(t):
        return None
    return tuple(int(d) for d in re.findall(r"\d+", t))


def shapes_match(given: tuple[int, ...], true: tuple[int, ...]) -> bool:
    """Equal in CHW or HWC order; vectors ignore leading and trailing 1s ((120,1) == (120,))."""
    if given in (true, _hwc(true)):
        return True
    squeezed = _squeeze(true)
    return len(squeezed) <= 1 and _squeeze(given) == squeezed


def _hwc(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (shape[1], shape[2], shape[0]) if len(shape) == 3 else shape


def _squeeze(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(d for d in shape if d != 1)


def _plain(text: str) -> str:
    """Cell text without markdown emphasis or code marks."""
    return re.sub(r"\*\*|`", "", text).strip()


# ---------------------------------------------------------------------------------------------- reading


def read_table(path: str | Path) -> Table:
    """The first markdown pipe table in a file, a Keras `model.summary()` printout, or a CSV file (by extension,
    else sniffed); `path` may be table:NAME for a shipped one."""
    p = resolve(path, "table")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise CnnlabError(f"table file {p} does not exist; check the path") from None
    except (OSError, UnicodeDecodeError) as e:
        raise CnnlabError(f"cannot read table file {p}: {e}; give a UTF-8 markdown or CSV file") from None
    if p.suffix.lower() == ".csv":
        rows = _csv_rows(text, p)
    else:
        rows = _markdown_rows(text) or _box_rows(text) or _keras2_rows(text) or _csv_rows(text, p, sniff_only=True)
    return _build_table(str(p), rows)


def _split_pipes(line: str) -> list[str]:
    s = line.strip()
    s = s[1:] if s.startswith("|") else s
    s = s[:-1] if s.endswith("|") and not s.endswith("\\|") else s
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", s)]


def _markdown_rows(text: str) -> list[tuple[int, list[str]]]:
    """(line number, cells) of the first pipe table, header first; [] when there is none."""
    lines = text.splitlines()
    sep = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")
    for i in range(len(lines) - 1):
        if "|" in lines[i] and sep.match(lines[i + 1]) and "-" in lines[i + 1]:
            rows = [(i + 1, _split_pipes(lines[i]))]
            for j in range(i + 2, len(lines)):
                if "|" not in lines[j] or not lines[j].strip():
                    break
                rows.append((j + 1, _split_pipes(lines[j])))
            return rows
    return []


_BOX_HEAD = "┃"
_BOX_BODY = "│"
_BOX_RULE = tuple("┏┡┢├┝┞┟┠┣╞")
_TOTAL_PARAMS = re.compile(r"^\s*Total params:\s*(?P<n>[\d,]+)")
_FOOTER_PARAMS = re.compile(r"^\s*(?P<what>Total|Trainable|Non-trainable) params:\s*(?P<n>[\d,]+)")


def _box_rows(text: str) -> list[tuple[int, list[str]]]:
    """(line number, cells) of a Keras 3 `model.summary()` box (┃ header ┃, │ rows │), header first, then a
    'Total params' row from the line under the box; [] when there is none. Cells that wrap onto more lines are
    joined: the lines between two ├─┼─┤ rules, or without rules, lines that `_continues`."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip().startswith(_BOX_HEAD)), None)
    if start is None:
        return []
    header: list[str] = []
    rows: list[tuple[int, list[str]]] = []
    ruled = any(line.strip().startswith(("├", "┝", "┠", "┣")) for line in lines[start:])
    fresh = True  # the next │ line starts a row
    end = len(lines)
    for i in range(start, len(lines)):
        s = lines[i].strip()
        if s.startswith(_BOX_HEAD):
            header = _join_cells(header, _split_box(s)) if header else _split_box(s)
        elif s.startswith(_BOX_BODY):
            cells = _split_box(s)
            if rows and len(cells) == len(rows[-1][1]) and not fresh:
                if ruled or _continues(cells, header):
                    rows[-1] = (rows[-1][0], _join_cells(rows[-1][1], cells))
                    continue
            rows.append((i + 1, cells))
            fresh = False
        elif s.startswith(_BOX_RULE):
            fresh = True
        elif s.startswith(("└", "┗")):
            end = i + 1
            break
        elif rows or header:
            end = i
            break
    if not header:
        return []
    rows.insert(0, (start + 1, header))
    rows += _total_params_row(lines, end, header)
    return rows


def _continues(cells: list[str], header: list[str]) -> bool:
    """Whether a line of a Keras summary without row rules continues the row above: Keras fills the parameter
    column on a row's first line, so a line with that column empty (or with a single filled cell) is wrapped text."""
    column = next((i for i, h in enumerate(header) if _header_role(h) == "params"), None)
    filled = sum(bool(c) for c in cells)
    return len(cells) > 2 and (filled == 1 or (column is not None and column < len(cells) and not cells[column]))


def _split_box(line: str) -> list[str]:
    return [c.strip() for c in re.split(r"[│┃]", line.strip().strip("│┃"))]


def _join_cells(above: list[str], below: list[str]) -> list[str]:
    return [" ".join(x for x in (a, b) if x) for a, b in zip(above, below)]


def _total_params_row(lines: list[str], end: int, header: list[str]) -> list[tuple[int, list[str]]]:
    """'Total params', 'Trainable params' and 'Non-trainable params' rows for the parameter column from the
    lines under a Keras summary (graded as totals; Keras' non-trainable ones are batch norm's moving statistics,
    which --convention keras counts)."""
    column = next((i for i, h in enumerate(header) if _header_role(h) == "params"), None)
    if column is None or column == 0:
        return []
    rows: list[tuple[int, list[str]]] = []
    for i in range(end, min(end + 6, len(lines))):
        m = _FOOTER_PARAMS.match(lines[i])
        if m:
            cells = [f"{m['what']} params"] + [""] * (len(header) - 1)
            cells[column] = m["n"]
            rows.append((i + 1, cells))
    return rows


def _keras2_rows(text: str) -> list[tuple[int, list[str]]]:
    """(line number, cells) of a Keras 2 `model.summary()` printout: columns at the header's positions,
    rows between the '====' rules, then a 'Total params' row; [] when there is none."""
    lines = text.splitlines()
    start = next(
        (i for i, line in enumerate(lines) if re.search(r"Layer \(type\)\s{2,}Output Shape\s{2,}Param #", line)), None
    )
    if start is None:
        return []
    head = lines[start]
    starts = [m.start() for m in re.finditer(r"\S+(?: \S+)*", head)]
    header = [head[a:b].strip() for a, b in zip(starts, [*starts[1:], None])]
    rows: list[tuple[int, list[str]]] = [(start + 1, header)]
    end = len(lines)
    rules = 0
    for i in range(start + 1, len(lines)):
        line = lines[i]
        s = line.strip()
        if re.fullmatch(r"=+", s):
            rules += 1
            if rules == 2:
                end = i + 1
                break
            continue
        if not s or re.fullmatch(r"_+", s):
            continue
        if _TOTAL_PARAMS.match(line):
            end = i
            break
        cells = [line[a:b].strip() if b is not None else line[a:].strip() for a, b in zip(starts, [*starts[1:], None])]
        if len(rows) > 1 and _continues(cells, header):
            rows[-1] = (rows[-1][0], _join_cells(rows[-1][1], cells))
        else:
            rows.append((i + 1, cells))
    return rows + _total_params_row(lines, end, header)


def _csv_rows(text: str, path: Path, sniff_only: bool = False) -> list[tuple[int, list[str]]]:
    """(line number, cells) of a CSV text; sniff_only: a file that is not obviously CSV must sniff as one."""
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        if sniff_only:
            raise CnnlabError(f"no table found in {path}; give a markdown pipe table or a CSV file") from None
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    rows = [(reader.line_num, [c.strip() for c in row]) for row in reader if any(c.strip() for c in row)]
    if len(rows) < 2 or len(rows[0][1]) < 2:
        raise CnnlabError(f"no table found in {path}; give a markdown pipe table or a CSV file with a header row")
    return rows


def _header_role(header: str) -> str | None:
    """The column a header names: shape, params, flops, macs, size? (decided by its cells), label or None."""
    h = _plain(header).lower()
    if any(w in h for w in ("input", "filter", "kernel", "stride", "padding", "receptive")):
        return None
    for role, words in (
        ("shape", ("shape",)),
        ("params", ("param", "weights")),
        ("connections", ("connection",)),
        ("flops", ("flop", "computation")),
        ("macs", ("mac", "mult")),
        ("size?", ("size", "activation", "memory", "output", "dimension")),
        ("label", ("layer", "name", "type", "kind")),
    ):
        if any(w in h for w in words):
            return role
    return "label" if not h else None


def _sniff_role(header: str, cells: list[str]) -> str | None:
    """A size-like column holds shapes, counts, or (a 'memory' column in bytes) nothing we grade; a count with
    working ('28*28*8 = 6,272') is told by its value."""
    filled = [split_working(c)[1] for c in cells if c.strip()]
    if "memory" in header.lower():
        return "size" if filled and all(parse_number(c) for c in filled) else None
    return "shape" if any(_SHAPE_LIKE.search(c) for c in filled) else "size"


def _build_table(source: str, rows: list[tuple[int, list[str]]]) -> Table:
    (_, header), body = rows[0], rows[1:]
    if not body:
        raise CnnlabError(f"the table in {source} has a header but no rows; add one row per layer")
    for line, cells in body:
        if len(cells) != len(header):
            raise CnnlabError(
                f"{source} line {line} has {len(cells)} cells but the header has {len(header)}; "
                "give every row one cell per column"
            )
    columns: dict[str, int] = {}
    labels: list[int] = []
    ignored: list[int] = []
    for i, h in enumerate(header):
        role = _header_role(h)
        if role == "size?":
            role = _sniff_role(h, [cells[i] for _, cells in body])
        if role == "label":
            labels.append(i)
        elif role and role not in columns:
            columns[role] = i
        else:
            ignored.append(i)
    if not columns:
        raise CnnlabError(
            f"no recognisable columns in {source} (header: {' | '.join(header)}); name them "
            "like 'shape', 'activation size', 'parameters', 'connections', 'MACs' or 'FLOPs'"
        )
    if not labels and 0 not in columns.values():
        labels = [0]
        ignored = [i for i in ignored if i != 0]
    table_rows = [
        TableRow(
            " ".join(_plain(cells[i]) for i in labels).strip(), {role: cells[i] for role, i in columns.items()}, line
        )
        for line, cells in body
    ]
    names = [_plain(header[i]) or f"column {i + 1}" for i in ignored]
    return Table(source, {role: header[i] for role, i in columns.items()}, table_rows, names)


# ---------------------------------------------------------------------------------------------- alignment

SKIP_REASONS = {
    "connections": "connections are counted for conv, pool and dense layers",
    "shape": "it has no shape",
}


@dataclass
class _Expected:
    """What one table row should say, and why; `cannot` says why its model layer cannot exist."""

    layer: str
    values: dict[str, Value]
    formulas: dict[str, str]
    cannot: str = ""
    keras_params: int | None = None  # Keras' parameter count where it differs from the one graded (torch convention)


def _leaf_kind(r: LayerRow) -> str:
    t = r.type.lower()
    if r.kind in ("conv", "dense", "pool"):
        return r.kind
    for kind, test in (
        ("softmax", "softmax" in t),
        ("batchnorm", t.startswith("batchnorm")),
        ("flatten", t == "flatten"),
        ("dropout", t.startswith("dropout")),
        ("activation", bool(ACTIVATION_TYPES.search(t))),
    ):
        if test:
            return kind
    return "other"


def label_kind(label: str, block_types: list[str]) -> str | None:
    """The kind of layer a row label names (input, conv, pool, dense, softmax, ..., block:<type>), or None."""
    low = label.lower()
    if re.search(r"\binput", low):
        return "input"
    if re.search(r"\btotal|\bsum\b|overall", low):
        return "total"
    if re.search(r"non-?\s*trainable", low):
        return "nontrainable"
    if re.search(r"^trainable\b", low):
        return "trainable"
    for t in sorted(block_types, key=len, reverse=True):
        if t in low:
            return "block:" + t
    return next((kind for kind, pattern in LABEL_KINDS if re.search(pattern, low)), None)


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
    """How Keras' parameter count of a layer comes about: batch norm's 4C (gamma, beta, moving mean, moving
    variance; 2C non-trainable)."""
    if not r.leaf:
        return _sum_formula([x.keras_params for x in _inside(r, rows)], r.keras_params, "its layers")
    if not r.moving_stats:
        return r.formulas.get("params", "")
    c = r.moving_stats // 2
    if r.params == 2 * c:
        return (
            f"4*C (gamma, beta, moving mean and moving variance; Keras counts the moving two as non-trainable "
            f"parameters, PyTorch as buffers) = 4*{c} = {r.keras_params:,}"
        )
    return f"{r.params:,} + 2*C (moving mean and variance, non-trainable) = {r.params:,} + 2*{c} = {r.keras_params:,}"


def _from_row(r: LayerRow, rows: list[LayerRow], convention: str = "torch") -> _Expected:
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
        "size": "*".join(map(str, r.output_shape)) + f" = {r.activations:,}",
        "params": f.get("params", ""),
        "macs": f.get("macs", ""),
    }
    if keras and r.moving_stats:
        formulas["params"] = _keras_params_formula(r, rows)
    other = r.keras_params if not keras and r.moving_stats else None
    formulas["flops"] = f"2*MACs = 2*{r.macs:,} = {2 * r.macs:,}" + (f" (MACs: {formulas['macs']})" if r.macs else "")
    connections = _connections(r) if r.leaf else _sum_of(r, rows, _connections)
    if connections is not None:
        values["connections"], formulas["connections"] = connections
    return _Expected(r.name, values, formulas, keras_params=other)


def _sum_formula(parts: list[int], total: int, what: str) -> str:
    parts = [p for p in parts if p]
    if not parts or len(parts) > 10:
        return f"sum over {what} = {total:,}"
    return " + ".join(f"{p:,}" for p in parts) + f" = {total:,}"


def _inside(block: LayerRow, rows: list[LayerRow]) -> list[LayerRow]:
    start = rows.index(block) + 1
    end = next((i for i in range(start, len(rows)) if rows[i].depth <= block.depth), len(rows))
    return [r for r in rows[start:end] if r.leaf]


def _block_formulas(block: LayerRow, rows: list[LayerRow]) -> dict[str, str]:
    inside = _inside(block, rows)
    return {
        "params": _sum_formula([r.params for r in inside], block.params, "its layers"),
        "macs": _sum_formula([r.macs for r in inside], block.macs, "its layers"),
    }


def _sum_of(
    block: LayerRow | None, rows: list[LayerRow], count: Callable[[LayerRow], tuple[int, str] | None]
) -> tuple[int, str] | None:
    """`count` (value, formula) summed over a block's layers (all layers for None); None when no layer has one."""
    parts = [c[0] for c in map(count, _inside(block, rows) if block else [r for r in rows if r.leaf]) if c]
    if not parts:
        return None
    return sum(parts), _sum_formula(parts, sum(parts), "its layers" if block else "all layers")


def _input_expected(s: ModelSummary) -> _Expected:
    size = math.prod(s.input_shape)
    return _Expected(
        "input",
        {"shape": s.input_shape, "size": size, "params": 0, "macs": 0, "flops": 0, "connections": 0},
        {
            "shape": "the network's input",
            "size": "*".join(map(str, s.input_shape)) + f" = {size:,}",
            "params": "0 (the input has no weights)",
            "macs": "0 (the input computes nothing)",
            "flops": "0 (the input computes nothing)",
            "connections": "0 (nothing connects into the input)",
        },
    )


def _softmax_expected(s: ModelSummary) -> _Expected:
    size = math.prod(s.output_shape)
    return _Expected(
        "softmax",
        {"shape": s.output_shape, "size": size, "params": 0, "macs": 0, "flops": 0},
        {
            "shape": "same as the last layer's output",
            "size": f"{size:,}",
            "params": "0 (no weights)",
            "macs": "0 (no multiply-accumulates)",
            "flops": "0 (counted as no FLOPs)",
        },
    )


class _Matcher:
    """Hands out the model's layers to table rows, in order, kind by kind.

    `failed` is the layer that cannot exist (the model stops there): the row it goes to is reported, not graded.
    """

    def __init__(
        self, summary: ModelSummary, failed: LayerRow | None = None, reason: str = "", convention: str = "torch"
    ) -> None:
        self.summary = summary
        self.convention = convention
        self.pools: dict[str, list[LayerRow]] = {}
        for r in summary.leaves:
            self.pools.setdefault(_leaf_kind(r), []).append(r)
        blocks = [r for r in summary.rows if not r.leaf]
        for r in blocks:
            self.pools.setdefault("block:" + r.type.lower(), []).append(r)
        top = min((r.depth for r in blocks), default=0)
        self.pools["block"] = [r for r in blocks if r.depth == top]
        self.pools["any"] = [r for r in summary.leaves if r.params or r.activations != math.prod(r.input_shape or (0,))]
        self.block_types = sorted({r.type.lower() for r in blocks})
        self.failed, self.reason = failed, reason
        if failed is not None:
            kind = _leaf_kind(failed) if failed.leaf else "block:" + failed.type.lower()
            self.pools.setdefault(kind, []).append(failed)
            self.pools["any"].append(failed)
            self.block_types = sorted({*self.block_types, *([] if failed.leaf else [failed.type.lower()])})
        self.used: set[int] = set()
        self.position = {id(r): i for i, r in enumerate(summary.rows)}
        self.after = 0  # rows of the model after the last one matched by name (`named`) come first
        self.kinds: set[str] = set()
        self.input_taken = False
        self.sizes: list[int] = []
        self.last_shape: tuple[int, ...] = ()

    def expected(self, r: LayerRow) -> _Expected:
        if r is self.failed:
            return _Expected(r.name, {}, {}, cannot=self.reason)
        return _from_row(r, self.summary.rows, self.convention)

    def take(self, kind: str, label: str = "") -> _Expected | str:
        """The next unused model layer of `kind`, or why there is none.

        A row that states a kernel ('5x5 conv', 'max pool 3x3/2', 'conv 1x7') takes the next layer with that
        window, so that rows written in another order than the
        model's (an inception module's branches, a stem's 1x1 reduce left out) still meet their own layers; other
        rows take the layers in order."""
        self.kinds.add(kind)
        pool = self.pools.get(kind, [])
        # below a row matched by name: the layers after it, those outside inception branches first
        later = sorted(
            (r for r in pool if self.after and self.position.get(id(r), 0) >= self.after),
            key=lambda r: (".branch" in r.name, self.position.get(id(r), 0)),
        )
        free = [r for r in [*later, *pool] if id(r) not in self.used]
        window = _stated_window(label)
        chosen = next((r for r in free if window is not None and r.window == window), None) or next(iter(free), None)
        if chosen is not None:
            self.used.add(id(chosen))
            return self.expected(chosen)
        if kind == "flatten" and not pool:
            return self.flatten()
        if kind == "any":
            return f"no layer in the model to match (all {len(pool)} layers with weights or a new size are matched)"
        name = kind.removeprefix("block:") + (" block" if kind.startswith("block") else "")
        layers = f"{len(pool)} {name} layer{'s' if len(pool) != 1 else ''}"
        return f"no layer in the model to match (it has {layers}, all matched by earlier rows)"

    def flatten(self) -> _Expected | str:
        """A flatten row where the model flattens in its forward code (torch.flatten): the next dense layer's input."""
        dense = next((r for r in self.pools.get("dense", []) if id(r) not in self.used and r.input_shape), None)
        prev = self.last_shape
        if dense is None and not prev:
            return "no layer in the model to match (it has no flatten layer and no dense layer after this row)"
        n = math.prod(dense.input_shape) if dense is not None else math.prod(prev)
        if prev and math.prod(prev) == n:
            how = "*".join(map(str, prev)) + f" = {n:,} (the output above, flattened)"
        else:
            how = f"{n:,}, the input of the next dense layer ({dense.name if dense else '?'})"
        return _Expected(
            "flatten (in the model's forward code)",
            {"shape": (n,), "size": n, "params": 0, "macs": 0, "flops": 0},
            {
                "shape": how,
                "size": how,
                "params": "0 (flattening has no weights)",
                "macs": "0 (flattening computes nothing)",
                "flops": "0 (flattening computes nothing)",
            },
        )

    def softmax(self) -> _Expected | str:
        """A softmax module if the model has one, else the final dense layer, else a weightless softmax."""
        if self.pools.get("softmax"):
            return self.take("softmax")
        dense = self.pools.get("dense", [])
        if dense and id(dense[-1]) not in self.used:
            self.used.add(id(dense[-1]))
            return self.expected(dense[-1])
        return _softmax_expected(self.summary)

    def match(self, kind: str | None, label: str = "") -> _Expected | str:
        """The model counterpart of a row of `kind` (None: an unreadable label) labelled `label`, or why there is
        none."""
        hit = self._find(kind, label)
        if isinstance(hit, _Expected) and kind not in ("total", "trainable", "nontrainable") and not hit.cannot:
            self.sizes.append(int(hit.values["size"]))
            shape = hit.values["shape"]
            self.last_shape = shape if isinstance(shape, tuple) else ()
        return hit

    def _find(self, kind: str | None, label: str) -> _Expected | str:
        if kind == "input":
            if self.input_taken:
                return "no layer in the model to match (it has one input, matched by an earlier row)"
            self.input_taken = True
            return _input_expected(self.summary)
        if kind == "total":
            return self.total()
        if kind in ("trainable", "nontrainable"):
            return self.trainable(kind)
        if kind is None:
            return (
                "cannot tell which layer this is from its label; name it input, conv, pool, fc, flatten, relu, "
                "bn or softmax"
            )
        return self.softmax() if kind == "softmax" else self.take(kind, label)

    def total(self) -> _Expected:
        s = self.summary
        leaves = s.leaves
        keras = self.convention == "keras"
        params = s.keras_params if keras else s.params
        values: dict[str, Value] = {"size": sum(self.sizes), "params": params, "macs": s.macs, "flops": 2 * s.macs}
        formulas = {
            "size": _sum_formula(self.sizes, sum(self.sizes), "the rows above"),
            "params": _sum_formula([r.keras_params if keras else r.params for r in leaves], params, "all layers")
            + (
                f" (Keras' count: {s.params:,} parameters + {s.moving_stats:,} moving means and variances of "
                "batch norm)"
                if keras and s.moving_stats
                else ""
            ),
            "macs": _sum_formula([r.macs for r in leaves], s.macs, "all layers"),
            "flops": f"2*MACs = 2*{s.macs:,} = {2 * s.macs:,}",
        }
        connections = _sum_of(None, s.rows, _connections)
        if connections is not None:
            values["connections"], formulas["connections"] = connections
        return _Expected("total", values, formulas, keras_params=s.keras_params if s.moving_stats else None)

    def trainable(self, kind: str) -> _Expected:
        """Keras' 'Trainable params' or 'Non-trainable params' line: frozen parameters are non-trainable, and
        under the Keras convention so are batch norm's moving mean and variance (2C per layer)."""
        s = self.summary
        frozen = s.params - s.trainable_params
        if kind == "trainable":
            value, formula = s.trainable_params, f"parameters that train = {s.trainable_params:,}"
        elif self.convention == "keras":
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
            return _Expected(FOOTER_LABELS[kind], {"params": value}, {"params": formula}, keras_params=other)
        return _Expected(FOOTER_LABELS[kind], {"params": value}, {"params": formula})

    def named(self, label: str, context: LayerRow | None) -> tuple[_Expected | str | None, LayerRow | None] | None:
        """A row labelled with a layer's full dotted name, or an inception row named by module and branch
        ('inception(3a) #3x3 reduce', '3a/1x1', '4e branch4 pool proj', or a branch row under the module named above
        it): that layer, the module's branch layer, the whole module when no branch is named, or why there is none;
        with the module, for the rows below. None: not such a row."""
        exact = next((r for r in self.summary.rows if "." in r.name and r.name == _plain(label)), None)
        if exact is not None:  # a layer's full name as `cnnlab summary` prints it ('inception3a.branch2.0')
            return self._claim(exact), None
        low = label.lower()
        m = _MODULE.search(low)
        rest = low
        if m:
            ident = m["a"] or m["b"]
            module = self._module(ident)
            if module is None:
                if "inception" not in low:
                    return None
                have = ", ".join(self._modules()) or "none"
                return f"no inception module {ident} in the model (its inception modules: {have})", None
            rest = low[: m.start()] + " " + low[m.end() :]
        elif context is not None and _BRANCH_WORD.search(low) and not _NOT_BRANCH.search(low):
            module = context
        else:
            return None
        spec = _branch_spec(rest)
        if spec is None:
            return (self._claim(module) if m else None), module
        branch, which, what = spec
        layers = self._branch(module, branch)
        if not layers:
            have = ", ".join(
                sorted({r.name.removeprefix(module.name + ".").split(".")[0] for r in self._children(module)})
            )
            return f"{module.name} has no {what} (its branches: {have})", module
        if which == 0 and len(layers) < 2:
            return f"{module.name} has no {what} (its branch{branch} is a single layer, {layers[0].name})", module
        return self._claim(layers[which]), module

    def _modules(self) -> list[str]:
        return [r.name for r in self.summary.rows if not r.leaf and "inception" in r.type.lower()]

    def _module(self, ident: str) -> LayerRow | None:
        for r in self.summary.rows:
            last = r.name.split(".")[-1].lower()
            if not r.leaf and "inception" in r.type.lower() and last.replace("_", "") in (ident, "inception" + ident):
                return r
        return None

    def _children(self, module: LayerRow) -> list[LayerRow]:
        rows = self.summary.rows
        start = rows.index(module) + 1
        end = next((i for i in range(start, len(rows)) if rows[i].depth <= module.depth), len(rows))
        return [r for r in rows[start:end] if r.depth == module.depth + 1]

    def _branch(self, module: LayerRow, n: int) -> list[LayerRow]:
        prefix = f"{module.name}.branch{n}"
        return [r for r in self._children(module) if r.name == prefix or r.name.startswith(prefix + ".")]

    def _claim(self, r: LayerRow) -> _Expected:
        """`r`, with every layer inside it marked used (rows below that name a kind do not take them again)."""
        rows = self.summary.rows
        if r not in rows:
            return self.expected(r)
        start = rows.index(r)
        end = next((i for i in range(start + 1, len(rows)) if rows[i].depth <= r.depth), len(rows))
        self.used.update(id(x) for x in rows[start:end])
        self.after = max(self.after, end)
        hit = self.expected(r)
        self.sizes.append(int(hit.values.get("size", 0)))
        shape = hit.values.get("shape")
        self.last_shape = shape if isinstance(shape, tuple) else ()
        return hit

    def left_out(self) -> list[str]:
        """Notes on model layers of the kinds the table lists that no row matched."""
        return [
            f"not in the table: {r.name} ({r.type}"
            + (f", which leaves its {'x'.join(map(str, r.input_shape))} input as it is)" if _no_op(r) else ")")
            for kind in sorted(self.kinds)
            for r in self.pools.get(kind, [])
            if id(r) not in self.used and r is not self.failed
        ]


_MODULE = re.compile(r"inception\s*[(\[_\-]?\s*(?P<a>\d[a-z])\b|(?<![\w.])(?P<b>\d[a-h])\b")
# A row below an inception module that is not one of its branches: a strided layer ('max pool 3x3/2'), a pool
_NOT_BRANCH = re.compile(r"/\s*\d|^(?!.*(?:proj|branch|#)).*pool")
_BRANCH_WORD = re.compile(r"reduc|\bred\b|proj|branch|#|\b(\d)\s*[x×]\s*\1\b")


def _branch_spec(text: str) -> tuple[int, int, str] | None:
    """(branch number, index of the layer in the branch: 0 first, -1 last, what it is called) of an inception
    branch named in `text`: 1x1 (branch1), 3x3 reduce and 3x3 (branch2), 5x5 reduce and 5x5 (branch3), pool and
    pool proj (branch4), or 'branchN' with one of those words; None when it names none."""
    n = re.search(r"branch\s*[_ ]?(\d)", text)
    kernel = re.search(r"\b(\d)\s*[x×]\s*\1\b", text)
    k = int(kernel[1]) if kernel else None
    reduce = bool(re.search(r"reduc|\bred\b|\dred", text))
    proj = bool(re.search(r"proj", text))
    pool = bool(re.search(r"pool", text))
    if n:
        b = int(n[1])
        first = (b == 4 and pool and not proj) or (b in (2, 3) and (reduce or k == 1))
        return b, 0 if first else -1, f"branch{b}" + (" first layer" if first else "")
    if proj:
        return 4, -1, "pool proj branch"
    if pool:
        return 4, 0, "pool branch"
    if k in (3, 5):
        b = 2 if k == 3 else 3
        return b, 0 if reduce else -1, f"{k}x{k}{' reduce' if reduce else ''} branch"
    if k == 1:
        return 1, -1, "1x1 branch"
    return None


def _stated_window(label: str) -> tuple[int, int] | None:
    """The kernel a row's label states ('3x3 conv', 'max pool 3x3/2', 'conv 1×7'): (height, width), or None."""
    m = re.search(r"(?<![\d.x×])(\d{1,2})\s*[x×]\s*(\d{1,2})(?![\d.]|\s*[x×])", label)
    return (int(m[1]), int(m[2])) if m else None


def _no_op(r: LayerRow) -> bool:
    return r.leaf and not r.params and bool(r.input_shape) and r.input_shape == r.output_shape


def _align(
    table: Table, summary: ModelSummary, failed: LayerRow | None = None, reason: str = "", convention: str = "torch"
) -> tuple[list[_Expected | str | None], list[str]]:
    """Each table row's model counterpart, why it has none, or None for rows after the layer that cannot exist;
    and notes on model layers left out."""
    m = _Matcher(summary, failed, reason, convention)
    kinds = [label_kind(row.label, m.block_types) for row in table.rows]
    informative = any(k not in (None, "input", "total", "trainable", "nontrainable") for k in kinds)
    out: list[_Expected | str | None] = []
    stopped = False
    context: LayerRow | None = None  # the inception module named by the rows above, for branch rows that do not
    for row, kind in zip(table.rows, kinds):
        named = None if stopped else m.named(row.label, context)
        context = named[1] if named else None
        if named is not None and named[0] is not None:
            stopped = isinstance(named[0], _Expected) and bool(named[0].cannot)
            out.append(named[0])
            continue
        hit = None if stopped else m.match(kind if kind or informative else "any", row.label)
        stopped = stopped or (isinstance(hit, _Expected) and bool(hit.cannot))
        out.append(hit)
    return out, m.left_out()


# ---------------------------------------------------------------------------------------------- grading

_Reading = tuple[Number | None, list[tuple[str, Fraction]]]


def check(
    table: Table,
    model: str,
    input_shape: tuple[int, int, int] | None = None,
    num_classes: int | None = None,
    flops: str = "auto",
    convention: str = "torch",
    options: dict | None = None,
) -> Grade:
    """Grade `table` against the model (zoo name or TOML network, built with `options`); a model that cannot run at
    some layer is graded up to that layer, and the row for it is reported as a layer that cannot exist."""
    from cnnlab.analysis.summary import summarize

    try:
        summary = summarize(model, input_shape, num_classes=num_classes, options=options)
    except ShapeError as e:
        if not isinstance(e.layer, LayerRow):
            raise
        leaves = [r for r in e.rows if r.leaf]
        partial = ModelSummary(
            model,
            e.input_shape or input_shape or (e.rows[0] if e.rows else e.layer).input_shape,
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
    if flops not in FLOPS_CONVENTIONS:
        raise CnnlabError(f"unknown FLOPs convention {flops!r}; use auto, macs or 2macs")
    if convention not in CONVENTIONS:
        raise CnnlabError(f"unknown convention {convention!r}; use torch or keras")
    failed = failure.layer if failure is not None and isinstance(failure.layer, LayerRow) else None
    targets, notes = _align(table, summary, failed, str(failure) if failure is not None else "", convention)
    readings = _read_cells(table)
    counting, flops_note = _flops_convention(table, targets, readings, flops)
    hwc = _uses_hwc(table, targets)
    cells, skipped, after, keras_counts = _grade_rows(table, targets, readings, hwc, counting)
    if table.ignored:
        notes.append("not graded: " + ", ".join(table.ignored))
    for column, labels in skipped.items():
        why = SKIP_REASONS.get(column, "not defined for these rows")
        notes.append(f"not graded: the {COLUMN_NAMES[column]} of {', '.join(labels)} ({why})")
    if flops_note:
        notes.append(flops_note)
    if convention == "keras":  # Keras' own model of this name is built differently (resnet50's conv biases)
        from cnnlab.analysis.keras_notes import reference_notes

        notes += reference_notes(summary)
    if keras_counts:
        notes.append(
            f"{keras_counts} parameter cell{'s' if keras_counts != 1 else ''} hold{'s' if keras_counts == 1 else ''} "
            "Keras' count, with batch norm's moving mean and variance as non-trainable parameters (4C per layer); "
            "grade with --convention keras to count them as Keras does"
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
    targets: list[_Expected | str | None],
    readings: dict[tuple[int, str], _Reading],
    hwc: bool,
    counting: str,
) -> tuple[list[CellResult], dict[str, list[str]], list[str], int]:
    """Every filled cell graded against its row's target. Also returns the columns a row has no value for (by
    column), the filled rows after a layer that cannot exist, and how many wrong parameter cells hold Keras' count
    (batch norm's moving statistics as parameters)."""
    cells: list[CellResult] = []
    skipped: dict[str, list[str]] = {}
    after: list[str] = []
    keras_counts = 0
    for i, (row, target) in enumerate(zip(table.rows, targets)):
        label = _short_label(row)
        filled = [
            (column, given)
            for column, given in row.cells.items()
            if given.strip() and not (column == "shape" and _plain(given).lower() in DASHES)
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
                if column == "params" and not cells[-1].ok and target.keras_params is not None and number is not None:
                    keras_counts += number.covers(target.keras_params)
            else:
                skipped.setdefault(column, []).append(label)
    return cells, skipped, after, keras_counts


def _read_cells(table: Table) -> dict[tuple[int, str], _Reading]:
    """Each number cell's value and its working ('5*5*6+6 = 156': 156 and [('5*5*6+6', 156)]), by (row, column).

    Raises CnnlabError for working that is not plain arithmetic."""
    out: dict[tuple[int, str], _Reading] = {}
    for i, row in enumerate(table.rows):
        for column, given in row.cells.items():
            if column not in NUMBER_COLUMNS:
                continue
            working, value = split_working(_plain(given))
            steps = []
            for expr in working:
                try:
                    steps.append((expr, evaluate(expr)))
                except WorkingError as e:
                    raise CnnlabError(
                        f"{table.source} line {row.line}: cannot read the working {expr!r} in the "
                        f"{table.columns[column]!r} cell {given!r}: {e}; write working with numbers and + - * / ( ) "
                        "only, or give just the value"
                    ) from None
            out[i, column] = (parse_number(value), steps)
    return out


def _flops_convention(
    table: Table, targets: list[_Expected | str | None], readings: dict[tuple[int, str], _Reading], flops: str
) -> tuple[str, str]:
    """The FLOPs convention to grade with ("macs" or "2macs") and a note that says which and why."""
    if "flops" not in table.columns:
        return "2macs", ""
    column = f"{_plain(table.columns['flops'])} column"
    if flops != "auto":
        return flops, f"{column} graded as {FLOPS_NAMES[flops]} (--flops {flops})"
    fits = {"macs": 0, "2macs": 0}
    for i, target in enumerate(targets):
        number = readings.get((i, "flops"), (None, []))[0]
        if not isinstance(target, _Expected) or number is None or not target.values.get("macs"):
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
    """'CONV1 (f=5, s=1)' -> 'CONV1'; numeric labels become 'layer 3'; empty ones 'line 7'."""
    if re.search(r"\(\s*\d[a-z]\s*\)", row.label, re.IGNORECASE):  # 'inception(3a) #1x1' names the module
        return row.label.strip()
    short = row.label.split("(")[0].strip().rstrip(":").strip() or row.label
    if not short:
        return f"line {row.line}"
    return f"layer {short}" if short.isdigit() else short


def _fraction_text(v: Fraction) -> str:
    return f"{int(v):,}" if v.denominator == 1 else f"{float(v):,.6g}"


def _grade_cell(
    label: str,
    column: str,
    given: str,
    target: _Expected,
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
    number, working = reading if reading is not None else (parse_number(given), [])
    value_ok = number is not None and number.covers(expected)
    off = [f"{expr} = {_fraction_text(v)}" for expr, v in working if number is not None and not number.covers(v)]
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


def _uses_hwc(table: Table, targets: list[_Expected | str | None]) -> bool:
    """Whether the student writes 3-D shapes channels-last: a vote over the shapes that tell the orders apart."""
    votes = 0
    for row, target in zip(table.rows, targets):
        shape = parse_shape(row.cells.get("shape", ""))
        if not isinstance(target, _Expected) or shape is None:
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
    hwc = sum(a == b for a, b in zip(shape, _hwc(true)))
    return (hwc > chw) - (chw > hwc)


def _shape_text(expected: tuple[int, ...], given: str, shape: tuple[int, ...] | None, hwc: bool) -> str:
    """The right shape written the way the student writes shapes: same order, brackets and separators."""
    vote = _order_vote(shape, expected) if shape else 0
    dims = _hwc(expected) if vote > 0 or (hwc and vote == 0) else expected
    if len(expected) == 1 and shape and len(shape) > 1 and len(_squeeze(shape)) <= 1:
        pos = next((i for i, d in enumerate(shape) if d != 1), 0)
        dims = tuple(expected[0] if i == pos else 1 for i in range(len(shape)))
    if shape is not None and len(shape) == len(dims):
        numbers = iter(map(str, dims))
        return re.sub(r"\d+", lambda _: next(numbers), _plain(given))
    return "x".join(map(str, dims))
