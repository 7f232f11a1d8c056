"""Grade a hand-made layer table (markdown or CSV) against the analysis of the model it describes.

Students compute output shapes, activation sizes, parameter counts and MACs by hand; `grade` checks every
cell of their table and explains each wrong one with the formula that gives the right value::

    table = read_table("examples/tables/lenet-like-published.md")
    result = grade(table, summarize("examples/nets/lenet-like.toml"))
    print(result.render())          # one line per wrong cell, then "N of M cells right"
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from cnnlab.analysis.summary import LayerRow, ModelSummary
from cnnlab.errors import CnnlabError

__all__ = [
    "CellResult",
    "Grade",
    "Number",
    "Table",
    "TableRow",
    "grade",
    "label_kind",
    "parse_number",
    "parse_shape",
    "read_table",
    "shapes_match",
]

Value = int | tuple[int, ...]
COLUMN_NAMES = {"shape": "shape", "size": "activation size", "params": "parameters", "macs": "MACs", "flops": "FLOPs"}
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
    """A hand-made layer table; `columns` maps each gradable role (shape, size, params, macs, flops) to its header."""

    source: str
    columns: dict[str, str]
    rows: list[TableRow]


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

    def message(self) -> str:
        if self.expected is None:
            return f"{self.row}: {self.formula}"
        shape = self.column == "shape"
        readable = (parse_shape if shape else parse_number)(self.given) is not None
        verdict = "is wrong" if readable else f"is not a {'shape' if shape else 'number'}"
        return f"{self.row} {COLUMN_NAMES[self.column]}: {self.given} {verdict}; right: {self.expected_text}"


@dataclass
class Grade:
    """Every graded cell of a table, plus notes on model layers the table leaves out."""

    cells: list[CellResult]
    notes: list[str] = field(default_factory=list)

    @property
    def right(self) -> int:
        return sum(c.ok for c in self.cells)

    @property
    def ok(self) -> bool:
        return self.right == len(self.cells)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    @property
    def wrong(self) -> list[CellResult]:
        return [c for c in self.cells if not c.ok]

    def render(self) -> str:
        """One line per wrong cell (one per unmatched row), the notes, then 'N of M cells right'."""
        lines: list[str] = []
        for c in self.wrong:
            msg = c.message()
            if msg not in lines:
                lines.append(msg)
        return "\n".join([*lines, *self.notes, f"{self.right} of {len(self.cells)} cells right"]) + "\n"


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
    """'(28,28,8)', '28x28x8', '28 × 28 × 8', '[8, 28, 28]', '6@28x28', '(None, 28, 28, 8)', '120' as a tuple."""
    t = re.sub(r"None\s*,\s*", "", _plain(text))
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
    """The first markdown pipe table in a file, or a CSV file (by extension, else sniffed)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise CnnlabError(f"table file {p} does not exist; check the path") from None
    except (OSError, UnicodeDecodeError) as e:
        raise CnnlabError(f"cannot read table file {p}: {e}; give a UTF-8 markdown or CSV file") from None
    if p.suffix.lower() == ".csv":
        rows = _csv_rows(text, p)
    else:
        rows = _markdown_rows(text) or _csv_rows(text, p, sniff_only=True)
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
        ("flops", ("flop",)),
        ("macs", ("mac", "mult")),
        ("size?", ("size", "activation", "memory", "output", "dimension")),
        ("label", ("layer", "name", "type", "kind")),
    ):
        if any(w in h for w in words):
            return role
    return "label" if not h else None


def _sniff_role(header: str, cells: list[str]) -> str | None:
    """A size-like column holds shapes, counts, or (a 'memory' column in bytes) nothing we grade."""
    filled = [c for c in cells if c.strip()]
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
    for i, h in enumerate(header):
        role = _header_role(h)
        if role == "size?":
            role = _sniff_role(h, [cells[i] for _, cells in body])
        if role == "label":
            labels.append(i)
        elif role and role not in columns:
            columns[role] = i
    if not columns:
        raise CnnlabError(
            f"no recognisable columns in {source} (header: {' | '.join(header)}); name them "
            "like 'shape', 'activation size', 'parameters', 'MACs' or 'FLOPs'"
        )
    if not labels and 0 not in columns.values():
        labels = [0]
    table_rows = [
        TableRow(
            " ".join(_plain(cells[i]) for i in labels).strip(), {role: cells[i] for role, i in columns.items()}, line
        )
        for line, cells in body
    ]
    return Table(source, {role: header[i] for role, i in columns.items()}, table_rows)


# ---------------------------------------------------------------------------------------------- alignment


@dataclass
class _Expected:
    """What one table row should say, and why."""

    layer: str
    values: dict[str, Value]
    formulas: dict[str, str]


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
    for t in sorted(block_types, key=len, reverse=True):
        if t in low:
            return "block:" + t
    return next((kind for kind, pattern in LABEL_KINDS if re.search(pattern, low)), None)


def _from_row(r: LayerRow, rows: list[LayerRow]) -> _Expected:
    values: dict[str, Value] = {
        "shape": r.output_shape,
        "size": r.activations,
        "params": r.params,
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
    formulas["flops"] = f"2*MACs = 2*{r.macs:,} = {2 * r.macs:,}" + (f" (MACs: {formulas['macs']})" if r.macs else "")
    return _Expected(r.name, values, formulas)


def _sum_formula(parts: list[int], total: int, what: str) -> str:
    parts = [p for p in parts if p]
    if not parts or len(parts) > 10:
        return f"sum over {what} = {total:,}"
    return " + ".join(f"{p:,}" for p in parts) + f" = {total:,}"


def _block_formulas(block: LayerRow, rows: list[LayerRow]) -> dict[str, str]:
    start = rows.index(block) + 1
    end = next((i for i in range(start, len(rows)) if rows[i].depth <= block.depth), len(rows))
    inside = [r for r in rows[start:end] if r.leaf]
    return {
        "params": _sum_formula([r.params for r in inside], block.params, "its layers"),
        "macs": _sum_formula([r.macs for r in inside], block.macs, "its layers"),
    }


def _input_expected(s: ModelSummary) -> _Expected:
    size = math.prod(s.input_shape)
    return _Expected(
        "input",
        {"shape": s.input_shape, "size": size, "params": 0, "macs": 0, "flops": 0},
        {
            "shape": "the network's input",
            "size": "*".join(map(str, s.input_shape)) + f" = {size:,}",
            "params": "0 (the input has no weights)",
            "macs": "0 (the input computes nothing)",
            "flops": "0 (the input computes nothing)",
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
    """Hands out the model's layers to table rows, in order, kind by kind."""

    def __init__(self, summary: ModelSummary) -> None:
        self.summary = summary
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
        self.used: set[int] = set()
        self.kinds: set[str] = set()
        self.input_taken = False
        self.sizes: list[int] = []

    def take(self, kind: str) -> _Expected | str:
        """The next unused model layer of `kind`, or why there is none."""
        self.kinds.add(kind)
        pool = self.pools.get(kind, [])
        for r in pool:
            if id(r) not in self.used:
                self.used.add(id(r))
                return _from_row(r, self.summary.rows)
        if kind == "any":
            return f"no layer in the model to match (all {len(pool)} layers with weights or a new size are matched)"
        name = kind.removeprefix("block:") + (" block" if kind.startswith("block") else "")
        layers = f"{len(pool)} {name} layer{'s' if len(pool) != 1 else ''}"
        return f"no layer in the model to match (it has {layers}, all matched by earlier rows)"

    def softmax(self) -> _Expected | str:
        """A softmax module if the model has one, else the final dense layer, else a weightless softmax."""
        if self.pools.get("softmax"):
            return self.take("softmax")
        dense = self.pools.get("dense", [])
        if dense and id(dense[-1]) not in self.used:
            self.used.add(id(dense[-1]))
            return _from_row(dense[-1], self.summary.rows)
        return _softmax_expected(self.summary)

    def match(self, kind: str | None) -> _Expected | str:
        """The model counterpart of a row of `kind` (None: an unreadable label), or why there is none."""
        hit = self._find(kind)
        if isinstance(hit, _Expected) and kind != "total":
            self.sizes.append(int(hit.values["size"]))
        return hit

    def _find(self, kind: str | None) -> _Expected | str:
        if kind == "input":
            if self.input_taken:
                return "no layer in the model to match (it has one input, matched by an earlier row)"
            self.input_taken = True
            return _input_expected(self.summary)
        if kind == "total":
            return self.total()
        if kind is None:
            return (
                "cannot tell which layer this is from its label; name it input, conv, pool, fc, flatten, relu, "
                "bn or softmax"
            )
        return self.softmax() if kind == "softmax" else self.take(kind)

    def total(self) -> _Expected:
        s = self.summary
        leaves = s.leaves
        return _Expected(
            "total",
            {"size": sum(self.sizes), "params": s.params, "macs": s.macs, "flops": 2 * s.macs},
            {
                "size": _sum_formula(self.sizes, sum(self.sizes), "the rows above"),
                "params": _sum_formula([r.params for r in leaves], s.params, "all layers"),
                "macs": _sum_formula([r.macs for r in leaves], s.macs, "all layers"),
                "flops": f"2*MACs = 2*{s.macs:,} = {2 * s.macs:,}",
            },
        )

    def left_out(self) -> list[str]:
        """Notes on model layers of the kinds the table lists that no row matched."""
        return [
            f"not in the table: {r.name} ({r.type})"
            for kind in sorted(self.kinds)
            for r in self.pools.get(kind, [])
            if id(r) not in self.used
        ]


def _align(table: Table, summary: ModelSummary) -> tuple[list[_Expected | str], list[str]]:
    """Each table row's model counterpart (or why it has none), and notes on model layers left out."""
    m = _Matcher(summary)
    kinds = [label_kind(row.label, m.block_types) for row in table.rows]
    informative = any(k not in (None, "input", "total") for k in kinds)
    out = [m.match(kind if kind or informative else "any") for kind in kinds]
    return out, m.left_out()


# ---------------------------------------------------------------------------------------------- grading


def grade(table: Table, summary: ModelSummary) -> Grade:
    """Check every filled cell of `table` against `summary`; empty cells are not graded."""
    targets, notes = _align(table, summary)
    hwc = _uses_hwc(table, targets)
    cells: list[CellResult] = []
    for row, target in zip(table.rows, targets):
        label = _short_label(row)
        for column, given in row.cells.items():
            if not given.strip() or (column == "shape" and _plain(given).lower() in DASHES):
                continue
            if isinstance(target, str):
                cells.append(CellResult(label, column, given, None, False, target, line=row.line))
            elif column in target.values:
                cells.append(_grade_cell(label, column, given, target, hwc, row.line))
    return Grade(cells, notes)


def _short_label(row: TableRow) -> str:
    """'CONV1 (f=5, s=1)' -> 'CONV1'; numeric labels become 'layer 3'; empty ones 'line 7'."""
    short = row.label.split("(")[0].strip().rstrip(":").strip() or row.label
    if not short:
        return f"line {row.line}"
    return f"layer {short}" if short.isdigit() else short


def _grade_cell(label: str, column: str, given: str, target: _Expected, hwc: bool, line: int) -> CellResult:
    expected = target.values[column]
    formula = target.formulas.get(column, "")
    if column == "shape":
        shape = parse_shape(given)
        ok = shape is not None and shapes_match(shape, expected)
        text = _shape_text(expected, given, shape, hwc)
        text += f" ({formula})" if formula else ""
    else:
        number = parse_number(given)
        ok = number is not None and number.covers(expected)
        text = f"{expected:,}"
        if number is not None and number.step is not None:
            text += f" (≈ {number.like(expected)})"
        text += f" = {formula}" if formula else ""
    return CellResult(label, column, given, expected, ok, formula, text, target.layer, line)


def _uses_hwc(table: Table, targets: list[_Expected | str]) -> bool:
    """Whether the student writes 3-D shapes channels-last: a vote over the shapes that tell the orders apart."""
    votes = 0
    for row, target in zip(table.rows, targets):
        shape = parse_shape(row.cells.get("shape", ""))
        if isinstance(target, str) or shape is None:
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
