"""What an optimiser adds to a training step, side by side: SGD (fused, the cifar10-90 recipe's) against Muon
(`--optimizer muon`) on airbench-cifar at batch 256, the same parameter groups and settings, on the CPU.

Run: .venv/bin/python bench/optimizer_step.py [--model airbench-cifar] [--batch 256] [--steps 10] [--repeat 2]
    [--threads N] [--out FILE.json]
Each repeat builds a fresh seeded model per optimiser and times --steps steps after two warm-up steps, the
optimisers in turn, so a busy machine slows both alike; the best repeat of each is kept. Inputs are random
(the time of a step does not depend on the pixels). Prints ms per step, the optimiser's share and the ratio."""

from __future__ import annotations

import argparse
import json
import time

import torch
from timing import machine_line, positive, speed_arguments, use_threads

from cnnlab.rundir import RunConfig
from cnnlab.train.optim import make_optimizer
from cnnlab.transfer import parameter_groups
from cnnlab.zoo import create_model

SETTINGS = {"lr": 0.1, "momentum": 0.85, "nesterov": True, "weight_decay": 2.4e-3, "bias_lr": 13.6, "head_lr": 0.21}


def time_steps(model_name: str, optimizer: str, batch: int, steps: int) -> tuple[float, float]:
    """(seconds per whole step, seconds of it in optimizer.step()), averaged over `steps` after two warm-up steps."""
    torch.manual_seed(0)
    model = create_model(model_name).to(memory_format=torch.channels_last)
    config = RunConfig(optimizer=optimizer, decay_norm_bias=False, **SETTINGS)
    opt = make_optimizer(parameter_groups(model, config.head_lr, config.bias_lr, config.decay_norm_bias), config)
    x = torch.randn(batch, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,))
    whole = inside = 0.0
    for i in range(steps + 2):
        t0 = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t1 = time.perf_counter()
        opt.step()
        t2 = time.perf_counter()
        if i >= 2:
            whole, inside = whole + t2 - t0, inside + t2 - t1
    return whole / steps, inside / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="airbench-cifar")
    ap.add_argument("--batch", type=positive, default=256)
    ap.add_argument("--steps", type=positive, default=10)
    speed_arguments(ap, repeat=2)
    args = ap.parse_args()
    use_threads(args)
    best: dict[str, tuple[float, float]] = {}
    for _ in range(args.repeat):
        for name in ("sgd", "muon"):
            got = time_steps(args.model, name, args.batch, args.steps)
            best[name] = min(best.get(name, got), got)
    machine = machine_line()
    print(f"{args.model}, batch {args.batch}, fp32 on {machine}")
    for name, (whole, inside) in best.items():
        print(f"{name:5s} {whole * 1000:8.1f} ms a step, optimiser {inside * 1000:6.1f} ms")
    ratio = best["muon"][0] / best["sgd"][0]
    print(f"muon / sgd per step: {ratio:.3f}")
    if args.out:
        record = {"model": args.model, "batch": args.batch, "machine": machine, "ratio_muon_sgd": round(ratio, 4)}
        record |= {n: {"step_ms": round(w * 1000, 2), "optimizer_ms": round(o * 1000, 2)} for n, (w, o) in best.items()}
        with open(args.out, "w") as f:
            json.dump(record, f, indent=2)


if __name__ == "__main__":
    main()
