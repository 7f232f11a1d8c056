"""The airbench package (Jordan 2024, `pip install airbench`) trained on the shared JPEG copy of CIFAR-10: the
reference that cnnlab's CIFAR-10 recipes are compared with (#12).

airbench reads CIFAR-10 from `<dir>/cifar10/{train,test}.pt` (uint8 NHWC images, int64 labels, class names) and
downloads it when they are missing; `write_cifar_tensors` writes those files from the JPEG archive instead, so it
runs offline on the same images as cnnlab. `train94` runs the package's own airbench94 recipe (9.9 epochs at batch
1024, fp16 on CUDA) and scores it with the package's own test-time augmentation.

airbench is written for one CUDA GPU (`.half().cuda()`, CUDA events). On a machine without one, `cpu_shim` maps
those calls to the CPU in fp32 for the duration of the run: the same network, data order and recipe, measured for
its accuracy on this data; its time there is the CPU's, not the GPU's the package was tuned on.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path


def write_cifar_tensors(archive: Path, into: Path, seed: int = 0) -> Path:
    """The archive's train and test splits as airbench's `cifar10/train.pt` and `test.pt` under `into`. The training
    images are shuffled once (the archive lists them class by class; CIFAR-10's own files, which airbench expects,
    are in random order, and airbench fits its whitening layer to the first 5,000)."""
    import torch

    from cnnlab.data import load_dataset

    data = load_dataset(f"folder:{archive}", val=None)
    order = torch.randperm(len(data.train_y), generator=torch.Generator().manual_seed(seed))
    folder = into / "cifar10"
    folder.mkdir(parents=True, exist_ok=True)
    splits = (("train", data.train_x[order], data.train_y[order]), ("test", data.test_x, data.test_y))
    for split, x, y in splits:
        images = x.permute(0, 2, 3, 1).contiguous()  # airbench stores torchvision's NHWC uint8 array
        torch.save({"images": images, "labels": y.long(), "classes": list(data.classes)}, folder / f"{split}.pt")
    return folder


class _HostEvent:
    """torch.cuda.Event's timing interface on the host clock."""

    def __init__(self, enable_timing: bool = False) -> None:
        self.t = 0.0

    def record(self) -> None:
        self.t = time.perf_counter()

    def elapsed_time(self, end: _HostEvent) -> float:
        return (end.t - self.t) * 1e3


@contextlib.contextmanager
def cpu_shim() -> Iterator[None]:
    """Run airbench's CUDA/fp16 code on the CPU in fp32: .cuda() and .half() keep tensors and modules on the CPU in
    float32, torch.load maps to the CPU, and CUDA events and synchronisation use the host clock."""
    import torch

    saved = {
        (torch.Tensor, "cuda"): torch.Tensor.cuda,
        (torch.Tensor, "half"): torch.Tensor.half,
        (torch.nn.Module, "cuda"): torch.nn.Module.cuda,
        (torch.nn.Module, "half"): torch.nn.Module.half,
        (torch.cuda, "Event"): torch.cuda.Event,
        (torch.cuda, "synchronize"): torch.cuda.synchronize,
        (torch, "load"): torch.load,
    }
    load = torch.load
    torch.Tensor.cuda = lambda self, *a, **k: self
    torch.Tensor.half = lambda self, *a, **k: self.float()
    torch.nn.Module.cuda = lambda self, *a, **k: self
    torch.nn.Module.half = lambda self: self
    torch.cuda.Event = _HostEvent
    torch.cuda.synchronize = lambda *a, **k: None
    torch.load = lambda f, map_location=None, **k: load(f, map_location="cpu", **k)
    try:
        yield
    finally:
        for (owner, name), value in saved.items():
            setattr(owner, name, value)


def train94(archive: Path, workdir: Path, seed: int, device: str) -> dict:
    """airbench94 as the package ships it, on the archive's images: seconds of training (whitening set-up included,
    test evaluation excluded) and test accuracy without and with its test-time augmentation (level 2: mirror and
    one-pixel translations)."""
    import torch

    write_cifar_tensors(archive, workdir, seed)
    shim = cpu_shim() if device == "cpu" else contextlib.nullcontext()
    here = Path.cwd()
    os.chdir(workdir)  # airbench opens its test split as the relative path cifar10/test.pt
    try:
        with shim:
            import airbench
            from airbench.lib_airbench94 import hyp

            def loader(train: bool) -> airbench.CifarLoader:
                if train:
                    return airbench.CifarLoader(
                        "cifar10", train=True, batch_size=hyp["opt"]["batch_size"], aug=hyp["aug"], altflip=True
                    )
                return airbench.CifarLoader("cifar10", train=False, batch_size=2000)

            if device != "cpu":  # the package's own advice: one untimed run first warms the GPU up
                airbench.train94(loader(True), verbose=False)
                torch.cuda.synchronize()
            torch.manual_seed(seed)
            t = time.perf_counter()
            model = airbench.train94(loader(True), verbose=False)
            if device != "cpu":
                torch.cuda.synchronize()
            seconds = time.perf_counter() - t
            test = loader(False)
            plain, tta = airbench.evaluate(model, test, tta_level=0), airbench.evaluate(model, test, tta_level=2)
    finally:
        os.chdir(here)
    return {
        "epochs_of_data": hyp["opt"]["train_epochs"],
        "batch_size": hyp["opt"]["batch_size"],
        "train_s": seconds,
        "test_accuracy_no_tta": plain,
        "test_accuracy": tta,
        "airbench": getattr(airbench, "__version__", None) or _version("airbench"),
    }


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None
