"""What a study found: the best trials as a table (like Keras Tuner's results_summary), and retraining the best."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import tomli_w
from optuna.trial import FrozenTrial, TrialState

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
    """Epochs spent over all trials (each reported epoch of a complete or pruned trial counts once)."""
    return sum(len(t.intermediate_values) for t in study.get_trials(deepcopy=False))


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def render_summary(study: optuna.Study, metric: str, url: str, top: int = 10) -> str:
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
    ]
    if not best:
        return "\n".join(lines + ["no complete trial yet"])
    lines.append(f"best {len(best)} of {counts[TrialState.COMPLETE]} complete trials:")
    rows = [("rank", "trial", metric, "epochs", "parameters")]
    rows += [
        (
            str(r),
            str(t.number),
            f"{t.value:.4f}",
            str(len(t.intermediate_values)),
            " ".join(f"{k}={_fmt(v)}" for k, v in t.params.items()),
        )
        for r, t in enumerate(best, start=1)
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row[:4], widths)) + "  " + row[4] for row in rows]
    return "\n".join(lines)


def retrain_best(study_dir: str | Path, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train the best configuration on train+val (val_split 0) into STUDY_DIR/best and return its summary.

    A finished STUDY_DIR/best is reported as it is; an interrupted one is resumed."""
    from cnnlab.tune.study import open_study

    study, space, sdir = open_study(study_dir)
    best = ranked(study)
    if not best:
        raise CnnlabError(f"{sdir.path}: the study has no complete trial to retrain; run more trials")
    values, run = best[0].params, RunDir(sdir.best)
    network = sdir.best.resolve() / "net.toml"
    config = space.run_config(values, str(network), val_split=0)
    if run.exists():
        same = (
            run.config() == config
            and network.is_file()
            and network.read_text() == tomli_w.dumps(space.network_spec(values))
        )
        if not same:
            raise CnnlabError(
                f"{run.path} holds an earlier best configuration; remove it to retrain trial {best[0].number}"
            )
        if run.finished():
            return run.summary()
    write_network(space, values, sdir.best)
    return train(config, sdir.best, resume=run.has_checkpoint(), log=log, progress=False)
