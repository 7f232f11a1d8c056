"""bench/airbench_reference.py: the airbench package's input files written from the shared JPEG archive, and the
shim that runs its CUDA/fp16 code on the CPU (the CIFAR-10 benchmark's airbench94 contender, #12)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from cnnlab.data import load_dataset
from tests.conftest import shared_dataset

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

from airbench_reference import cpu_shim, write_cifar_tensors  # noqa: E402

ARCHIVE = shared_dataset("cifar10-jpg.tar.gz")


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_cifar_tensors(ARCHIVE, tmp_path_factory.mktemp("airbench"), seed=0)


def test_tensors_are_the_archive_in_airbench_layout(written: Path) -> None:
    data = load_dataset(f"folder:{ARCHIVE}", val=None)
    train, test = torch.load(written / "train.pt"), torch.load(written / "test.pt")
    assert train["images"].shape == (50_000, 32, 32, 3) and train["images"].dtype == torch.uint8
    assert test["images"].shape == (10_000, 32, 32, 3) and test["labels"].dtype == torch.int64
    assert train["classes"] == test["classes"] == list(data.classes)
    # the test split keeps its order; NHWC is the NCHW tensor with its channels moved last
    assert torch.equal(test["images"], data.test_x.permute(0, 2, 3, 1))
    assert torch.equal(test["labels"], data.test_y)
    # the training split is shuffled once (the archive lists it class by class), image and label together
    assert torch.equal(train["labels"].bincount(), data.train_y.bincount())
    assert not torch.equal(train["labels"], data.train_y)
    assert train["labels"][:5000].bincount().min() > 400  # airbench's whitening sees every class in its first 5,000
    for i in (0, 49_999):  # an image moved by the shuffle keeps its label
        same = (data.train_x == train["images"][i].permute(2, 0, 1)).flatten(1).all(1).nonzero().flatten()
        assert len(same) >= 1 and int(data.train_y[same[0]]) == int(train["labels"][i])


def test_cpu_shim_runs_airbench_in_fp32_and_restores_torch(written: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import airbench

    before = (torch.Tensor.cuda, torch.Tensor.half, torch.nn.Module.half, torch.load, torch.cuda.Event)
    monkeypatch.chdir(written.parent)
    with cpu_shim():
        loader = airbench.CifarLoader("cifar10", train=False, batch_size=100)
        net = airbench.make_net94()
        images = loader.normalize(loader.images[:8])
        logits = net(images)
    assert images.dtype == torch.float32 and images.device.type == "cpu"
    assert logits.shape == (8, 10) and logits.dtype == torch.float32
    assert all(p.dtype == torch.float32 for p in net.parameters())
    assert (torch.Tensor.cuda, torch.Tensor.half, torch.nn.Module.half, torch.load, torch.cuda.Event) == before
    assert torch.ones(1).half().dtype == torch.float16
