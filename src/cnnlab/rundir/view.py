"""How a run shows itself: the key figures `cnnlab train` prints at the end, as text or, in Jupyter, as an HTML
table with the run's loss and accuracy curves. Both come from `summary_rows`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cnnlab import display
from cnnlab.errors import resume_option

KEYS = ("test_accuracy", "val_accuracy", "train_accuracy", "epochs_run", "train_seconds", "params", "stopped")


def summary_rows(summary: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(key, value) pairs: the accuracies to four places, the other figures as they are, then each diagnosis."""
    if summary is None:
        return [("stopped", f"not finished: resume it with {resume_option()}")]
    rows = [
        (key, f"{v:.4f}" if isinstance(v := summary[key], float) and key.endswith("accuracy") else str(v))
        for key in KEYS
    ]
    return rows + [("diagnosis", finding) for finding in summary.get("diagnosis") or []]


def summary_text(path: str | Path, summary: dict[str, Any] | None) -> str:
    """The lines `cnnlab train` prints when a run ends."""
    return "\n".join([f"run: {path}", *(f"{key:>15}: {value}" for key, value in summary_rows(summary))])


def run_html(path: Path, summary: dict[str, Any] | None, metrics: list[dict[str, Any]]) -> str:
    """The same lines as a table, and the curves of every epoch so far."""
    from cnnlab.display.curves import curves_png

    parts = [display.lines([f"run: {path}"], bold_first=True), display.table(None, summary_rows(summary))]
    if metrics:
        png = curves_png({path.name: metrics})
        parts.append(display.figure(png, "loss and accuracy per epoch (train solid, validation dashed)"))
    return "".join(parts)
