"""Crash safety of `cnnlab train`, by killing real processes: it is SIGKILLed at chosen instants (failpoints: the
process sends itself SIGKILL the N-th time it passes a named instant, see cnnlab.failpoint) and at timed instants
from outside; rerunning the same command must finish with the weights and metrics of a run that was never
interrupted, and leave no temporary behind. (compare, demo and the 90% recipe: tests/test_crash_commands.py.)"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from cnnlab.rundir import RunDir, open_run
from cnnlab.rundir.layout import TENSORBOARD
from tests.conftest import SHARED
from tests.crashkit import cnnlab, metrics, private_cache, start, temporaries, uninterrupted

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


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    return private_cache(tmp_path_factory)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, env) -> Path:
    return uninterrupted(tmp_path_factory, env, TRAIN, "ref")


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


# A run early stopping ends (an mlp on digits, --patience 2: after epoch 4 of 8), resumed with the rule switched off
# and killed at each step of going on: until its next checkpoint the manifest still records the stop, so a kill
# before config.toml is rewritten leaves the stopped run as it was, and one after leaves a run the same command (or a
# plain --resume, config.toml now saying patience off) continues; either way the rerun ends as a run without the rule.
STOPPING = [
    *("train", "--model", "mlp", "--data", "digits", "--init", "zeros", "--optimizer", "sgd", "--lr", "0.01"),
    *("--epochs", "8", "--no-progress"),
]
STOP_KILLS = [
    ("data-loaded:1", "set up, nothing written: still the stopped run"),
    ("atomic-write:1", "config.toml's temporary written, not renamed: still the stopped run"),
    ("atomic-write:2", "config.toml rewritten and summary.json removed, metrics.csv not yet"),
    ("batch:3", "mid-epoch 5, the first after the stop"),
    ("manifest:1", "epoch 5 published: the stop is gone from the manifest"),
]


@pytest.fixture(scope="module")
def without_stop(tmp_path_factory, env) -> Path:
    return uninterrupted(tmp_path_factory, env, STOPPING, "without-stop")


@pytest.mark.parametrize("point", [k for k, _ in STOP_KILLS], ids=[f"{k} ({why})" for k, why in STOP_KILLS])
def test_a_resume_switching_off_the_rule_that_ended_a_run_killed_leaves_it_stopped_or_resumable(
    tmp_path, env, without_stop, point
):
    out = tmp_path / "run"
    stopped = cnnlab([*STOPPING, "--patience", "2", "--out", str(out)], env)
    assert stopped.returncode == 0 and RunDir(out).summary()["epochs_run"] == 4, stopped.stderr
    summary = (out / "summary.json").read_bytes()
    command = ["train", "--out", str(out), "--resume", "--patience", "off", "--no-progress"]
    killed = cnnlab(command, env, failpoint=point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    run = RunDir(out)
    still = "still the stopped run" in dict(STOP_KILLS)[point]
    assert run.config().patience == (2 if still else None)
    assert (run.checkpoints.stopped() is None) == (point == "manifest:1")
    assert (run.finished() and (out / "summary.json").read_bytes() == summary) if still else not run.finished()
    again = cnnlab(command if still else command[:4], env)
    assert again.returncode == 0, again.stderr
    for which in ("last", "best"):
        got, want = open_run(out, which), open_run(without_stop, which)
        assert got.checkpoint.epoch == want.checkpoint.epoch and got.weights.keys() == want.weights.keys(), which
        assert all(torch.equal(got.weights[k], want.weights[k]) for k in want.weights), which
    assert metrics(out) == metrics(without_stop) and len(metrics(out)) == 8
    a, b = RunDir(out).summary(), RunDir(without_stop).summary()
    assert a["stopped"] == "completed" and (a["test_accuracy"], a["best_epoch"]) == (
        b["test_accuracy"],
        b["best_epoch"],
    )
    assert not temporaries(out), temporaries(out)


@pytest.fixture(scope="module")
def run_seconds(tmp_path_factory, env, reference) -> float:
    """How long a whole run takes on this machine, started as the killed ones are (after the reference, which
    fills the cache): about 2 s on a busy 2-core machine, under 1.2 s on a quiet one, so the kills are timed as
    fractions of it rather than in fixed seconds, which a fast machine outran."""
    began = time.monotonic()
    child = start([*TRAIN, "--out", str(tmp_path_factory.mktemp("timed") / "run")], env)
    assert child.wait().returncode == 0
    return time.monotonic() - began


@pytest.mark.parametrize("fraction", [0.3, 0.6])
def test_train_killed_from_outside_at_a_timed_instant_finishes_identically(
    tmp_path, env, reference, run_seconds, fraction
):
    # A machine quieter now than when run_seconds was timed can finish the run before the kill: then the kill is
    # tried again on a fresh run, a third sooner each time, so the test does not depend on the machine's load.
    for attempt in range(4):
        out = tmp_path / f"run{attempt}"
        child = start([*TRAIN, "--out", str(out)], env)
        time.sleep(fraction * run_seconds * (2 / 3) ** attempt)
        with contextlib.suppress(ProcessLookupError):  # it ended, and the launcher reaped it, before the kill
            os.kill(child.pid, signal.SIGKILL)
        if child.wait().returncode == -signal.SIGKILL:
            break
    else:
        pytest.fail("four runs ended before their kills: make the fraction smaller")
    again = cnnlab(TRAIN + ["--out", str(out)], env)
    assert again.returncode == 0, again.stderr
    assert_same_run(out, reference)


def _flocks(path: Path) -> list[tuple[int, bool]]:
    """(pid, waiting) for each flock held on `path` and each process blocked on it, from Linux's /proc/locks."""
    inode = str(path.stat().st_ino)
    rows = [line.split() for line in Path("/proc/locks").read_text().splitlines()]
    return [(int(r[-4]), "->" in r) for r in rows if "FLOCK" in r and r[-3].rsplit(":", 1)[-1] == inode]


def _poll(find, what: str, seconds: float = 120.0):
    """`find()`'s first truthy answer, asked every 2 ms."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if found := find():
            return found
        time.sleep(0.002)
    raise AssertionError(f"gave up waiting for {what}")


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="reads who holds and who awaits a lock in /proc/locks")
def test_runs_started_together_decode_the_data_once_and_a_killed_decoder_holds_no_one_up(tmp_path, env, reference):
    """Two `cnnlab train` processes on a cold data cache: the first decodes MNIST while holding the entry's lock;
    the second, started while the first is stopped mid-decode, waits on that lock instead of decoding too; the
    first is then SIGKILLed holding it, and the second decodes, trains the uninterrupted run and leaves one entry."""
    fresh, cache = {**env, "XDG_CACHE_HOME": str(tmp_path / "xdg")}, tmp_path / "xdg" / "cnnlab" / "cache"

    def train(out: str) -> subprocess.Popen:  # fresh interpreters: the launcher of crashkit runs one at a time
        command = [sys.executable, "-m", "cnnlab", *TRAIN, "--out", str(tmp_path / out)]
        return subprocess.Popen(command, env=fresh, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    first = train("first")
    try:
        lock = _poll(
            lambda: next((p for p in cache.glob(".*.lock") if (first.pid, False) in _flocks(p)), None),
            "the first process to take the entry's lock",
        )
        os.kill(first.pid, signal.SIGSTOP)
        second = train("second")
        _poll(lambda: (second.pid, True) in _flocks(lock), "the second process to wait on the first one's lock")
    finally:
        first.kill()
    assert first.wait() == -signal.SIGKILL
    _, err = second.communicate(timeout=600)
    assert second.returncode == 0, err
    assert_same_run(tmp_path / "second", reference)
    assert [p.name for p in cache.iterdir()] == [lock.name[1:].removesuffix(".lock")]  # the lock went with it


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


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or len(os.sched_getaffinity(0)) < 2,
    reason="the decoding workers are forked on Linux with 2 cores or more",
)
def test_a_load_killed_while_its_workers_decode_holds_no_one_up(tmp_path, env):
    """An image folder of 2,000 images or more is decoded by forked workers, which inherit the cache entry's lock.
    Killed with SIGKILL while they decode, the loading process cannot stop them: they used to live on, holding the
    lock, and the next load waited on it forever. Now they die with it, and the next load decodes and trains."""
    import tarfile

    folder = tmp_path / "cifar"
    with tarfile.open(SHARED / "datasets" / "cifar10-jpg.tar.gz") as tar:
        wanted = [m for m in tar if m.name.startswith(("train/airplane/", "train/cat/")) and m.name[-8:-4] < "1100"]
        tar.extractall(folder, members=wanted, filter="data")
    assert len(wanted) == 2200
    fresh = {**env, "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    args = ["train", "--model", "mnist-cnn", "--data", f"folder:{folder}", "--limit", "200", "--epochs", "1"]
    args += ["--no-progress", "--out", str(tmp_path / "run")]
    killed = cnnlab(args, fresh, failpoint="decode-pool:1")
    assert killed.returncode == -signal.SIGKILL
    again = subprocess.run(
        [sys.executable, "-m", "cnnlab", *args], env=fresh, capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 0, again.stderr
    assert RunDir(tmp_path / "run").summary()["train_size"] == 200
