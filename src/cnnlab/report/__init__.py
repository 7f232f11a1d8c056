"""Readable output of runs and studies: tables (terminal, markdown, CSV), plots (PNG) and one self-contained HTML file."""

from cnnlab.report.html import write_report
from cnnlab.report.tables import render_table, run_row

__all__ = ["render_table", "run_row", "write_report"]
