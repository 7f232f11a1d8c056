"""cnnlab tune: a trial that trained all its epochs is complete (never pruned, never "stopped" by the budget it
spent on its last epoch); a pruned trial is recorded as pruned; a budget shapes Hyperband for the trials it
affords; a study directory keeps its study and storage; trials sample on the file's steps and log scales; a loss
objective is minimized and monitored; only this machine's dead workers lose their trials; and space files no trial
could use are refused when loaded.

Written for mutation round 5: each test kills a mutant of tune/ (objective, study, liveness, space, template) the
suite let live."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import warnings
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from cnnlab.errors import CnnlabError
from cnnlab.rundir import runs_below
from cnnlab.train import RunDir
from cnnlab.tune import load_space, tune
from cnnlab.tune.liveness import fail_orphans
from cnnlab.tune.objective import run_trial
from cnnlab.tune.storage import open_storage
from tests.conftest import write_toml
from tests.test_tune import DATA, SPACE, PruneAlways


def test_a_trial_that_trained_its_last_epoch_is_complete_whatever_the_pruner_says(tmp_path: Path) -> None:
    """Pruning after the last epoch would save nothing and lose a finished trial's result."""
    space = load_space(write_toml(tmp_path / "s.toml", SPACE.format(epochs=1)), data_dir=DATA)
    study = optuna.create_study(direction="maximize", pruner=PruneAlways())
    trial = study.ask()
    value = run_trial(trial, space, tmp_path / "t", log=lambda s: None)
    summary = RunDir(tmp_path / "t").summary()
    assert value == pytest.approx(summary["val_accuracy"]) and summary["stopped"] == "completed"
    assert study.get_trials()[0].intermediate_values == {1: pytest.approx(value)}


def test_a_budget_spent_on_a_trials_last_epoch_leaves_that_trial_completed(tmp_path: Path) -> None:
    space, out, lines = write_toml(tmp_path / "space.toml", SPACE.format(epochs=2)), tmp_path / "study", []
    study, _ = tune(space, out, trials=10, sampler="random", pruner="none", data_dir=DATA, budget=2, log=lines.append)
    [trial] = study.get_trials()
    assert (trial.state, len(trial.intermediate_values)) == (TrialState.COMPLETE, 2)
    assert RunDir(out / "trials" / "0000").summary()["stopped"] == "completed"
    [run] = runs_below(out / "trials")
    assert (run.state, run.done, run.epochs) == ("completed", 2, 2)
    assert "the study's budget of 2 epochs is spent; rerun with a larger --budget to go on" in lines


def test_a_budget_shapes_hyperband_for_the_trials_it_affords(tmp_path: Path) -> None:
    """20 trials of 3 epochs would get two brackets, but a budget of 4 epochs affords about 2 trials: one bracket."""
    space, lines = write_toml(tmp_path / "space.toml", SPACE.format(epochs=3)), []
    study, _ = tune(space, tmp_path / "study", trials=20, timeout=1e-9, data_dir=DATA, budget=4, log=lines.append)
    assert study.pruner._reduction_factor == 4 and study.get_trials() == []
    [said] = [line for line in lines if line.startswith("study ")]
    assert said.endswith("hyperband (1 bracket, reduction factor 4, for 2 trials) pruner")


STEPPED = """
[train]
data = "mnist"
epochs = 1

[params.width]
type = "int"
low = 4
high = 64
log = true

[params.filters]
type = "int"
low = 4
high = 16
step = 4

[params.rate]
type = "float"
low = 0.0
high = 0.5
step = 0.25

[params.lr]
type = "float"
low = 1e-4
high = 1e-1
log = true

[network]
input = [1, 28, 28]

[[network.layers]]
type = "conv"
filters = "$filters"
kernel = 3

[[network.layers]]
type = "flatten"

[[network.layers]]
type = "dropout"
rate = "$rate"

[[network.layers]]
type = "dense"
units = "$width"

[[network.layers]]
type = "dense"
units = "num_classes"
"""


def test_trials_sample_on_the_steps_and_log_scales_the_space_file_gives(tmp_path: Path) -> None:
    """A step the file gives is the grid every trial's value lies on; a log scale is what the sampler (and the
    study's importances) search on."""
    space = load_space(write_toml(tmp_path / "s.toml", STEPPED), data_dir=DATA)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(30):
        trial = study.ask()
        values = space.sample(trial)
        study.tell(trial, 0.0)
        assert values["filters"] in (4, 8, 12, 16) and values["rate"] in (0.0, 0.25, 0.5)
        assert 4 <= values["width"] <= 64 and 1e-4 <= values["lr"] <= 1e-1
    d = study.trials[0].distributions
    assert d["width"] == optuna.distributions.IntDistribution(4, 64, log=True)
    assert d["filters"] == optuna.distributions.IntDistribution(4, 16, step=4)
    assert d["rate"] == optuna.distributions.FloatDistribution(0.0, 0.5, step=0.25)
    assert d["lr"] == optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)
    assert len({t.params["lr"] for t in study.trials}) == 30  # a scale, not a grid


def test_a_trial_the_pruner_stops_is_recorded_as_pruned_not_failed(tmp_path: Path) -> None:
    """Pruned trials count towards --trials and show as pruned in the summary; a failed one would be retried."""
    space, out, lines = write_toml(tmp_path / "space.toml", SPACE.format(epochs=2)), tmp_path / "study", []
    study, _ = tune(space, out, trials=4, sampler="random", pruner="hyperband", data_dir=DATA, log=lines.append)
    states = {t.number: (t.state, len(t.intermediate_values)) for t in study.get_trials()}
    pruned = [n for n, (state, _) in states.items() if state == TrialState.PRUNED]
    assert len(states) == 4 and pruned, states
    assert all(s == (TrialState.PRUNED, 1) if n in pruned else s == (TrialState.COMPLETE, 2) for n, s in states.items())
    assert [f"trial {n}: pruned after epoch 1" for n in pruned] == [line for line in lines if "pruned after" in line]


def test_a_study_directory_keeps_its_study_and_storage(tmp_path: Path) -> None:
    space, out = write_toml(tmp_path / "space.toml", SPACE.format(epochs=1)), tmp_path / "study"
    tune(space, out, trials=1, timeout=1e-9, study_name="first", data_dir=DATA, log=lambda s: None)
    with pytest.raises(CnnlabError, match=rf"^{out} holds study 'first', not 'second'; use another --out$"):
        tune(space, out, trials=1, timeout=1e-9, study_name="second", data_dir=DATA, log=lambda s: None)
    other = f"sqlite:///{tmp_path / 'other.db'}"
    with pytest.raises(CnnlabError, match=rf"^{out} holds storage 'sqlite:///.*study.db', not '{other}'; use another"):
        tune(space, out, trials=1, timeout=1e-9, storage=other, data_dir=DATA, log=lambda s: None)
    assert tune(space, out, trials=1, timeout=1e-9, data_dir=DATA, log=lambda s: None)[0].study_name == "first"


def test_a_loss_objective_is_minimized_and_is_what_each_trial_monitors(tmp_path: Path) -> None:
    """[objective] metric = "val_loss" without a direction: the study minimizes it, and each trial's run keeps its
    best checkpoint by it, so the trial's value is its lowest validation loss."""
    text = SPACE.format(epochs=3).replace(
        "[params.conv_layers]", '[objective]\nmetric = "val_loss"\n\n[params.conv_layers]'
    )
    space, out = write_toml(tmp_path / "space.toml", text), tmp_path / "study"
    study, _ = tune(space, out, trials=1, sampler="random", pruner="none", data_dir=DATA, log=lambda s: None)
    assert study.direction == optuna.study.StudyDirection.MINIMIZE
    [trial] = study.get_trials()
    run = RunDir(out / "trials" / "0000")
    assert run.config().monitor == "val_loss"
    assert trial.value == pytest.approx(min(trial.intermediate_values.values()))
    assert trial.value == pytest.approx(min(r["val_loss"] for r in run.metrics()))


def test_only_this_machines_dead_workers_have_their_trials_failed(tmp_path: Path) -> None:
    """A worker starting a trial fails the running trials of dead processes on its own machine; a live worker's
    trial stays, and so does one whose worker runs on another machine (a pid there says nothing here: its heartbeat
    decides)."""
    study = optuna.create_study(storage=open_storage(f"sqlite:///{tmp_path / 'study.db'}"), study_name="s")
    gone = subprocess.Popen(["true"])
    gone.wait()
    owners = [(socket.gethostname(), gone.pid), (socket.gethostname(), os.getpid()), ("another-machine", gone.pid)]
    for host, pid in owners:
        with warnings.catch_warnings():  # Optuna expects optimize() to beat; cnnlab's workers beat themselves
            warnings.filterwarnings("ignore", message="Heartbeat of storage")
            trial = study.ask()
        trial.set_user_attr("host", host)
        trial.set_user_attr("pid", pid)
    assert fail_orphans(study) == [0]
    assert [t.state for t in study.get_trials()] == [TrialState.FAIL, TrialState.RUNNING, TrialState.RUNNING]


@pytest.mark.parametrize(
    "change,message",
    [
        (
            ("limit = 1000", "limit = 1000\nval_split = 0"),
            "[objective] metric val_accuracy needs a validation split, but [train] val_split is 0",
        ),
        (
            ('[params.lr]\ntype = "float"', '[params.lr]\nfor_each = "conv_layers"\ntype = "float"'),
            "params.lr: a per-layer parameter cannot be the training setting lr",
        ),
        (("limit = 1000", "limit = 1000\nlr = 0.01"), "params.lr: lr is set in [train]"),
        (  # the last choice, not only the first, is tried on the template
            ('kernel = 3, padding = "same"', 'kernel = "$kernel"'),
            "fails for conv_layers=2, filters_0=8, filters_1=8, lr=0.003, kernel=31",
        ),
        (("layers = [\n    {{", "layer = [\n    {{"), "a repeat entry has exactly two keys"),
    ],
    ids=[
        "no validation for a val metric",
        "a per-layer training setting",
        "a setting fixed and searched",
        "a kernel larger than the image",
        "a repeat entry's typo",
    ],
)
def test_a_space_no_trial_could_use_is_refused_when_loaded(tmp_path: Path, change, message) -> None:
    """Refused at once: otherwise every trial would fail (no validation to monitor) or silently ignore its sampled
    lr_0, lr_1 (a setting has one value per run), a setting both fixed and searched is ambiguous, a network
    that fails for a choice of the space is found before a trial draws it, and a repeat entry with a misspelt key
    is named rather than a traceback."""
    kernel = '\n[params.kernel]\ntype = "categorical"\nchoices = [3, 31]\n\n[network]'
    text = SPACE.format(epochs=1).replace("\n[network]", kernel, 1)
    assert change[0].replace("{{", "{") in text
    with pytest.raises(CnnlabError, match=re.escape(message)):
        text = text.replace(change[0].replace("{{", "{"), change[1].replace("{{", "{"))
        load_space(write_toml(tmp_path / "s.toml", text), data_dir=DATA)


def test_a_count_whose_low_is_0_can_sample_no_repeated_layers(tmp_path: Path) -> None:
    text = SPACE.format(epochs=1).replace("low = 1\nhigh = 2", "low = 0\nhigh = 2", 1)
    space = load_space(write_toml(tmp_path / "s.toml", text), data_dir=DATA)
    values = space.sample(optuna.trial.FixedTrial({"conv_layers": 0, "lr": 2e-3}))
    assert values == {"conv_layers": 0, "lr": 2e-3}
    assert [layer["type"] for layer in space.network_spec(values)["layers"]] == ["flatten", "dense"]


def test_the_study_samples_with_the_sampler_it_was_started_with(tmp_path: Path) -> None:
    space, out = write_toml(tmp_path / "space.toml", SPACE.format(epochs=1)), tmp_path / "study"
    study, _ = tune(space, out, trials=1, sampler="tpe", pruner="none", data_dir=DATA, log=lambda s: None)
    assert isinstance(study.sampler, optuna.samplers.TPESampler)
    study, _ = tune(space, out, trials=2, data_dir=DATA, log=lambda s: None)  # a rerun takes the study's
    assert isinstance(study.sampler, optuna.samplers.TPESampler) and len(study.get_trials()) == 2
