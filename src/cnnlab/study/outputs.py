"""What `compare` leaves in its directory besides the runs: table.md, table.csv, report.html and plots/*.png."""

from __future__ import annotations

from pathlib import Path

from cnnlab.atomic import write_text
from cnnlab.report import render_table
from cnnlab.report.html import write_report_rows
from cnnlab.rundir import RunDir
from cnnlab.study.plan import Study


def write_outputs(study: Study, out: Path, gradcam: int = 8) -> tuple[str, list[str]]:
    """Write the report and the tables (each run opened once, for both); returns the terminal table and the names
    of the plots written (none when every run kept no weights), so `compare` names only what it wrote."""
    _, rows, plots = write_report_rows(
        [out], out / "report.html", title=study.title, gradcam=gradcam, plots_dir=out / "plots"
    )
    write_text(
        out / "table.md",
        f"# {study.title}\n\n"
        + render_table(rows, "markdown")
        + (f"\nExpected: {study.expected}\n" if study.expected else ""),
    )
    write_text(out / "table.csv", render_table(rows, "csv"))
    return render_table(rows, "table"), plots


def all_failed(dirs: list[Path]) -> str | None:
    """The one line for a study none of whose runs kept weights (naming the first one's reason), else None."""
    failed = [d for d in dirs if RunDir(d).kept_no_weights()]
    if not dirs or len(failed) < len(dirs):
        return None
    why = RunDir(failed[0]).summary()
    reason = "; ".join([why["stopped"], *(why.get("diagnosis") or [])])
    return f"every run of the study failed (none kept weights); {failed[0].name} stopped: {reason}"
