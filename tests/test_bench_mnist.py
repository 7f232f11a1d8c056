"""bench/mnist_time_to_accuracy.py as a user runs it: the mnist-99 recipe on real MNIST in a worker process of its
own, the JSON naming the device and what was skipped; and --device cuda refused in one line where there is no GPU
(the GPU run itself is bench/cuda_session.sh's, on a machine with one)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import shared_dataset

SCRIPT = Path(__file__).resolve().parent.parent / "bench" / "mnist_time_to_accuracy.py"
DATA = shared_dataset("mnist").parent


def bench(*flags: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CNNLAB_BENCH_DATA": str(DATA)}
    return subprocess.run([sys.executable, str(SCRIPT), *flags], capture_output=True, text=True, env=env, check=False)


def test_the_recipe_row_trains_on_the_cpu_and_says_where(tmp_path: Path) -> None:
    out = tmp_path / "mnist.json"
    p = bench("--only", "recipe", "--limit", "3000", "--target", "0.5", "--threads", "2", "--out", str(out))
    assert p.returncode == 0, p.stderr
    info = json.loads(out.read_text())
    (row,) = info["results"]
    assert (info["device"], info["gpu"], info["skipped"]) == ("cpu", None, {})
    assert (row["contender"], row["settings"]["device"], row["settings"]["compile"]) == ("recipe", "cpu", False)
    assert row["reached"] and 0.5 <= row["epochs"][-1]["test_accuracy"] <= 1
    assert "goal: mnist-99 to 50.0% in at most" in p.stdout  # the CPU goal line, which a GPU run leaves out


@pytest.mark.skipif(torch.cuda.is_available(), reason="refused only where there is no CUDA device")
def test_cuda_without_a_gpu_is_one_line_exit_2() -> None:
    p = bench("--device", "cuda", "--only", "recipe")
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert (
        p.stderr.strip().splitlines()[-1].endswith("this machine has no CUDA device; run on the CPU with --device cpu")
    )
