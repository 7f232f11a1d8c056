"""How many operations a training step asks of the device (#12): the engine's own step on a recipe's real batches,
counted operation by operation as PyTorch dispatches them, split into kernels (work a GPU is launched for), views
(metadata only, host time) and device reads (a tensor read into Python or a data-dependent shape: on a GPU each
makes the host wait for the device). On a GPU a small net's step is bound by the host launching its kernels,
so these counts, taken on any machine, say what the step costs there; bench/cuda_step_profile.py times it on one.

Run: .venv/bin/python bench/step_operations.py [--recipes cifar10-90,cifar10-70-fast] [--data-dir DIR]
    [--out FILE.json]
Each recipe is set up as `cnnlab train` sets it up (on five batches of training images: the counts do not depend
on how many), takes three steps to build its optimiser state, then one counted step as the engine takes it on a GPU
(the loss left unread), its optimiser's step counted apart, and one batch of its loader."""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from cnnlab.errors import CnnlabError
from cnnlab.rundir import RunConfig
from cnnlab.train import setup
from cnnlab.train.engine import train_step

ROOT = Path(__file__).resolve().parent.parent
VIEWS = frozenset(
    [
        "view",
        "expand",
        "_unsafe_view",
        "transpose",
        "permute",
        "t",
        "detach",
        "alias",
        "as_strided",
        "unsqueeze",
        "squeeze",
        "reshape",
        "unbind",
        "select",
        "slice",
        "split",
        "lift_fresh",
    ]
)
DEVICE_READS = frozenset(["_local_scalar_dense", "nonzero", "masked_select", "unique", "_unique2", "repeat_interleave"])


class OperationCount(TorchDispatchMode):
    """Counts the operations dispatched inside it, by name (each one still runs as it would)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: collections.Counter[str] = collections.Counter()

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        self.calls[func.overloadpacket.__name__] += 1
        return func(*args, **(kwargs or {}))

    def kinds(self) -> dict[str, int]:
        """The calls as kernels, views and device reads (a read is not a kernel), and all of them."""
        views = sum(n for name, n in self.calls.items() if name in VIEWS)
        reads = sum(n for name, n in self.calls.items() if name in DEVICE_READS)
        total = sum(self.calls.values())
        return {"kernels": total - views - reads, "views": views, "device_reads": reads, "all": total}

    def device_reads(self) -> list[str]:
        return [name for name in self.calls.elements() if name in DEVICE_READS]


def count(recipe: str, data_dir: str) -> dict[str, Any]:
    """The operations of one engine step of `recipe`, of its optimiser's step within it, and of a loader batch."""
    config = RunConfig.from_toml(f"recipe:{recipe}")
    config = dataclasses.replace(config, data_dir=data_dir, limit=5 * config.batch_size)
    s = setup(config, log=lambda m: None)
    batches = iter(s.train_loader)
    for _ in range(3):
        train_step(s, *next(batches), check_loss=False)
    with OperationCount() as loader:
        x, y = next(batches)
    with OperationCount() as step:
        train_step(s, x, y, check_loss=False)
    with OperationCount() as optimizer:
        s.optimizer.step()
    return {
        "recipe": recipe,
        "step": step.kinds(),
        "optimizer": optimizer.kinds(),
        "loader": loader.kinds(),
        "optimizer_calls": dict(optimizer.calls.most_common()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--recipes", default="cifar10-90,cifar10-90-gpu,cifar10-70-fast,cifar10-80,mnist-99")
    ap.add_argument("--data-dir", default=os.environ.get("CNNLAB_BENCH_DATA", str(ROOT.parent / "shared" / "datasets")))
    ap.add_argument("--out", default=None, help="write the counts as JSON here")
    args = ap.parse_args()
    try:
        rows = [count(r, args.data_dir) for r in args.recipes.split(",")]
    except CnnlabError as e:
        ap.error(str(e))
    print(f"{'recipe':16s} {'step kernels':>12s} {'views':>6s} {'reads':>6s} {'optimiser kernels':>18s} {'loader':>7s}")
    for r in rows:
        st, op = r["step"], r["optimizer"]
        print(
            f"{r['recipe']:16s} {st['kernels']:12d} {st['views']:6d} {st['device_reads']:6d} "
            f"{op['kernels']:18d} {r['loader']['kernels']:7d}"
        )
    if args.out:
        Path(args.out).write_text(json.dumps({"torch": torch.__version__, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
