"""Decoders from distribution formats to uint8 arrays: IDX (MNIST family), CIFAR python pickles, sklearn digits.

Every decoder returns a `Decoded` with images as uint8 NCHW numpy arrays and int64 labels; bad files raise
CnnlabError naming the file and what to do. Image folders are decoded in imagefolder.py.
"""

from __future__ import annotations

import codecs
import gzip
import io
import pickle
import struct
import tarfile
import zlib
from dataclasses import dataclass, field
from math import prod
from pathlib import Path

import numpy as np

from cnnlab.errors import CnnlabError


@dataclass
class Decoded:
    """A dataset as stored on disk: uint8 (N, C, H, W) images, int64 labels, and class names in label order."""

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    classes: list[str]
    notes: list[str] = field(default_factory=list)  # what decoding skipped, said again at every load (cache.cached)


# --------------------------------------------------------------------------------------------------- IDX

_IDX_MAGIC = {1: 2049, 3: 2051}  # uint8 data (0x08) with 1 dim (labels) or 3 dims (images)
_IDX_KIND = {1: "labels", 3: "images"}


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """Decode a (gzipped) big-endian IDX file of uint8 `ndim`-dimensional data, checking magic number and size."""
    try:
        with gzip.open(path) if path.suffix == ".gz" else open(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise CnnlabError(
            f"{path} is corrupt or truncated ({e}): delete it so it is downloaded again, or replace it"
        ) from None
    header = 4 + 4 * ndim
    magic = int.from_bytes(data[:4], "big") if len(data) >= 4 else None
    if magic != _IDX_MAGIC[ndim]:
        raise CnnlabError(
            f"{path} is not an IDX {_IDX_KIND[ndim]} file (magic number {magic}, expected {_IDX_MAGIC[ndim]}): "
            "check that the file names match their contents, or replace the file"
        )
    dims = struct.unpack(f">{ndim}I", data[4:header]) if len(data) >= header else ()
    if len(dims) != ndim or len(data) - header != prod(dims):
        raise CnnlabError(
            f"{path} is truncated: its header announces {dims} values but it holds fewer or more bytes; replace it"
        )
    return np.frombuffer(data, np.uint8, offset=header).reshape(dims).copy()


def _idx_pair(images: Path, labels: Path, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    x, y = read_idx(images, 3), read_idx(labels, 1)
    if len(x) != len(y):
        raise CnnlabError(
            f"{images.name} has {len(x)} images but {labels.name} has {len(y)} labels: "
            "the files do not belong together; replace them"
        )
    if len(y) and y.max() >= num_classes:
        raise CnnlabError(f"{labels} has label {y.max()} but the dataset has {num_classes} classes: replace the file")
    return x[:, None], y.astype(np.int64)


def read_idx_dataset(
    train_images: Path, train_labels: Path, test_images: Path, test_labels: Path, classes: list[str]
) -> Decoded:
    """Decode the four IDX files of MNIST or Fashion-MNIST."""
    train_x, train_y = _idx_pair(train_images, train_labels, len(classes))
    test_x, test_y = _idx_pair(test_images, test_labels, len(classes))
    return Decoded(train_x, train_y, test_x, test_y, list(classes))


# ------------------------------------------------------------------------------------------ CIFAR pickles

_ARRAY = np.zeros(1, np.uint8)
_SAFE_GLOBALS = (
    {(module, "_reconstruct"): _ARRAY.__reduce__()[0] for module in ("numpy.core.multiarray", "numpy._core.multiarray")}
    | {(module, "_frombuffer"): _ARRAY.__reduce_ex__(5)[0] for module in ("numpy.core.numeric", "numpy._core.numeric")}
    | {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype, ("_codecs", "encode"): codecs.encode}
)


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists and numpy arrays only: a downloaded pickle must not be able to run code."""

    def find_class(self, module: str, name: str) -> object:
        try:
            return _SAFE_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}") from None


@dataclass(frozen=True)
class _CifarLayout:
    folder: str
    train: tuple[str, ...]
    test: tuple[str, ...]
    meta: str
    names_key: str
    labels_key: str


_CIFAR = {
    "cifar10": _CifarLayout(
        "cifar-10-batches-py",
        tuple(f"data_batch_{i}" for i in range(1, 6)),
        ("test_batch",),
        "batches.meta",
        "label_names",
        "labels",
    ),
    "cifar100": _CifarLayout("cifar-100-python", ("train",), ("test",), "meta", "fine_label_names", "fine_labels"),
}


def _unpickle(archive: Path, member: str, blob: bytes, keys: tuple[str, ...]) -> dict:
    try:
        obj = _ArrayUnpickler(io.BytesIO(blob), encoding="latin1").load()
    except Exception as e:  # any failure here means a corrupt or foreign pickle
        raise CnnlabError(
            f"{archive}: member {member} is not a readable CIFAR pickle ({e}): replace the archive"
        ) from None
    missing = [k for k in keys if not isinstance(obj, dict) or k not in obj]
    if missing:
        raise CnnlabError(
            f"{archive}: member {member} lacks key(s) {', '.join(missing)}: "
            "this is not the python version of the dataset; replace it"
        )
    return obj


def read_cifar(archive: Path, variant: str) -> Decoded:
    """Decode cifar-10-python.tar.gz / cifar-100-python.tar.gz straight from the archive (no extraction)."""
    layout = _CIFAR[variant]
    wanted = {f"{layout.folder}/{m}" for m in (*layout.train, *layout.test, layout.meta)}
    blobs: dict[str, bytes] = {}
    try:
        with tarfile.open(archive) as tf:
            for m in tf:
                if m.isfile() and m.name in wanted:
                    blobs[m.name] = tf.extractfile(m).read()  # type: ignore[union-attr]
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise CnnlabError(
            f"{archive} is corrupt or truncated ({e}): delete it so it is downloaded again, or replace it"
        ) from None
    missing = sorted(wanted - blobs.keys())
    if missing:
        raise CnnlabError(f"{archive} lacks {', '.join(missing)}: it is not the {variant} python archive; replace it")

    def split(members: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = [], []
        for name in members:
            batch = _unpickle(archive, name, blobs[f"{layout.folder}/{name}"], ("data", layout.labels_key))
            x, y = np.asarray(batch["data"], np.uint8), np.asarray(batch[layout.labels_key], np.int64)
            if x.ndim != 2 or x.shape[1] != 3 * 32 * 32 or len(x) != len(y):
                raise CnnlabError(
                    f"{archive}: member {name} has data of shape {x.shape} for {len(y)} labels; replace the archive"
                )
            xs.append(x.reshape(-1, 3, 32, 32))
            ys.append(y)
        return np.concatenate(xs), np.concatenate(ys)

    meta = _unpickle(archive, layout.meta, blobs[f"{layout.folder}/{layout.meta}"], (layout.names_key,))
    train_x, train_y = split(layout.train)
    test_x, test_y = split(layout.test)
    return Decoded(train_x, train_y, test_x, test_y, [str(n) for n in meta[layout.names_key]])


# ------------------------------------------------------------------------------------------ sklearn digits

DIGITS_TEST_FRACTION = 0.2


def read_sklearn_digits() -> Decoded:
    """scikit-learn's bundled 8x8 digits (offline), scaled 0..16 -> 0..255, with a fixed stratified 20% test split."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise CnnlabError("dataset 'digits' needs scikit-learn: pip install scikit-learn") from None
    import torch

    from cnnlab.data.splits import stratified_split

    bunch = load_digits()
    x = np.rint(bunch.images * (255 / 16)).astype(np.uint8)[:, None]
    y = bunch.target.astype(np.int64)
    train, test = (i.numpy() for i in stratified_split(torch.from_numpy(y), DIGITS_TEST_FRACTION, seed=0))
    return Decoded(x[train], y[train], x[test], y[test], [str(d) for d in range(10)])
