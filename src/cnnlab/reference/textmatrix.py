"""Small matrices as text, the way course exercises write them: one row per line, numbers separated by spaces
and/or commas, blank lines and `# comments` ignored. Reading refuses anything that is not a full rectangle of
finite numbers, with a one-line error that points at the line."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from cnnlab.errors import CnnlabError, echoed
from cnnlab.resources import resolve

MAX_TEXT_BYTES = 1 << 20  # exercises are small; a bigger file is almost surely the wrong file
_SEPARATOR = re.compile(r"\s*,\s*|\s+")  # a comma (with any spaces around it), or a run of spaces


def parse_matrix(text: str, source: str = "matrix") -> np.ndarray:
    """Rows of numbers -> a 2-D float64 array; `source` names the file in error messages."""
    rows: list[list[float]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        cells = _SEPARATOR.split(line)
        if "" in cells:
            raise CnnlabError(f"{source}: line {number} has an empty cell (two commas in a row, or one at an end)")
        row = []
        for cell in cells:
            try:
                value = read_cell(cell)
            except ValueError as e:
                raise CnnlabError(f"{source}: line {number}: {e}") from None
            if not math.isfinite(value):
                raise CnnlabError(f"{source}: line {number}: {echoed(cell)} is not a finite number")
            row.append(value)
        if rows and len(row) != len(rows[0]):
            raise CnnlabError(
                f"{source}: line {number} has {len(row)} numbers but the first row has {len(rows[0])}; "
                "every row needs the same count"
            )
        rows.append(row)
    if not rows:
        raise CnnlabError(f"{source}: no numbers found; write one row per line, e.g. `1 2 3`")
    return np.array(rows, dtype=np.float64)


def read_cell(cell: str) -> float:
    """One cell of a matrix or kernel file as float() reads it, but for the '_' float() takes between digits
    (Python's digit grouping): a student's 1_0 is no ten. ValueError saying why the cell is not a number."""
    if "_" in cell:
        raise ValueError(  # spaces, not commas too: a `filter --kernel` file's numbers are whitespace-separated
            f"{echoed(cell)} is not a number ('_' is neither a digit nor a separator; separate numbers by spaces)"
        )
    try:
        return float(cell)
    except ValueError:
        raise ValueError(f"{echoed(cell)} is not a number") from None


def read_matrix(path: str | Path, what: str = "matrix") -> np.ndarray:
    """Read a text matrix file (or matrix:NAME, a shipped one); `what` ("matrix", "kernel") says which file an error
    is about."""
    p = resolve(path, "matrix")
    try:
        with p.open("rb") as f:
            data = f.read(MAX_TEXT_BYTES + 1)  # never more: /dev/zero or a huge file would not end otherwise
        if len(data) > MAX_TEXT_BYTES:
            raise CnnlabError(f"{what} file {p} is over {MAX_TEXT_BYTES:,} bytes; give a small matrix")
        text = data.decode("utf-8-sig")
    except FileNotFoundError:
        raise CnnlabError(f"{what} file {p} does not exist; check the path") from None
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise CnnlabError(f"cannot read {what} file {p}: {reason}; give a text file of numbers") from None
    return parse_matrix(text, f"{what} file {p}")


def format_number(value: float, digits: int | None = None) -> str:
    """Whole numbers without a decimal point (7, not 7.0); others in full (digits=None, exact: repr round-trips)
    or to `digits` significant digits."""
    value = float(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value) if digits is None else f"{value:.{digits}g}"


def format_matrix(matrix: np.ndarray, digits: int = 6, indent: str = "") -> str:
    """Rows of right-aligned numbers, one line per row, columns lined up."""
    cells = [[format_number(v, digits) for v in row] for row in np.atleast_2d(matrix)]
    width = max(len(c) for row in cells for c in row)
    return "\n".join(indent + " ".join(c.rjust(width) for c in row) for row in cells)
