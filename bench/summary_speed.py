"""Layer-analysis speed, side by side: cnnlab.summarize vs torchinfo.summary on the same models.

Run: .venv/bin/python bench/summary_speed.py [--repeat 3] [--out bench/results/summary_speed.json]
Prints seconds per model for each tool and the ratio (torchinfo / cnnlab); writes the figures as JSON.
cnnlab's time includes building the model (on the meta device); torchinfo's includes building it on the CPU,
which is what a user of torchinfo has to do.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from timing import positive

import cnnlab

MODELS = [
    ("resnet152", (3, 224, 224)),
    ("vgg16", (3, 224, 224)),
    ("googlenet", (3, 224, 224)),
    ("resnet18-cifar", (3, 32, 32)),
]


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=positive, default=3)
    ap.add_argument("--out", default="bench/results/summary_speed.json")
    args = ap.parse_args()
    try:
        import torchinfo
    except ImportError:
        torchinfo = None
    results = []
    print(f"{'model':<16}{'cnnlab s':>10}{'torchinfo s':>13}{'ratio':>8}   params / MACs agree")
    for name, shape in MODELS:
        ours = best_of(lambda: cnnlab.summarize(name, shape), args.repeat)
        s = cnnlab.summarize(name, shape)
        row = {"model": name, "input": shape, "cnnlab_s": ours, "params": s.params, "macs": s.macs}
        if torchinfo is not None:

            def theirs():
                model = cnnlab.create_model(name)
                return torchinfo.summary(model, input_size=(1, *shape), verbose=0, device="cpu")

            row["torchinfo_s"] = best_of(theirs, args.repeat)
            ti = theirs()
            row["torchinfo_params"], row["torchinfo_macs"] = ti.total_params, ti.total_mult_adds
            row["ratio"] = row["torchinfo_s"] / ours
        results.append(row)
        other = f"{row.get('torchinfo_s', float('nan')):>13.3f}{row.get('ratio', float('nan')):>7.1f}x"
        agree = (
            f"{row.get('torchinfo_params') == s.params} / {row.get('torchinfo_macs')} vs {s.macs}"
            if torchinfo
            else "torchinfo not installed"
        )
        print(f"{name:<16}{ours:>10.3f}{other}   {agree}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "results": results}, indent=2)
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
