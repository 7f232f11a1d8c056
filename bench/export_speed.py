"""Inference speed on the CPU, side by side: a model in PyTorch eager mode against its `cnnlab export` ONNX file on
onnxruntime, at batch 1 and batch 64, on real test images (MNIST for mnist-cnn, CIFAR-10 for resnet20 and
airbench-cifar-s).

Run: .venv/bin/python bench/export_speed.py [--images 512] [--repeat 5] [--threads N] [--out FILE.json]
Both sides get the same float32 inputs (fitted, scaled and standardised once beforehand) and the same thread count
(--threads, default all cores; 1 is steadier on a machine shared with other work); the figure is images per second of the forward pass, the eval/predict part after decoding. The two are
timed in turn within each repeat and the best repeat of each kept, so a busy machine slows both alike. The
models are untrained (seeded): speed does not depend on the weights' values.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime
import torch
from PIL import Image
from timing import positive

from cnnlab.export.exporter import OPSET, export_model
from cnnlab.export.metadata import ModelCard
from cnnlab.export.pixels import adapt
from cnnlab.export.runtime import OnnxModel
from cnnlab.zoo import create_model

DATASETS = Path(os.environ.get("CNNLAB_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "datasets"
MODELS = [  # (model, dataset, mean, std)
    ("mnist-cnn", "mnist", [0.1307], [0.3081]),
    ("resnet20", "cifar10", [0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616]),
    ("airbench-cifar-s", "cifar10", [0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616]),
]
BATCHES = (1, 64)


def test_images(dataset: str, n: int) -> np.ndarray:
    """The first n test images as uint8 (n, C, H, W), read from the shared files."""
    if dataset == "mnist":
        raw = gzip.decompress((DATASETS / "mnist" / "t10k-images-idx3-ubyte.gz").read_bytes())
        return np.frombuffer(raw, np.uint8, count=n * 784, offset=16).reshape(n, 1, 28, 28)
    out = []
    with tarfile.open(DATASETS / "cifar10-jpg.tar.gz", "r|gz") as tar:  # test images come first
        for member in tar:
            if len(out) == n or not member.name.startswith("test/"):
                break
            with Image.open(tar.extractfile(member)) as im:
                out.append(np.asarray(im.convert("RGB")).transpose(2, 0, 1))
    return np.stack(out)


def rate(fn, inputs: np.ndarray, batch: int) -> float:
    """Images per second of fn over `inputs` in batches of `batch`."""
    t = time.perf_counter()
    for i in range(0, len(inputs), batch):
        fn(inputs[i : i + batch])
    return len(inputs) / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=positive, default=512)
    ap.add_argument("--repeat", type=positive, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", default="bench/results/export_speed.json")
    args = ap.parse_args()
    threads = args.threads
    torch.set_num_threads(threads)
    results = []
    print(f"threads {threads}; images/s of the forward pass, best of {args.repeat}")
    print(f"{'model':<18}{'batch':>6}{'eager img/s':>13}{'onnxruntime img/s':>19}{'ratio':>8}{'max |diff|':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, dataset, mean, std in MODELS:
            pixels = test_images(dataset, args.images)
            torch.manual_seed(0)
            model = create_model(name, num_classes=10, in_channels=pixels.shape[1]).eval()
            shape = list(pixels.shape[1:])
            card = ModelCard(
                model=name,
                classes=[str(i) for i in range(10)],
                input_shape=shape,
                channel_order="RGB" if shape[0] == 3 else "L",
                pixel_scale=1 / 255,
                mean=mean,
                std=std,
                adapt={"mode": None, "source_shape": shape},
                tta="none",
                opset=OPSET,
            )
            path = Path(tmp) / f"{name}.onnx"
            export_model(model, card, path)
            exported = OnnxModel(path, threads=threads)
            inputs = exported.to_input(adapt(pixels, shape))

            @torch.inference_mode()
            def eager(x: np.ndarray) -> np.ndarray:
                return model(torch.from_numpy(x)).numpy()

            diff = float(np.abs(eager(inputs[:64]) - exported.logits(inputs[:64])).max())
            for batch in BATCHES:
                n = inputs[: max(64, len(inputs) // 4)] if batch == 1 else inputs  # batch 1 is slow: fewer images
                rate(eager, n[:batch], batch), rate(exported.logits, n[:batch], batch)  # warm up
                best = {"eager": 0.0, "onnxruntime": 0.0}
                for _ in range(args.repeat):
                    best["eager"] = max(best["eager"], rate(eager, n, batch))
                    best["onnxruntime"] = max(best["onnxruntime"], rate(exported.logits, n, batch))
                ratio = best["onnxruntime"] / best["eager"]
                results.append(
                    {"model": name, "batch": batch, "images": len(n), **best, "ratio": ratio, "max_abs_diff": diff}
                )
                print(
                    f"{name:<18}{batch:>6}{best['eager']:>13.0f}{best['onnxruntime']:>19.0f}{ratio:>7.2f}x{diff:>12.1e}"
                )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "opset": OPSET,
        "threads": threads,
        "cpu": platform.processor() or platform.machine(),
    }
    out.write_text(json.dumps({**meta, "results": results}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
