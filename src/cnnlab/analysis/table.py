"""A student's layer table, read from markdown, CSV or a Keras summary printout.

Students write their tables in many notations: a markdown pipe table, a CSV file, or a copy of Keras'
`model.summary()` (Keras 3 box drawing or Keras 2 text), with counts as '6,272', '3.2M' or '1.2e6' and shapes as
'(28,28,8)', '28x28x8' or '6@28x28'. This module turns any of them into a `Table`: each row's label and its cells by
column role (shape, size, params, macs, flops, connections, rf), and reads the numbers and shapes in those cells, so
that matching rows to layers and grading cells never see the notation.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from cnnlab.analysis.working import MAX_DIGITS, split_working
from cnnlab.errors import CnnlabError
from cnnlab.resources import resolve

__all__ = [
    "DASHES",
    "Number",
    "Table",
    "TableRow",
    "channels_last",
    "parse_number",
    "parse_shape",
    "plain",
    "read_table",
    "shapes_match",
    "squeeze",
]

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


@dataclass
class TableRow:
    """One body row: the text of its label columns and its gradable cells by column role."""

    label: str
    cells: dict[str, str]
    line: int


@dataclass
class Table:
    """A hand-made layer table; `columns` maps each gradable role (shape, size, params, macs, flops, connections,
    rf: receptive field) to its header; `ignored` names the other columns that are not layer labels (not graded)."""

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
        """`n` in this rounded number's notation: 3216000 -> '3.2M' when the student wrote '3.3M'."""
        assert self.step is not None, "only a rounded number has a notation to follow"
        scale = self.step * 10**self.decimals
        return f"{float(n / scale):.{self.decimals}f}{self.unit}"


# ---------------------------------------------------------------------------------------------- values


def parse_number(text: str) -> Number | None:
    """'6,272', '6 272', '3.2M', '1.1 billion', '1.2e6', '48k', '-' (0) ... as a Number; None if unreadable."""
    t = plain(text)
    if t.lower() in DASHES:
        return Number(Fraction(0))
    m = _NUMBER.match(t)
    if not m or not (m["int"] or m["frac"]):
        return None
    unit = (m["unit"] or "").strip().lower()
    digits = re.sub(r"\D", "", m["int"] or "0")
    decimals = len(m["frac"] or ".") - 1
    if len(digits) + decimals > MAX_DIGITS or len(m["exp"] or m["pow"] or "") > 4:  # a slip, as 1e400 below
        return None
    power = UNITS.get(unit, 0) + int(m["exp"] or m["pow"] or 0)
    if abs(power) > 24:  # no layer counts 1e400 of anything: a slip, read as no number (graded 'is not a number')
        return None
    value = Fraction(digits + (m["frac"] or "")) * Fraction(10) ** power
    if not unit and m["exp"] is None and m["pow"] is None:
        return Number(value)
    suffix = m["unit"] or f"e{power}"
    return Number(value, Fraction(10) ** (power - decimals), suffix, decimals)


def parse_shape(text: str) -> tuple[int, ...] | None:
    """'(28,28,8)', '28x28x8', '28 × 28 × 8', '[8, 28, 28]', '6@28x28', '(None, 28, 28, 8)', '120' as a tuple;
    Keras 2 writes input shapes in a list, '[(None, 224, 224, 3)]'."""
    t = re.sub(r"None\s*,\s*", "", plain(text))
    t = re.sub(r"^\[\s*(\(.*\))\s*\]$", r"\1", t)
    if not _SHAPE.match(t) or any(len(d) > MAX_DIGITS for d in re.findall(r"\d+", t)):
        return None
    return tuple(int(d) for d in re.findall(r"\d+", t))


def shapes_match(given: tuple[int, ...], true: tuple[int, ...]) -> bool:
    """Equal in CHW or HWC order; vectors ignore leading and trailing 1s ((120,1) == (120,))."""
    if given in (true, channels_last(true)):
        return True
    squeezed = squeeze(true)
    return len(squeezed) <= 1 and squeeze(given) == squeezed


def channels_last(shape: tuple[int, ...]) -> tuple[int, ...]:
    """A CHW shape in HWC order; other shapes as they are."""
    return (shape[1], shape[2], shape[0]) if len(shape) == 3 else shape


def squeeze(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(d for d in shape if d != 1)


def plain(text: str) -> str:
    """Cell text without markdown emphasis or code marks; `**` between numbers (`5**2`, a power) stays, for the
    working's reader to refuse rather than read as 52."""
    return re.sub(r"(?<![\w)])\*\*|\*\*(?![\w(])|`", "", text).strip()


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
    """The column a header names: shape, params, flops, macs, rf, size? (decided by its cells), label or None; a
    receptive field's jump or start is not graded alone (only as the summary's size/jump/start), nor is a layer's
    stride."""
    h = plain(header).lower()
    field = "receptive" in h or re.search(r"(?<![a-z])rf(?![a-z])", h)  # RF, rf_size (the summary's CSV)
    if field and all(w in h for w in ("size", "jump", "start")):
        return "rf"  # `cnnlab summary`'s own column, RF size/jump/start: all three graded
    if any(w in h for w in ("input", "filter", "kernel", "stride", "padding", "jump", "start")):
        return None
    if field:
        return "rf"
    if h.strip("# ") in ("ops", "op"):  # the GoogLeNet paper's Table 1 counts multiply-adds as "ops"
        return "macs"
    for role, words in (
        ("maps", ("feature map", "maps", "channels")),
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


def _with_maps(cells: dict[str, str]) -> dict[str, str]:
    """The LeNet-5 paper's layout, a 'Feature maps' column (6) beside a 'Size' one (28x28), as one shape cell
    (6x28x28; 84 where a dense layer's size is blank), so that neither is marked wrong for lacking the other."""
    if "maps" not in cells:
        return cells
    maps, size = cells.pop("maps").strip(), cells.get("shape", "").strip()
    spatial = parse_shape(size)
    if maps and not _SHAPE_LIKE.search(maps) and (not size or (spatial is not None and len(spatial) <= 2)):
        cells["shape"] = f"{maps}x{size}" if size else maps
    return cells


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
            "like 'shape', 'activation size', 'parameters', 'connections', 'MACs', 'FLOPs' or 'receptive field'"
        )
    if not labels and 0 not in columns.values():
        labels = [0]
        ignored = [i for i in ignored if i != 0]
    if "maps" in columns and "shape" not in columns:
        ignored.append(columns.pop("maps"))
    table_rows = [
        TableRow(
            " ".join(plain(cells[i]) for i in labels).strip(),
            _with_maps({r: cells[i] for r, i in columns.items()}),
            line,
        )
        for line, cells in body
    ]
    names = {role: header[i] for role, i in columns.items()}
    if "maps" in names:  # graded as one shape, named by both headers
        names["shape"] = f"{names.pop('maps')} x {names['shape']}"
    # an ignored column always has a header: an empty one names a label column
    return Table(source, names, table_rows, [plain(header[i]) for i in ignored])
