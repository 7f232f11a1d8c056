"""HTML fragments from the cells a terminal table prints: one table helper for Jupyter and the HTML report.

Styles are inline, so a fragment looks the same in a notebook (whose CSS right-aligns every cell) and in the
report's page."""

from __future__ import annotations

import base64
import html
from collections.abc import Collection, Sequence

LEFT = "text-align:left;white-space:pre"  # white-space: keep the indentation that shows a layer's depth
RIGHT = "text-align:right;white-space:nowrap"


def table(head: Sequence[str] | None, body: Sequence[Sequence[str]], numeric: Collection[int] = ()) -> str:
    """A table of text cells (with no header row for head=None); the columns in `numeric` are right-aligned, as the
    terminal table aligns them."""
    heads = "".join(
        f'<th style="{RIGHT if i in numeric else LEFT}">{html.escape(h)}</th>' for i, h in enumerate(head or ())
    )
    rows = "".join(
        "<tr>"
        + "".join(f'<td style="{RIGHT if i in numeric else LEFT}">{html.escape(c)}</td>' for i, c in enumerate(cells))
        + "</tr>"
        for cells in body
    )
    return f"<table>{f'<thead><tr>{heads}</tr></thead>' if heads else ''}<tbody>{rows}</tbody></table>"


def lines(texts: Sequence[str], bold_first: bool = False) -> str:
    """Lines of text (a table's footer, a study's notes), one paragraph each."""
    return "".join(
        f'<p style="margin:2px 0">{"<b>" if bold_first and i == 0 else ""}{html.escape(t)}'
        f"{'</b>' if bold_first and i == 0 else ''}</p>"
        for i, t in enumerate(texts)
    )


def bullets(texts: Sequence[str]) -> str:
    """A bulleted list (nothing for no lines)."""
    return f"<ul>{''.join(f'<li>{html.escape(t)}</li>' for t in texts)}</ul>" if texts else ""


def figure(png: bytes, caption: str) -> str:
    """A PNG embedded as a data URI (the page stays one self-contained file), with its caption."""
    alt = html.escape(caption)
    data = base64.b64encode(png).decode()
    return f'<figure><img alt="{alt}" src="data:image/png;base64,{data}"><figcaption>{alt}</figcaption></figure>'
