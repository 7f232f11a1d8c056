"""One row per run, read from its run directory: the comparison table of `compare` and `report`."""

from __future__ import annotations

import csv
import html
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnlab.analysis.render import human
from cnnlab.display import aligned, table
from cnnlab.errors import CnnlabError, resume_option

if TYPE_CHECKING:
    from cnnlab.rundir import RunConfig
    from cnnlab.train.inference import LoadedRun

COLUMNS = [
    ("run", "run"),
    ("model", "model"),
    ("data", "data"),  # only when the runs' data differ
    ("sizes", "train/val/test"),
    ("train_accuracy", "train acc"),
    ("test_accuracy", "test acc"),
    ("best_epoch", "best epoch"),
    ("train_seconds", "train time"),
    ("params", "params (trainable/total)"),
    ("macs", "MACs"),
    ("stopped", "stopped"),  # only when a run stopped before its last epoch
]
NUMERIC = frozenset(
    {"train_accuracy", "test_accuracy", "best_epoch", "train_seconds", "params", "macs"}
)  # right-aligned
FORMATS = ("table", "markdown", "csv")
COMPLETED = "completed"  # the summary's `stopped` of a run that trained every epoch it was asked for
CSV_KEYS = [
    "run",
    "model",
    "data",
    "train_size",
    "val_size",
    "test_size",
    "train_accuracy",
    "test_accuracy",
    "best_epoch",
    "epochs_run",
    "epochs",
    "train_seconds",
    "trainable_params",
    "params",
    "macs",
    "stopped",
]


def run_row(run: LoadedRun | str | Path, name: str | None = None) -> dict[str, Any]:
    """The table's values for one finished run (raw numbers; `render_table` formats them). A run that finished
    without weights (its loss went non-finite in epoch 1) gets its row from the summary alone: no accuracies and
    no MACs."""
    from cnnlab.analysis import summarize
    from cnnlab.rundir import RunDir
    from cnnlab.train.inference import LoadedRun, load_run

    if not isinstance(run, LoadedRun) and (d := RunDir(Path(run))).kept_no_weights():
        return _row(name or d.path.name, d.path, d.config(), d.summary(), None)
    run = run if isinstance(run, LoadedRun) else load_run(run)
    path, s, config = run.run.path, run.run.summary, run.run.config
    if s is None:
        raise CnnlabError(f"{path} has not finished (no summary); resume it with {resume_option()}")
    return _row(name or Path(path).name, path, config, s, summarize(run.model, tuple(s["input_shape"])).macs)


def _row(run: str, path: str | Path, config: RunConfig, s: dict[str, Any], macs: int | None) -> dict[str, Any]:
    from cnnlab.zoo.registry import is_spec_path

    return {
        "run": run,
        "model": Path(config.model).name if is_spec_path(config.model) else config.model,  # a file by its name
        "data": config.data,
        "train_size": s["train_size"],
        "val_size": s["val_size"],
        "test_size": s["test_size"],
        "train_accuracy": s["train_accuracy"],
        "test_accuracy": s["test_accuracy"],
        "best_epoch": s["best_epoch"],
        "epochs_run": s["epochs_run"],
        "epochs": config.epochs,  # asked for: a run stopped early ran fewer
        "train_seconds": s["train_seconds"],
        "trainable_params": s["trainable_params"],
        "params": s["params"],
        "macs": macs,
        "stopped": s["stopped"],
        "path": str(path),
    }


def percent(v: float | None) -> str:
    """`v` as a percentage to two places, never 100.00% short of 1 nor 0.00% above 0: 49,999 right of 50,000 is
    not all of them."""
    if v is None:
        return "-"
    text = f"{v:.2%}"
    if v < 1 and text == "100.00%":
        return "99.99%"
    return "0.01%" if v > 0 and text == "0.00%" else text


def _stopped(row: dict[str, Any]) -> str:
    """Why and when a run stopped before its last epoch ("-" when it did not)."""
    if row["stopped"] == COMPLETED:
        return "-"
    n = row["epochs_run"]
    return f"{f'after epoch {n}' if n else 'in epoch 1'}: {row['stopped']}"


def grid(rows: list[dict[str, Any]]) -> tuple[list[str], set[int], list[list[str]]]:
    """Headings, right-aligned column numbers and cells, the same in text and HTML: data only when the runs' data
    differ, stopped only when some run stopped early, so a table of finished runs on one dataset keeps its usual
    columns."""
    shown = {"data": len({r["data"] for r in rows}) > 1, "stopped": any(r["stopped"] != COMPLETED for r in rows)}
    cols = [(k, h) for k, h in COLUMNS if shown.get(k, True)]
    numeric = {i for i, (k, _) in enumerate(cols) if k in NUMERIC}
    return [h for _, h in cols], numeric, [cells(r, [k for k, _ in cols]) for r in rows]


def data_note(rows: list[dict[str, Any]]) -> str:
    """The line above a table whose runs use different data ("" when they share it): their accuracies do not
    compare."""
    data = list(dict.fromkeys(r["data"] for r in rows))
    if len(data) < 2:
        return ""
    return f"the runs use different data ({', '.join(data)}): their accuracies are on different test sets"


def cells(row: dict[str, Any], keys: list[str]) -> list[str]:
    """The row's text under the columns `keys`."""
    text = {
        "run": row["run"],
        "model": row["model"],
        "data": row["data"],
        "sizes": f"{row['train_size']}/{row['val_size']}/{row['test_size']}",
        "train_accuracy": percent(row["train_accuracy"]),
        "test_accuracy": percent(row["test_accuracy"]),
        "best_epoch": f"{row['best_epoch']}/{row['epochs']}" if row["epochs_run"] else "-",  # no epoch ended: no best
        "train_seconds": f"{row['train_seconds']:.1f} s",
        "params": f"{row['trainable_params']:,}/{row['params']:,}",
        "macs": "-" if row["macs"] is None else human(row["macs"]),
        "stopped": _stopped(row),
    }
    return [text[k] for k in keys]


def render_table(rows: list[dict[str, Any]], fmt: str = "table") -> str:
    """'table' (aligned text) or 'markdown', under the line that says when the runs use different data, or 'csv'
    (raw numbers, every column, for spreadsheets)."""
    if fmt not in FORMATS:
        raise CnnlabError(f"unknown table format {fmt!r}; give one of {', '.join(FORMATS)}")
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, CSV_KEYS, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        return buf.getvalue()
    heads, numeric, body = grid(rows)
    note = data_note(rows)
    if fmt == "markdown":
        lines = ["| " + " | ".join(heads) + " |", "|" + "|".join("---" for _ in heads) + "|"]
        return (note + "\n\n" if note else "") + "\n".join(lines + ["| " + " | ".join(c) + " |" for c in body]) + "\n"
    return "\n".join([*([note] if note else []), aligned(heads, body, numeric, rule="under")]) + "\n"


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
        heads, numeric, body = grid(self.rows)
        above = f'<p class="notes">{html.escape(note)}</p>' if (note := data_note(self.rows)) else ""
        below = f'<p class="notes">{html.escape(self.left_out())}</p>' if self.unfinished else ""
        return above + table(heads, body, numeric, css_class="runs") + below


def run_table(paths: str | Path | list[str | Path]) -> RunTable:
    """The table of every finished run among `paths` (run directories, `compare` and `tune` study directories), as
    `cnnlab compare` and `cnnlab report` tabulate them."""
    from cnnlab.report.collect import collect

    groups = collect(paths)
    rows = [run_row(path, name) for group in groups for name, path in group.runs.items()]
    return RunTable(rows, [name for group in groups for name in group.unfinished])
