"""Crash safety, by killing real processes: `cnnlab train` and `cnnlab compare` are SIGKILLed at chosen instants
(failpoints: the process sends itself SIGKILL the N-th time it passes a named instant, see cnnlab.failpoint) and at
timed instants from outside; rerunning the same command must finish with the weights and metrics of a run that was
never interrupted, and leave no temporary behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from cnnlab.rundir import RunDir, open_run
from cnnlab.rundir.run import TENSORBOARD
from tests.conftest import SHARED, write_toml

DATA = str(SHARED / "datasets")
# 360 training images in batches of 50: 8 batches an epoch, 3 epochs; augmentation and a schedule, so the data
# order, RNG and scheduler state must all be restored exactly; per-batch rows every 3 batches, appended as they
# come, so a kill leaves rows past the last checkpoint that a resume must not repeat.
TRAIN = [
    "train",
    "--model",
    "mnist-cnn",
    "--data",
    "mnist",
    "--data-dir",
    DATA,
    "--limit",
    "400",
    "--epochs",
    "3",
    "--batch-size",
    "50",
    "--augment",
    "crop",
    "--schedule",
    "cosine",
    "--no-progress",
    "--log-every",
    "3",
    "--resume",
]


def cnnlab(args: list[str], env: dict[str, str], failpoint: str | None = None) -> subprocess.CompletedProcess:
    env = {**env, **({"CNNLAB_FAILPOINT": failpoint} if failpoint else {})}
    return subprocess.run([sys.executable, "-m", "cnnlab", *args], capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    """A data cache of the module's own, not the user's."""
    env = {k: v for k, v in os.environ.items() if k != "CNNLAB_FAILPOINT"}
    return {**env, "XDG_CACHE_HOME": str(tmp_path_factory.mktemp("cache"))}


def uninterrupted(tmp_path_factory, env: dict[str, str], command: list[str], name: str) -> Path:
    """The run a killed-and-rerun command must end up identical to."""
    out = tmp_path_factory.mktemp(name) / "run"
    r = cnnlab([*command, "--out", str(out)], env)
    assert r.returncode == 0, r.stderr
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory, env) -> Path:
    return uninterrupted(tmp_path_factory, env, TRAIN, "ref")


def temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".tmp-" in p.name]


def metrics(run: Path) -> list[dict]:
    """metrics.csv as the user reads it, without the wall-clock column."""
    text = (run / "metrics.csv").read_text().splitlines()
    head = text[0].split(",")
    return [{k: v for k, v in zip(head, line.split(",")) if k != "seconds"} for line in text[1:]]


def tensorboard_curves(run: Path) -> dict[str, list[tuple[int, float]]]:
    """The loss and accuracy curves as TensorBoard shows them: points an interrupted attempt logged after its last
    checkpoint are purged by the resumed attempt's marker, so each epoch appears once."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / TENSORBOARD), purge_orphaned_data=True)
    events.Reload()
    tags = [t for t in events.Tags()["scalars"] if t.startswith(("loss/", "accuracy/"))]
    assert tags, "no TensorBoard curves"
    return {t: [(e.step, round(e.value, 6)) for e in events.Scalars(t)] for t in tags}


def assert_same_run(run: Path, reference: Path) -> None:
    for which in ("last", "best"):
        got, want = open_run(run, which), open_run(reference, which)
        assert got.checkpoint.epoch == want.checkpoint.epoch, which
        assert got.weights.keys() == want.weights.keys()
        differ = [k for k in want.weights if not torch.equal(got.weights[k], want.weights[k])]
        assert not differ, f"{which} weights differ from the uninterrupted run: {differ[:3]}"
    assert metrics(run) == metrics(reference) and len(metrics(run)) == 3
    assert (run / "batches.csv").read_text() == (reference / "batches.csv").read_text()
    assert len(RunDir(run).batches()) == 6
    a, b = RunDir(run).summary(), RunDir(reference).summary()
    assert (a["test_accuracy"], a["best_epoch"], a["epochs_run"]) == (
        b["test_accuracy"],
        b["best_epoch"],
        b["epochs_run"],
    )
    assert tensorboard_curves(run) == tensorboard_curves(reference)
    assert not temporaries(run), temporaries(run)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == sorted(
        p.name for p in (reference / "checkpoints").iterdir()
    )  # nothing left over from the killed attempt


KILLS = [
    ("data-loaded:1", "after loading the data, before the first epoch"),
    ("batch:3", "mid-epoch 1"),
    ("batch:12", "mid-epoch 2"),
    ("checkpoint-file:1", "epoch 1: after the weights, before the training state"),
    ("checkpoint-file:2", "epoch 1: after the training state, before the metadata"),
    ("checkpoint-file:3", "epoch 1: after the metadata, before the metrics"),
    ("checkpoint-file:4", "epoch 1: all files written, folder not yet published"),
    ("checkpoint-folder:1", "epoch 1: folder published, manifest not yet replaced"),
    ("manifest:1", "epoch 1: manifest replaced, old folders and metrics.csv not yet updated"),
    ("checkpoint-file:6", "epoch 2: after the training state"),
    ("checkpoint-folder:2", "epoch 2: folder published, manifest not yet replaced"),
    ("manifest:3", "epoch 3: the last checkpoint published, before the final test"),
    ("final-test:1", "during the final test"),
]


@pytest.mark.parametrize("point", [k for k, _ in KILLS], ids=[f"{k} ({why})" for k, why in KILLS])
def test_train_killed_at_any_instant_finishes_identically_when_rerun(tmp_path, env, reference, point):
    out = tmp_path / "run"
    command = [*TRAIN, "--out", str(out)]
    killed = cnnlab(command, env, failpoint=point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not RunDir(out).finished()
    again = cnnlab(command, env)
    assert again.returncode == 0, again.stderr
    assert_same_run(out, reference)


@pytest.mark.parametrize("delay", [4.0, 7.5])
def test_train_killed_from_outside_at_a_timed_instant_finishes_identically(tmp_path, env, reference, delay):
    out = tmp_path / "run"
    command = [sys.executable, "-m", "cnnlab", *TRAIN, "--out", str(out)]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    again = cnnlab(TRAIN + ["--out", str(out)], env)
    assert again.returncode == 0, again.stderr
    assert_same_run(out, reference)


def test_a_kill_while_the_data_cache_is_written_leaves_no_partial_entry(tmp_path, env, reference):
    fresh = {**env, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    out = tmp_path / "run"
    killed = cnnlab([*TRAIN, "--out", str(out)], fresh, failpoint="cache-write:2")
    assert killed.returncode == -signal.SIGKILL
    assert temporaries(tmp_path / "cache"), "the killed writer should have left a temporary folder"
    again = cnnlab([*TRAIN, "--out", str(out)], fresh)
    assert again.returncode == 0, again.stderr
    assert not temporaries(tmp_path / "cache")  # the dead writer's temporary is removed on the next load
    assert_same_run(out, reference)


STUDY = """
title = "two initialisations"
[defaults]
data = "mnist"
model = "mlp"
optimizer = "sgd"
lr = 0.05
limit = 400
epochs = 3
batch_size = 50
seed = 0
[[runs]]
name = "init-{init}"
grid = { init = ["he-normal", "xavier-uniform"] }
"""


@pytest.fixture(scope="module")
def study(tmp_path_factory, env) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("study")
    path = write_toml(folder / "study.toml", STUDY)
    ref = folder / "ref"
    r = cnnlab(["compare", path, "--data-dir", DATA, "--out", str(ref), "--gradcam", "0", "--no-progress"], env)
    assert r.returncode == 0, r.stderr
    return Path(path), ref


@pytest.mark.parametrize("point", ["checkpoint-file:1", "checkpoint-folder:1", "manifest:4", "final-test:2"])
def test_compare_killed_at_any_instant_finishes_identically_when_rerun(tmp_path, env, study, point):
    path, ref = study
    command = [
        "compare",
        str(path),
        "--data-dir",
        DATA,
        "--out",
        str(tmp_path / "s"),
        "--gradcam",
        "0",
        "--no-progress",
    ]
    killed = cnnlab(command, env, failpoint=point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    again = cnnlab(command, env)
    assert again.returncode == 0, again.stderr
    for name in ("init-he-normal", "init-xavier-uniform"):
        got, want = open_run(tmp_path / "s" / "runs" / name, "last"), open_run(ref / "runs" / name, "last")
        assert all(torch.equal(got.weights[k], want.weights[k]) for k in want.weights), name
        assert [r["train_loss"] for r in got.metrics] == [r["train_loss"] for r in want.metrics]
        assert not temporaries(tmp_path / "s")


def test_demo_resumes_a_killed_run_reuses_finished_ones_and_repeats_readme_accuracies(tmp_path, env):
    """`make demo` killed in its second run (after epoch 5's checkpoint folder, before the manifest names it) picks up
    where it stopped, leaves the finished first run untouched, and prints the table of an uninterrupted demo on the
    same machine to the last digit (only the train time may differ). README's table was measured on another CPU,
    whose kernels round differently: its splits and sizes must match exactly, its accuracies within 1.5 points
    (about 5 of the 359 test images)."""
    from tests.conftest import REPO, snapshot

    reference = cnnlab(["demo", "--out", str(tmp_path / "uninterrupted")], env)
    assert reference.returncode == 0, reference.stderr
    out = tmp_path / "demo"
    killed = cnnlab(["demo", "--out", str(out)], env, failpoint="checkpoint-folder:15")  # 10 epochs, then 5
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    first = snapshot(out / "mnist-cnn")
    r = cnnlab(["demo", "--out", str(out)], env)
    assert r.returncode == 0, r.stderr
    assert snapshot(out / "mnist-cnn") == first
    assert [row["epoch"] for row in RunDir(out / "lenet5-modern").metrics()] == list(range(1, 11))
    readme = (REPO / "README.md").read_text()
    for model in ("mnist-cnn", "lenet5-modern"):
        printed, uninterrupted, promised = (
            next(line.split() for line in text.splitlines() if line.startswith(model + " "))
            for text in (r.stdout, reference.stdout, readme)
        )
        assert printed[:4] + printed[6:] == uninterrupted[:4] + uninterrupted[6:], (printed, uninterrupted)
        assert printed[:2] + printed[6:] == promised[:2] + promised[6:], (printed, promised)
        for got, want in zip(printed[2:4], promised[2:4], strict=True):
            assert abs(float(got.rstrip("%")) - float(want.rstrip("%"))) <= 1.5, (printed, promised)
    again = cnnlab(["demo", "--out", str(out)], env)
    assert again.returncode == 0 and again.stdout == r.stdout  # both reused: the same table, train times included


# The 90% recipe's path (#12) on a slice: frozen patch whitening computed from the training images, translation
# from a mirrored border, alternating flips keyed to the epoch, bias lr groups, Nesterov on a triangle, airbench's
# lookahead average of the weights (written back every 5 steps: once an epoch here) and flip + translate TTA; 500
# images in batches of 100, 5 batches an epoch, 3 epochs.
RECIPE = ["train", "recipe:cifar10-90", "--model", "airbench-cifar-s", "--data-dir", DATA, "--limit", "500",
          "--epochs", "3", "--batch-size", "100", "--ema", "0.9", "--lookahead", "--no-progress",
          "--resume"]  # fmt: skip


@pytest.fixture(scope="module")
def recipe_reference(tmp_path_factory, env) -> Path:
    return uninterrupted(tmp_path_factory, env, RECIPE, "recipe")


@pytest.mark.parametrize(
    "point", ["batch:7", "checkpoint-file:7"], ids=["mid-epoch 2", "epoch 2 checkpoint half written"]
)
def test_the_90_recipe_killed_mid_run_finishes_identically(tmp_path, env, recipe_reference, point):
    out = tmp_path / "run"
    killed = cnnlab([*RECIPE, "--out", str(out)], env, failpoint=point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    again = cnnlab([*RECIPE, "--out", str(out)], env)
    assert again.returncode == 0, again.stderr
    got, want = open_run(out, "last"), open_run(recipe_reference, "last")
    assert all(torch.equal(got.weights[k], want.weights[k]) for k in want.weights)  # the EMA, which counts
    trained, reference = got.checkpoint.training_weights(), want.checkpoint.training_weights()
    assert all(torch.equal(trained[k], reference[k]) for k in reference)
    assert metrics(out) == metrics(recipe_reference) and len(metrics(out)) == 3
    assert got.summary["test_accuracy"] == want.summary["test_accuracy"]
    assert not temporaries(out)
