"""Readable output of runs and studies: tables (terminal, markdown, CSV), plots (PNG) and one self-contained HTML file."""

from cnnlab.report.html import write_report
from cnnlab.report.tables import RunTable, render_table, run_row, run_table

__all__ = ["RunTable", "render_table", "run_row", "run_table", "write_report"]
