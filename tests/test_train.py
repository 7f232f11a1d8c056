"""The training engine on real data (scikit-learn's digits): resume to the bit, diagnosis, eval, predict, bad input."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from dataclasses import replace

import pytest
import torch

import cnnlab.train.precision as precision_module
from cnnlab.cli import main
from cnnlab.errors import CnnlabError
from cnnlab.rundir import open_run
from cnnlab.train import RunConfig, RunDir, train
from cnnlab.train.inference import evaluate_run, load_run, predict
from tests.conftest import cli_as_terminal, shared_dataset, write_toml

NET = """
input = [1, 16, 16]
[[layers]]
type = "conv"
filters = 8
kernel = 3
padding = "same"
activation = "relu"
[[layers]]
type = "maxpool"
size = 2
[[layers]]
type = "flatten"
[[layers]]
type = "dropout"
rate = 0.3
[[layers]]
type = "dense"
units = "num_classes"
"""


def quiet(_: str) -> None:
    pass


@pytest.fixture
def net(tmp_path) -> str:
    return write_toml(tmp_path / "net.toml", NET)


def config(net: str, **kw) -> RunConfig:
    base = dict(
        model=net,
        data="digits",
        epochs=4,
        batch_size=32,
        augment=["crop", "flip"],
        seed=3,
        optimizer="sgd",
        lr=0.05,
        schedule="cosine",
    )
    return RunConfig(**{**base, **kw})


def test_a_step_updates_everything_once_and_a_non_finite_loss_updates_nothing(net):
    """The engine's step (the one bench/compute_floor.py times): a finite batch moves the weights, the optimiser and
    the schedule by one update and returns the gradient norm; a batch whose loss is NaN returns no norm and leaves
    the weights, the optimiser's state and the schedule as they were."""
    from cnnlab.train.engine import train_step
    from cnnlab.train.setup import setup

    s = setup(config(net, ema=0.9), log=quiet)
    x, y = next(iter(s.train_loader))
    before = {k: v.clone() for k, v in s.model.state_dict().items()}
    loss, out, norm = train_step(s, x, y)
    assert norm is not None and norm.item() > 0 and torch.isfinite(loss) and out.shape == (len(y), 10)
    assert s.scheduler.last_epoch == 1 and any(not torch.equal(before[k], v) for k, v in s.model.state_dict().items())
    assert s.ema is not None and int(s.ema.averaged.n_averaged) == 1
    after = {k: v.clone() for k, v in s.model.state_dict().items()}
    moments = [t.clone() for st in s.optimizer.state.values() for t in st.values() if torch.is_tensor(t)]
    loss, _, norm = train_step(s, torch.full_like(x, float("nan")), y)
    assert (
        norm is None
        and not torch.isfinite(loss)
        and s.scheduler.last_epoch == 1
        and int(s.ema.averaged.n_averaged) == 1
    )
    assert all(torch.equal(after[k], v) for k, v in s.model.state_dict().items())
    now = [t for st in s.optimizer.state.values() for t in st.values() if torch.is_tensor(t)]
    assert len(now) == len(moments) and all(torch.equal(a, b) for a, b in zip(moments, now, strict=True))


def test_stop_and_resume_gives_identical_weights(tmp_path, net):
    full = train(config(net), tmp_path / "full", log=quiet)
    assert train(config(net), tmp_path / "split", log=quiet, stop_after=2) is None
    assert not (tmp_path / "split" / "summary.json").exists()
    resumed = train(config(net), tmp_path / "split", resume=True, log=quiet)
    a = open_run(tmp_path / "full", "last").weights
    b = open_run(tmp_path / "split", "last").weights
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert full["test_accuracy"] == resumed["test_accuracy"] and resumed["epochs_run"] == 4
    assert len(RunDir(tmp_path / "split").metrics()) == 4


def test_an_auto_run_keeps_the_precision_it_started_in_when_resumed_and_evaluated(tmp_path, net, monkeypatch):
    """--precision auto is a timed probe, which a busy machine can flip between two processes: the resumed half
    must train in the precision the run began in, or it is not the run that did not stop, and `eval` must score in
    it, or it does not report the run's test accuracy. The probe's answer is set here (which answer a machine gives
    is not what is tested; what a resume and an evaluation do with it is), and after the first half any probe fails
    the test: the record answers, without the 0.2 s probe."""

    monkeypatch.setattr(precision_module, "resolve", lambda asked, device: ("bf16", "probe: bf16"))
    full = train(config(net, precision="auto"), tmp_path / "full", log=quiet)
    assert train(config(net, precision="auto"), tmp_path / "split", log=quiet, stop_after=2) is None

    def no_probe():
        raise AssertionError("--precision auto probed the CPU again instead of reading the run's record")

    monkeypatch.undo()  # the real resolve from here on, cache emptied, failing wherever it would ask the CPU
    monkeypatch.setattr(precision_module, "cpu_flags", no_probe)
    precision_module.resolve.cache_clear()
    resumed = train(config(net, precision="auto"), tmp_path / "split", resume=True, log=quiet)
    a = open_run(tmp_path / "full", "last").weights
    b = open_run(tmp_path / "split", "last").weights
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert full["precision"] == resumed["precision"] == "bf16"
    scored = evaluate_run(tmp_path / "split")
    assert scored["precision"] == "bf16" and scored["test_accuracy"] == resumed["test_accuracy"]


def test_run_directory_contract(tmp_path, net):
    s = train(config(net, epochs=2), tmp_path / "run", log=quiet)
    run = tmp_path / "run"
    manifest = json.loads((run / "checkpoints" / "manifest.json").read_text())
    last = f"checkpoints/{manifest['last']['dir']}"
    for f in (
        "config.toml",
        "metrics.csv",
        "summary.json",
        f"{last}/weights.safetensors",
        f"{last}/meta.json",
        f"{last}/state.pt",
        f"{last}/metrics.csv",
        f"checkpoints/{manifest['best']['dir']}/weights.safetensors",
    ):
        assert (run / f).is_file(), f
    assert manifest["last"]["epoch"] == 2 and set(manifest["last"]["files"]) == {
        "weights.safetensors",
        "state.pt",
        "meta.json",
        "metrics.csv",
    }
    assert (run / "metrics.csv").read_text() == (run / last / "metrics.csv").read_text()
    summary = json.loads((run / "summary.json").read_text())
    for key in (
        "test_accuracy",
        "train_accuracy",
        "val_accuracy",
        "train_seconds",
        "params",
        "epochs_run",
        "train_size",
        "val_size",
        "test_size",
    ):
        assert key in summary
    assert summary["train_size"] + summary["val_size"] == 1797 - 359 and summary["test_size"] == 359
    assert RunConfig.from_toml(run / "config.toml") == config(net, epochs=2).validate()  # as resolved
    assert 0 <= s["test_accuracy"] <= 1
    state = torch.load(run / last / "state.pt", weights_only=True)
    assert {"optimizer", "scheduler", "loader", "torch_rng", "engine"} <= set(state)


def test_learns_digits_then_eval_and_predict(tmp_path):
    s = train(RunConfig(model="mnist-cnn", data="digits", epochs=4, seed=0), tmp_path / "cnn", log=quiet)
    assert s["test_accuracy"] > 0.85
    r = evaluate_run(tmp_path / "cnn")
    assert abs(r["test_accuracy"] - s["test_accuracy"]) < 1e-9
    assert sum(map(sum, r["confusion"])) == 359 and len(r["per_class_accuracy"]) == 10
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    img = (digits.images[-1] * 255 / 16).astype("uint8")
    Image.fromarray(img, "L").save(tmp_path / "digit.png")
    out = predict(tmp_path / "cnn", [tmp_path / "digit.png"], topk=3)
    assert len(out[0]["top"]) == 3 and out[0]["top"][0][0] == str(digits.target[-1])


def test_a_run_at_chance_whose_loss_dips_is_not_said_to_have_recovered(tmp_path):
    """20 digits, validation on 10 of them at chance all along: the training loss dipped below 97% of ln 10 now and
    then, and "stuck at chance: no longer so" was logged seven times in 60 epochs (the finding's return never).
    Only an accuracy above chance ends it; a finding absent for one epoch is not yet gone."""
    config = RunConfig(model="mlp", data="digits", input=[1, 8, 8], limit=20, val_split=0.5, lr=0.03,
                       augment=["crop"], epochs=60)  # fmt: skip
    lines: list[str] = []
    s = train(config, tmp_path / "run", log=lines.append)
    assert s["val_accuracy"] < 0.38  # within noise of chance on 10 images: 10% + 3 standard errors
    assert not [line for line in lines if "no longer so" in line or "back at" in line]
    assert s["diagnosis"][0].startswith("stuck at chance: accuracy"), s["diagnosis"]


def test_zero_init_is_diagnosed_as_stuck_at_chance(tmp_path):
    s = train(
        RunConfig(model="mlp", data="digits", init="zeros", optimizer="sgd", lr=0.01, epochs=3, input=[1, 8, 8]),
        tmp_path / "zeros",
        log=quiet,
    )
    assert any(d.startswith("stuck at chance") for d in s["diagnosis"])
    assert s["test_accuracy"] < 0.2


def test_a_run_stuck_at_first_that_then_learns_is_not_summarised_as_stuck(tmp_path):
    """Three epochs at lr 1e-5 (at chance, diagnosed after the second), then lr 0.1: the run learns to 90%+ but
    its summary said "stuck at chance" as if it still were. The finding stays, dated with the last epoch it held,
    and a run stopped after the change and resumed says the same as one that was not."""
    config = RunConfig(model="mlp", data="digits", input=[1, 8, 8], optimizer="sgd", lr=1e-5, schedule="step",
                       step_size=3, gamma=1e4, epochs=5)  # fmt: skip
    lines: list[str] = []
    s = train(config, tmp_path / "whole", log=lines.append)
    assert s["val_accuracy"] > 0.8, s
    [stuck] = s["diagnosis"]
    assert stuck.startswith("stuck at chance (until epoch 2): accuracy"), stuck
    assert "diagnosis: stuck at chance: no longer so since epoch 3" in lines  # said once absent two epochs
    assert train(config, tmp_path / "split", log=quiet, stop_after=3) is None
    assert train(config, tmp_path / "split", resume=True, log=quiet)["diagnosis"] == s["diagnosis"]


def test_an_lr_jump_is_not_memorising_and_shuffled_labels_are(tmp_path):
    """A step schedule that raises the lr 100x at epoch 3's last update (lr 0.05 to 5): that epoch's training
    accuracy, counted before the jump, is 93.6% and its validation, scored after it, at chance; the run was said to
    be memorising. Digits with shuffled labels, which a net does learn by heart, still are (at epoch 33), and
    overfit throughout once found: "overfitting" was logged gone and back twice, where the rising validation loss
    dipped."""
    jump = RunConfig(model="mlp", data="digits", input=[1, 8, 8], optimizer="sgd", lr=0.05, schedule="step",
                     step_size=3, gamma=100, epochs=4)  # fmt: skip
    s = train(jump, tmp_path / "jump", log=quiet)
    history = RunDir(tmp_path / "jump").metrics()
    assert history[2]["train_accuracy"] > 0.9 and history[2]["val_accuracy"] < 0.15, history  # the transient
    assert not [d for d in s["diagnosis"] if d.startswith("memorising")], s["diagnosis"]
    from PIL import Image
    from sklearn.datasets import load_digits

    digits, folder = load_digits(), tmp_path / "shuffled"
    (folder / "img").mkdir(parents=True)
    labels = torch.randperm(len(digits.target), generator=torch.Generator().manual_seed(0))
    for i, image in enumerate(digits.images):
        Image.fromarray((image * 16).clip(0, 255).astype("uint8"), "L").save(folder / "img" / f"{i}.png")
    lines = [f"img/{i}.png,{digits.target[j]}" for i, j in enumerate(labels.tolist())]
    (folder / "labels.csv").write_text("\n".join(lines) + "\n")
    data = {"data": f"folder:{folder}", "data_dir": str(tmp_path / "data")}  # decoded images cached in tmp_path
    shuffled = RunConfig(model="mlp", **data, input=[1, 8, 8], optimizer="adam", lr=0.003, epochs=40)
    lines = []
    s = train(shuffled, tmp_path / "shuffled-run", log=lines.append)
    assert [d for d in s["diagnosis"] if d.startswith("memorising: training accuracy 9")], s["diagnosis"]
    flickers = ("diagnosis: memorising: no longer", "diagnosis: overfitting: no longer", "diagnosis: overfitting: back")
    assert not [line for line in lines if line.startswith(flickers)], lines
    assert [d for d in s["diagnosis"] if d.startswith("overfitting: the validation loss has risen")], s["diagnosis"]


@pytest.mark.parametrize("every", [1, 3, 1000], ids=["read-each-step", "read-every-3", "read-at-epoch-end"])
def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path, net, monkeypatch, every):
    """A sane epoch 1, then the lr raised to 1e6 after it: epoch 2 goes non-finite, and the run ends on epoch 1's
    checkpoint, untouched, with the model holding its weights again. Also when the loss is read only every few
    steps or at the epoch's end, as on a GPU (engine.loss_read_every), where the steps in between are taken."""
    from cnnlab.train import engine
    from cnnlab.train.callbacks import Callback

    monkeypatch.setattr(engine, "loss_read_every", lambda device: every)

    class RaiseLrAfterEpoch1(Callback):
        def on_setup(self, setup) -> None:
            self.setup = setup

        def on_epoch_end(self, row) -> None:
            if row["epoch"] == 1:  # copied from the live model, not read back through the checkpoint code
                self.epoch1 = {k: v.detach().clone() for k, v in self.setup.model.state_dict().items()}
                sched = self.setup.scheduler
                sched.base_lrs = [1e6] * len(sched.base_lrs)
                for g in self.setup.optimizer.param_groups:
                    g["lr"] = 1e6
            return None

    cb = RaiseLrAfterEpoch1()
    out = tmp_path / "nan"
    s = train(config(net, augment=None, epochs=3), out, callbacks=[cb], log=quiet)
    assert s["stopped"] == "non-finite loss" and any("loss became" in d for d in s["diagnosis"])
    found = next(d for d in s["diagnosis"] if "loss became" in d)
    assert float(found.split(" at lr ")[1].split(":")[0]) > 1e3, found  # it blew up at the raised lr (cosine-scaled)
    epoch1 = cb.epoch1
    assert all(torch.isfinite(v).all() for v in epoch1.values() if v.is_floating_point())
    for which in ("last", "best"):
        run = open_run(out, which)
        assert run.checkpoint.epoch == 1 and [r["epoch"] for r in run.metrics] == [1]
        assert run.weights.keys() == epoch1.keys()
        for k, v in epoch1.items():
            assert torch.equal(run.weights[k], v), (which, k)
    live = cb.setup.model.state_dict()  # and the model ends the run holding them again
    assert all(torch.equal(live[k], v) for k, v in epoch1.items())
    assert RunDir(out).checkpoints.stopped() == "non-finite loss"
    resumed = train(config(net, augment=None, epochs=3), out, resume=True, log=quiet)  # finished: only its test
    assert resumed["diagnosis"] == s["diagnosis"] and resumed["stopped"] == "non-finite loss"  # said again


def test_a_loss_that_goes_non_finite_in_epoch_1_keeps_and_tests_nothing(tmp_path, net):
    """Before any epoch ends there are no good weights: the summary says so and reports no test accuracy (the
    diverged weights' accuracy would be the share of whichever class argmax of NaN picks)."""
    out = tmp_path / "nan"
    s = train(config(net, lr=1e6, augment=None, schedule="constant"), out, log=quiet)
    assert s["stopped"] == "non-finite loss" and s["epochs_run"] == 0
    assert s["test_accuracy"] is None and s["test_loss"] is None
    assert s["diagnosis"][0].startswith("loss became nan at lr 1e+06: training stopped and no epoch had ended, so no")
    assert RunDir(out).checkpoints.stopped() is None and open_run_fails(out)


@pytest.mark.parametrize("step_size", [3, 1])
def test_an_epoch_whose_validation_loss_is_nan_stops_the_run_on_the_last_good_checkpoint(tmp_path, step_size):
    """A step schedule that multiplies the lr by 1e20 at an epoch's last update (lr 0.05 to 5e18): that epoch's
    training loss, counted before the update, is finite, but the weights it leaves overflow and score a NaN
    validation loss. That epoch was checkpointed as the last (and a run ending there completed on it); it now stops
    the run as a non-finite training loss does, on the epoch before, or with nothing kept when it was the first."""
    config = RunConfig(model="mlp", data="digits", input=[1, 8, 8], optimizer="sgd", lr=0.05, schedule="step",
                       step_size=step_size, gamma=1e20, epochs=3)  # fmt: skip
    out = tmp_path / "run"
    lines: list[str] = []
    s = train(config, out, log=lines.append)
    bad = next(line for line in lines if line.startswith(f"epoch {step_size}/3: "))
    assert " val_loss nan " in bad and " lr 0.05 to 5e+18 " in bad, lines
    assert s["stopped"] == "non-finite loss" and s["epochs_run"] == step_size - 1, s
    found = f"the validation loss of epoch {step_size} became nan at lr 5e+18: training stopped and "
    assert len(s["diagnosis"]) == 1 and s["diagnosis"][0].startswith(found), s["diagnosis"]  # no memorising
    if step_size == 1:
        assert "no earlier epoch had ended, so no weights were kept" in s["diagnosis"][0]
        assert s["test_accuracy"] is None and RunDir(out).checkpoints.stopped() is None and open_run_fails(out)
        return
    assert "the last good checkpoint was kept" in s["diagnosis"][0] and s["test_accuracy"] > 0.8
    assert RunDir(out).checkpoints.stopped() == "non-finite loss"
    for which in ("last", "best"):
        run = open_run(out, which)
        assert run.checkpoint.epoch == 2 and [r["epoch"] for r in run.metrics] == [1, 2]
        assert all(torch.isfinite(w).all() for w in run.weights.values())
    assert evaluate_run(out)["test_accuracy"] == s["test_accuracy"]
    assert main(["train", "--out", str(out), "--resume", "--no-progress"]) == 0  # finished: shows its summary
    assert open_run(out, "last").checkpoint.epoch == 2 and RunDir(out).summary()["diagnosis"] == s["diagnosis"]


def open_run_fails(out) -> bool:
    """Every command that opens the run (eval, predict, export, gradcam, --init-from) gets this one line."""
    with pytest.raises(CnnlabError) as e:
        open_run(out, "last")
    assert str(e.value) == (
        f"{out} kept no weights: it stopped (non-finite loss) before any epoch ended with weights fit to keep; train "
        "it again with other settings (its summary.json says why, e.g. a lower --lr)"
    )
    return True


def test_resume_with_other_settings_is_refused_and_nothing_is_damaged(tmp_path, net):
    train(config(net, epochs=1), tmp_path / "run", log=quiet)
    before = {p: p.read_bytes() for p in (tmp_path / "run").rglob("*") if p.is_file()}
    with pytest.raises(CnnlabError, match="lr is 0.1 but the run"):
        train(config(net, lr=0.1, epochs=2), tmp_path / "run", resume=True, log=quiet)
    with pytest.raises(CnnlabError, match="already holds a run"):
        train(config(net, epochs=2), tmp_path / "run", log=quiet)
    after = {p: p.read_bytes() for p in (tmp_path / "run").rglob("*") if p.is_file()}
    assert before == after


@pytest.mark.parametrize(
    "kw, text",
    [
        (dict(lr=float("nan")), "lr must be a positive number"),
        (dict(lr=-1.0), "lr must be a positive number"),
        (dict(epochs=0), "epochs must be a positive integer"),
        (dict(batch_size=2.5), "batch_size must be a positive integer"),
        (dict(optimizer="rmsprop"), "optimizer 'rmsprop' is not one of"),
        (dict(data="imagenet"), "unknown dataset 'imagenet'"),
        (dict(model="resnet-18"), "unknown model 'resnet-18'"),
    ],
)
def test_bad_settings_are_one_line_errors(tmp_path, net, kw, text):
    """From Python, named by the argument (the CLI's flags are tested below)."""
    with pytest.raises(CnnlabError) as e:
        train(config(net, **kw), tmp_path / "bad", log=quiet)
    assert str(e.value).startswith(text) and "\n" not in str(e.value)


def test_settings_not_in_a_runconfig_are_one_line_saying_how_to_make_one(tmp_path):
    """train({"model": "mlp", ...}, out) or train("mlp", out) from a notebook was an AttributeError ('dict' object has
    no attribute 'validate'), lr_find's too; nothing is written."""
    from cnnlab.train.lrfind import lr_find

    settings = {"model": "mlp", "data": "digits"}
    for call, said in (
        (lambda: train(settings, tmp_path / "a"), "train takes a RunConfig (from cnnlab.train import RunConfig), got "
         "dict; give RunConfig(**settings)"),
        (lambda: train("mlp", tmp_path / "a"), "train takes a RunConfig (from cnnlab.train import RunConfig), got "
         "str; give RunConfig(model=..., data=...)"),
        (lambda: lr_find(settings), "lr_find takes a RunConfig"),
    ):  # fmt: skip
        with pytest.raises(CnnlabError) as e:
            call()
        assert str(e.value).startswith(said)
    assert not (tmp_path / "a").exists()


def test_cli_train_eval_and_bad_input(tmp_path, net, capsys):
    """Training and evaluating in real processes; the bad inputs in-process (each fresh interpreter costs seconds
    of importing PyTorch, and tests/test_bad_input.py shows real processes print the same one line)."""
    cli = [sys.executable, "-m", "cnnlab.cli"]
    exp = write_toml(tmp_path / "exp.toml", f'model = "{net}"\ndata = "digits"\nepochs = 1\n')
    r = subprocess.run(
        [*cli, "train", exp, "--epochs", "2", "--out", str(tmp_path / "cli")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert "test_accuracy" in r.stdout and "epoch 2/2" in r.stderr
    r = subprocess.run([*cli, "eval", str(tmp_path / "cli")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "confusion matrix" in r.stdout
    for args, text in (
        (["train", "--model", net, "--lr", "abc"], "--lr takes a number"),
        (["train", "--model", net, "--lr", "0", "--out", str(tmp_path / "x")], "--lr must be a positive"),
        (["eval", str(tmp_path)], "not a cnnlab run directory"),
        (["predict", str(tmp_path / "cli"), str(tmp_path / "exp.toml")], "not a readable image"),
    ):
        code, _, err = cli_as_terminal(args, capsys)
        assert code == 2 and len(err.splitlines()) == 1 and text in err, (args, err)
    from PIL import Image

    Image.new("L", (8, 8), 128).save(tmp_path / "grey.png")
    good, bad = str(tmp_path / "grey.png"), str(tmp_path / "exp.toml")
    code, out, err = cli_as_terminal(["predict", str(tmp_path / "cli"), good, bad, good], capsys)
    assert code == 2 and [line.split(": ")[0] for line in out.splitlines()] == [good, good]  # the others still come
    assert err.count("\n") == 1 and "cnnlab: error: 1 of 3 images not predicted: " in err and "not a readable" in err


def test_lenet5_on_real_mnist_padded_to_32(tmp_path, monkeypatch):
    from tests.conftest import SHARED

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    s = train(
        RunConfig(
            model="lenet5",
            data="mnist",
            data_dir=str(SHARED / "datasets"),
            limit=3000,
            epochs=2,
            batch_size=32,
            lr=2e-3,
        ),
        tmp_path / "lenet5",
        log=quiet,
    )
    assert s["input_shape"] == [1, 32, 32] and s["train_size"] == 3000 and s["test_size"] == 3000
    assert s["params"] == 60_000 and s["test_accuracy"] > 0.85
    meta = open_run(tmp_path / "lenet5").meta
    assert meta["adapt"] == {"source_shape": [1, 28, 28], "mode": "pad"}


def test_early_stopping_by_patience_and_by_generalisation_loss(tmp_path, net):
    s = train(
        RunConfig(model="mlp", data="digits", init="zeros", optimizer="sgd", lr=0.01, epochs=8, patience=2),
        tmp_path / "patience",
        log=quiet,
    )
    assert s["stopped"].startswith("early stop: val_accuracy did not improve for 2 epochs") and s["epochs_run"] < 8
    s = train(
        config(net, epochs=12, lr=0.5, schedule="constant", augment=None, gl_alpha=0.5), tmp_path / "gl", log=quiet
    )
    assert s["stopped"].startswith("early stop: generalisation loss GL") and s["epochs_run"] < 12
    rows = RunDir(tmp_path / "gl").metrics()
    e_opt = min(r["val_loss"] for r in rows)
    assert 100 * (rows[-1]["val_loss"] / e_opt - 1) > 0.5


@pytest.mark.parametrize("flag", ["--patience", "--gl-alpha"])
def test_early_stopping_is_switched_off_on_resume_by_off_and_the_run_ends_as_one_without_it(
    tmp_path, net, capsys, flag
):
    """A run started with --patience (or --gl-alpha) could not resume without it: the flag left out keeps the
    run's value, and 0 is refused (Keras' patience=0 stops at the first epoch without improvement). `off` switches
    it off, recorded as unset, and the run ends with the weights of a run that never had the rule, to the bit."""
    setting = flag[2:].replace("-", "_")
    if setting == "patience":  # as test_early_stopping_by_patience_and_by_generalisation_loss, which stop early
        base = RunConfig(model="mlp", data="digits", init="zeros", optimizer="sgd", lr=0.01, epochs=8)
    else:
        base = config(net, epochs=12, lr=0.5, schedule="constant", augment=None)
    full = train(base, tmp_path / "full", log=quiet)
    out = tmp_path / "split"
    train(replace(base, **{setting: 2 if setting == "patience" else 0.5}), out, log=quiet, stop_after=1)
    code, _, err = cli_as_terminal(["train", "--out", str(out), "--resume", flag, "off", "--no-progress"], capsys)
    assert code == 0, err
    resumed = RunDir(out).summary()
    assert resumed["stopped"] == "completed" and resumed["epochs_run"] == base.epochs == full["epochs_run"]
    assert getattr(RunDir(out).config(), setting) is None and setting not in (out / "config.toml").read_text()
    a, b = open_run(tmp_path / "full", "last").weights, open_run(out, "last").weights
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert resumed["test_accuracy"] == full["test_accuracy"]
    code, text, err = cli_as_terminal(["train", "--out", str(out), "--resume", flag, "off"], capsys)
    assert code == 0 and "stopped: completed" in text, err  # finished: the same settings show its summary
    code, _, err = cli_as_terminal(["train", "--out", str(out), "--resume", flag, "0"], capsys)
    kind = "integer" if setting == "patience" else "number"
    assert code == 2 and f"cnnlab: error: {flag} must be a positive {kind}, or off, got 0" in err, err


def same_run(run, reference) -> None:
    """`run` ended as `reference` did: last and best weights to the bit, metrics (but the clock), stop and test."""
    for which in ("last", "best"):
        a, b = open_run(run, which), open_run(reference, which)
        assert a.checkpoint.epoch == b.checkpoint.epoch and a.weights.keys() == b.weights.keys(), which
        assert all(torch.equal(a.weights[k], b.weights[k]) for k in a.weights), which
    clock = [{k: v for k, v in row.items() if k != "seconds"} for row in RunDir(run).metrics()]
    assert clock == [{k: v for k, v in row.items() if k != "seconds"} for row in RunDir(reference).metrics()]
    got, want = RunDir(run).summary(), RunDir(reference).summary()
    keys = ("stopped", "epochs_run", "best_epoch", "test_accuracy", "test_loss", "val_accuracy")
    assert {k: got[k] for k in keys} == {k: want[k] for k in keys}


@pytest.mark.parametrize(("flag", "value"), [("--patience", "off"), ("--patience", "3"), ("--gl-alpha", "off")])
def test_a_run_early_stopping_ended_goes_on_when_resumed_with_the_rule_off_or_loosened(
    tmp_path, net, capsys, flag, value
):
    """The Keras user's fit() again: a run a stop rule ended was refused any new rule ("stopped for good"). Its last
    checkpoint is the one a run without the stop has at that epoch (optimiser, schedule, data order and RNG; no
    best weights restored over it), so `--resume --patience off` (or a larger one, or --gl-alpha off) goes on from
    there and ends as a run that had the new rule from the start: off, to its last epoch; patience 3 (the count of
    epochs without improvement goes on), stopped where such a run stops, by the same words."""
    setting = flag[2:].replace("-", "_")
    if setting == "patience":  # as test_early_stopping_by_patience_and_by_generalisation_loss: 2 stops at epoch 4
        base = RunConfig(model="mlp", data="digits", init="zeros", optimizer="sgd", lr=0.01, epochs=8, patience=2)
    else:
        base = config(net, epochs=12, lr=0.5, schedule="constant", augment=None, gl_alpha=0.5)
    new = None if value == "off" else int(value)
    train(replace(base, **{setting: new}), tmp_path / "full", log=quiet)
    out = tmp_path / "stopped"
    stopped = train(base, out, log=quiet)
    assert stopped["stopped"].startswith("early stop: ") and stopped["epochs_run"] < base.epochs
    code, _, err = cli_as_terminal(["train", "--out", str(out), "--resume", flag, value, "--no-progress"], capsys)
    assert code == 0, err
    same_run(out, tmp_path / "full")
    assert getattr(RunDir(out).config(), setting) == new
    if new is not None:  # the larger patience stopped it later, where a run started with it stops
        assert RunDir(out).summary()["epochs_run"] == 5 and RunDir(out).checkpoints.stopped().startswith("early stop")
    else:
        assert RunDir(out).summary()["stopped"] == "completed" and RunDir(out).checkpoints.stopped() is None


def test_a_run_stopped_by_patience_switched_off_stops_by_gl_where_one_without_patience_does():
    """The epoch patience ended a run at folds its validation loss into E_opt, as every epoch of a run without
    patience does: left out, a resume with --patience off and --gl-alpha kept measured GL against a higher E_opt,
    and went on past the epoch where the run without patience stopped."""
    from cnnlab.train.engine import State, stop_rules

    rows = [{"epoch": e, "val_accuracy": 0.5, "val_loss": v} for e, v in enumerate([1.0, 0.8, 1.25], 1)]
    both, state = RunConfig(patience=1, gl_alpha=50), State()
    assert [stop_rules(both, state, row, "val_accuracy")[1] for row in rows[:2]][1].startswith("early stop: val_acc")
    resumed = stop_rules(replace(both, patience=None), state, rows[2], "val_accuracy")
    alone = State()
    without = [stop_rules(RunConfig(gl_alpha=50), alone, row, "val_accuracy") for row in rows]
    assert resumed == without[2] == (False, "early stop: generalisation loss GL = 56.2 > 50")
    assert state == alone


def written_before_e_opt_was_kept(run) -> None:
    """Make the last checkpoint of `run` (trained without --gl-alpha) one written before 2026-12-06, which kept no
    E_opt without that flag: its loop state's e_opt None, the manifest's digest of the state file renewed."""
    from cnnlab.rundir.checkpoint import MANIFEST, STATE, _digest

    folder = run / "checkpoints"
    manifest = json.loads((folder / MANIFEST).read_text())
    path = folder / manifest["last"]["dir"] / STATE
    state = torch.load(path, weights_only=True)
    state["engine"]["e_opt"] = None
    torch.save(state, path)
    for which in ("last", "best"):
        if manifest.get(which) and manifest[which]["dir"] == manifest["last"]["dir"]:
            manifest[which]["files"][STATE] = _digest(path)
    (folder / MANIFEST).write_text(json.dumps(manifest))


@pytest.mark.parametrize("before", [False, True], ids=["kept", "written-before-2026-12-06"])
def test_gl_alpha_added_on_resume_measures_gl_from_the_first_epoch(tmp_path, net, capsys, before):
    """--gl-alpha may be added on resume, but E_opt (the lowest validation loss) was kept only with the flag set, so
    the resumed run measured GL from the resume on: this net's lowest loss is its first epoch's, and a run resumed
    after it went on to epoch 3, where a run with the flag from the start stops after epoch 2. E_opt is kept by
    every run now, and read from the metrics of a checkpoint that lacks it."""
    base = config(net, epochs=12, lr=0.5, schedule="constant", augment=None)
    full = train(replace(base, gl_alpha=0.5), tmp_path / "full", log=quiet)
    assert full["stopped"].startswith("early stop: generalisation loss") and full["epochs_run"] == 2
    out = tmp_path / "added"
    train(base, out, log=quiet, stop_after=1)
    if before:
        written_before_e_opt_was_kept(out)
    code, _, err = cli_as_terminal(
        ["train", "--out", str(out), "--resume", "--gl-alpha", "0.5", "--no-progress"], capsys
    )
    assert code == 0, err
    same_run(out, tmp_path / "full")


@pytest.mark.parametrize("before", [False, True], ids=["kept", "written-before-2026-12-06"])
def test_gl_alpha_that_would_stop_a_run_patience_ended_there_again_is_refused(tmp_path, net, capsys, before):
    """Patience 1 ends this run after epoch 2, whose validation loss is 1% over epoch 1's: `--patience off
    --gl-alpha 0.5` would stop it there again, so the resume is refused in one line, E_opt read from the metrics
    where the checkpoint kept none (before, it went on, and stopped after epoch 3 at the next GL)."""
    out = tmp_path / "patience"
    run = train(config(net, epochs=12, lr=0.5, schedule="constant", augment=None, patience=1), out, log=quiet)
    assert run["stopped"].startswith("early stop: val_accuracy") and run["epochs_run"] == 2
    if before:
        written_before_e_opt_was_kept(out)
    argv = ["train", "--out", str(out), "--resume", "--patience", "off", "--gl-alpha", "0.5", "--no-progress"]
    code, _, err = cli_as_terminal(argv, capsys)
    assert code == 2 and "and --gl-alpha 0.5 would stop it there again" in err, err
    assert RunDir(out).summary()["epochs_run"] == 2 and RunDir(out).config().patience == 1


def test_lr_find_suggests_a_learning_rate_inside_the_sweep():
    from cnnlab.train.lrfind import lr_find

    r = lr_find(RunConfig(model="mnist-cnn", data="digits", seed=0), start=1e-6, end=1e3, steps=90)
    # measured for mnist-cnn on digits (seeds 0-2, fused SGD): suggestion 0.0055-0.014, lowest loss at 0.022-0.057,
    # the sweep stopping at lr 0.23-123 after 54-81 of the 90 steps (past the blow-up the loss can sit on a
    # plateau below 4x the lowest for a while); the bands leave about a factor of 5 either side
    assert 2e-3 <= r.suggestion <= 0.1, r.suggestion
    assert 3e-3 <= r.min_loss_lr <= 0.3, r.min_loss_lr
    assert r.suggestion < r.min_loss_lr  # steepest descent comes before the bottom of the curve
    # it stopped early, on the first step whose smoothed loss passed 4x the lowest so far, and not before
    assert len(r.lrs) < 90 and r.lrs[-1] < 1e3
    assert r.losses[-1] > 4 * min(r.losses)
    assert all(loss <= 4 * min(r.losses[: i + 1]) for i, loss in enumerate(r.losses[:-1]))
    assert "suggested lr" in r.render()


def test_lr_find_skips_the_noise_of_its_first_steps():
    """On 600 real digits, SGD, 50 steps, seed 2 the smoothed loss fell between the first two steps by batch noise
    alone (2.3206 to 2.3107 at lr 1e-7) and that was the steepest descent: the suggestion was 1e-07. The first tenth
    of the sweep is not searched now; measured: 1.6e-1 on seeds 0-2 at 50 steps, 7e-2 to 1.2e-1 at 100 steps."""
    from cnnlab.train.lrfind import lr_find

    config = RunConfig(model="mnist-cnn", data="mnist", data_dir=str(shared_dataset("mnist").parent), limit=600,
                       seed=2, optimizer="sgd")  # fmt: skip
    r = lr_find(config, steps=50)
    assert r.suggestion is not None and 1e-2 <= r.suggestion <= 1, r.suggestion
    assert r.suggestion in r.lrs[5:]


def test_lr_find_accepts_the_ends_of_its_step_range():
    from cnnlab.train.lrfind import MAX_STEPS, MIN_STEPS, check_sweep

    assert (MIN_STEPS, MAX_STEPS) == (30, 10_000)
    check_sweep(1e-7, 10, 30)
    check_sweep(1e-7, 10, 10_000)


@pytest.mark.parametrize(
    "start, end, steps",
    [(1, 1e-3, 100), (0, 1, 100), (-1e-3, 1, 100), (float("nan"), 1, 100), (1e-7, float("inf"), 100),
     (1e-7, 10, 0), (1e-7, 10, 29), (1e-7, 10, 10_001), (1e-7, 10, 10**20), (1e-7, 10, 50.0)],
)  # fmt: skip
def test_lr_find_from_python_refuses_a_sweep_that_cannot_run_before_loading_anything(start, end, steps):
    """From a notebook these swept downwards (suggesting 1e-3), ran on a NaN lr, died in the fused optimiser
    (TypeError) or by ZeroDivisionError, returned an empty curve, or ran with a factor of 1.0 for ever."""
    from cnnlab.train.lrfind import lr_find

    with pytest.raises(CnnlabError, match=r"^(the lr sweep needs 0 < start < end|steps must be a whole number)"):
        lr_find(RunConfig(model="mnist-cnn", data="no-such-data"), start=start, end=end, steps=steps)


def test_lr_find_help_lists_only_the_flags_it_uses(capsys):
    """The flags lr-find refuses (NOT_SWEPT: epochs, schedule, outputs) are parsed, to be refused by name, but not
    offered in its --help; the ones it uses are."""
    from cnnlab.cli import main
    from cnnlab.cli.train import NOT_SWEPT

    with pytest.raises(SystemExit):
        main(["lr-find", "--help"])
    shown = set(re.findall(r"^  --([a-z][a-z-]*)", capsys.readouterr().out, re.MULTILINE))  # one line per option
    assert {"model", "data", "batch-size", "momentum", "optimizer", "steps", "init-from"} <= shown
    assert not shown & {name.replace("_", "-") for name in NOT_SWEPT}, shown & set(NOT_SWEPT)


def test_exploding_gradients_and_dead_relus_are_diagnosed_and_a_healthy_run_is_not(tmp_path):
    # raw 0-255 pixels into an MLP initialised with std 1: logits in the thousands, gradients explode, ReLUs die
    s = train(
        RunConfig(
            model="mlp",
            data="digits",
            pixels="raw",
            normalize=False,
            init="normal",
            init_std=1.0,
            optimizer="sgd",
            lr=0.001,
            epochs=2,
        ),
        tmp_path / "explode",
        log=quiet,
    )
    assert any(d.startswith("exploding gradients: the gradient norm reached") for d in s["diagnosis"]), s["diagnosis"]
    # a normalised MLP at lr 3.0: the first steps push every ReLU negative
    s = train(RunConfig(model="mlp", data="digits", optimizer="sgd", lr=3.0, epochs=2), tmp_path / "dead", log=quiet)
    dead = [d for d in s["diagnosis"] if d.startswith("dead ReLUs")]
    assert dead and "relu1" in dead[0] and "never fire" in dead[0]
    healthy = train(
        RunConfig(model="mlp", data="digits", optimizer="sgd", lr=0.05, epochs=2), tmp_path / "ok", log=quiet
    )
    assert healthy["diagnosis"] == [] and healthy["test_accuracy"] > 0.8


def test_a_large_gradient_norm_is_exploding_only_when_the_epoch_learnt_nothing():
    """Batch-normed nets have scale-free weights whose gradients can be huge while they learn (mnist-fast shows
    3e3-1e4 in its first steps on its way to 99%): the norm alone is no finding, the norm with a loss no better
    than guessing is, and a non-finite norm always is."""
    from cnnlab.train import diagnose

    assert diagnose.exploding(9e3, train_loss=0.35, num_classes=10) is None
    assert diagnose.exploding(9e3, train_loss=2.30, num_classes=10) is None  # just under ln 10: it learnt a little
    assert diagnose.exploding(900.0, train_loss=40.0, num_classes=10) is None
    finding = diagnose.exploding(9e3, train_loss=2.31, num_classes=10)
    assert finding.startswith("exploding gradients: the gradient norm reached 9e+03") and "ln 10 = 2.3026" in finding
    assert diagnose.exploding(float("inf"), train_loss=0.1, num_classes=10) is not None


def test_tensorboard_events_and_on_epoch_rows(tmp_path, net):
    tf_before = "tensorflow" in sys.modules
    rows: list[dict] = []
    train(config(net, epochs=3), tmp_path / "tb", log=quiet, on_epoch=rows.append)
    assert tf_before or "tensorflow" not in sys.modules  # the event writer must not drag TensorFlow in
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    assert [r["epoch"] for r in rows] == [1, 2, 3] and rows == RunDir(tmp_path / "tb").metrics()
    events = EventAccumulator(str(tmp_path / "tb" / "tensorboard"))
    events.Reload()
    tags = {"loss/train", "accuracy/train", "loss/val", "accuracy/val", "lr_first", "lr_last", "seconds"}
    assert tags <= set(events.Tags()["scalars"])
    assert [(e.step, round(e.value, 5)) for e in events.Scalars("accuracy/val")] == [
        (r["epoch"], round(r["val_accuracy"], 5)) for r in rows
    ]


def test_progress_bar_on_a_terminal_and_plain_lines_otherwise(tmp_path, net, capsys):
    import os
    import pty

    args = [
        "train",
        "--model",
        net,
        "--data",
        "digits",
        "--epochs",
        "1",
        "--batch-size",
        "8",
    ]
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnnlab.cli", *args, "--out", str(tmp_path / "tty")],
        stdin=follower,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert proc.wait(timeout=300) == 0
    text = b"".join(chunks).decode(errors="replace")
    assert "epoch 1/1" in text and "it/s" in text and "<" in text and "loss=" in text and "acc=" in text
    code, _, err = cli_as_terminal([*args, "--out", str(tmp_path / "pipe")], capsys)  # stderr is no terminal here
    assert code == 0 and "it/s" not in err and "epoch 1/1: loss" in err, err


def test_vgg16_on_raw_cifar10_pixels_with_sgd_is_diagnosed_stuck_at_chance(tmp_path):
    """The classic silent failure: VGG16 (no batch norm, Keras' Glorot init), SGD lr 0.001, unnormalised 0-255 pixels."""
    from tests.conftest import SHARED

    s = train(
        RunConfig(
            model="vgg16-cifar",
            data=f"folder:{SHARED / 'datasets' / 'cifar10-jpg.tar.gz'}",
            limit=100,
            pixels="raw",
            normalize=False,
            init="xavier-uniform",
            optimizer="sgd",
            lr=0.001,
            momentum=0.9,
            batch_size=32,
            epochs=2,
            seed=0,
        ),
        tmp_path / "vgg16",
        log=quiet,
    )
    rows = RunDir(tmp_path / "vgg16").metrics()
    assert all(abs(r["train_loss"] - 2.3026) < 0.05 for r in rows)
    stuck = [d for d in s["diagnosis"] if d.startswith("stuck at chance")]
    assert stuck and "raw 0-255 pixels" in stuck[0] and "ln 10 = 2.3026" in stuck[0]


def test_bf16_channels_last_and_compile_paths_train_on_the_cpu(tmp_path, net):
    """The fast paths (GPU-first, but they run on the CPU too) learn like the default and save plain checkpoints."""
    base = train(config(net, epochs=2, augment=None, channels_last=False), tmp_path / "nchw", log=quiet)
    nhwc = train(config(net, epochs=2, augment=None), tmp_path / "nhwc", log=quiet)
    assert abs(base["test_accuracy"] - nhwc["test_accuracy"]) < 0.02  # the layout changes rounding, not learning
    bf16 = train(config(net, epochs=2, augment=None, precision="bf16"), tmp_path / "bf16", log=quiet)
    assert bf16["test_accuracy"] > base["test_accuracy"] - 0.05
    compiled = train(config(net, epochs=1, augment=None, compile=True), tmp_path / "compiled", log=quiet)
    keys = open_run(tmp_path / "compiled", "last").weights.keys()
    assert not any(k.startswith("_orig_mod") for k in keys) and compiled["test_accuracy"] > 0.3
    assert evaluate_run(tmp_path / "compiled")["test_accuracy"] == pytest.approx(compiled["test_accuracy"])


def test_a_bf16_run_is_scored_in_bf16_by_training_and_by_eval(tmp_path, net, capsys):
    """A run is scored in the precision it trained in (Keras' mixed_bfloat16 policy and Lightning's bf16-mixed
    evaluate that way too): `cnnlab eval` reproduces the summary's bf16 test loss, which an fp32 forward of the same
    weights does not; an fp32 run is scored in fp32."""
    s = train(config(net, epochs=1, augment=None, tta="flip", precision="bf16"), tmp_path / "bf16", log=quiet)
    run = load_run(tmp_path / "bf16")
    assert run.precision == "bf16"
    scored = evaluate_run(run)
    assert (scored["test_accuracy"], scored["test_loss"]) == (s["test_accuracy"], pytest.approx(s["test_loss"]))
    assert scored["precision"] == "bf16"
    assert main(["eval", str(tmp_path / "bf16")]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert line == (
        f"test accuracy: {s['test_accuracy']:.4f} ({s['test_size']} images, in bf16 as the run trained), "
        f"loss {s['test_loss']:.4f}"
    )
    run.precision = "fp32"  # the same weights, scored in fp32
    fp32 = evaluate_run(run)
    assert abs(fp32["test_loss"] - s["test_loss"]) > 1e-5 and abs(fp32["test_accuracy"] - s["test_accuracy"]) < 0.02
    assert all(p.dtype == torch.float32 for p in run.model.parameters())  # autocast: the weights stay fp32
    plain = train(config(net, epochs=1, augment=None), tmp_path / "fp32", log=quiet)
    assert load_run(tmp_path / "fp32").precision == "fp32"
    assert main(["eval", str(tmp_path / "fp32")]) == 0
    assert f"({plain['test_size']} images), loss" in capsys.readouterr().out  # fp32, as every run before bf16
    assert evaluate_run(tmp_path / "fp32")["test_loss"] == pytest.approx(plain["test_loss"], rel=1e-6)


def test_raw_pixels_standardised_give_the_same_inputs_as_unit_pixels(tmp_path):
    """--pixels raw with --normalize: the 0..1 statistics are scaled to 0..255 too, so the network sees the same
    standardised inputs (not (x - 0.13) / 0.31 on x up to 255); without --normalize the scale stays 255x."""
    from cnnlab.data import DeviceLoader, load_dataset
    from cnnlab.train.setup import preprocessing

    data = load_dataset("digits", limit=64)

    def batch(**overrides):
        kwargs = preprocessing(RunConfig(model="mnist-cnn", data="digits", **overrides), data)
        return next(iter(DeviceLoader(data.train_x, data.train_y, batch_size=64, shuffle=False, **kwargs)))[0]

    unit, raw = batch(), batch(pixels="raw")
    assert torch.allclose(raw, unit, atol=1e-4) and abs(unit.mean().item()) < 0.2
    assert torch.allclose(batch(pixels="raw", normalize=False), 255 * batch(normalize=False))
    # A trained raw-pixel run is fed the same way by evaluate and predict.
    s = train(
        RunConfig(model="mnist-cnn", data="digits", pixels="raw", epochs=1, limit=300),
        tmp_path / "raw",
        log=lambda _: None,
    )
    assert evaluate_run(tmp_path / "raw")["test_accuracy"] == pytest.approx(s["test_accuracy"])


def test_eval_and_resume_refuse_a_folder_whose_classes_changed(tmp_path, capsys):
    """An image folder's class folders renamed or added after training: eval scored 0% with the rows named as
    before (and crashed on a class more), and --resume trained on the swapped labels, both without a word."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, count in (("train", 12), ("test", 4)):
        for colour, level in (("blue", 40), ("red", 220)):
            (tmp_path / "d" / split / colour).mkdir(parents=True)
            for i in range(count):
                noise = rng.integers(0, 30, (8, 8, 3))
                Image.fromarray((level + noise).clip(0, 255).astype(np.uint8)).save(
                    tmp_path / "d" / split / colour / f"{i}.png"
                )
    config = RunConfig(model="mlp", data=f"folder:{tmp_path / 'd'}", input=[3, 8, 8], epochs=2, val_split=0)
    train(config, tmp_path / "run", log=lambda _: None, stop_after=1)
    for split in ("train", "test"):
        (tmp_path / "d" / split / "blue").rename(tmp_path / "d" / split / "zzz")
    message = r"^cannot {}: the data's classes are now red, zzz, but the run was trained on blue, red; restore the"
    with pytest.raises(CnnlabError, match=message.format("evaluate")):
        evaluate_run(tmp_path / "run")
    with pytest.raises(CnnlabError, match=message.format("resume")):
        train(config, tmp_path / "run", resume=True, log=lambda _: None)
    assert RunDir(tmp_path / "run").checkpoints.manifest()["last"]["epoch"] == 1  # untouched
    code, _, err = cli_as_terminal(["eval", str(tmp_path / "run")], capsys)
    assert code == 2 and err.count("\n") == 1 and "the data's classes are now red, zzz" in err


def test_more_epochs_on_resume_take_the_new_schedule_from_the_first_update(tmp_path, net):
    """A finished 1-epoch cosine run resumed with --epochs 2: its first update after resuming ran at the old
    schedule's last lr (0), not at the stretched schedule's. Now every group takes the new schedule's lr there."""
    from cnnlab.train.optim import lr_factor

    one = config(net, epochs=1, augment=None)
    train(one, tmp_path / "run", log=quiet)
    steps = math.ceil(open_run(tmp_path / "run").summary["train_size"] / one.batch_size)  # updates an epoch
    two = config(net, epochs=2, augment=None)
    train(two, tmp_path / "run", resume=True, log=quiet)
    second = RunDir(tmp_path / "run").metrics()[1]
    assert second["lr_first"] == pytest.approx(two.lr * lr_factor(two, steps)(steps), rel=1e-12)
    assert second["lr_first"] > 0.01  # halfway down a cosine from 0.05, where the old schedule had reached 0


def test_fewer_epochs_than_a_run_has_trained_are_refused_on_resume(tmp_path, net):
    """--resume --epochs 1 on a run that trained 2 said nothing, changed nothing, and rewrote config.toml to say
    1 epoch beside a summary of more."""
    from tests.conftest import snapshot

    train(config(net, epochs=3), tmp_path / "run", log=quiet, stop_after=2)
    before = snapshot(tmp_path / "run")
    with pytest.raises(CnnlabError, match=r"^resume=True: .* has trained 2 epochs already, so epochs 1 would undo"):
        train(config(net, epochs=1), tmp_path / "run", resume=True, log=quiet)
    assert snapshot(tmp_path / "run") == before
    assert train(config(net, epochs=2), tmp_path / "run", resume=True, log=quiet)["epochs_run"] == 2


def rules(
    config: RunConfig, monitor: str, values: list[float], key: str | None = None
) -> list[tuple[bool, str | None]]:
    """stop_rules over rows whose `key` (default: the monitor) takes `values`, epoch by epoch."""
    from cnnlab.train.engine import State, stop_rules

    state = State()
    rows = [{"epoch": e, "val_loss": 1.0, "val_accuracy": 0.5, key or monitor: v} for e, v in enumerate(values, 1)]
    return [stop_rules(config, state, row, monitor) for row in rows]


def test_patience_stops_on_the_epoch_that_makes_it_and_a_tie_is_no_improvement():
    """Keras' EarlyStopping: `patience` epochs without a strict improvement end the run (the end-to-end test
    only checked that a run stopped some time before its last epoch)."""
    got = rules(RunConfig(patience=2), "val_accuracy", [0.5, 0.4, 0.5, 0.6])
    assert got[:2] == [(True, None), (False, None)]
    assert got[2] == (False, "early stop: val_accuracy did not improve for 2 epochs")  # 0.5 ties the best
    got = rules(RunConfig(patience=3), "val_loss", [1.0, 0.9, 0.9, 0.95, 0.89])
    assert [improved for improved, _ in got] == [True, True, False, False, True] and all(r is None for _, r in got)


def test_generalisation_loss_stops_only_beyond_alpha():
    """Prechelt's GL(t) = 100 (E_va(t) / E_opt(t) - 1) > alpha: exactly alpha goes on."""
    at, beyond = (rules(RunConfig(gl_alpha=50), "val_accuracy", [1.0, v], key="val_loss") for v in (1.5, 1.5001))
    assert at[1][1] is None
    assert beyond[1][1] == "early stop: generalisation loss GL = 50.0 > 50"


def test_the_vgg16_stuck_at_ten_percent_is_diagnosed_with_advice_for_its_own_settings(tmp_path):
    """The typical silent failure cnnlab exists to explain: VGG16 (no batch norm) on CIFAR-10 with Adam at 1e-3,
    at 10% from the start. Its second epoch's loss, 2.43, was above the 3% band around ln 10 (worse than guessing),
    so nothing was said; and the advice told a run on Adam with normalised inputs to use Adam and normalise."""
    config = RunConfig(model="vgg16-cifar", data=f"folder:{shared_dataset('cifar10-jpg.tar.gz')}", limit=500,
                       input=[3, 32, 32], epochs=2, seed=0)  # fmt: skip
    s = train(config, tmp_path / "run", log=lambda _: None)
    assert s["val_accuracy"] <= 0.13, s
    stuck = next((d for d in s["diagnosis"] if d.startswith("stuck at chance")), None)
    assert stuck is not None, s["diagnosis"]
    assert "a batch-norm model (vgg16_bn-cifar)" in stuck and "Adam" not in stuck and "normalise" not in stuck
