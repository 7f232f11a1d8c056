"""Two steps of a run's set-up on the real CIFAR-10 images, side by side with the way each worked before:
resizing the images to a recipe's input (cnnlab's `adapt`, float batches of about 8 MB, against batches of 4,096
images) and the per-channel mean and std (`channel_stats`, histograms counted a megabyte at a time, against one
histogram per whole channel; the same code turns the counts into statistics). Both ways must give the same pixels
and the same statistics (checked).

Run: .venv/bin/python bench/setup_speed.py [--size 28] [--repeat 3] [--threads N] [--out FILE.json]
The two ways alternate, so a busy machine slows both alike, and the best repeat of each is kept. The 50,000
training and 10,000 test images are resized, as `cnnlab train recipe:cifar10-70-muon` resizes them to 28x28."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from timing import best_alternating, machine_line, speed_arguments, use_threads

from cnnlab.data import adapt, load_dataset
from cnnlab.data.dataset import channel_stats, histogram_stats

DATA = Path(os.environ.get("CNNLAB_BENCH_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "datasets"))


def resize_in_4096s(x: torch.Tensor, size: int) -> torch.Tensor:
    """The earlier resize: antialiased bilinear on float batches of 4,096 images (50 MB of CIFAR-10)."""
    out = torch.empty((len(x), x.shape[1], size, size), dtype=torch.uint8)
    for i in range(0, len(x), 4096):
        part = F.interpolate(x[i : i + 4096].float(), size=(size, size), mode="bilinear", antialias=True)
        out[i : i + 4096] = part.round_().clamp_(0, 255).to(torch.uint8)
    return out


def whole_channel_histograms(x: torch.Tensor) -> torch.Tensor:
    """The earlier counting: one 256-bin histogram over each whole channel (a strided copy of it first)."""
    return torch.stack([torch.bincount(x[:, c].reshape(-1), minlength=256) for c in range(x.shape[1])])


def side_by_side(
    name: str,
    before: Callable[[], object],
    now: Callable[[], object],
    repeat: int,
    same: Callable[[object, object], bool],
) -> dict:
    best, results = best_alternating({"before": before, "cnnlab": now}, repeat)
    assert same(results["before"], results["cnnlab"]), f"{name}: the two ways disagree"
    ratio = best["before"] / best["cnnlab"]
    print(
        f"{name:34s} before {best['before']:.3f} s, cnnlab {best['cnnlab']:.3f} s: {ratio:.2f}x faster, the same result"
    )
    return {"seconds": best, "ratio": round(ratio, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=28, help="the side the images are resized to (default 28)")
    speed_arguments(ap, repeat=3)
    args = ap.parse_args()
    use_threads(args)
    data = load_dataset(f"folder:{DATA / 'cifar10-jpg.tar.gz'}", val=None)
    images = torch.cat([data.train_x, data.test_x])
    machine = machine_line()
    print(f"{len(images)} CIFAR-10 images ({data.train_x.shape[1:]}) on {machine}")
    size = args.size
    record = {"machine": machine, "images": len(images), "size": size, "steps": {}}
    record["steps"][f"resize to {size}x{size}"] = side_by_side(
        f"resize to {size}x{size}",
        lambda: resize_in_4096s(images, size),
        lambda: adapt(images, (3, size, size), "resize"),
        args.repeat,
        torch.equal,
    )
    record["steps"]["channel mean and std"] = side_by_side(
        "channel mean and std",
        lambda: histogram_stats(whole_channel_histograms(images)),
        lambda: channel_stats(images),
        args.repeat,
        tuple.__eq__,
    )
    if args.out:
        Path(args.out).write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
