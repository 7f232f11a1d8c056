"""Two threads, each half a batch, against one step on every thread: a design measured for #12 and not shipped.

PyTorch's CPU autograd runs one operation after another, each spread over the intra-op threads; at the sizes of
the course network at batch 32 two threads per operation leave the cores waiting. The other way: one intra-op
thread, the batch cut in two, the second half's forward and backward on a copy of the model in a second Python
thread (PyTorch releases the GIL inside its kernels), the copy's gradients added to the model's before one
optimiser step, the weights copied back after it. Not shipped: dropout's masks would come from one generator in
an order that changes between runs, and in the engine the optimiser and loader stay on one thread
(docs/recipe-notes.md).

Run: .venv/bin/python bench/thread_split.py [--repeat 3] [--threads 2] [--out FILE.json]
Bare steps on random inputs (a step's time does not depend on the pixels), the two ways alternated `--repeat`
times, the best of each kept: the course network (net:keras-cifar10-course, batch 32, fused Adam, fp32 as the
per-epoch comparison with Keras runs it), cifar10-70-fast's net and cifar10-90's (batch 256, SGD, in the
precision --precision auto picks here). Prints ms per step and the ratio."""

from __future__ import annotations

import argparse
import copy
import json
import threading
from collections.abc import Callable

import torch
from timing import best_alternating, machine_line, speed_arguments, use_threads
from torch import nn

from cnnlab.train.precision import autocast, resolve
from cnnlab.zoo import create_model

# name -> (model, options, image side, batch, steps timed, fp32 or the machine's auto precision)
NETS = {
    "course": ("net:keras-cifar10-course", {}, 32, 32, 300, "fp32"),
    "fast70": ("airbench-cifar-s", {"whiten_stride": 2}, 36, 256, 15, "auto"),
    "full90": ("airbench-cifar", {}, 32, 256, 4, "auto"),
}


def stepper(name: str, split: bool, precision: str) -> Callable[[], None]:
    """A function that runs the net's steps (two warm-up steps first), whole or split over two threads."""
    model_name, options, side, batch, steps, _ = NETS[name]
    torch.manual_seed(0)
    model = create_model(model_name, **options).to(memory_format=torch.channels_last)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, 1e-3, fused=True) if name == "course" else torch.optim.SGD(params, 0.01, 0.9)
    x = torch.randn(batch, 3, side, side).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,))

    def half(net: nn.Module, xs: torch.Tensor, ys: torch.Tensor) -> None:
        with autocast("cpu", precision):
            loss = nn.functional.cross_entropy(net(xs).float(), ys) * (len(ys) / batch)
        loss.backward()

    replica = copy.deepcopy(model)
    mine, theirs = params, [p for p in replica.parameters() if p.requires_grad]
    (x0, x1), (y0, y1) = x.chunk(2), y.chunk(2)
    go, done = threading.Semaphore(0), threading.Semaphore(0)

    def worker() -> None:  # one thread for the run, woken for each step's second half
        while True:
            go.acquire()
            half(replica, x1, y1)
            done.release()

    if split:
        threading.Thread(target=worker, daemon=True).start()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        if not split:
            half(model, x, y)
        else:
            for p in theirs:
                p.grad = None
            go.release()
            half(model, x0, y0)
            done.acquire()
            torch._foreach_add_([p.grad for p in mine], [p.grad for p in theirs])
        opt.step()
        if split:
            with torch.no_grad():
                torch._foreach_copy_(theirs, mine)

    def run() -> None:
        threads = torch.get_num_threads()
        torch.set_num_threads(1 if split else threads)
        try:
            for _ in range(steps + 2):
                step()
        finally:
            torch.set_num_threads(threads)

    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    speed_arguments(ap, repeat=3)
    args = ap.parse_args()
    use_threads(args)
    auto = resolve("auto", "cpu")[0]
    machine = machine_line()
    print(f"{machine}; auto precision here: {auto}")
    record: dict = {"machine": machine, "auto_precision": auto, "nets": {}}
    for name, (model_name, _, side, batch, steps, want) in NETS.items():
        precision = auto if want == "auto" else want
        ways = {"whole": stepper(name, False, precision), "split": stepper(name, True, precision)}
        best, _ = best_alternating(ways, args.repeat)
        ms = {k: v / (steps + 2) * 1000 for k, v in best.items()}
        ratio = ms["whole"] / ms["split"]
        print(
            f"{name:7s} {model_name} {side}x{side}, batch {batch}, {precision}: one step on every thread "
            f"{ms['whole']:7.1f} ms, two threads of half a batch {ms['split']:7.1f} ms: {ratio:.2f}x"
        )
        record["nets"][name] = {"model": model_name, "batch": batch, "precision": precision, "ratio": round(ratio, 3)}
        record["nets"][name] |= {f"{k}_ms": round(v, 2) for k, v in ms.items()}
    if args.out:
        with open(args.out, "w") as f:
            json.dump(record, f, indent=2)


if __name__ == "__main__":
    main()
