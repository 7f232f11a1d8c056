"""Study plots as PNG bytes (optimisation history, parameter importances), drawn with matplotlib.

Optuna's own plots need plotly; these need only matplotlib, and the HTML report embeds the bytes."""

from __future__ import annotations

import io
from pathlib import Path

import optuna
from matplotlib.figure import Figure
from optuna.trial import TrialState


def study_plots(study_dir: str | Path) -> dict[str, bytes]:
    """{"history": PNG, "importance": PNG} for the study in `study_dir`; importance needs two distinct results."""
    from cnnlab.tune.study import open_study

    study, space, _ = open_study(study_dir)
    plots = {"history": _png(history_figure(study, space.metric))}
    figure = importance_figure(study)
    if figure is not None:
        plots["importance"] = _png(figure)
    return plots


def write_plots(study_dir: str | Path) -> list[Path]:
    """Write each plot as STUDY_DIR/NAME.png; returns the paths."""
    out = []
    for name, data in study_plots(study_dir).items():
        path = Path(study_dir) / f"{name}.png"
        path.write_bytes(data)
        out.append(path)
    return out


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return buf.getvalue()


def history_figure(study: optuna.Study, metric: str) -> Figure:
    """Each complete trial's value, each pruned trial's last reported value, and the best so far."""
    fig = Figure(figsize=(7, 4))
    ax = fig.add_subplot()
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    pruned = [t for t in study.get_trials(deepcopy=False, states=(TrialState.PRUNED,)) if t.intermediate_values]
    ax.scatter([t.number for t in done], [t.value for t in done], label="complete", color="tab:blue", zorder=3)
    ax.scatter(
        [t.number for t in pruned],
        [t.intermediate_values[max(t.intermediate_values)] for t in pruned],
        label="pruned (last epoch)",
        color="tab:gray",
        marker="x",
        zorder=2,
    )
    better = max if study.direction == optuna.study.StudyDirection.MAXIMIZE else min
    xs, best = [], []
    for t in sorted(done, key=lambda t: t.number):
        xs.append(t.number)
        best.append(t.value if not best else better(best[-1], t.value))
    if xs:
        ax.step(xs, best, where="post", color="tab:red", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.set_title(f"optimisation history: {study.study_name}")
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    return fig


def importance_figure(study: optuna.Study) -> Figure | None:
    """fANOVA importances of the parameters every complete trial has; None with fewer than two distinct values."""
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len({t.value for t in done}) < 2:
        return None
    importances = optuna.importance.get_param_importances(
        study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0)
    )
    if not importances:
        return None
    names = list(importances)[::-1]
    fig = Figure(figsize=(7, 0.4 * len(names) + 1.2))
    ax = fig.add_subplot()
    ax.barh(names, [importances[n] for n in names], color="tab:blue")
    ax.set_xlabel("importance (fANOVA, share of the objective's variance)")
    ax.set_title(f"parameter importances: {study.study_name} ({len(done)} complete trials)")
    ax.grid(axis="x", alpha=0.3)
    return fig
