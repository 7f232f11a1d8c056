"""What a report argument is: a run directory, a `compare` study directory or a `tune` study directory."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from cnnlab.errors import CnnlabError, speaking_to_cli
from cnnlab.rundir import RunDir

STUDY_INDEX = "study.json"  # what `cnnlab compare` writes in its study directory: title, expected, run names


def holds_compare_study(path: Path) -> bool:
    """Whether `path` is a `cnnlab compare` study directory (which `tune` must leave alone)."""
    return (path / STUDY_INDEX).is_file()


@dataclass
class Group:
    """Runs shown together under one heading, with a study's notes and extra plots (PNG bytes by caption)."""

    title: str
    runs: dict[str, Path]
    notes: str = ""
    plots: dict[str, bytes] = field(default_factory=dict)
    detailed: set[str] | None = None  # runs that get a full section (None: all)


def collect(paths: str | Path | list[str | Path]) -> list[Group]:
    """The groups of finished runs among `paths` (one path, or a list of them: not a string's characters)."""
    paths = [paths] if isinstance(paths, str | Path) else list(paths)
    if not paths:
        raise CnnlabError("nothing to report: no runs given; name run directories or study directories")
    groups = []
    for p in map(Path, paths):
        if RunDir(p).exists():
            groups.append(Group(p.name, {p.name: p}))
        elif holds_compare_study(p):
            index = json.loads((p / STUDY_INDEX).read_text())
            runs = {n: p / "runs" / n for n in index["runs"] if RunDir(p / "runs" / n).finished()}
            groups.append(Group(index.get("title", p.name), runs, index.get("expected", "")))
        elif (p / "trials").is_dir():
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
    return groups


def _tune_group(path: Path) -> Group:
    from cnnlab.tune.plots import study_plots

    runs = {f"trial {t.name}": t for t in sorted((path / "trials").iterdir()) if RunDir(t).finished()}
    detailed = set()
    if RunDir(path / "best").finished():
        runs["best (retrained)"] = path / "best"
        detailed.add("best (retrained)")
    plots = {
        f"optimisation history of {path.name}" if k == "history" else f"parameter importances of {path.name}": v
        for k, v in study_plots(path).items()
    }
    return Group(f"hyperparameter search {path.name}", runs, "", plots, detailed)
