"""HTML fragments from the cells a terminal table prints: one table helper for Jupyter and the HTML report.

Styles are inline, so a fragment looks the same in a notebook (whose CSS right-aligns every cell) and in the
report's page."""

from __future__ import annotations

import base64
import html
from collections.abc import Collection, Sequence

LEFT = "text-align:left;white-space:pre"  # white-space: keep the indentation that shows a layer's depth
RIGHT = "text-align:right;white-space:nowrap"


def table(
    head: Sequence[str] | None, body: Sequence[Sequence[str]], numeric: Collection[int] = (), css_class: str = ""
) -> str:
    """A table of text cells (with no header row for head=None); the columns in `numeric` are right-aligned, as the
    terminal table aligns them; `css_class` names the table for a page's style sheet or a test's selector."""
    heads = "".join(
        f'<th style="{RIGHT if i in numeric else LEFT}">{html.escape(h)}</th>' for i, h in enumerate(head or ())
    )
    rows = "".join(
        "<tr>"
        + "".join(f'<td style="{RIGHT if i in numeric else LEFT}">{html.escape(c)}</td>' for i, c in enumerate(cells))
        + "</tr>"
        for cells in body
    )
    opening = f'<table class="{html.escape(css_class)}">' if css_class else "<table>"
    return f"{opening}{f'<thead><tr>{heads}</tr></thead>' if heads else ''}<tbody>{rows}</tbody></table>"


def lines(texts: Sequence[str], bold_first: bool = False) -> str:
    """Lines of text (a table's title or footer, a study's counts), one paragraph each; the first in bold if asked."""
    parts = [html.escape(t) for t in texts]
    if bold_first and parts:
        parts[0] = f"<b>{parts[0]}</b>"
    return "".join(f'<p style="margin:2px 0">{p}</p>' for p in parts)


def bullets(texts: Sequence[str]) -> str:
    """A bulleted list (nothing for no lines)."""
    return f"<ul>{''.join(f'<li>{html.escape(t)}</li>' for t in texts)}</ul>" if texts else ""


def figure(png: bytes, caption: str) -> str:
    """A PNG embedded as a data URI (the page stays one self-contained file), with its caption."""
    alt = html.escape(caption)
    data = base64.b64encode(png).decode()
    return f'<figure><img alt="{alt}" src="data:image/png;base64,{data}"><figcaption>{alt}</figcaption></figure>'
