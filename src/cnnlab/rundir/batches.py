"""Per-batch metrics (--log-every): rows appended to the run's batch CSV as training goes, and TensorBoard scalars.

The rows are appended live (a long epoch can be watched), so they run ahead of the last checkpoint. A resumed run
starts again from that checkpoint and logs those batches again; `cut_batches` first drops every row past the
checkpoint's epoch (and a line a killed process left half-written), so no row appears twice and the file ends as
an uninterrupted run's would."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from cnnlab.atomic import write_text
from cnnlab.rundir.events import EventLog

BATCH_FIELDS = ["epoch", "batch", "step", "loss", "accuracy", "lr"]


def _line(row: dict[str, Any]) -> str:
    buf = io.StringIO()
    csv.DictWriter(buf, BATCH_FIELDS, lineterminator="\n", extrasaction="ignore").writerow(row)
    return buf.getvalue()


def cut_batches(path: Path, last_epoch: int) -> None:
    """Keep the rows of epochs up to `last_epoch` (the last checkpoint's), whole lines only; rewritten atomically."""
    if not path.is_file():
        return
    lines = path.read_text().splitlines(keepends=True)
    kept = [
        line
        for line in lines[1:]
        if line.endswith("\n") and line.split(",", 1)[0].isdigit() and int(line.split(",", 1)[0]) <= last_epoch
    ]
    write_text(path, ",".join(BATCH_FIELDS) + "\n" + "".join(kept))


def parse_batches(text: str) -> list[dict[str, Any]]:
    """The rows of a batch CSV: epoch, batch and step as integers, the rest as floats."""
    return [
        {k: int(v) if k in ("epoch", "batch", "step") else float(v) for k, v in row.items()}
        for row in csv.DictReader(io.StringIO(text))
    ]


class BatchLog:
    """Appends batch rows to `path` (flushed, one whole line per write) and to a TensorBoard run of their own in
    `events` (x axis: updates; its own folder, so the epoch curves' purge on resume and this one's stay apart)."""

    def __init__(self, path: Path, events: Path, first_step: int) -> None:
        if not path.is_file():
            write_text(path, ",".join(BATCH_FIELDS) + "\n")
        self._file = open(path, "a")  # noqa: SIM115 (closed in close())
        self._events = EventLog(events, first_step)

    def log(self, row: dict[str, Any]) -> None:
        self._file.write(_line(row))
        self._file.flush()
        self._events.scalars(row["step"], {f"batch/{k}": row[k] for k in ("loss", "accuracy", "lr")})

    def close(self) -> None:
        self._file.close()
        self._events.close()
