"""Data-parallel scaling: training images per second with 1 process and with N processes (`cnnlab train --nproc`).

Run: .venv/bin/python bench/ddp_scaling.py [--data-dir ../shared/datasets] [--limit 6000] [--epochs 3]
         [--batch-size 128] [--nproc 2] [--device cpu|cuda] [--out bench/results/ddp_scaling.json]

On the CPU the machine's cores are shared out: 1 process with all of them as threads against N processes with
cores/N threads each (OMP_NUM_THREADS), so the ratio says whether DDP's processes use the same cores better than
intra-op threads do. On GPUs (--device cuda) 1 GPU is compared with --nproc GPUs, and efficiency is
speedup / N. Each configuration trains the same run (mnist-cnn on an MNIST subset, no validation split, so every
epoch is pure training); images/s is taken over the epochs after the first (warm-up) from metrics.csv.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from timing import positive


def images_per_second(run: Path, train_size: int) -> float:
    """Training images per second over the epochs after the first, from the run's metrics.csv."""
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    seconds = sum(float(r["seconds"]) for r in rows[1:])
    return train_size * (len(rows) - 1) / seconds


def train(args: argparse.Namespace, nproc: int, threads: int, out: Path) -> float:
    command = [sys.executable, "-m", "cnnlab", "train", "--model", "mnist-cnn", "--data", "mnist"]
    command += ["--data-dir", args.data_dir, "--limit", str(args.limit), "--val-split", "0"]
    command += ["--epochs", str(args.epochs), "--batch-size", str(args.batch_size), "--device", args.device]
    command += ["--out", str(out), "--no-progress", *(["--nproc", str(nproc)] if nproc > 1 else [])]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    summary = json.loads((out / "summary.json").read_text())
    return images_per_second(out, summary["train_size"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "datasets"))
    ap.add_argument("--limit", type=int, default=6000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=positive, default=128)
    ap.add_argument("--nproc", type=positive, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default="bench/results/ddp_scaling.json")
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        one = train(args, 1, cores, Path(tmp) / "one")
        many = train(args, args.nproc, max(1, cores // args.nproc), Path(tmp) / "many")
    speedup = many / one
    devices = args.nproc if args.device.startswith("cuda") else 1  # on the CPU both use the same cores
    result = {
        "device": args.device,
        "cores": cores,
        "model": "mnist-cnn",
        "images": args.limit,
        "epochs_timed": args.epochs - 1,
        "global_batch": args.batch_size,
        "one_process_images_per_s": round(one, 1),
        "processes": args.nproc,
        "n_processes_images_per_s": round(many, 1),
        "speedup": round(speedup, 3),
        "efficiency": round(speedup / devices, 3),
    }
    print(f"1 process ({cores} threads): {one:,.0f} images/s")
    print(f"{args.nproc} processes ({max(1, cores // args.nproc)} thread(s) each): {many:,.0f} images/s")
    print(f"speedup {speedup:.2f}x, scaling efficiency {speedup / devices:.0%} ({devices} device(s))")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
