"""The training loader's random crop on the CPU, side by side: cnnlab's `random_crop` (one gather over each image's
flattened pixels) against the way it worked before (advanced indexing over all four dimensions), on batches of the
real CIFAR-10 training images as the loader crops them (uint8, before scaling).

Run: .venv/bin/python bench/crop_speed.py [--batch 256] [--batches 196] [--repeat 3] [--threads N] [--out FILE.json]
Both crops (the CIFAR recipes' pad-4 crop, --augment crop, and --augment translate's 2 pixels from a mirrored
border) run an epoch's worth of batches from the same seed; the two ways alternate, so a busy machine slows both
alike, and the best repeat of each is kept. They must cut the same windows (checked on every batch)."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from timing import machine_line, positive, speed_arguments, use_threads

from cnnlab.data import load_dataset, random_crop

DATA = Path(os.environ.get("CNNLAB_BENCH_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "datasets"))


def indexed_crop(x: torch.Tensor, padding: int, generator: torch.Generator, reflect: bool = False) -> torch.Tensor:
    """The earlier crop: row and column indices per image, one advanced-indexing read over N, C, H and W."""
    n, c, h, w = x.shape
    padded = F.pad(x, (padding,) * 4, mode="reflect" if reflect else "constant")
    offsets = torch.randint(0, 2 * padding + 1, (2, n), generator=generator)
    rows = offsets[0, :, None] + torch.arange(h)
    cols = offsets[1, :, None] + torch.arange(w)
    batch = torch.arange(n)[:, None, None, None]
    chan = torch.arange(c)[None, :, None, None]
    return padded[batch, chan, rows[:, None, :, None], cols[:, None, None, :]]


def epoch(crop, images: torch.Tensor, batch: int, padding: int, reflect: bool) -> tuple[float, list[torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    t = time.perf_counter()
    out = [crop(images[i : i + batch], padding, generator, reflect) for i in range(0, len(images), batch)]
    return time.perf_counter() - t, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=positive, default=256)
    ap.add_argument("--batches", type=int, default=196, help="batches per timed pass (196: an epoch at 256)")
    speed_arguments(ap, repeat=3)
    args = ap.parse_args()
    use_threads(args)
    data = load_dataset(f"folder:{DATA / 'cifar10-jpg.tar.gz'}", val=None)
    images = data.train_x[: args.batch * args.batches]
    machine = machine_line()
    print(f"{len(images)} CIFAR-10 training images ({images.dtype}) in batches of {args.batch}, on {machine}")
    record = {"machine": machine, "batch": args.batch, "images": len(images), "crops": {}}
    for name, padding, reflect in (("crop, pad 4", 4, False), ("translate 2, mirrored", 2, True)):
        best = {"indexed (before)": float("inf"), "gather (cnnlab)": float("inf")}
        for _ in range(args.repeat):
            old_s, old = epoch(indexed_crop, images, args.batch, padding, reflect)
            new_s, new = epoch(random_crop, images, args.batch, padding, reflect)
            assert all(torch.equal(a, b) for a, b in zip(old, new)), "the two crops cut different windows"
            best = {
                "indexed (before)": min(best["indexed (before)"], old_s),
                "gather (cnnlab)": min(best["gather (cnnlab)"], new_s),
            }
        ratio = best["indexed (before)"] / best["gather (cnnlab)"]
        print(
            f"{name:22s} indexed {best['indexed (before)']:.3f} s, gather {best['gather (cnnlab)']:.3f} s: "
            f"{ratio:.2f}x faster, the same windows"
        )
        record["crops"][name] = {"seconds": best, "ratio": round(ratio, 3)}
    if args.out:
        Path(args.out).write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
