"""Running a study: each run in order into OUT/runs/NAME, skipping finished runs and resuming interrupted ones."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from cnnlab.atomic import write_text
from cnnlab.errors import CnnlabError, option
from cnnlab.rundir import RunConfig, RunDir
from cnnlab.rundir.layout import STUDY_INDEX, study_run
from cnnlab.study.plan import PlannedRun, Study


def resolved(run: PlannedRun, out: Path) -> RunConfig:
    """The run's config with '@NAME' sources turned into run directories."""
    if run.after:
        return replace(run.config, init_from=str(study_run(out.resolve(), run.after[0])))
    return run.config


def run_study(
    study: Study, out: str | Path, log: Callable[[str], None] | None = None, progress: bool | None = None
) -> list[Path]:
    """Train every run that is not complete; returns the run directories in study order. Without `log`, the lines
    (`[2/4] NAME: training`, then each epoch's, prefixed with the run's name) go where train() puts its own: in a
    notebook, under the cell, so each progress bar has its run named above it."""
    from cnnlab.train import train
    from cnnlab.train.progress import default_log

    log = log or default_log()
    out = Path(out)
    if out.is_dir() and any(out.iterdir()):
        from cnnlab.tune import StudyDir

        if StudyDir(out).meta():  # a report of the folder would show one study and drop the other
            raise CnnlabError(f"{option('out')} {out} holds a `cnnlab tune` study; give the comparison another folder")
    out.mkdir(parents=True, exist_ok=True)
    write_text(
        out / STUDY_INDEX,
        json.dumps(
            {
                "study": str(study.path),
                "title": study.title,
                "expected": study.expected,
                "runs": [r.name for r in study.runs],
            },
            indent=2,
        ),
    )
    dirs = []
    for i, run in enumerate(study.runs, start=1):
        path = study_run(out, run.name)
        config = resolved(run, out)
        state = _state(path, config)
        log(
            f"[{i}/{len(study.runs)}] {run.name}: "
            + {"done": "complete, skipped", "partial": "resuming", "new": "training"}[state]
        )
        if state != "done":
            train(
                config, path, resume=state == "partial", log=lambda s, n=run.name: log(f"  {n}: {s}"), progress=progress
            )
        dirs.append(path)
    return dirs


def _state(path: Path, config: RunConfig) -> str:
    """'done', 'partial' (resumable) or 'new'; a run directory made with other settings is refused, not overwritten."""
    run = RunDir(path)
    if not run.exists():
        return "new"
    saved = run.config()
    differ = saved.differences(config)
    if differ:
        d = differ[0]
        raise CnnlabError(
            f"{path} was trained with {d} = {getattr(saved, d)!r}, the study now says {getattr(config, d)!r}; "
            "remove that run directory to redo it, or use another --out"
        )
    if run.finished() and _same_resumables(saved, config):
        return "done"
    return "partial" if run.has_checkpoint() else "new"


def _same_resumables(saved: RunConfig, config: RunConfig) -> bool:
    """A finished run counts as done unless the study now asks for more epochs."""
    return config.epochs <= saved.epochs


def describe(study: Study, out: Path) -> list[dict[str, Any]]:
    """The plan as rows (for --dry-run): name, state and the settings that differ from RunConfig's defaults."""
    base = asdict(RunConfig())
    rows = []
    for run in study.runs:
        config = resolved(run, out)
        changed = {k: v for k, v in asdict(config).items() if v != base[k]}
        try:
            state = _state(study_run(out, run.name), config)
        except CnnlabError:
            state = "conflict"
        rows.append({"name": run.name, "state": state, "settings": changed})
    return rows
