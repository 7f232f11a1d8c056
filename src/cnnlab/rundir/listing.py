"""The runs below a folder and where each stands: finished (and why it stopped), running, or interrupted and
resumable, read from each run's own files without taking its lock or changing a byte."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnlab.errors import CnnlabError
from cnnlab.rundir.checkpoint import MANIFEST
from cnnlab.rundir.layout import CHECKPOINTS, CONFIG, LOCK
from cnnlab.rundir.lock import holder
from cnnlab.rundir.run import RunDir
from cnnlab.rundir.view import runs_html, runs_table

DEPTH = 4  # RUNS/NAME, STUDY/runs/NAME, STUDY/trials/0001 and one level above them


@dataclass(frozen=True)
class RunState:
    """What `cnnlab runs` shows of one run."""

    path: Path
    model: str
    data: str
    epochs: int  # asked for
    done: int  # finished and checkpointed
    state: str  # "completed", "early stop: ...", "running (process N)", "interrupted", "no epoch finished", ...
    val_accuracy: float | None = None  # the best epoch's
    test_accuracy: float | None = None

    @property
    def resumable(self) -> bool:
        """Stopped before its end without a summary: `train --resume` continues it from its last epoch."""
        return self.state in ("interrupted", "no epoch finished")


def run_dirs(folder: str | Path, depth: int = DEPTH) -> list[Path]:
    """The run directories at or below `folder` (at most `depth` levels down), in path order, and folders
    holding a run's checkpoints without its config (listed as damaged). A run's own folders are not searched,
    nor hidden ones, nor links."""
    top = Path(folder)
    if not top.is_dir():
        raise CnnlabError(f"{top} is not a folder; give a folder that holds run directories")
    found = []
    for here, subdirs, files in os.walk(top):
        path = Path(here)
        if (CONFIG in files and RunDir(path).exists()) or (path / CHECKPOINTS / MANIFEST).is_file():
            found.append(path)
            subdirs[:] = []  # checkpoints, tensorboard: the run's own
            continue
        level = len(path.relative_to(top).parts)
        subdirs[:] = sorted(d for d in subdirs if not d.startswith(".")) if level < depth else []
    return sorted(found)


def run_state(path: str | Path) -> RunState:
    """Where the run in `path` stands. A damaged run is reported, not raised: its state says what is wrong."""
    run = RunDir(Path(path))
    if not run.exists():  # checkpoints without their config (run_dirs lists such folders)
        return RunState(
            run.path, "?", "?", 0, 0, f"damaged: it has checkpoints but no {CONFIG}; restore it from a copy"
        )
    try:
        config = run.config()
    except CnnlabError as e:
        return RunState(run.path, "?", "?", 0, 0, f"damaged: {e}")
    about = (run.path, config.model, config.data, config.epochs)
    pid = holder(run.path / LOCK)  # a writer holds the lock: training, or resuming a finished run for more epochs
    try:
        manifest = run.checkpoints.manifest()
        done = manifest["last"]["epoch"] if manifest else 0
        if run.finished() and pid is None:
            s = run.summary()
            val, test = s.get("val_accuracy"), s.get("test_accuracy")
            return RunState(*about, int(s.get("epochs_run") or done), str(s.get("stopped") or "completed"), val, test)
        last = run.checkpoints.load("last", weights=False) if manifest else None
    except CnnlabError as e:
        return RunState(*about, 0, f"damaged: {e}")
    # the best checkpoint's epoch (by --monitor, as a finished run's summary has it), not the highest of the column
    best = (manifest.get("best") or manifest["last"])["epoch"] if manifest else None
    val = next((r.get("val_accuracy") for r in (last.metrics if last else []) if r["epoch"] == best), None)
    state = f"running (process {pid})" if pid else "no epoch finished" if manifest is None else "interrupted"
    return RunState(*about, done, state, val)


class Runs(list):
    """The runs `runs_below` found: a list of RunState that prints as `cnnlab runs` does and shows as a table in
    Jupyter."""

    def __init__(self, states: list[RunState], top: Path) -> None:
        super().__init__(states)
        self.top = top

    def __str__(self) -> str:
        return runs_table(self, self.top)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        return runs_html(self, self.top)


def runs_below(folder: str | Path = "runs", depth: int = DEPTH) -> Runs:
    """Every run at or below `folder` with where it stands, in path order."""
    return Runs([run_state(p) for p in run_dirs(folder, depth)], Path(folder))
