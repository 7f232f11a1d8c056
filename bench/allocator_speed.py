"""One epoch of CPU training with freed memory kept for the next step (cnnlab/train/allocator.py) and without it,
side by side: seconds of the epoch and page faults per step, each run in a fresh process of its own.

Run: .venv/bin/python bench/allocator_speed.py [--only keras-course,mnist-cnn,mnist-99,cifar10-70-muon]
         [--repeat 2] [--threads N] [--out FILE.json]
The runs are the time-to-accuracy benchmarks' own: the Keras course network on all 50,000 CIFAR-10 training images
(batch 32, Adam, the same-network row of bench/cifar10_time_to_accuracy.py), mnist-cnn on all 60,000 MNIST digits
(batch 64, Adam, the same-recipe row of bench/mnist_time_to_accuracy.py) and the mnist-99 and cifar10-70-muon
recipes, seed 0. The two arms alternate (which one goes first alternates too), so a busy machine slows both alike;
the best repeat of each is kept. The 'plain' arm is cnnlab with the setting skipped: glibc's malloc as it comes."""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cifar10_time_to_accuracy import ARCHIVE, DATA_DIR, NET, ROOT
from timing import machine_line, named_contenders, speed_arguments, use_threads

RUNS = ("keras-course", "mnist-cnn", "mnist-99", "cifar10-70-muon")
ARMS = ("kept", "plain")


def config(name: str):
    """The run's RunConfig: one epoch, no test-time augmentation (the test evaluation is not what is compared)."""
    from cnnlab.train import RunConfig

    if name in ("mnist-99", "cifar10-70-muon"):
        recipe = RunConfig.from_toml(ROOT / "examples" / "recipes" / f"{name}.toml")
        return dataclasses.replace(recipe, data_dir=str(DATA_DIR), seed=0, epochs=1, tta="none")
    common = {"val_split": 0, "epochs": 1, "optimizer": "adam", "lr": 1e-3, "seed": 0, "data_dir": str(DATA_DIR)}
    if name == "mnist-cnn":
        return RunConfig(model="mnist-cnn", data="mnist", batch_size=64, **common)
    return RunConfig(model=NET, data=f"folder:{ARCHIVE}", batch_size=32, normalize=False, **common)


def worker(name: str, arm: str) -> dict:
    """Train the run for one epoch in this process; the epoch's seconds and page faults, counted by callbacks."""
    from cnnlab.train import Callback, allocator, train

    if arm == "plain":
        allocator._glibc = lambda: None  # the control arm: the setting skipped, as if glibc were absent
    marks: list[tuple[int, float]] = []
    steps = []

    def mark() -> None:
        marks.append((resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()))

    class Count(Callback):
        def on_setup(self, setup) -> None:
            steps.append(len(setup.train_loader))
            mark()

        def on_epoch_end(self, row) -> None:
            mark()

    with tempfile.TemporaryDirectory(prefix="cnnlab-bench-") as tmp:
        summary = train(
            config(name),
            Path(tmp) / "run",
            log=lambda _: None,
            progress=False,
            callbacks=[Count()],
        )
    (f0, t0), (f1, t1) = marks
    return {
        "seconds": round(t1 - t0, 3),
        "faults_per_step": round((f1 - f0) / steps[0], 1),
        "steps": steps[0],
        "train_accuracy": summary["train_accuracy"],
    }


def run(name: str, arm: str, threads: int | None) -> dict:
    cmd = [sys.executable, __file__, "--worker", name, "--arm", arm] + (["--threads", str(threads)] if threads else [])
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{name} ({arm}) failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default=",".join(RUNS), help="comma-separated subset of " + ",".join(RUNS))
    ap.add_argument("--worker", choices=RUNS, help=argparse.SUPPRESS)
    ap.add_argument("--arm", choices=ARMS, help=argparse.SUPPRESS)
    speed_arguments(ap, repeat=2)
    args = ap.parse_args()
    use_threads(args)
    if args.worker:
        print(json.dumps(worker(args.worker, args.arm)))
        return
    names = named_contenders(ap, args.only, RUNS)
    machine = machine_line()
    print(f"one epoch each, freed memory kept against glibc as it comes, on {machine}")
    record = {"machine": machine, "command": " ".join(sys.argv), "runs": {}}
    for name in names:
        best: dict[str, dict] = {}
        for r in range(args.repeat):
            for arm in ARMS if r % 2 == 0 else ARMS[::-1]:
                result = run(name, arm, args.threads)
                if arm not in best or result["seconds"] < best[arm]["seconds"]:
                    best[arm] = result
        assert best["kept"]["train_accuracy"] == best["plain"]["train_accuracy"], "the two arms trained differently"
        ratio = best["plain"]["seconds"] / best["kept"]["seconds"]
        print(
            f"{name:16s} kept {best['kept']['seconds']:7.2f} s ({best['kept']['faults_per_step']:7.1f} faults a step)"
            f"   plain {best['plain']['seconds']:7.2f} s ({best['plain']['faults_per_step']:7.1f})   {ratio:.3f}x"
        )
        record["runs"][name] = {**best, "ratio": round(ratio, 3)}
    if args.out:
        Path(args.out).write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
