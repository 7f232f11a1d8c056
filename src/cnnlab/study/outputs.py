"""What `compare` leaves in its directory besides the runs: table.md, table.csv, report.html and plots/*.png."""

from __future__ import annotations

from pathlib import Path

from cnnlab.atomic import write_text
from cnnlab.report import render_table
from cnnlab.report.html import write_report_rows
from cnnlab.study.plan import Study


def write_outputs(study: Study, out: Path, gradcam: int = 8) -> str:
    """Write the report and the tables (each run opened once, for both); returns the terminal table."""
    _, rows = write_report_rows([out], out / "report.html", title=study.title, gradcam=gradcam, plots_dir=out / "plots")
    write_text(
        out / "table.md",
        f"# {study.title}\n\n"
        + render_table(rows, "markdown")
        + (f"\nExpected: {study.expected}\n" if study.expected else ""),
    )
    write_text(out / "table.csv", render_table(rows, "csv"))
    return render_table(rows, "table")
