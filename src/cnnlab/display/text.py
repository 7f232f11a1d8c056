"""The terminal's side of html.table: the same cells as aligned text columns."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Literal


def aligned(
    head: Sequence[str],
    body: Sequence[Sequence[str]],
    numeric: Collection[int] = (),
    rule: Literal["", "under", "frame"] = "",
) -> str:
    """Columns two spaces apart, those in `numeric` right-aligned, the header first; no trailing spaces. `rule` adds
    dashes: "under" each heading, as wide as its column (the run tables, the demo's); "frame" a line as long as the
    header above and below it and one after the last row (the layer table of `cnnlab summary`)."""
    rows = [list(head), *map(list, body)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = [
        "  ".join(c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()
        for row in rows
    ]
    if rule == "under":
        lines.insert(1, "  ".join("-" * w for w in widths))
    elif rule == "frame":
        dashes = "-" * len(lines[0])
        lines = [dashes, lines[0], dashes, *lines[1:], dashes]
    return "\n".join(lines)
