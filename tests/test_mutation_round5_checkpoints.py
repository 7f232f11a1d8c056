"""What a run's files promise after damage or a torn write: a checkpoint's metrics.csv changed at the same length is
named as damage by `cnnlab runs` (which reads a checkpoint without its weights), and a batch row a killed process
left half-written is dropped when the run resumes, even where its first characters read as an epoch already
checkpointed.

Written for mutation round 5: each test kills a mutant of rundir/checkpoint.py or rundir/batches.py the suite let
live."""

from __future__ import annotations

import signal

import pytest

from cnnlab.rundir import runs_below
from tests.crashkit import cnnlab, private_cache

TRAIN = ["train", "--model", "mlp", "--data", "digits", "--input", "1,8,8", "--seed", "0", "--no-progress"]


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    return {**private_cache(tmp_path_factory), "OMP_NUM_THREADS": "1"}


def test_a_checkpoints_metrics_changed_at_the_same_length_lists_the_run_as_damaged(tmp_path, env) -> None:
    run = tmp_path / "runs" / "r"
    assert cnnlab([*TRAIN, "--epochs", "3", "--out", run], env, "manifest:2").returncode == -signal.SIGKILL
    assert runs_below(tmp_path / "runs")[0].state == "interrupted"
    metrics = run / "checkpoints" / "epoch-0002" / "metrics.csv"
    text = metrics.read_text()
    i = max(i for i, c in enumerate(text) if c.isdigit())
    metrics.write_text(text[:i] + str((int(text[i]) + 1) % 10) + text[i + 1 :])  # one digit, the same length
    [state] = runs_below(tmp_path / "runs")
    assert state.state.startswith("damaged: checkpoint file ") and "epoch-0002/metrics.csv is damaged" in state.state
    assert not state.resumable


def test_a_half_written_batch_row_is_dropped_on_resume_though_it_reads_as_a_checkpointed_epoch(tmp_path, env) -> None:
    """Killed while appending epoch 11's first row after writing only its "1": that fragment reads as epoch 1."""
    args = [*TRAIN, "--epochs", "11", "--log-every", "10"]
    reference = tmp_path / "reference"
    assert cnnlab([*args, "--out", reference], env).returncode == 0
    run = tmp_path / "run"
    assert cnnlab([*args, "--out", run], env, "manifest:10").returncode == -signal.SIGKILL
    rows = (run / "batches.csv").read_text()
    assert rows.endswith("\n") and rows.splitlines()[-1].startswith("10,")
    (run / "batches.csv").write_text(rows + "1")  # the torn start of "11,..."
    assert cnnlab([*args, "--out", run, "--resume"], env).returncode == 0
    assert (run / "batches.csv").read_text() == (reference / "batches.csv").read_text()
