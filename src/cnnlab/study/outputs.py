"""What `compare` leaves in its directory besides the runs: table.md, table.csv, report.html and plots/*.png."""
from __future__ import annotations

from pathlib import Path

from cnnlab.report import render_table, run_row, write_report
from cnnlab.study.plan import Study
from cnnlab.train.checkpoint import write_text


def write_outputs(study: Study, out: Path, dirs: list[Path], gradcam: int = 8) -> str:
    """Write the tables and the report; returns the terminal table."""
    rows = [run_row(d, r.name) for d, r in zip(dirs, study.runs)]
    write_text(out / "table.md", f"# {study.title}\n\n" + render_table(rows, "markdown")
               + (f"\nExpected: {study.expected}\n" if study.expected else ""))
    write_text(out / "table.csv", render_table(rows, "csv"))
    write_report([out], out / "report.html", title=study.title, gradcam=gradcam, plots_dir=out / "plots")
    return render_table(rows, "table")
