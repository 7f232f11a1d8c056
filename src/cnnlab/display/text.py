"""The terminal's side of html.table: the same cells as aligned text columns."""

from __future__ import annotations

from collections.abc import Collection, Sequence


def aligned(head: Sequence[str], body: Sequence[Sequence[str]], numeric: Collection[int] = ()) -> str:
    """Columns two spaces apart, those in `numeric` right-aligned, the header first; no trailing spaces."""
    rows = [list(head), *map(list, body)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    return "\n".join(
        "  ".join(c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()
        for row in rows
    )
