"""The engine's step on the GPU path, seen without a GPU (#12): bench/step_operations.py counts the operations a step
dispatches, so the suite can check on the CPU what would stall a GPU (a read of a device tensor into Python) and
that Muon orthogonalises filters of one shape in one batched Newton-Schulz."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest
import torch

from cnnlab.rundir import RunConfig
from cnnlab.train.engine import train_step
from cnnlab.train.muon import NEWTON_SCHULZ_STEPS
from cnnlab.train.setup import setup
from tests.conftest import SHARED

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

from step_operations import OperationCount, count  # noqa: E402

DATA = str(SHARED / "datasets")


@pytest.mark.parametrize(
    "extra", [{}, {"ema": 0.99}, {"ema": 0.9, "lookahead": True}], ids=["recipe", "ema", "lookahead"]
)
def test_a_training_step_reads_nothing_back_from_the_device(extra):
    """The GPU recipe's steps as the engine takes them on a GPU (the loss left unread: it is checked every few
    steps), with its loader (translate, alternating flips, whitening) and Muon, and with an EMA or lookahead: no
    operation in them makes the host wait for the device. (AveragedModel's own update tests its count on the
    device at every step.)"""
    recipe = RunConfig.from_toml("recipe:cifar10-90-gpu")
    s = setup(dataclasses.replace(recipe, data_dir=DATA, limit=300, batch_size=100, **extra), log=lambda m: None)
    batches = iter(s.train_loader)
    with OperationCount() as ops:
        for _ in range(3):
            x, y = next(batches)
            loss, _, norm = train_step(s, x, y, check_loss=False)
    assert ops.device_reads() == [] and ops.kinds()["kernels"] > 100
    assert norm is not None and torch.isfinite(loss) and s.scheduler.last_epoch == 3
    with OperationCount() as ops:  # and the counter does see a read
        loss.item()
    assert ops.device_reads() == ["_local_scalar_dense"]


def test_muon_runs_one_newton_schulz_per_filter_shape() -> None:
    """cifar10-90's six trained filters come in four shapes (the last three are all 256 x 256 x 3 x 3), so its
    optimiser's step multiplies matrices 3 x 3 times per shape: three products in each of the Newton-Schulz
    steps."""
    row = count("cifar10-90", DATA)
    s = setup(
        dataclasses.replace(RunConfig.from_toml("recipe:cifar10-90"), data_dir=DATA, limit=300), log=lambda m: None
    )
    muon = [p for g in s.optimizer.param_groups if g.get("muon") for p in g["params"] if p.ndim == 4]
    shapes = {tuple(p.shape) for p in muon}
    assert (len(muon), len(shapes)) == (6, 4)
    products = row["optimizer_calls"].get("mm", 0) + row["optimizer_calls"].get("bmm", 0)
    assert products == 3 * NEWTON_SCHULZ_STEPS * len(shapes)
    assert row["step"]["device_reads"] == 0 and row["optimizer"]["kernels"] < row["step"]["kernels"]
