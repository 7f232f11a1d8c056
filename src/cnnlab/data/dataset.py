"""The Dataset object and `load_dataset`, which ties sources, decoding, cache, tasks and splits together."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from difflib import get_close_matches
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from cnnlab.data.adapt import adapt
from cnnlab.data.cache import cached
from cnnlab.data.formats import Decoded, read_cifar, read_idx_dataset, read_sklearn_digits
from cnnlab.data.imagefolder import read_flowers17, read_image_folder
from cnnlab.data.sources import STANDARD, data_root, fetch, read_tree, refuse_link_loops, user_dir
from cnnlab.data.splits import limit_indices, stratified_split
from cnnlab.data.tasks import Task, get_task, list_tasks
from cnnlab.errors import CnnlabError
from cnnlab.memory import require_memory

FOLDER_PREFIX = "folder:"
SPLITS = ("train", "val", "test")


def channel_histograms(x: torch.Tensor) -> torch.Tensor:
    """(C, 256) counts of each uint8 value per channel of (N, C, H, W) images, counted over batches of about a
    megabyte per channel, which stay in the CPU's cache (1.6x faster on CIFAR-10 than whole channels)."""
    step = max(1, (1 << 20) // max(1, math.prod(x.shape[2:])))
    hists = torch.zeros(x.shape[1], 256, dtype=torch.int64)
    for start in range(0, len(x), step):
        part = x[start : start + step]
        for c in range(x.shape[1]):
            hists[c] += torch.bincount(part[:, c].reshape(-1), minlength=256)
    return hists


def histogram_stats(hists: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Exact per-channel mean and std in 0..1 scale from (C, 256) value counts."""
    values = torch.arange(256, dtype=torch.float64)
    means, stds = [], []
    for hist in hists.double():
        total = hist.sum().clamp(min=1)
        mean = (hist * values).sum() / total
        var = (hist * (values - mean) ** 2).sum() / total
        means.append(float(mean) / 255)
        stds.append(float(var.sqrt()) / 255)
    return tuple(means), tuple(stds)


def channel_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Exact per-channel mean and std of uint8 (N, C, H, W) images in 0..1 scale, from 256-bin histograms."""
    return histogram_stats(channel_histograms(x))


@dataclass(frozen=True, repr=False)
class Dataset:
    """A classification dataset held in memory.

    Images are uint8 torch tensors of shape (N, C, H, W) on the CPU (NCHW is what conv layers take, and uint8 is
    4x smaller than float: convert per batch, see DeviceLoader); labels are int64 tensors. `val_*` and `test_*`
    may have zero rows. `mean`/`std` are per channel in 0..1 scale, computed from `train_x` when first asked for:
    a dataset adapted to a model's input (`adapt`) has its own, and the one it came from is seldom asked (counting
    CIFAR-10's 50,000 images twice cost cifar10-70-fast 0.13 s of its 10-15 s).
    """

    name: str
    classes: list[str]
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor

    @cached_property
    def _stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        return channel_stats(self.train_x)

    @property
    def mean(self) -> tuple[float, ...]:
        return self._stats[0]

    @property
    def std(self) -> tuple[float, ...]:
        return self._stats[1]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.train_x.shape[1:])  # type: ignore[return-value]

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(images, labels) of 'train', 'val' or 'test'."""
        if name not in SPLITS:
            raise CnnlabError(f"unknown split {name!r}: use one of {', '.join(SPLITS)}")
        return getattr(self, f"{name}_x"), getattr(self, f"{name}_y")

    def adapt(self, target_chw: tuple[int, int, int], mode: str = "pad") -> Dataset:
        """A copy with every split adapted to `target_chw` (see cnnlab.data.adapt), with mean/std of its own.
        Refused before allocating when the adapted images (uint8) would not fit in this machine's memory."""
        count = len(self.train_y) + len(self.val_y) + len(self.test_y)
        require_memory(
            count * math.prod(target_chw),
            f"{self.name} adapted to {'x'.join(map(str, target_chw))}",
            f"{count:,} images",
            "use a smaller --input or a --limit",
        )
        return replace(
            self,
            train_x=adapt(self.train_x, target_chw, mode),
            val_x=adapt(self.val_x, target_chw, mode),
            test_x=adapt(self.test_x, target_chw, mode),
        )

    def __repr__(self) -> str:
        c, h, w = self.input_shape
        return (
            f"Dataset({self.name!r}, {self.num_classes} classes, {c}x{h}x{w}, train={len(self.train_y)}, "
            f"val={len(self.val_y)}, test={len(self.test_y)})"
        )


def dataset_names() -> list[str]:
    """Names `load_dataset` accepts (FOLDER_PREFIX + a path is also accepted)."""
    return [*STANDARD, *list_tasks()]


def check_dataset_name(name: str) -> None:
    """Refuse, in one line, a dataset `load_dataset` would refuse by its name alone (an unknown name or task),
    without reading any data: a study checks every run's this way before its first. A folder: dataset is not looked
    for here, so a study can be planned (--dry-run) on a machine that does not hold its data."""
    if not name.startswith(FOLDER_PREFIX):
        _parse(name)
    elif not name[len(FOLDER_PREFIX) :].strip():
        raise CnnlabError("folder: needs the image folder's path after it (folder:PATH); an empty one would read '.'")


def _parse(name: str) -> tuple[str, Task | None]:
    """(base dataset name, task or None); unknown names get close-match suggestions."""
    base, _, task = name.partition(":")
    base = base.strip().lower()
    if base not in STANDARD:
        close = get_close_matches(name.strip().lower(), dataset_names(), n=3)
        hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(dataset_names())}"
        raise CnnlabError(f"unknown dataset {name!r}: {hint} (or folder:PATH for an image folder)")
    return base, get_task(f"{base}:{task.strip().lower()}") if task else None


def mirror_safe(name: str) -> bool:
    """Whether mirroring an image of dataset `name` (a standard name, a task on one, or folder:PATH) keeps its
    class. Digits do not: a mirrored 2 is no digit, a mirrored 6 or 9 is nearly another one. Folders are taken
    to hold photographs, which do."""
    source = None if name.startswith(FOLDER_PREFIX) else STANDARD.get(name.partition(":")[0].strip().lower())
    return source is None or source.mirror_safe  # a task is not looked up: one registered in a notebook may be gone


def _image_size(size: int | tuple[int, int]) -> tuple[int, int]:
    hw = (size, size) if isinstance(size, int) else tuple(size) if isinstance(size, (tuple, list)) else ()
    if len(hw) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in hw):
        raise CnnlabError(f"size={size!r} is not an image size: give a positive int or (height, width)")
    return hw  # type: ignore[return-value]


def _decode(name: str, root: Path, cache_dir: Path, download: bool, size: int | tuple[int, int] | None) -> Decoded:
    if name.startswith(FOLDER_PREFIX):
        check_dataset_name(name)
        path = Path(name[len(FOLDER_PREFIX) :]).expanduser()
        if not path.exists():
            raise CnnlabError(f"folder dataset {path} does not exist: give a directory or a .zip/.tar/.tar.gz archive")
        hw = None if size is None else _image_size(size)
        if path.is_dir():
            refuse_link_loops(path)  # before the cache's fingerprint walks the folder
        return cached(
            cache_dir, f"folder-{path.name}", [path], {"size": hw}, lambda: read_image_folder(read_tree(path), hw)
        )
    source = STANDARD[name]
    if size is not None and source.format != "flowers17":
        raise CnnlabError(
            f"size= applies to folder: datasets only, and to flowers17; use Dataset.adapt() to resize {name}"
        )
    if source.format == "sklearn-digits":
        return read_sklearn_digits()
    paths = fetch(source, root, download)
    if source.format == "flowers17":
        hw = None if size is None else _image_size(size)
        return cached(cache_dir, name, paths, {"size": hw}, lambda: read_flowers17(read_tree(paths[0]), hw))
    if source.format == "idx":
        return cached(cache_dir, name, paths, {}, lambda: read_idx_dataset(*paths, classes=list(source.classes)))
    return cached(cache_dir, name, paths, {}, lambda: read_cifar(paths[0], source.format))


def load_dataset(
    name: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    val: float | int | None = None,
    limit: int | None = None,
    seed: int = 0,
    size: int | tuple[int, int] | None = None,
) -> Dataset:
    """Load 'mnist', 'fashion-mnist', 'cifar10', 'cifar100', 'flowers17', 'digits', a task like 'mnist:parity', or
    'folder:PATH' (class subfolders, or images with a labels.csv / labels.txt).

    Files are found (or downloaded) under the data root (see `data_root`); decoded arrays are cached in
    `cache_dir` (default <root>/cache). `val` splits a stratified validation set off train (fraction or count);
    `limit` keeps at most that many samples per split (stratified); both are seeded by `seed`. `size` (H, W)
    resizes a folder dataset's images (default: their most common size) or flowers17's (default 224x224).
    """
    root = data_root(data_dir)
    cache = Path(cache_dir).expanduser() if cache_dir is not None else _default_cache(root)
    folder = name.startswith(FOLDER_PREFIX)
    base, task = (name, None) if folder else _parse(name)
    decoded = _decode(base, root, cache, download, size)
    train = (decoded.train_x, decoded.train_y)
    test = (decoded.test_x, decoded.test_y)
    classes = decoded.classes
    if task:
        train, test = task.apply(*train, classes), task.apply(*test, classes)
        classes = list(task.classes)
    splits = {"train": _tensors(*train), "test": _tensors(*test)}
    x, y = splits["train"]
    if val is None:
        splits["val"] = (x[:0], y[:0])
    else:
        keep, picked = stratified_split(y, val, seed, what="val")
        splits["train"], splits["val"] = (x[keep], y[keep]), (x[picked], y[picked])
    if limit is not None:
        splits = {k: _limited(x, y, limit, seed) for k, (x, y) in splits.items()}
    label = name if folder else (task.name if task else base)
    return Dataset(label, classes, *splits["train"], *splits["val"], *splits["test"])


def _writable(folder: Path) -> bool:
    """Writable, and meant to be: root may write anywhere, so a folder without write bits counts as read-only (a
    shared dataset folder must not get a cache inside it)."""
    return os.access(folder, os.W_OK) and bool(folder.stat().st_mode & 0o222)


def cache_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where `load_dataset` caches the data of `data_dir` (default: the data root's) unless given cache_dir."""
    return _default_cache(data_root(data_dir))


def _default_cache(root: Path) -> Path:
    """<root>/cache, or the user cache dir when the data root is read-only (a shared dataset folder)."""
    if _writable(root if root.exists() else root.parent):
        return root / "cache"
    user = user_dir()  # not data_root(None): $CNNLAB_DATA may name this very read-only root
    return user / "cache" if _writable(user.parent if user.parent.exists() else Path.home()) else root / "cache"


def _tensors(x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y.astype(np.int64, copy=False))


def _limited(x: torch.Tensor, y: torch.Tensor, limit: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    idx = limit_indices(y, limit, seed)
    return (x, y) if len(idx) == len(y) else (x[idx], y[idx])
