"""What a report argument is: a run directory, a `compare` study directory or a `tune` study directory."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from cnnlab.errors import CnnlabError, speaking_to_cli
from cnnlab.rundir import RunDir
from cnnlab.rundir.layout import (
    STUDY_INDEX,
    holds_compare_study,
    holds_tune_study,
    retrained_run,
    study_run,
    trial_runs,
)


@dataclass
class Group:
    """Runs shown together under one heading, with a study's notes and extra plots (PNG bytes by caption)."""

    title: str
    runs: dict[str, Path]
    notes: str = ""
    plots: dict[str, bytes] = field(default_factory=dict)
    detailed: set[str] | None = None  # runs that get a full section (None: all)
    unfinished: list[str] = field(default_factory=list)  # runs left out for having no summary yet: named, not shown


def collect(paths: str | Path | list[str | Path]) -> list[Group]:
    """The groups of finished runs among `paths` (one path, or a list of them: not a string's characters)."""
    paths = [paths] if isinstance(paths, str | Path) else list(paths)
    if not paths:
        raise CnnlabError("nothing to report: no runs given; name run directories or study directories")
    groups: list[Group] = []
    loose = Group("runs", {})  # the run directories given, in one table and one plot of curves
    for p in map(Path, paths):
        if RunDir(p).exists():
            if not loose.runs and not loose.unfinished:
                groups.append(loose)  # where the first of them was given
            name = p.name if p.name not in loose.runs and p.name not in loose.unfinished else str(p)
            if RunDir(p).finished():
                loose.runs[name] = p
            else:
                loose.unfinished.append(name)
        elif holds_compare_study(p):
            index = json.loads((p / STUDY_INDEX).read_text())
            done = {n: RunDir(study_run(p, n)).finished() for n in index["runs"]}
            runs = {n: study_run(p, n) for n, finished in done.items() if finished}
            left = [n for n, finished in done.items() if not finished]
            groups.append(Group(index.get("title", p.name), runs, index.get("expected", ""), unfinished=left))
        elif holds_tune_study(p):
            groups.append(_tune_group(p))
        else:
            raise CnnlabError(
                f"{p} is not a run directory or a study directory (from `cnnlab train`, `compare` or `tune`)"
            )
    if not any(g.runs for g in groups):
        raise CnnlabError(
            "nothing to report: none of the given runs has finished; finish them with "
            + ("`cnnlab train ... --resume`" if speaking_to_cli() else "train(..., resume=True)")
        )
    if len(loose.runs) + len(loose.unfinished) == 1:
        loose.title = next(iter(loose.runs), None) or loose.unfinished[0]  # one run: its own name as heading
    return groups


def _tune_group(path: Path) -> Group:
    from cnnlab.tune.plots import study_plots

    trials = [t for t in trial_runs(path) if RunDir(t).exists()]
    runs = {f"trial {t.name}": t for t in trials if RunDir(t).finished()}
    left = [f"trial {t.name}" for t in trials if not RunDir(t).finished()]
    detailed = set()
    if RunDir(retrained_run(path)).finished():
        runs["best (retrained)"] = retrained_run(path)
        detailed.add("best (retrained)")
    plots = {
        f"optimisation history of {path.name}" if k == "history" else f"parameter importances of {path.name}": v
        for k, v in study_plots(path).items()
    }
    return Group(f"hyperparameter search {path.name}", runs, "", plots, detailed, left)
