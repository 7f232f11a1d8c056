"""How a run shows itself: the key figures `cnnlab train` prints at the end, as text or, in Jupyter, as an HTML
table with the run's loss and accuracy curves. Both come from `summary_rows`."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from cnnlab import display
from cnnlab.data.dataset import FOLDER_PREFIX
from cnnlab.errors import resume_option, speaking_to_cli

KEYS = ("test_accuracy", "val_accuracy", "train_accuracy", "epochs_run", "train_seconds", "params", "stopped")


def summary_rows(summary: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(key, value) pairs: the accuracies to four places, the other figures as they are, then each diagnosis. An
    accuracy the run has not is `-` (it printed Python's None), the test's saying why when the data has no test
    split (an image folder of class folders alone)."""
    if summary is None:
        return [("stopped", f"not finished: resume it with {resume_option()}")]

    def shown(key: str, v: Any) -> str:
        if v is None and key == "test_accuracy" and summary.get("test_size") == 0:
            return "- (the data has no test split)"
        if v is None and key.endswith("accuracy"):
            return "-"
        return f"{v:.4f}" if isinstance(v, float) and key.endswith("accuracy") else str(v)

    rows = [(key, shown(key, summary[key])) for key in KEYS]
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


RUNS_HEAD = ("run", "model", "data", "epochs", "val", "test", "state")
RUNS_NUMERIC = (3, 4, 5)  # right-aligned: epochs and the accuracies


def runs_rows(states: list, top: Path) -> list[tuple[str, ...]]:
    """A row a run for `cnnlab runs`: its path below `top`, model, data, epochs done of asked, its best epoch's
    validation accuracy (by --monitor) and its test accuracy, and where it stands."""

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v:.2%}"

    rows = []
    for r in states:
        folder = r.data.startswith(FOLDER_PREFIX)
        data = FOLDER_PREFIX + Path(r.data[len(FOLDER_PREFIX) :]).name if folder else r.data
        model = Path(r.model).name if r.model.endswith(".toml") else r.model  # a network file: its name
        where = str(r.path.relative_to(top)) if r.path != top else str(r.path)
        rows.append((where, model, data, f"{r.done}/{r.epochs}", pct(r.val_accuracy), pct(r.test_accuracy), r.state))
    return rows


def runs_footer(states: list, top: Path) -> str:
    """How many runs, and how to continue the ones that stopped before their end."""
    line = f"{len(states)} run{'s' * (len(states) != 1)} in {top}"
    if stopped := [r for r in states if r.resumable]:
        line += f"; {len(stopped)} stopped before the end: "
        line += (
            f"`cnnlab train --out {shlex.quote(str(stopped[0].path))} --resume` goes on"
            if speaking_to_cli()
            else f"train(config, out={str(stopped[0].path)!r}, resume=True) goes on"
        )
    return line


def runs_table(states: list, top: Path) -> str:
    """The runs as `cnnlab runs` prints them: aligned columns, then the footer."""
    return display.aligned(RUNS_HEAD, runs_rows(states, top), RUNS_NUMERIC) + "\n" + runs_footer(states, top)


def runs_html(states: list, top: Path) -> str:
    """The same in Jupyter."""
    return display.table(RUNS_HEAD, runs_rows(states, top), RUNS_NUMERIC) + display.lines([runs_footer(states, top)])
