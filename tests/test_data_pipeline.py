"""Splits, tasks, input adaptation, batched augmentation and the DeviceLoader, on small synthetic tensors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnnlab.data import (
    DROP,
    Augment,
    DeviceLoader,
    Task,
    adapt,
    channel_stats,
    get_task,
    limit_indices,
    normalize,
    random_crop,
    random_hflip,
    stratified_split,
    stratified_subset,
)
from cnnlab.errors import CnnlabError

LABELS = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)


def images(n: int = 10, c: int = 3, h: int = 6, w: int = 5, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (n, c, h, w), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------------------------------------ splits


def test_stratified_subset_keeps_proportions_and_is_seeded() -> None:
    idx = stratified_subset(LABELS, 10, seed=0)
    assert LABELS[idx].bincount().tolist() == [5, 3, 2]
    assert torch.equal(idx, stratified_subset(LABELS, 10, seed=0))
    assert not torch.equal(idx, stratified_subset(LABELS, 10, seed=1))
    assert torch.equal(idx, idx.sort().values)
    assert len(stratified_subset(LABELS, 7, seed=0)) == 7  # rounding still gives the exact total


def test_stratified_split_fraction_and_count() -> None:
    keep, val = stratified_split(LABELS, 0.2, seed=0)
    assert (len(keep), len(val)) == (80, 20) and LABELS[val].bincount().tolist() == [10, 6, 4]
    assert sorted(torch.cat([keep, val]).tolist()) == list(range(100))
    keep, val = stratified_split(LABELS, 30, seed=0)
    assert len(val) == 30 and LABELS[val].bincount().tolist() == [15, 9, 6]


@pytest.mark.parametrize("size", [0, 100, 1.0, 0.0, -3, "0.1", True, 0.001])
def test_stratified_split_rejects_bad_sizes(size: object) -> None:
    with pytest.raises(CnnlabError, match="val"):
        stratified_split(LABELS, size, seed=0, what="val")  # type: ignore[arg-type]


def test_limit_indices() -> None:
    assert LABELS[limit_indices(LABELS, 10, seed=0)].bincount().tolist() == [5, 3, 2]
    assert torch.equal(limit_indices(LABELS, 1000, seed=0), torch.arange(100))
    with pytest.raises(CnnlabError, match="limit must be a positive sample count"):
        limit_indices(LABELS, 0, seed=0)


# ------------------------------------------------------------------------------------------------- tasks


def test_parity_task() -> None:
    task = get_task("mnist:parity")
    x = np.arange(10)[:, None]
    _, y = task.apply(x, np.arange(10), [str(d) for d in range(10)])
    assert task.classes == ("even", "odd") and y.tolist() == [0, 1] * 5


def test_task_can_drop_classes() -> None:
    cats_vs_dogs = Task(
        "cifar10:cat-dog", ("cat", "dog"), lambda names: [{"cat": 0, "dog": 1}.get(n, DROP) for n in names]
    )
    x, y = cats_vs_dogs.apply(np.arange(6), np.array([0, 1, 2, 1, 0, 2]), ["dog", "cat", "ship"])
    assert x.tolist() == [0, 1, 3, 4] and y.tolist() == [1, 0, 0, 1]


# --------------------------------------------------------------------------------------------- adapt


def test_adapt_pad_centres_and_zero_fills() -> None:
    x = images(4, 1, 28, 28)
    out = adapt(x, (1, 32, 32))
    assert out.shape == (4, 1, 32, 32) and out.dtype == torch.uint8
    assert torch.equal(out[:, :, 2:30, 2:30], x) and out.sum() == x.sum()
    odd = adapt(images(2, 1, 5, 5), (1, 8, 8))
    assert torch.equal(odd[:, :, 1:6, 1:6], images(2, 1, 5, 5))


def test_adapt_channels_and_resize() -> None:
    gray = images(3, 1, 8, 8)
    rgb = adapt(gray, (3, 8, 8))
    assert rgb.shape == (3, 3, 8, 8) and torch.equal(rgb[:, 2], gray[:, 0])
    assert torch.equal(adapt(rgb, (1, 8, 8)), gray)  # equal channels: luma weights sum to 1
    flat = torch.full((2, 3, 28, 28), 77, dtype=torch.uint8)
    assert torch.equal(adapt(flat, (3, 32, 32), mode="resize"), torch.full((2, 3, 32, 32), 77, dtype=torch.uint8))
    assert adapt(images(2, 3, 64, 64), (3, 16, 16), mode="resize").shape == (2, 3, 16, 16)
    assert adapt(images(0, 1, 28, 28), (3, 32, 32), mode="resize").shape == (0, 3, 32, 32)


def test_adapt_converts_to_grey_in_uint8_keeps_a_fitting_input_and_antialiases() -> None:
    rgb = images(2, 3, 8, 8)
    grey = adapt(rgb, (1, 8, 8))
    luma = (rgb.double() * torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64).view(1, 3, 1, 1)).sum(1, True)
    assert grey.dtype == torch.uint8 and torch.equal(grey, luma.round().to(torch.uint8))  # ITU-R 601 luma
    with pytest.raises(CnnlabError, match=r"^cannot adapt 3-channel images to 4 channels: only 1 <-> 3 is supported$"):
        adapt(rgb, (4, 8, 8))
    assert adapt(rgb, (3, 8, 8)) is rgb and adapt(rgb, (3, 8, 8), mode="resize") is rgb  # nothing to do: no copy
    # a one-pixel checkerboard shrunk 3x: antialiasing averages it to grey (126-129), where plain bilinear
    # sampling lands on single pixels and keeps the board's black and white (aliasing)
    board = ((torch.arange(15).view(15, 1) + torch.arange(15)) % 2 * 255).to(torch.uint8).expand(1, 1, 15, 15)
    small = adapt(board, (1, 5, 5), mode="resize")
    assert small.min() >= 120 and small.max() <= 135
    black = torch.zeros(1, 3, 30, 30, dtype=torch.uint8)
    assert torch.equal(adapt(black, (3, 36, 36), mode="resize"), torch.zeros(1, 3, 36, 36, dtype=torch.uint8))


@pytest.mark.parametrize(
    "target, mode, message",
    [
        ((1, 16, 16), "pad", "cannot pad 28x28 images to the smaller 16x16: use mode='resize'"),
        ((4, 28, 28), "pad", "cannot adapt 1-channel images to 4 channels"),
        ((1, 32, 32), "stretch", "unknown adapt mode 'stretch'"),
    ],
)
def test_adapt_errors(target: tuple[int, int, int], mode: str, message: str) -> None:
    with pytest.raises(CnnlabError, match=message):
        adapt(images(1, 1, 28, 28), target, mode)


@pytest.mark.parametrize("shape", [(20, 3, 8, 8), (9, 2, 512, 512)], ids=["one batch", "three batches of four"])
def test_channel_stats_match_float_computation(shape: tuple[int, int, int, int]) -> None:
    x = images(*shape)
    mean, std = channel_stats(x)
    f = x.double() / 255
    assert mean == pytest.approx(f.mean(dim=(0, 2, 3)).tolist(), abs=1e-12)
    assert std == pytest.approx(f.std(dim=(0, 2, 3), unbiased=False).tolist(), abs=1e-12)


def test_resizing_in_batches_gives_each_image_its_own_pixels() -> None:
    """adapt resizes in cache-sized float batches (ten 3x256x256 images each here): where a batch ends must not
    change any pixel."""
    x = images(25, 3, 256, 256)
    out = adapt(x, (3, 100, 90), mode="resize")
    assert all(torch.equal(out[i : i + 1], adapt(x[i : i + 1], (3, 100, 90), mode="resize")) for i in range(25))


# ------------------------------------------------------------------------------------------- augment


def test_random_crop_matches_per_image_reference() -> None:
    x = images(16, 3, 7, 9)
    out = random_crop(x, 2, torch.Generator().manual_seed(5))
    offsets = torch.randint(0, 5, (2, 16), generator=torch.Generator().manual_seed(5))
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(16):
        oy, ox = offsets[:, i].tolist()
        assert torch.equal(out[i], padded[i, :, oy : oy + 7, ox : ox + 9])
    assert torch.equal(random_crop(x, 0, torch.Generator()), x)


def test_translate_crops_from_a_mirrored_border() -> None:
    """airbench's translate: the window may leave the image by 2 pixels, and what it sees there is the image
    mirrored at its edge (never a black border); the same seed gives the same offsets as the zero-padded crop."""
    x = images(16, 3, 7, 9)
    out = random_crop(x, 2, torch.Generator().manual_seed(5), reflect=True)
    offsets = torch.randint(0, 5, (2, 16), generator=torch.Generator().manual_seed(5))
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2), mode="reflect")
    assert torch.equal(padded[:, :, 0, 2:-2], x[:, :, 2])  # the border row mirrors the image's third row
    moved = 0
    for i in range(16):
        oy, ox = offsets[:, i].tolist()
        assert torch.equal(out[i], padded[i, :, oy : oy + 7, ox : ox + 9])
        moved += (oy, ox) != (2, 2)
    assert moved > 8


def test_random_hflip_and_normalize() -> None:
    x = images(200)
    out = random_hflip(x, torch.Generator().manual_seed(0))
    flipped = torch.tensor([torch.equal(o, i.flip(2)) for o, i in zip(out, x)])
    kept = torch.tensor([torch.equal(o, i) for o, i in zip(out, x)])
    assert (flipped | kept).all() and 70 < flipped.sum() < 130
    f = torch.rand(2, 3, 4, 4)
    assert torch.allclose(normalize(f, (0.5, 0.25, 0.0), (0.5, 1.0, 2.0))[:, 1], f[:, 1] - 0.25)


def test_augment_is_seeded() -> None:
    aug = Augment(crop_padding=4, hflip=True)
    x = images(8, 3, 32, 32)
    assert torch.equal(aug(x, torch.Generator().manual_seed(1)), aug(x, torch.Generator().manual_seed(1)))
    assert not torch.equal(aug(x, torch.Generator().manual_seed(1)), aug(x, torch.Generator().manual_seed(2)))


# -------------------------------------------------------------------------------------------- loader


def _loader(**kwargs: object) -> DeviceLoader:
    x = images(10, 3, 8, 8)
    x[:, 0, 0, 0] = torch.arange(10, dtype=torch.uint8)  # pixel (0,0) of channel 0 tags the sample
    options: dict = {"batch_size": 4, "seed": 0} | kwargs
    return DeviceLoader(x, torch.arange(10), **options)


def test_loader_length_and_coverage() -> None:
    assert len(_loader()) == 3 and len(_loader(drop_last=True)) == 2
    loader = _loader()
    epoch = [y for _, y in loader]
    assert [len(y) for y in epoch] == [4, 4, 2] and sorted(torch.cat(epoch).tolist()) == list(range(10))
    assert torch.cat([y for _, y in loader]).tolist() != torch.cat(epoch).tolist()  # a new order each epoch
    ordered = _loader(shuffle=False, drop_last=True)
    assert torch.cat([y for _, y in ordered]).tolist() == list(range(8))


def test_loader_batches_are_scaled_and_normalised() -> None:
    loader = _loader(shuffle=False, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    x, y = next(iter(loader))
    assert x.dtype == torch.float32
    assert torch.allclose(x, (loader.x[:4].float() / 255 - 0.5) / 0.25, atol=1e-6)
    assert y.tolist() == [0, 1, 2, 3]


def test_a_loader_from_a_dataset_reads_its_split_normalised_with_the_training_statistics() -> None:
    """DeviceLoader.from_dataset, as a notebook builds one: the split asked for ('train' when none is), each
    scaled by the train images' mean and std, other settings passed on."""
    from cnnlab.data.dataset import Dataset

    train_x, test_x = images(8, seed=1), images(4, seed=2)
    labels = torch.arange(8) % 2
    ds = Dataset("toy", ["a", "b"], train_x, labels, train_x[:0], labels[:0], test_x, torch.tensor([1, 0, 1, 1]))
    mean, std = torch.tensor(ds.mean)[:, None, None], torch.tensor(ds.std)[:, None, None]
    x, y = next(iter(DeviceLoader.from_dataset(ds, batch_size=8, shuffle=False)))
    assert torch.allclose(x, (train_x.float() / 255 - mean) / std, atol=1e-5) and torch.equal(y, labels)
    test = DeviceLoader.from_dataset(ds, "test", batch_size=3, shuffle=False)
    assert len(test) == 2 and torch.equal(test.y, ds.test_y)
    x, y = next(iter(test))
    assert torch.allclose(x, (test_x[:3].float() / 255 - mean) / std, atol=1e-5) and y.tolist() == [1, 0, 1]


def test_loader_is_reproducible() -> None:
    def run(seed: int) -> list[torch.Tensor]:
        loader = _loader(seed=seed, augment=Augment(crop_padding=2, hflip=True))
        return [x for _ in range(2) for x, _ in loader]

    first, again, other = run(3), run(3), run(4)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not all(torch.equal(a, b) for a, b in zip(first, other))


@pytest.mark.parametrize("stop_after", [1, 2, 3, 5])
def test_loader_resumes_exactly_from_state_dict(stop_after: int) -> None:
    augment = Augment(crop_padding=2, hflip=True)
    uninterrupted = _loader(augment=augment)
    reference = [x for _ in range(3) for x, _ in uninterrupted]

    original = _loader(augment=augment)
    produced, state = [], None
    for _ in range(3):
        for x, _ in original:
            produced.append(x)
            if len(produced) == stop_after:
                state = original.state_dict()
                break
        if state is not None:
            break
    resumed = _loader(augment=augment, seed=99)  # the state overrides the seed
    resumed.load_state_dict(state)
    while len(produced) < 9:  # finish the interrupted epoch, then whole epochs
        produced += [x for x, _ in resumed]
    assert len(produced) == 9
    assert all(torch.equal(a, b) for a, b in zip(produced, reference))


def test_loader_state_from_another_setup_is_refused() -> None:
    state = _loader().state_dict()
    with pytest.raises(
        CnnlabError,
        match=r"^loader state is for 10 samples in batches of 4, this loader has 10 in batches of 5: resume with the "
        r"same data and batch size$",
    ):
        _loader(batch_size=5).load_state_dict(state)


@pytest.mark.parametrize(
    "x, y, batch_size, message",
    [
        (images(4).float(), torch.arange(4), 2, "uint8"),
        (images(4), torch.arange(3), 2, "4 images but 3 labels"),
        *[
            (images(4), torch.arange(4), bad, rf"^batch_size must be a positive integer, not {bad!r}$")
            for bad in (0, -1, True, 2.0)
        ],
    ],
)
def test_loader_bad_input(x: torch.Tensor, y: torch.Tensor, batch_size: int, message: str) -> None:
    with pytest.raises(CnnlabError, match=message):
        DeviceLoader(x, y, batch_size=batch_size)


def test_loader_edges_and_defaults() -> None:
    one = _loader(batch_size=1)  # one image a batch is a batch
    assert len(one) == 10 and all(len(y) == 1 for _, y in one)
    few = _loader(batch_size=16)  # fewer images than a batch: one short batch, not none
    assert len(few) == 1 and [len(y) for _, y in few] == [10]
    fresh = _loader(augment=Augment(crop_padding=2, hflip=True))
    assert fresh.share == 1.0 and fresh.state_dict()["position"] == 0  # before the first batch: nothing done yet
    # the default seed is 0: batches, shuffle and augmentation alike
    a = DeviceLoader(fresh.x, fresh.y, batch_size=4, augment=Augment(crop_padding=2, hflip=True))
    assert all(torch.equal(u, v) for (u, _), (v, _) in zip(a, fresh))


def _ranks(world: int, n: int = 10, batch_size: int = 4, **kwargs: object) -> list[DeviceLoader]:
    x = images(n, 3, 8, 8)
    return [
        DeviceLoader(x, torch.arange(n), batch_size=batch_size, rank=r, world=world, **kwargs) for r in range(world)
    ]


@pytest.mark.parametrize("augment", [None, Augment(crop_padding=2, hflip=True, altflip=True)])
@pytest.mark.parametrize("world", [2, 3])
def test_ranks_slices_put_together_are_the_batch_of_one_process(world: int, augment: Augment | None) -> None:
    """DDP's ranks: each keeps a contiguous slice of the global batch (the first ranks one image more when it does
    not divide), augmentation drawn for the whole batch, and `share` scales a rank's mean loss to the batch's."""
    alone = _ranks(1, 10, 5, augment=augment)[0]
    one = [b for _ in range(2) for b in alone]  # two epochs of two batches
    ranks = _ranks(world, 10, 5, augment=augment)
    for epoch in range(2):
        for step, parts in enumerate(zip(*ranks)):
            x = torch.cat([p[0] for p in parts])
            y = torch.cat([p[1] for p in parts])
            assert torch.equal(x, one[2 * epoch + step][0]) and torch.equal(y, one[2 * epoch + step][1])
            sizes = [len(p[1]) for p in parts]
            assert sizes == ([3, 2] if world == 2 else [2, 2, 1])
    shares = [r.share for r in ranks]  # local images * world / global batch
    assert shares == ([3 * 2 / 5, 2 * 2 / 5] if world == 2 else [2 * 3 / 5, 2 * 3 / 5, 1 * 3 / 5])


def test_ranks_refused_or_kept_by_their_batch() -> None:
    assert [len(r) for r in _ranks(2, 10, 4)] == [3, 3]  # 10 % 4 = 2 images: one for each of 2 ranks, kept
    assert [len(r) for r in _ranks(3, 10, 4)] == [2, 2, 2]  # 2 images for 3 ranks: left out
    assert [len(r) for r in _ranks(2, 9, 4)] == [2, 2]  # 1 image for 2 ranks: left out
    assert [len(y) for _, y in _ranks(2, 10, 2)[1]] == [1] * 5  # a batch of 2 for 2 ranks: one image each
    for rank, world, batch in ((2, 2, 4), (-1, 2, 4), (0, 3, 2)):
        with pytest.raises(
            CnnlabError,
            match=rf"^a batch of {batch} cannot be shared by {world} ranks \(this is rank {rank}\): give every rank "
            r"at least one image \(raise --batch-size or use fewer processes\)$",
        ):
            DeviceLoader(images(10), torch.arange(10), batch_size=batch, rank=rank, world=world)


def test_alternating_flips_follow_the_epochs_of_the_loader_and_of_a_resumed_state() -> None:
    """Epoch 1 mirrors the images the loader's own seeded draw picked (half of them, the same for a seed: every
    recorded altflip result depends on it), epoch 2 the others; a state from before altflip counted epochs is epoch 0's."""
    x = images(64, 3, 4, 4)
    loader = DeviceLoader(x, torch.arange(64), batch_size=64, shuffle=False, augment=Augment(altflip=True), scale=1)
    first = torch.rand(64, generator=torch.Generator().manual_seed(1)) < 0.5
    assert 16 < int(first.sum()) < 48
    mirrored = x.float().flip(3)
    for epoch in range(3):
        ((batch, _),) = list(loader)
        flipped = first ^ bool(epoch % 2)
        assert torch.equal(batch[flipped], mirrored[flipped]) and torch.equal(batch[~flipped], x.float()[~flipped])
    state = loader.state_dict()
    del state["epochs_started"]  # as written before altflip existed
    loader.load_state_dict(state)
    ((batch, _),) = list(loader)
    assert torch.equal(batch[first], mirrored[first]) and torch.equal(batch[~first], x.float()[~first])


def test_a_resumed_loader_can_be_saved_and_resumed_again_mid_epoch() -> None:
    augment = Augment(crop_padding=2, hflip=True)
    uninterrupted = _loader(augment=augment)
    reference = [x for _ in range(2) for x, _ in uninterrupted]
    first = _loader(augment=augment)
    it = iter(first)
    produced = [next(it)[0]]
    second = _loader(augment=augment, seed=5)
    second.load_state_dict(first.state_dict())
    it = iter(second)
    produced.append(next(it)[0])
    third = _loader(augment=augment, seed=7)
    third.load_state_dict(second.state_dict())  # saved again before the resumed epoch ended
    produced += [x for x, _ in third] + [x for x, _ in third]
    assert len(produced) == 6 and all(torch.equal(a, b) for a, b in zip(produced, reference))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_loader_on_cuda_matches_cpu() -> None:
    augment = Augment(crop_padding=2, hflip=True)
    cpu = [x for x, _ in _loader(augment=augment, mean=(0.5,) * 3, std=(0.2,) * 3)]
    gpu = [x for x, _ in _loader(augment=augment, mean=(0.5,) * 3, std=(0.2,) * 3, device="cuda")]
    assert gpu[0].device.type == "cuda"
    assert all(torch.allclose(a, b.cpu()) for a, b in zip(cpu, gpu))


def test_padding_to_a_size_smaller_on_one_side_is_refused_not_cropped() -> None:
    """28x28 to 32x16: F.pad with a negative width crops, so only the check keeps the image whole; the NumPy twin
    (exported models) refuses it alike."""
    from cnnlab.export.pixels import adapt as numpy_adapt

    with pytest.raises(CnnlabError, match=r"cannot pad 28x28 images to the smaller 32x16"):
        adapt(images(1, 1, 28, 28), (1, 32, 16), "pad")
    with pytest.raises(CnnlabError, match=r"cannot pad 28x28 images to the smaller 32x16"):
        numpy_adapt(np.zeros((1, 1, 28, 28), np.uint8), (1, 32, 16), "pad")
