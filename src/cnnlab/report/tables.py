"""One row per run, read from its run directory: the comparison table of `compare` and `report`."""

from __future__ import annotations

import csv
import html
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnlab.analysis.render import human
from cnnlab.display import table
from cnnlab.errors import CnnlabError, resume_option

if TYPE_CHECKING:
    from cnnlab.train.inference import LoadedRun

COLUMNS = [
    ("run", "run"),
    ("model", "model"),
    ("sizes", "train/val/test"),
    ("train_accuracy", "train acc"),
    ("test_accuracy", "test acc"),
    ("best_epoch", "best epoch"),
    ("train_seconds", "train time"),
    ("params", "params (trainable/total)"),
    ("macs", "MACs"),
]
NUMERIC = frozenset(range(3, len(COLUMNS)))  # right-aligned in the terminal and in HTML


def run_row(run: LoadedRun | str | Path, name: str | None = None) -> dict[str, Any]:
    """The table's values for one finished run (raw numbers; `render_table` formats them). A run that finished
    without weights (its loss went non-finite before the first epoch ended) gets its row from the summary alone:
    no accuracies and no MACs."""
    from cnnlab.analysis import summarize
    from cnnlab.rundir import RunDir
    from cnnlab.train.inference import LoadedRun, load_run

    if not isinstance(run, LoadedRun) and (d := RunDir(Path(run))).kept_no_weights():
        return _row(name or d.path.name, d.path, d.config().model, d.summary(), None)
    run = run if isinstance(run, LoadedRun) else load_run(run)
    path, s, config = run.run.path, run.run.summary, run.run.config
    if s is None:
        raise CnnlabError(f"{path} has not finished (no summary); resume it with {resume_option()}")
    return _row(name or Path(path).name, path, config.model, s, summarize(run.model, tuple(s["input_shape"])).macs)


def _row(run: str, path: str | Path, model: str, s: dict[str, Any], macs: int | None) -> dict[str, Any]:
    return {
        "run": run,
        "model": model if not model.endswith(".toml") else Path(model).name,
        "train_size": s["train_size"],
        "val_size": s["val_size"],
        "test_size": s["test_size"],
        "train_accuracy": s["train_accuracy"],
        "test_accuracy": s["test_accuracy"],
        "best_epoch": s["best_epoch"],
        "epochs_run": s["epochs_run"],
        "train_seconds": s["train_seconds"],
        "trainable_params": s["trainable_params"],
        "params": s["params"],
        "macs": macs,
        "path": str(path),
    }


def cells(row: dict[str, Any]) -> list[str]:
    pct = lambda v: "-" if v is None else f"{v:.2%}"
    return [
        row["run"],
        row["model"],
        f"{row['train_size']}/{row['val_size']}/{row['test_size']}",
        pct(row["train_accuracy"]),
        pct(row["test_accuracy"]),
        f"{row['best_epoch']}/{row['epochs_run']}" if row["epochs_run"] else "-",  # no epoch ended: no best one
        f"{row['train_seconds']:.1f} s",
        f"{row['trainable_params']:,}/{row['params']:,}",
        "-" if row["macs"] is None else human(row["macs"]),
    ]


def render_table(rows: list[dict[str, Any]], fmt: str = "table") -> str:
    """'table' (aligned text), 'markdown' or 'csv' (raw numbers, for spreadsheets)."""
    heads = [h for _, h in COLUMNS]
    if fmt == "csv":
        buf = io.StringIO()
        keys = [
            "run",
            "model",
            "train_size",
            "val_size",
            "test_size",
            "train_accuracy",
            "test_accuracy",
            "best_epoch",
            "epochs_run",
            "train_seconds",
            "trainable_params",
            "params",
            "macs",
        ]
        w = csv.DictWriter(buf, keys, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        return buf.getvalue()
    body = [cells(r) for r in rows]
    if fmt == "markdown":
        lines = ["| " + " | ".join(heads) + " |", "|" + "|".join("---" for _ in heads) + "|"]
        return "\n".join(lines + ["| " + " | ".join(c) + " |" for c in body]) + "\n"
    widths = [max(len(x) for x in col) for col in zip(heads, *body)]
    fmt_row = lambda cells: "  ".join(
        c.rjust(w) if i in NUMERIC else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))
    ).rstrip()
    return "\n".join([fmt_row(heads), "  ".join("-" * w for w in widths)] + [fmt_row(c) for c in body]) + "\n"


class RunTable:
    """The comparison table of finished runs: text in a terminal (print it), an HTML table in Jupyter; both from
    the same `cells` of the same rows."""

    def __init__(self, rows: list[dict[str, Any]], unfinished: list[str] | None = None) -> None:
        self.rows = rows
        self.unfinished = unfinished or []  # runs named under the table: killed or still training, no summary yet

    def left_out(self) -> str:
        """The line under the table naming the runs it leaves out ("" when none is)."""
        return f"not finished, so not in the table: {', '.join(self.unfinished)}" if self.unfinished else ""

    def render(self, fmt: str = "table") -> str:
        text = render_table(self.rows, fmt)
        return text + self.left_out() + "\n" if self.unfinished and fmt != "csv" else text

    def __str__(self) -> str:
        return self.render()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.render())

    def _repr_html_(self) -> str:
        note = f'<p class="notes">{html.escape(self.left_out())}</p>' if self.unfinished else ""
        return table([h for _, h in COLUMNS], [cells(r) for r in self.rows], NUMERIC, css_class="runs") + note


def run_table(paths: str | Path | list[str | Path]) -> RunTable:
    """The table of every finished run among `paths` (run directories, `compare` and `tune` study directories), as
    `cnnlab compare` and `cnnlab report` tabulate them."""
    from cnnlab.report.collect import collect

    groups = collect(paths)
    rows = [run_row(path, name) for group in groups for name, path in group.runs.items()]
    return RunTable(rows, [name for group in groups for name in group.unfinished])
