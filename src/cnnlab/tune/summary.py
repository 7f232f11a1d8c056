"""What a study found: the best trials as a table (like Keras Tuner's results_summary), and retraining the best."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import tomli_w
from optuna.trial import FrozenTrial, TrialState

from cnnlab import display
from cnnlab.errors import CnnlabError
from cnnlab.train import RunDir, train
from cnnlab.tune.objective import write_network
from cnnlab.tune.storage import shown


def ranked(study: optuna.Study) -> list[FrozenTrial]:
    """Complete trials, best first."""
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    return sorted(done, key=lambda t: (-t.value if maximize else t.value, t.number))


def epochs_trained(study: optuna.Study) -> int:
    """Epochs spent over all trials (each reported epoch counts once, of failed trials too: they were trained)."""
    return sum(len(t.intermediate_values) for t in study.get_trials(deepcopy=False))


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


NUMERIC = range(4)  # rank, trial, objective, epochs (right-aligned); then the parameters
PLOT_CAPTIONS = {"history": "optimisation history", "importance": "parameter importances (fANOVA)"}


@dataclass
class StudySummary:
    """What a study found: its counts (`lines`), the best trials as a table (`head`, `body`) and its plots (PNG bytes
    by name). Text for the terminal, HTML with the plots in Jupyter, both from these rows."""

    lines: list[str]
    head: list[str]
    body: list[list[str]]
    plots: dict[str, bytes] = field(default_factory=dict)

    def render(self) -> str:
        if not self.body:
            return "\n".join(self.lines)
        return "\n".join([*self.lines, display.aligned(self.head, self.body, NUMERIC)])

    def __str__(self) -> str:
        return self.render()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.render())

    def _repr_html_(self) -> str:
        parts = [display.lines(self.lines, bold_first=True)]
        if self.body:
            parts.append(display.table(self.head, self.body, NUMERIC))
        parts += [display.figure(png, PLOT_CAPTIONS.get(name, name)) for name, png in self.plots.items()]
        return "".join(parts)


def summarize_study(study: optuna.Study, metric: str, url: str, top: int = 10) -> StudySummary:
    """The study's counts and its `top` best complete trials, best first."""
    trials = study.get_trials(deepcopy=False)
    counts = {s: sum(t.state == s for t in trials) for s in TrialState}
    best = ranked(study)[:top]
    lines = [
        (
            f"study {study.study_name!r} in {shown(url)}: {len(trials)} trials, "
            f"{counts[TrialState.COMPLETE]} complete, {counts[TrialState.PRUNED]} pruned, "
            f"{counts[TrialState.FAIL]} failed, {counts[TrialState.RUNNING]} running; "
            f"{epochs_trained(study)} epochs trained"
        ),
        f"objective: {metric} ({study.direction.name.lower()})",
        f"best {len(best)} of {counts[TrialState.COMPLETE]} complete trials:" if best else "no complete trial yet",
    ]
    body = [
        [
            str(r),
            str(t.number),
            f"{t.value:.4f}",
            str(len(t.intermediate_values)),
            " ".join(f"{k}={_fmt(v)}" for k, v in t.params.items()),
        ]
        for r, t in enumerate(best, start=1)
    ]
    return StudySummary(lines, ["rank", "trial", metric, "epochs", "parameters"], body)


def render_summary(study: optuna.Study, metric: str, url: str, top: int = 10) -> str:
    return summarize_study(study, metric, url, top).render()


def study_summary(study_dir: str | Path, top: int = 10) -> StudySummary:
    """The summary of the study in `study_dir` with its plots: what `cnnlab tune --summary` prints and writes."""
    from cnnlab.tune.plots import study_plots
    from cnnlab.tune.study import open_study

    study, space, sdir = open_study(study_dir)
    summary = summarize_study(study, space.metric, sdir.url(), top)
    summary.plots = study_plots(study_dir)
    return summary


def retrain_best(
    study_dir: str | Path,
    log: Callable[[str], None] | None = None,
    limit: int | str | None = None,
    epochs: int | None = None,
) -> dict[str, Any]:
    """Train the best configuration on train+val (val_split 0) into STUDY_DIR/best and return its summary.

    A search on a few images and epochs finds the settings; the model worth keeping is trained on more: `limit`
    (images per split, or "all") and `epochs` replace the study's for this training (None: the study's).
    A finished STUDY_DIR/best is reported as it is; an interrupted one is resumed."""
    from cnnlab.tune.study import open_study

    if isinstance(limit, str) and limit != "all":
        raise CnnlabError(f"limit must be a number of images or 'all', got {limit!r}")
    study, space, sdir = open_study(study_dir)
    best = ranked(study)
    if not best:
        raise CnnlabError(f"{sdir.path}: the study has no complete trial to retrain; run more trials")
    values, run = best[0].params, RunDir(sdir.best)
    network = sdir.best.resolve() / "net.toml"
    overrides: dict[str, Any] = {"val_split": 0}
    if limit is not None:
        overrides["limit"] = None if limit == "all" else limit
    if epochs is not None:
        overrides["epochs"] = epochs
    config = space.run_config(values, str(network), **overrides)
    if run.exists():
        same = (
            run.config() == config
            and network.is_file()
            and network.read_text() == tomli_w.dumps(space.network_spec(values))
        )
        if not same:
            raise CnnlabError(
                f"{run.path} holds an earlier best configuration (or other images or epochs); remove it to "
                f"retrain trial {best[0].number}"
            )
        if run.finished():
            return run.summary()
    write_network(space, values, sdir.best)
    return train(config, sdir.best, resume=run.has_checkpoint(), log=log, progress=False)
