"""Test-time-augmented evaluation on the CPU, side by side: cnnlab's `evaluate` (batches of `eval_batch_size`, one
forward pass per view) against the way it worked before (batches of 512 with the six flip,translate views stacked
into batches of 1,024 and 2,048 images), on the real CIFAR-10 test images; with --bf16 also cnnlab's evaluation
under bf16 autocast, as a bf16 run evaluates (a CPU without AMX or AVX512-BF16 emulates it, slower).

Run: .venv/bin/python bench/evaluation_speed.py [--model airbench-cifar-s] [--option widths=24,48,96]
    [--input 28] [--views flip,translate] [--bf16] [--repeat 2] [--threads N] [--out FILE.json]
The model is freshly seeded (the time of a forward pass does not depend on the weights); the ways alternate,
so a busy machine slows them alike, and the best repeat of each is kept. How often each way's predictions
agree with cnnlab's fp32 ones is printed (the fp32 ways should agree; bf16's on random weights is no accuracy)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from timing import best_alternating, machine_line, speed_arguments, use_threads

from cnnlab.data import DeviceLoader, adapt, load_dataset
from cnnlab.train.engine import evaluate
from cnnlab.train.setup import eval_batch_size
from cnnlab.train.tta import logits as tta_logits
from cnnlab.zoo import create_model
from cnnlab.zoo.registry import parse_option

DATA = Path(os.environ.get("CNNLAB_BENCH_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "datasets"))


@torch.no_grad()
def stacked(model: torch.nn.Module, loader: DeviceLoader, views: str) -> torch.Tensor:
    """The earlier evaluation: each batch and its mirror in one forward pass, the four shifted views in another."""
    model.eval()
    preds = []
    for x, _ in loader:
        if views == "none":
            preds.append(model(x).argmax(1))
            continue
        both = torch.cat([x, x.flip(-1)])
        image, mirror = model(both).chunk(2)
        out = (image + mirror) / 2
        if views == "flip,translate":
            padded = F.pad(both, (1, 1, 1, 1), mode="reflect")
            h, w = x.shape[-2:]
            shifted = torch.cat([padded[..., :h, :w], padded[..., 2 : 2 + h, 2 : 2 + w]])
            out = 0.5 * out + 0.5 * model(shifted).unflatten(0, (4, -1)).mean(0)
        preds.append(out.argmax(1))
    return torch.cat(preds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="airbench-cifar-s")
    ap.add_argument("--option", action="append", default=None, help="KEY=VALUE (default: widths=24,48,96)")
    ap.add_argument("--input", type=int, default=28, help="image side the test images are resized to")
    ap.add_argument("--views", default="flip,translate", choices=("none", "flip", "flip,translate"))
    ap.add_argument("--bf16", action="store_true", help="also time cnnlab's evaluation under bf16 autocast")
    speed_arguments(ap, repeat=2)
    args = ap.parse_args()
    use_threads(args)
    options = dict(parse_option(o) for o in (args.option or ["widths=24,48,96"]))
    data = load_dataset(f"folder:{DATA / 'cifar10-jpg.tar.gz'}", val=None)
    images = adapt(data.test_x, (3, args.input, args.input), "resize")
    torch.manual_seed(0)
    model = create_model(args.model, **options).to(memory_format=torch.channels_last)
    loss_fn = torch.nn.CrossEntropyLoss()
    scaling = {"scale": 1 / 255, "mean": data.mean, "std": data.std}
    before = DeviceLoader(images, data.test_y, batch_size=512, shuffle=False, **scaling)
    now = DeviceLoader(images, data.test_y, batch_size=eval_batch_size(torch.device("cpu")), shuffle=False, **scaling)
    cnnlab = f"cnnlab, batch {now.batch_size}"
    ways = {
        "stacked, batch 512": lambda: stacked(model, before, args.views),
        cnnlab: lambda: evaluate(model, now, loss_fn, args.views)[2],
    }
    if args.bf16:
        ways[f"{cnnlab}, bf16"] = lambda: evaluate(model, now, loss_fn, args.views, "bf16")[2]
    best, preds = best_alternating(ways, args.repeat)
    new = preds[cnnlab]
    agree = {name: float((p == new).float().mean()) for name, p in preds.items() if name != cnnlab}
    assert torch.equal(tta_logits(model.eval(), next(iter(now))[0][:4], args.views).argmax(1), new[:4])
    machine = machine_line()
    print(f"{args.model} {options}, {len(images)} test images at {args.input}x{args.input}, views {args.views}")
    print(
        f"on {machine}; predictions agree with {cnnlab}'s on " + ", ".join(f"{a:.2%} ({n})" for n, a in agree.items())
    )
    for name, seconds in best.items():
        print(f"{name:26s} {seconds:7.2f} s")
    ratios = {f"stacked / {cnnlab}": best["stacked, batch 512"] / best[cnnlab]}
    if args.bf16:
        ratios[f"{cnnlab}: fp32 / bf16"] = best[cnnlab] / best[f"{cnnlab}, bf16"]
    for name, ratio in ratios.items():
        print(f"{name}: {ratio:.2f}x")
    if args.out:
        record = {"model": args.model, "options": options, "input": args.input, "views": args.views}
        record |= {"machine": machine, "agree": agree, "seconds": best}
        record |= {"ratios": {name: round(ratio, 3) for name, ratio in ratios.items()}}
        Path(args.out).write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
