"""The CUDA path (#12): a recipe trains on the GPU as `--device cuda` runs it (channels-last, bf16 autocast chosen by
--precision auto, torch.compile), a GPU run resumes there with its EMA, and its run directory is read back by a
process that has no GPU. Skipped without a CUDA device: CI has none; bench/cuda_session.sh runs these on a GPU."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from cnnlab.cli import main
from cnnlab.rundir import RunConfig, open_run
from cnnlab.train import train
from tests.conftest import SHARED

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_the_fastest_recipe_reaches_70_on_the_gpu_compiled_in_bf16(tmp_path, capsys):
    """recipe:cifar10-70-fast as a user runs it on a GPU: all 50,000 images, one epoch, compiled, in the bf16 that
    --precision auto picks on a GPU that has it, and the recipe's target on the 10,000 test images."""
    out = tmp_path / "r"
    code = main(["train", "recipe:cifar10-70-fast", "--data-dir", str(SHARED / "datasets"), "--device", "cuda",
                 "--compile", "--out", str(out), "--no-progress"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    run = open_run(out)
    assert (run.summary["precision"], run.summary["test_size"], run.config.compile) == ("bf16", 10_000, True)
    assert run.summary["test_accuracy"] >= 0.70


def _config(tmp_path) -> RunConfig:
    """cifar10-70-fast for two epochs on 5,000 images with an EMA of the weights, on the GPU."""
    recipe = RunConfig.from_toml("recipe:cifar10-70-fast")
    return dataclasses.replace(
        recipe, data_dir=str(SHARED / "datasets"), device="cuda", limit=5000, epochs=2, ema=0.9, seed=3
    )


def test_a_gpu_run_stopped_and_resumed_keeps_its_ema_and_ends_where_an_unstopped_one_does(tmp_path):
    """Stopped after epoch 1 and resumed on the GPU, the run's EMA comes back as checkpointed, and with cuDNN held
    to deterministic kernels it ends on the unstopped run's weights (augmentation and shuffling draw from
    checkpointed CPU generators, so nothing random is lost on the GPU)."""
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    config = _config(tmp_path)
    train(config, tmp_path / "whole", progress=False, log=lambda s: None)
    assert train(config, tmp_path / "cut", progress=False, log=lambda s: None, stop_after=1) is None
    train(config, tmp_path / "cut", resume=True, progress=False, log=lambda s: None)
    last = "checkpoints/epoch-0002/weights.safetensors"
    whole, cut = load_file(tmp_path / "whole" / last), load_file(tmp_path / "cut" / last)
    assert whole.keys() == cut.keys()
    assert all(torch.equal(whole[k], cut[k]) for k in whole)


def test_a_gpu_run_is_evaluated_by_a_process_without_a_gpu(tmp_path):
    """The run directory a GPU wrote (weights saved from CUDA tensors, precision recorded as bf16) is scored on the
    CPU by a process that sees no GPU, within bf16's rounding of the accuracy the GPU run recorded."""
    config = dataclasses.replace(_config(tmp_path), epochs=1)
    summary = train(config, tmp_path / "r", progress=False, log=lambda s: None)
    script = (
        "import sys; from cnnlab.train.inference import evaluate_run; print(evaluate_run(sys.argv[1])['test_accuracy'])"
    )
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "r")], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert abs(float(done.stdout.split()[-1]) - summary["test_accuracy"]) <= 0.01
