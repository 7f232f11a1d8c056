"""Training on the CPU keeps the memory its steps free for the next step (cnnlab/train/allocator.py): counted in page
faults of real training steps in fresh processes, with the setting and without it."""

from __future__ import annotations

import json
import subprocess
import sys

from cnnlab.train import Callback, RunConfig, allocator, train
from tests.conftest import REPO, shared_dataset

# One process per arm, a fresh heap each as a user's `cnnlab train` has, holding all of MNIST as a run does. Page
# faults of 50 steps of mnist-cnn on 32 real digits, after 10 steps that warm up the optimiser and thread pool.
SCRIPT = """
import json, resource, sys
import torch
from cnnlab.data import load_dataset
from cnnlab.train.allocator import freed_memory_kept
from cnnlab.zoo import create_model

torch.manual_seed(0)
torch.set_num_threads(2)
data = load_dataset("mnist", data_dir=sys.argv[1], val=None)
x = (data.train_x[:32].float() / 255).contiguous(memory_format=torch.channels_last)
y = data.train_y[:32]
model = create_model("mnist-cnn", num_classes=10).to(memory_format=torch.channels_last)
optimizer = torch.optim.Adam(model.parameters(), 1e-3)

def steps(n):
    for _ in range(n):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

def faults_per_step():
    steps(10)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    steps(50)
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 50

def resident_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20

if sys.argv[2] == "kept":
    with freed_memory_kept() as kept:
        assert kept, "glibc's mallopt was not found"
        print(json.dumps(faults_per_step()))
elif sys.argv[2] == "nested":  # a block inside another (train called within a run's block), then the outer one's end
    with freed_memory_kept():
        with freed_memory_kept():
            steps(5)
        nested = faults_per_step()
        inside = resident_mib()
    print(json.dumps([nested, inside, resident_mib(), faults_per_step()]))
else:
    print(json.dumps(faults_per_step()))
"""


def faults_per_step(arm: str) -> float:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(shared_dataset("")), arm], cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_training_steps_reuse_the_memory_they_free():
    kept, plain = faults_per_step("kept"), faults_per_step("plain")
    assert plain > 100, f"{plain} page faults a step without the setting: the control arm no longer shows the cost"
    assert kept < plain / 10, f"{kept} page faults a step with freed memory kept, {plain} without"


def test_a_run_trains_with_freed_memory_kept_and_lets_it_go_after(tmp_path):
    seen = []

    class Look(Callback):
        def on_setup(self, setup) -> None:
            seen.append(allocator._depth)

        def on_epoch_end(self, row) -> None:
            seen.append(allocator._depth)

    config = RunConfig(
        model="mnist-cnn", data="mnist", data_dir=str(shared_dataset("")), limit=256, val_split=0, epochs=1
    )
    train(config, tmp_path / "run", log=lambda _: None, progress=False, callbacks=[Look()])
    assert seen == [1, 1] and allocator._depth == 0


def test_an_inner_block_keeps_the_outer_setting_and_the_outer_end_hands_the_memory_back():
    """Nested blocks share the outermost one's setting: an inner block's end leaves the memory kept for the outer
    one's steps. The outermost end returns the kept memory to the kernel (malloc_trim) and puts glibc's thresholds
    back, so the process holds no more than it uses and its later steps fault as they would without the setting."""
    nested, inside, after, later = faults_per_step("nested")
    assert nested < 100, f"{nested} page faults a step in the outer block after an inner block ended"
    assert inside - after > 8, f"{inside:.0f} MiB resident at the end of the block, {after:.0f} MiB after it"
    assert later > 100, f"{later} page faults a step after the block: glibc's thresholds were not put back"
