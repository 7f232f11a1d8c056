"""Helpers the grader's tests share: a table written to a file, a markdown table from rows, and a grade's lines."""

from __future__ import annotations

from pathlib import Path

from cnnlab.analysis import ModelSummary
from cnnlab.analysis.grade import Grade, grade
from cnnlab.analysis.table import read_table


def write(tmp_path: Path, text: str, name: str = "table.md") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def md(header: str, *rows: str) -> str:
    """A markdown table: 'Layer | Params' and rows 'conv1 | 608'."""
    n = header.count("|") + 1
    return "\n".join([f"| {header} |", "|" + "---|" * n, *(f"| {r} |" for r in rows)]) + "\n"


def graded(tmp_path: Path, summary: ModelSummary, header: str, *rows: str, **kw: str) -> Grade:
    """The grade of a markdown table of `rows` against `summary`."""
    return grade(read_table(write(tmp_path, md(header, *rows))), summary, **kw)


def messages(result: Grade) -> list[str]:
    return result.render().splitlines()
