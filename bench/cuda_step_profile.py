"""Where a training step's time goes on a GPU (#12): the engine's own step (cnnlab.train.engine.train_step) on a
recipe's set-up, split into its phases, at the recipe's batch size and at larger ones, with the profiler's busiest
operations. On the GPU a small net's step is bound by the host launching kernels, not by the GPU computing them;
this says by how much and where.

Run (on a machine with a CUDA GPU): python bench/cuda_step_profile.py [--recipe cifar10-90] [--batches 256,1024]
    [--steps 30] [--out FILE.json]
Phases, each timed over --steps steps after warm-up with the GPU synchronised before and after: the loader's
batches alone; forward and backward; the optimiser's step; the whole train_step. Seconds per step and per epoch
(50,000 images)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path

import torch
from timing import positive

from cnnlab.errors import CnnlabError
from cnnlab.rundir import RunConfig
from cnnlab.train import setup
from cnnlab.train.engine import train_step
from cnnlab.train.optim import training_loss

ROOT = Path(__file__).resolve().parent.parent


def timed(fn, steps: int) -> float:
    """Seconds per call of fn over `steps` calls, the GPU idle before and synchronised after."""
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t) / steps


def phases(config: RunConfig, steps: int) -> dict:
    """Seconds per step of each phase of the engine's step on `config`'s set-up."""
    s = setup(config, log=lambda m: None)
    batches = iter(s.train_loader)
    x, y = next(batches)

    def next_batch() -> None:
        nonlocal batches
        try:
            next(batches)
        except StopIteration:
            batches = iter(s.train_loader)

    def forward_backward() -> None:
        with s.autocast():
            loss, _ = training_loss(s.model, s.loss_fn, s.net(x), y)
        s.optimizer.zero_grad(set_to_none=True)
        loss.backward()

    def step() -> None:  # as the engine steps on a GPU: the loss is not read every step
        train_step(s, x, y, check_loss=False)

    for _ in range(5):  # warm-up: cuDNN's kernel choice, the allocator's pools, the optimiser's state
        step()
    out = {
        "loader": timed(next_batch, steps),
        "forward_backward": timed(forward_backward, steps),
        "optimizer_step": timed(s.optimizer.step, steps),
        "train_step": timed(step, steps),
    }
    with torch.profiler.profile(
        activities=[torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]
    ) as prof:
        for _ in range(10):
            step()
        torch.cuda.synchronize()
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20)
    gpu_busy = sum(e.self_device_time_total for e in prof.key_averages()) / 10 / 1e6
    return {**{k: round(v, 6) for k, v in out.items()}, "gpu_busy_per_step": round(gpu_busy, 6), "profile": table}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--recipe", default="cifar10-90")
    ap.add_argument("--batches", default="256,1024")
    ap.add_argument("--steps", type=positive, default=30)
    ap.add_argument("--data-dir", default=os.environ.get("CNNLAB_BENCH_DATA", str(ROOT.parent / "shared" / "datasets")))
    ap.add_argument("--out", default="bench/results/cuda_step_profile.json")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        ap.error("needs a CUDA GPU; on the CPU, bench/compute_floor.py times the same step")
    try:
        recipe = RunConfig.from_toml(f"recipe:{args.recipe}")
    except CnnlabError as e:
        ap.error(str(e))
    rows = []
    for batch in (int(b) for b in args.batches.split(",")):
        config = dataclasses.replace(recipe, data_dir=args.data_dir, device="cuda", batch_size=batch)
        row = {"batch_size": batch, **phases(config, args.steps)}
        print(row.pop("profile"))
        row["train_step_per_epoch_s"] = round(row["train_step"] * 50_000 / batch, 3)
        print(json.dumps(row))
        rows.append(row)
    result = {"recipe": args.recipe, "gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
