"""The run directory's own names, and the paths they claim: free of PyTorch, so that a command can check where it
is about to write before it imports anything heavy."""

from __future__ import annotations

from pathlib import Path

from cnnlab.errors import CnnlabError

CONFIG, METRICS, SUMMARY, CHECKPOINTS, LOCK, TENSORBOARD, BATCHES = (
    "config.toml",
    "metrics.csv",
    "summary.json",
    "checkpoints",
    ".lock",
    "tensorboard",
    "batches.csv",
)
BATCH_EVENTS = "batches"  # --log-every's event files, in TENSORBOARD
OWN = (CONFIG, METRICS, SUMMARY, CHECKPOINTS, LOCK, TENSORBOARD, BATCHES)
# A study directory is runs plus an index, and its names are here, beneath compare, tune and report, which all read
# them: compare's index (title, expected, run names) and its runs by name; tune's index (study name and storage),
# its trials by number and the best trial retrained.
STUDY_INDEX, STUDY_RUNS = "study.json", "runs"
TUNE_INDEX, TRIALS, RETRAINED = "study.toml", "trials", "best"


def holds_compare_study(path: Path) -> bool:
    """Whether `path` is a `cnnlab compare` study directory (which `tune` must leave alone)."""
    return (path / STUDY_INDEX).is_file()


def holds_tune_study(path: Path) -> bool:
    """Whether `path` is a `cnnlab tune` study directory that has begun its trials."""
    return (path / TRIALS).is_dir()


def study_run(study: Path, name: str) -> Path:
    """The directory of the compare study's run `name`."""
    return study / STUDY_RUNS / name


def trial_run(study: Path, number: int) -> Path:
    """The directory of the tune study's trial `number` (numbered to four places, so they list in order)."""
    return study / TRIALS / f"{number:04d}"


def trial_runs(study: Path) -> list[Path]:
    """The tune study's trial directories, in the order of their numbers."""
    return sorted((study / TRIALS).iterdir())


def retrained_run(study: Path) -> Path:
    """The directory of the tune study's best trial, retrained on all its training data (`tune --retrain-best`)."""
    return study / RETRAINED


def check_outside_runs(path: str | Path, flag: str = "") -> None:
    """Refuse in one line to write `path` (the value of `flag`, where a command line gave it) over a run's files."""
    if (run := run_owning(path)) is not None:
        given = f"{flag} {path}" if flag else str(path)
        raise CnnlabError(
            f"{given} is one of the run {run}'s own files or folders, which writing there would destroy; choose "
            f"another path (beside them in {run} is fine)"
        )


def run_owning(path: str | Path) -> Path | None:
    """The run directory one of whose own files or folders `path` is or lies in (None: no run claims it), so that
    `export --out RUN/config.toml` is refused instead of writing over the run's config. A picture or an exported
    model beside them (RUN/model.onnx) is the run's owner's business and is allowed."""
    target = Path(path).resolve()
    for folder in target.parents:
        if (folder / CONFIG).is_file():
            return folder if target.relative_to(folder).parts[0] in OWN else None
    return None
