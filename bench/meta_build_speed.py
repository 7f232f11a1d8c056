"""Building every zoo model and shipped network for its shapes, side by side: `cnnlab.zoo.meta.meta_device()`
(initialisers skipped) against a plain `torch.device("meta")`, what `cnnlab models` builds.

Run: .venv/bin/python bench/meta_build_speed.py [--repeat 3] [--threads N] [--out FILE.json]
The two ways alternate, so a busy machine slows both alike, and the best repeat of each is kept. The first build
of a process pays one-time imports (TorchDynamo among them, where an out-of-place op on a meta tensor needs it), so
a warm-up round of each runs first; `python -c "import sys, torch; ..."` in tests/test_meta_build.py checks the
import itself. Both ways must count the same parameters."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import torch
from timing import best_alternating, machine_line, speed_arguments, use_threads

from cnnlab.resources import shipped
from cnnlab.zoo import create_model, list_models
from cnnlab.zoo.meta import meta_device

NAMES = list_models() + [f"net:{name}" for name in shipped("net")]


def build_all(context: Callable[[], AbstractContextManager]) -> int:
    """Every model built in `context`; returns the parameters counted, as `cnnlab models` counts them."""
    total = 0
    for name in NAMES:
        with context():
            model = create_model(name)
        total += sum(p.numel() for p in model.parameters())
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    speed_arguments(ap, repeat=3)
    args = ap.parse_args()
    use_threads(args)
    ways = {"torch.device('meta')": lambda: torch.device("meta"), "meta_device()": meta_device}
    counts = {name: build_all(way) for name, way in ways.items()}  # the warm-up round
    assert len(set(counts.values())) == 1, counts
    best, _ = best_alternating({name: lambda way=way: build_all(way) for name, way in ways.items()}, args.repeat)
    ratio = best["torch.device('meta')"] / best["meta_device()"]
    machine = machine_line()
    print(f"{len(NAMES)} models, {counts['meta_device()']:,} parameters, on {machine}")
    for name, seconds in best.items():
        print(f"{name:22s} {seconds:6.2f} s")
    print(f"torch.device('meta') / meta_device(): {ratio:.2f}x")
    if args.out:
        record = {"models": len(NAMES), "machine": machine, "seconds": best, "ratio": round(ratio, 3)}
        Path(args.out).write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
