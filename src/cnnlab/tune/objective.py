"""One trial: sample, write the network as net.toml, train it into a normal run directory, report every epoch."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import tomli_w

from cnnlab.atomic import write_text
from cnnlab.train import train
from cnnlab.tune.space import Space


def write_network(space: Space, values: dict[str, Any], run_dir: Path) -> Path:
    """The trial's network as run_dir/net.toml, so eval, predict and report rebuild it like any TOML model."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = (run_dir / "net.toml").resolve()
    write_text(path, tomli_w.dumps(space.network_spec(values)))
    return path


def run_trial(
    trial: optuna.Trial,
    space: Space,
    run_dir: Path,
    log: Callable[[str], None],
    stop: Callable[[], str | None] = lambda: None,
) -> float | None:
    """Train one sampled configuration; returns the best epoch's metric (None if no epoch gave a finite one).

    Each epoch's metric goes to trial.report; when the pruner says so, optuna.TrialPruned stops the run.
    `stop()` is asked after each epoch: a reason it gives (the study's epoch budget is spent) ends the trial
    there, as complete, with its best epoch so far."""
    values = space.sample(trial)
    config = space.run_config(values, str(write_network(space, values, run_dir)))
    trial.set_user_attr("run_dir", str(run_dir.resolve()))

    def on_epoch(row: dict[str, Any]) -> str | None:
        value = row[space.metric]
        last = row["epoch"] >= config.epochs  # a trial that trained all its epochs is complete: nothing left to save
        if value is not None and math.isfinite(value):
            trial.report(value, row["epoch"])
            if not last and trial.should_prune():
                raise optuna.TrialPruned(f"pruned after epoch {row['epoch']}")
        return None if last else stop()

    summary = train(config, run_dir, log=lambda s: log(f"trial {trial.number}: {s}"), progress=False, on_epoch=on_epoch)
    value = summary[space.metric]
    return value if value is not None and math.isfinite(value) else None
