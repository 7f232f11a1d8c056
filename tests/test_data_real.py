"""The data layer on the real files in shared/datasets: MNIST (IDX .gz) and the CIFAR-10 JPEG folder archive.

Decoding the 60,000 CIFAR JPEGs takes seconds, so the decoded cache lives in a session-scoped tmp dir and every
test after the first load reads it from there.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cnnlab.data import Augment, DeviceLoader, load_dataset
from tests.conftest import SHARED, shared_dataset

DATASETS = SHARED / "datasets"
CIFAR_ARCHIVE = DATASETS / "cifar10-jpg.tar.gz"
CIFAR_NAME = f"folder:{CIFAR_ARCHIVE}"
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(autouse=True)
def _datasets_present() -> None:
    """The real data is always in shared/datasets: a missing file fails every test here, naming it (no skip)."""
    shared_dataset("mnist")
    shared_dataset(CIFAR_ARCHIVE.name)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data-cache")


# The second load runs in a fresh process whose decoders all raise: it can only succeed by reading the cache the
# first load wrote. The same process first loads into an empty cache and must hit the broken decoder, which proves
# the decoders it replaced are the ones a load without a cache would use.
_SECOND_LOAD = """
import hashlib, json, sys
from pathlib import Path
import cnnlab.data.dataset as dataset

class DecoderRan(Exception):
    pass

def broken(*args, **kwargs):
    raise DecoderRan("the decoder ran")

for name in ("read_idx_dataset", "read_cifar", "read_image_folder", "read_tree"):
    setattr(dataset, name, broken)
name, data_dir, cache_dir, empty = sys.argv[1:]
try:
    dataset.load_dataset(name, data_dir=data_dir, cache_dir=empty, download=False)
    sys.exit("loaded with an empty cache and every decoder broken")
except DecoderRan:
    pass
ds = dataset.load_dataset(name, data_dir=data_dir, cache_dir=cache_dir, download=False)
digest = {k: hashlib.sha256(getattr(ds, k).numpy().tobytes()).hexdigest() for k in ("train_x", "train_y", "test_x", "test_y")}
print(json.dumps({"digest": digest, "classes": ds.classes}))
"""


def _digest(ds) -> dict:
    return {
        k: hashlib.sha256(getattr(ds, k).numpy().tobytes()).hexdigest()
        for k in ("train_x", "train_y", "test_x", "test_y")
    }


def _second_load_without_decoders(name: str, cache_dir: Path, empty: Path) -> dict:
    r = subprocess.run(
        [sys.executable, "-c", _SECOND_LOAD, name, str(DATASETS), str(cache_dir), str(empty)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout)


@pytest.fixture(scope="session")
def mnist(cache_dir: Path):
    return load_dataset("mnist", data_dir=DATASETS, cache_dir=cache_dir)


@pytest.fixture(scope="session")
def cifar(cache_dir: Path):
    return load_dataset(CIFAR_NAME, data_dir=DATASETS, cache_dir=cache_dir)


# ------------------------------------------------------------------------------------------------- MNIST


def test_mnist_shapes_counts_and_published_stats(mnist) -> None:
    ds = mnist
    assert ds.train_x.shape == (60000, 1, 28, 28) and ds.train_x.dtype == torch.uint8
    assert ds.test_x.shape == (10000, 1, 28, 28)
    assert ds.train_y.dtype == torch.int64
    assert ds.train_y.bincount().tolist() == MNIST_TRAIN_COUNTS
    assert ds.test_y.bincount().tolist() == MNIST_TEST_COUNTS
    assert ds.train_y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert ds.classes == [str(d) for d in range(10)]
    assert ds.mean[0] == pytest.approx(0.1307, abs=1e-4)
    assert ds.std[0] == pytest.approx(0.3081, abs=1e-4)
    assert len(ds.val_y) == 0


def test_mnist_second_load_is_cached_and_identical(mnist, cache_dir: Path, tmp_path: Path) -> None:
    second = _second_load_without_decoders("mnist", cache_dir, tmp_path / "empty-cache")
    assert second == {"digest": _digest(mnist), "classes": mnist.classes}


def test_mnist_torchvision_layout_and_bare_root(tmp_path: Path, cache_dir: Path) -> None:
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in (DATASETS / "mnist").iterdir():
        (raw / f.name).symlink_to(f)
    tv = load_dataset("mnist", data_dir=tmp_path, cache_dir=cache_dir, download=False)
    bare = load_dataset("mnist", data_dir=DATASETS / "mnist", cache_dir=cache_dir, download=False)
    assert tv.train_y.bincount().tolist() == bare.train_y.bincount().tolist() == MNIST_TRAIN_COUNTS


def test_mnist_parity_task(cache_dir: Path) -> None:
    ds = load_dataset("mnist:parity", data_dir=DATASETS, cache_dir=cache_dir)
    assert ds.classes == ["even", "odd"] and ds.name == "mnist:parity"
    assert ds.train_y.bincount().tolist() == [sum(MNIST_TRAIN_COUNTS[0::2]), sum(MNIST_TRAIN_COUNTS[1::2])]


def test_mnist_val_split_and_limit_are_stratified_and_seeded(cache_dir: Path) -> None:
    ds = load_dataset("mnist", data_dir=DATASETS, cache_dir=cache_dir, val=0.1, seed=3)
    assert (len(ds.train_y), len(ds.val_y), len(ds.test_y)) == (54000, 6000, 10000)
    val_counts = ds.val_y.bincount()
    assert (val_counts - torch.tensor(MNIST_TRAIN_COUNTS) * 0.1).abs().max() < 1
    again = load_dataset("mnist", data_dir=DATASETS, cache_dir=cache_dir, val=0.1, seed=3)
    assert torch.equal(ds.val_x, again.val_x)
    small = load_dataset("mnist", data_dir=DATASETS, cache_dir=cache_dir, val=500, limit=1000, seed=3)
    assert (len(small.train_y), len(small.val_y), len(small.test_y)) == (1000, 500, 1000)
    assert small.train_y.bincount().min() >= 85 and small.test_y.bincount().min() >= 85


def test_mnist_adapts_to_lenet_and_vgg_inputs(mnist) -> None:
    ds = mnist
    lenet = ds.adapt((1, 32, 32))
    assert lenet.train_x.shape == (60000, 1, 32, 32)
    assert torch.equal(lenet.train_x[:, :, 2:30, 2:30], ds.train_x)
    assert lenet.train_x[:, :, :2].max() == 0 and lenet.train_x[:, :, :, 30:].max() == 0
    assert lenet.mean[0] == pytest.approx(ds.mean[0] * 28 * 28 / (32 * 32), rel=1e-6)
    vgg = ds.adapt((3, 32, 32), mode="resize")
    assert vgg.input_shape == (3, 32, 32) and len(vgg.mean) == 3


def test_a_run_counts_the_statistics_of_the_pixels_it_trains_on_only(cache_dir: Path, monkeypatch) -> None:
    """Resized MNIST for a 3x36x36 net: the 36x36 pixels are counted once, the 28x28 ones they came from never
    (counting both cost cifar10-70-fast 0.13 s); the figures are those of a fresh count of the resized images."""
    from cnnlab.data import dataset as dataset_module
    from cnnlab.rundir import RunConfig
    from cnnlab.train.setup import prepare

    counted: list[tuple[int, ...]] = []
    real = dataset_module.channel_histograms
    monkeypatch.setattr(dataset_module, "channel_histograms", lambda x: counted.append(tuple(x.shape)) or real(x))
    config = RunConfig(
        model="airbench-cifar-s", data="mnist", data_dir=str(DATASETS), input=[3, 36, 36], resize="resize", limit=300
    )
    data, _, _ = prepare(config)
    assert counted == [] and data.input_shape == (3, 36, 36)
    assert data.mean == dataset_module.histogram_stats(real(data.train_x))[0] and counted == [(300, 3, 36, 36)]
    assert data.std == dataset_module.histogram_stats(real(data.train_x))[1] and len(counted) == 1


# ---------------------------------------------------------------------------------------------- CIFAR-10


def test_cifar_folder_archive_loads(cifar) -> None:
    ds = cifar
    assert ds.train_x.shape == (50000, 3, 32, 32) and ds.train_x.dtype == torch.uint8
    assert ds.test_x.shape == (10000, 3, 32, 32)
    assert ds.classes == CIFAR_CLASSES
    assert ds.train_y.bincount().tolist() == [5000] * 10
    assert ds.test_y.bincount().tolist() == [1000] * 10
    assert ds.mean == pytest.approx((0.4913, 0.4821, 0.4465), abs=2e-4)
    assert ds.std == pytest.approx((0.2452, 0.2428, 0.2606), abs=2e-4)


def test_cifar_second_load_is_cached_and_identical(cifar, cache_dir: Path, tmp_path: Path) -> None:
    second = _second_load_without_decoders(CIFAR_NAME, cache_dir, tmp_path / "empty-cache")
    assert second == {"digest": _digest(cifar), "classes": cifar.classes}


def test_cifar_device_loader_epoch_with_augmentation(cifar) -> None:
    ds = cifar
    loader = DeviceLoader.from_dataset(ds, "train", batch_size=1000, augment=Augment(hflip=True), seed=1)
    seen = torch.zeros(10, dtype=torch.int64)
    total = torch.zeros(3, dtype=torch.float64)
    for x, y in loader:
        assert x.shape == (1000, 3, 32, 32) and x.dtype == torch.float32
        seen += y.bincount(minlength=10)
        total += x.double().mean(dim=(0, 2, 3))
    assert seen.tolist() == [5000] * 10
    assert (total / len(loader)).abs().max() < 1e-3  # flips keep the mean: normalised with the train mean/std

    cropped = DeviceLoader(ds.train_x, ds.train_y, batch_size=5000, augment=Augment(crop_padding=4), seed=1)
    x, _ = next(iter(cropped))
    # offsets are uniform on 0..8, so on average 20/9 of 32 rows and of 32 columns are zero padding
    black = (x == 0).all(dim=1).double().mean()
    expected = 1 - (1 - 20 / 9 / 32) ** 2
    assert black == pytest.approx(expected, abs=0.01)
