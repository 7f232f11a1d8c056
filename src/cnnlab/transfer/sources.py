"""Where initial weights come from, and the preprocessing that travels with them.

SOURCE is a cnnlab run directory (its best checkpoint), a .safetensors file (with an optional .json beside it),
or `torchvision:<Weights>.<VERSION>` such as `torchvision:ResNet18_Weights.IMAGENET1K_V1`, read from the torch hub
cache and downloaded only when it is missing and the network is there.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from cnnlab.errors import CnnlabError
from cnnlab.rundir.config import said_to_reader
from cnnlab.tensorfile import load_tensors

TORCHVISION = "torchvision:"
# torchvision weight enums whose state dicts load into these zoo models unchanged (tested in test_zoo_torchvision)
ZOO_OF_WEIGHTS = {
    "ResNet18_Weights": "resnet18",
    "ResNet34_Weights": "resnet34",
    "ResNet50_Weights": "resnet50",
    "ResNet101_Weights": "resnet101",
    "ResNet152_Weights": "resnet152",
    "AlexNet_Weights": "alexnet-tv",
    "GoogLeNet_Weights": "googlenet",
    "Inception_V3_Weights": "inception_v3",
    **{f"VGG{n}{bn.upper()}_Weights": f"vgg{n}{bn}" for n in (11, 13, 16, 19) for bn in ("", "_bn")},
}
# Weights whose inputs differ from what their transforms() say: torchvision builds inception_v3 with
# transform_input=True, which turns ImageNet-normalised inputs into (x - 0.5) / 0.5, the scaling Google trained with;
# cnnlab's model has no such step, so the run normalises with 0.5 / 0.5 itself (the same numbers reach the first conv).
INPUT_STATS = {"Inception_V3_Weights": ([0.5, 0.5, 0.5], [0.5, 0.5, 0.5])}


@dataclass(frozen=True)
class Source:
    """Initial weights plus what they expect of their inputs (None where unknown)."""

    text: str
    path: Path
    model: str | None = None  # zoo name the weights were made for
    mean: list[float] | None = None
    std: list[float] | None = None
    scale: float | None = None  # 1/255: pixels in 0..1; 1.0: raw 0..255
    input_shape: list[int] | None = None  # C, H, W
    reader: Callable[[], dict[str, torch.Tensor]] | None = None  # how to read the weights when not from `path`

    def state_dict(self) -> dict[str, torch.Tensor]:
        if self.reader is not None:
            return self.reader()
        try:
            if self.path.suffix == ".safetensors":
                from safetensors.torch import load_file

                return load_file(str(self.path))
            state = load_tensors(self.path, map_location="cpu")
        except Exception as e:
            # only torchvision weights were downloaded (into the torch hub cache), so only they come again
            fix = (
                "delete it and let it download again, or put a good copy there"
                if self.text.startswith(TORCHVISION)
                else "give a complete file (it may be truncated or damaged)"
            )
            raise CnnlabError(
                said_to_reader(
                    f"--init-from {self.text}: {self.path} is not a readable checkpoint ({e.__class__.__name__}); {fix}"
                )
            ) from None
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise CnnlabError(
                said_to_reader(f"--init-from {self.text}: {self.path} does not hold a state dict of tensors")
            )
        return state

    def mismatches(self, pixels: str, normalize: bool, norm_stats: str, custom: bool = False) -> list[str]:
        """Warnings where a run would feed these weights inputs unlike those they were trained on (`custom`: the
        run standardises with its own --mean/--std)."""
        found = []
        standardised_alike = normalize and self.mean is not None  # then the pixel scale cancels out
        if self.scale is not None and (self.scale == 1.0) != (pixels == "raw") and not standardised_alike:
            got, want = ("raw 0-255", "0..1") if pixels == "raw" else ("0..1", "raw 0-255")
            found.append(
                f"the weights from {self.text} expect pixels in {want} but this run feeds {got} pixels; "
                "pretrained features on wrongly scaled inputs never learn (e.g. a VGG16 fed raw 0-255 pixels "
                f"with ImageNet weights sits at chance): use --pixels {'unit' if pixels == 'raw' else 'raw'}"
            )
        if self.mean is not None and (not normalize or norm_stats == "dataset" or custom):
            what = "unnormalised inputs" if not normalize else "--mean/--std" if custom else "this dataset's mean/std"
            found.append(
                f"the weights from {self.text} were trained on inputs normalised with mean {_fmt(self.mean)} "
                f"and std {_fmt(self.std)}, this run uses {what}; use --normalize --norm-stats auto unless "
                "that is intended"
            )
        return found


def _fmt(values: list[float] | None) -> str:
    return "(" + ", ".join(f"{v:.3f}" for v in values or []) + ")"


@functools.lru_cache(maxsize=8)
def resolve_source(text: str) -> Source:
    """Parse SOURCE and check it exists; the weights themselves are read by `Source.state_dict()`."""
    if text.startswith(TORCHVISION):
        return _torchvision(text)
    path = Path(text)
    if path.is_dir():
        return _run_dir(text, path)
    if path.is_file() and path.suffix == ".safetensors":
        meta_path = path.with_suffix(".json")
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
        return _with_meta(text, path, meta)
    if path.exists():
        raise CnnlabError(
            said_to_reader(f"--init-from {text}: give a run directory, a .safetensors file or torchvision:<Weights>")
        )
    raise CnnlabError(
        said_to_reader(
            f"--init-from {text}: no such run directory or file (or use torchvision:ResNet18_Weights.IMAGENET1K_V1)"
        )
    )


def _with_meta(text: str, path: Path, meta: dict[str, Any]) -> Source:
    return Source(
        text,
        path,
        model=meta.get("model"),
        mean=meta.get("mean"),
        std=meta.get("std"),
        scale=meta.get("scale", 1 / 255 if "mean" in meta else None),
        input_shape=meta.get("input_shape"),
    )


def _run_dir(text: str, path: Path) -> Source:
    from cnnlab.rundir import open_run

    run = open_run(path)  # its best checkpoint; a clear error when this is not a run or has none yet
    # read again when loaded: the source is cached, its tensors are not kept
    return replace(_with_meta(text, path, run.meta), reader=lambda: open_run(path).weights)


def _torchvision(text: str) -> Source:
    import torchvision

    name = text[len(TORCHVISION) :]
    try:
        weights = torchvision.models.get_weight(name)
    except (ValueError, KeyError, AttributeError):
        known = ", ".join(f"{k}.IMAGENET1K_V1" for k in list(ZOO_OF_WEIGHTS)[:4])
        raise CnnlabError(
            said_to_reader(f"--init-from {text}: unknown torchvision weights {name!r}; e.g. {known}")
        ) from None
    enum = name.split(".")[0]
    if enum not in ZOO_OF_WEIGHTS:
        raise CnnlabError(
            said_to_reader(
                f"--init-from {text}: cnnlab has no zoo model for {enum}; use one of {', '.join(sorted(ZOO_OF_WEIGHTS))}"
            )
        )
    path = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    if not path.is_file():
        _download(weights.url, path, text)
    t = weights.transforms()
    size = t.crop_size[0]
    mean, std = INPUT_STATS.get(enum, (list(t.mean), list(t.std)))
    return Source(
        text,
        path,
        model=ZOO_OF_WEIGHTS[enum],
        mean=mean,
        std=std,
        scale=1 / 255,
        input_shape=[3, size, size],
    )


def _download(url: str, path: Path, text: str) -> None:
    """Atomic download (from $CNNLAB_DOWNLOAD_MIRROR when set), checked against the sha256 prefix torchvision puts
    in the file name (resnet18-f37072fd.pth).

    CNNLAB_OFFLINE=1 skips the attempt; either way the error says exactly which file to put where."""
    import os

    from cnnlab.data.sources import download_file, mirror_urls

    url = (mirror_urls(path.name) or (url,))[0]
    hint = f"download {url} elsewhere and copy it to {path} (or set TORCH_HOME)"
    if os.environ.get("CNNLAB_OFFLINE") == "1":
        raise CnnlabError(
            said_to_reader(f"--init-from {text}: {path} is missing and CNNLAB_OFFLINE=1 forbids downloading; {hint}")
        )
    try:  # checked against the sha256 prefix in the file name before the file appears
        download_file(url, path, f"sha256:{path.stem.rsplit('-', 1)[-1]}")
    except (CnnlabError, OSError) as e:
        raise CnnlabError(
            said_to_reader(f"--init-from {text}: {path} is missing and cannot be downloaded ({e}); {hint}")
        ) from None
