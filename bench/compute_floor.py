"""Why a speed goal of #12 is met or missed on this machine: each shipped recipe's training FLOPs against the
machine's measured matmul rate (the floor no implementation of that recipe can go under), beside the recipe's own
measured steps, and the goal.

Run: .venv/bin/python bench/compute_floor.py [--recipes mnist-99,cifar10-70-muon,...] [--steps 20] [--repeat 2] [--profile]
    [--threads N] [--data-dir ../shared/datasets] [--out FILE.json]

For every recipe (and `keras-net`, the course material's Keras CIFAR-10 network with the benchmark's same-network
recipe: Adam, batch 32) it
  * counts the forward MACs of one image at the recipe's input size (cnnlab's `summary`) and takes a training
    image as 3x its forward (the forward, the input gradients and the weight gradients each cost about one
    forward: the usual estimate, Kaplan et al. 2020), so FLOPs per epoch = 6 x MACs x training images;
  * builds the run as `cnnlab train` does (real data from --data-dir, whitening, optimiser, --precision auto
    resolved for this CPU) and times --steps of the engine's own training step on real batches (forward under the
    run's autocast, loss, backward, gradient norm, optimiser, schedule, EMA), after 3 warm-up steps; the best of
    --repeat is kept;
  * measures the machine's matmul rate (2048x2048, best of 5 after a warm-up) in each precision a recipe runs in.
A recipe with --progressive (cifar10-90-fast) is two phases: its first steps on small images, timed on its own
first batches, and the rest at full size, timed on the same recipe built without --progressive; its FLOPs and step
time are summed over both (the JSON row lists the phases).
With --profile each recipe's row also lists its busiest operators a step at full size (torch.profiler over 3 steps,
self CPU time, so the convs' share of a step and what the rest costs are read off), printed below the table.
Printed per recipe: the floor (all epochs' FLOPs at the matmul rate), the steps' time for all epochs, the rate
they sustain as a share of the matmul rate, and the goal with both ratios. No accuracy is measured here: the
recipes' accuracies are in their files' comments and in bench/*_time_to_accuracy.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import torch
from timing import load, machine, machine_line, speed_arguments, use_threads

from cnnlab.analysis import summarize
from cnnlab.errors import CnnlabError
from cnnlab.rundir import RunConfig
from cnnlab.train.allocator import freed_memory_kept
from cnnlab.train.engine import train_step
from cnnlab.train.precision import cpu_flags
from cnnlab.train.setup import setup

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("CNNLAB_BENCH_DATA", ROOT.parent / "shared" / "datasets"))
RECIPES = (
    "mnist-99",
    "cifar10-70-muon",
    "cifar10-70",
    "cifar10-80-muon",
    "cifar10-80",
    "cifar10-90",
    "cifar10-90-fast",
    "cifar10-90-gpu",
    "keras-net",
)
# #12's goals in seconds of training on 2 cores: (without AMX, with AMX); the 70% goal is a tenth of Keras' time
# in the same run, so it is measured beside Keras (bench/cifar10_time_to_accuracy.py), not here.
GOALS = {
    "mnist-99": (10.0, 5.0),
    "cifar10-80-muon": (120.0, 120.0),
    "cifar10-80": (120.0, 120.0),
    "cifar10-90": (600.0, 240.0),
    "cifar10-90-fast": (600.0, 240.0),
    "cifar10-90-gpu": (600.0, 240.0),
}
KERAS_NET = {  # bench/cifar10_time_to_accuracy.py's same-network contender
    "model": "net:keras-cifar10-course",
    "data": "folder:{data_dir}/cifar10-jpg.tar.gz",
    "val_split": 0,
    "epochs": 1,
    "batch_size": 32,
    "optimizer": "adam",
    "lr": 1e-3,
    "normalize": False,
}


def recipe_config(name: str, data_dir: Path) -> RunConfig:
    """The recipe as `cnnlab train recipe:NAME --data-dir DIR` runs it (keras-net: the same-network contender)."""
    config = RunConfig(**KERAS_NET) if name == "keras-net" else RunConfig.from_toml(f"recipe:{name}")
    return dataclasses.replace(config, data_dir=str(data_dir), seed=0).validate()


def matmul_rate(bf16: bool, side: int = 2048, reps: int = 5) -> float:
    """GFLOP/s of a square fp32 matmul, or of the same under bf16 autocast; best of `reps` after a warm-up."""
    a, b = torch.randn(side, side), torch.randn(side, side)
    best = float("inf")
    for i in range(reps + 1):
        t = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            a @ b
        if i:
            best = min(best, time.perf_counter() - t)
    return 2 * side**3 / best / 1e9


def step_seconds(s, steps: int) -> float:
    """Seconds per training step of the built run `s`: the engine's own step on the run's own batches."""
    batches = iter(s.train_loader)
    total = 0.0
    for i in range(steps + 3):
        x, y = next(batches)
        t = time.perf_counter()
        train_step(s, x, y)
        if i >= 3:
            total += time.perf_counter() - t
    return total / steps


def best_step(s, args: argparse.Namespace) -> float:
    return min(step_seconds(s, min(args.steps, len(s.train_loader) - 3)) for _ in range(args.repeat))


def phases(config: RunConfig, s, full, args: argparse.Namespace) -> list[dict]:
    """The run's steps as phases of one image size: one, or with --progressive the first steps on small images
    (timed on the run's own first batches, which are the small ones) and the rest at full size (timed on `full`,
    the run at its full size: `full_size`)."""
    total = len(s.train_loader) * config.epochs
    shape = tuple(s.data.input_shape)
    early = [] if s.train_loader.small is None else [(*s.train_loader.small, s)]
    rest = total - sum(count for _, count, _ in early)
    return [
        {
            "input": [shape[0], *size],
            "steps": count,
            "macs_per_image": summarize(run.model, input_shape=(shape[0], *size)).macs,
            "step_s": best_step(run, args),
        }
        for size, count, run in [*early, (shape[1:], rest, full)]
    ]


def full_size(config: RunConfig, s):
    """The built run `s` at its full image size: itself, or with --progressive a build without it."""
    return (
        s if s.train_loader.small is None else setup(dataclasses.replace(config, progressive=None), log=lambda _: None)
    )


def operators(s, steps: int = 3, top: int = 12) -> list[dict]:
    """The busiest operators of `steps` training steps of the built run `s` (torch.profiler, self CPU time: what
    each operator took itself, not its callees), in milliseconds and calls a step: which part of a step a faster
    kernel or fewer operations would save."""
    batches = iter(s.train_loader)
    x, y = next(batches)
    train_step(s, x, y)  # warm-up: oneDNN builds its kernels for these shapes on the first call
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            x, y = next(batches)
            train_step(s, x, y)
    busiest = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)[:top]
    return [
        {"op": e.key, "ms_per_step": round(e.self_cpu_time_total / 1e3 / steps, 2), "calls_per_step": e.count // steps}
        for e in busiest
    ]


def phase_row(phase: dict) -> dict:
    """A phase as the JSON records it: its step in milliseconds."""
    return {**{k: v for k, v in phase.items() if k != "step_s"}, "step_ms": round(phase["step_s"] * 1e3, 2)}


def measure(name: str, args: argparse.Namespace, config: RunConfig | None = None) -> dict:
    """One recipe's FLOPs, its measured steps and their time over all its epochs (`config`: the recipe's own
    settings, else as `cnnlab train recipe:NAME` runs it)."""
    config = config or recipe_config(name, args.data_dir)
    t = time.perf_counter()
    s = setup(config, log=lambda _: None)
    setup_s = time.perf_counter() - t
    images = len(s.data.train_y)
    full = full_size(config, s)  # built once: timed for the full-size phase and profiled
    steps = phases(config, s, full, args)
    profiled = {"operators": operators(full)} if args.profile else {}
    total = sum(p["steps"] for p in steps)
    epoch_flop = 6 * images * sum(p["steps"] * p["macs_per_image"] for p in steps) / total
    steps_s = sum(p["steps"] * p["step_s"] for p in steps)
    return {
        "recipe": name,
        "model": config.model,
        "input": list(s.data.input_shape),
        "precision": s.precision,
        "batch_size": config.batch_size,
        "epochs": config.epochs,
        "macs_per_image": steps[-1]["macs_per_image"],
        "train_images": images,
        "tflop_per_epoch": round(epoch_flop / 1e12, 4),
        "step_ms": round(steps[-1]["step_s"] * 1e3, 2),
        "steps_per_epoch": len(s.train_loader),
        "steps_s": round(steps_s, 2),
        "sustained_gflops": round(epoch_flop * config.epochs / steps_s / 1e9, 1),
        "setup_s": round(setup_s, 2),
        "phases": [phase_row(p) for p in steps] if len(steps) > 1 else [],
        **profiled,
    }


def with_floor(row: dict, rates: dict[str, float], amx: bool) -> dict:
    """The row with its floor at the matmul rate of its precision, the share of it the steps sustain, and #12's goal."""
    rate = rates[row["precision"]]
    floor = row["tflop_per_epoch"] * 1e12 * row["epochs"] / (rate * 1e9)
    goal = GOALS.get(row["recipe"], (None, None))[1 if amx else 0]
    return {
        **row,
        "matmul_gflops": round(rate, 1),
        "of_matmul": round(row["sustained_gflops"] / rate, 3),
        "floor_s": round(floor, 2),
        "goal_s": goal,
        "floor_vs_goal": round(floor / goal, 3) if goal else None,
        "steps_vs_goal": round(row["steps_s"] / goal, 3) if goal else None,
    }


def table(rows: list[dict]) -> list[str]:
    """The printed table, a line per recipe."""
    lines = [
        f"{'recipe':16s} {'prec':4s} {'MMACs/img':>9s} {'TFLOP/ep':>8s} {'ep':>3s} {'floor s':>8s} {'steps s':>8s} "
        f"{'GFLOP/s':>8s} {'of mm':>6s} {'goal s':>6s} {'floor/goal':>10s} {'steps/goal':>10s}"
    ]
    for r in rows:
        goal = f"{r['goal_s']:6.0f}" if r["goal_s"] else f"{'-':>6s}"
        ratios = f"{r['floor_vs_goal']:9.2f}x {r['steps_vs_goal']:9.2f}x" if r["goal_s"] else f"{'-':>10s} {'-':>10s}"
        lines.append(
            f"{r['recipe']:16s} {r['precision']:4s} {r['macs_per_image'] / 1e6:9.2f} {r['tflop_per_epoch']:8.3f} "
            f"{r['epochs']:3d} {r['floor_s']:8.1f} {r['steps_s']:8.1f} {r['sustained_gflops']:8.1f} "
            f"{r['of_matmul']:6.0%} {goal} {ratios}"
        )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--recipes", default=",".join(RECIPES), help="comma-separated subset of " + ",".join(RECIPES))
    ap.add_argument("--steps", type=int, default=20, help="training steps timed per recipe (after 3 warm-up steps)")
    ap.add_argument("--data-dir", type=Path, default=DATA_DIR)
    ap.add_argument(
        "--profile", action="store_true", help="also record each recipe's busiest operators a step (torch.profiler)"
    )
    speed_arguments(ap, repeat=2)
    args = ap.parse_args()
    names = [n.strip() for n in args.recipes.split(",") if n.strip()]
    if unknown := [n for n in names if n not in RECIPES]:
        ap.error(f"--recipes: unknown {', '.join(unknown)}; choose from {', '.join(RECIPES)}")
    if args.steps < 1 or args.repeat < 1:
        ap.error("--steps and --repeat must be positive integers")
    if not args.data_dir.is_dir():
        ap.error(f"--data-dir {args.data_dir} is not a folder; give the one that holds mnist/ and cifar10-jpg.tar.gz")
    if args.out and not Path(args.out).parent.is_dir():
        ap.error(f"--out {args.out}: its folder does not exist")
    use_threads(args)
    before = load()
    try:
        with freed_memory_kept():  # as cnnlab.train.train runs its steps
            measured = [measure(n, args) for n in names]
    except CnnlabError as e:  # the data or a recipe cannot be used: one line, as the CLI says it
        ap.exit(2, f"{ap.prog}: error: {e}\n")
    rates = {p: matmul_rate(p == "bf16") for p in sorted({r["precision"] for r in measured})}
    rows = [with_floor(r, rates, "amx_bf16" in cpu_flags()) for r in measured]
    print(machine_line())
    print("matmul " + ", ".join(f"{p} {g:.0f} GFLOP/s" for p, g in rates.items()))
    print("\n".join(table(rows)))
    for r in rows:
        if "operators" in r:
            ops = ", ".join(f"{o['op']} {o['ms_per_step']:.1f}" for o in r["operators"])
            print(f"{r['recipe']}: ms a step at full size, by operator: {ops}")
    if args.out:
        record = {
            "command": " ".join(["bench/compute_floor.py", *sys.argv[1:]]),
            "machine": machine(before, load()),
            "rows": rows,
        }
        Path(args.out).write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
