"""Stratified, seeded index selection (data/splits.py) against counts and indices worked out by hand (#18)."""

from __future__ import annotations

import pytest
import torch

from cnnlab.data.splits import limit_indices, stratified_split, stratified_subset
from cnnlab.errors import CnnlabError


def per_class(y: torch.Tensor, idx: torch.Tensor) -> list[int]:
    return torch.bincount(y[idx], minlength=int(y.max()) + 1).tolist()


def test_largest_remainder_gives_the_extra_sample_to_the_larger_remainder() -> None:
    # 2 and 7 samples, 3 wanted: quotas 3*2/9 = 0.67 and 3*7/9 = 2.33, floors 0 and 2; the one left over goes to
    # the class with the larger remainder (0.67), not the larger quota or count
    y = torch.tensor([0] * 2 + [1] * 7)
    for seed in range(3):
        assert per_class(y, stratified_subset(y, 3, seed)) == [1, 2]
    # 5, 3 and 2 samples, 5 wanted: quotas 2.5, 1.5, 1.0: floors 2, 1, 1 and the tie of remainders 0.5 goes to the
    # first class
    y = torch.tensor([0] * 5 + [1] * 3 + [2] * 2)
    assert per_class(y, stratified_subset(y, 5, 0)) == [3, 1, 1]


def test_equal_remainders_go_to_the_lowest_labels() -> None:
    # ten classes of one sample, five wanted: every quota is 0.5, so classes 0-4 whatever the seed
    y = torch.arange(10)
    for seed in range(3):
        assert stratified_subset(y, 5, seed).tolist() == [0, 1, 2, 3, 4]


def test_within_a_class_the_first_samples_of_the_seeded_permutation_are_taken() -> None:
    y = torch.tensor([0, 1] * 6)
    for seed in range(3):
        perm = torch.randperm(12, generator=torch.Generator().manual_seed(seed)).tolist()
        expected = sorted([i for i in perm if y[i] == 0][:2] + [i for i in perm if y[i] == 1][:2])
        assert stratified_subset(y, 4, seed).tolist() == expected


def test_split_returns_the_complement_and_takes_one_sample_or_all_but_one() -> None:
    y = torch.tensor([0] * 6 + [1] * 4)
    keep, val = stratified_split(y, 0.5, seed=0)
    assert keep.dtype == torch.int64 and per_class(y, val) == [3, 2]
    assert sorted(keep.tolist() + val.tolist()) == list(range(10))
    assert len(stratified_split(y, 1, 0)[1]) == 1 and len(stratified_split(y, 9, 0)[1]) == 9


@pytest.mark.parametrize(
    "size,message",
    [
        (0.0, "split size fraction 0.0 must be between 0 and 1 (exclusive); give an int for a sample count"),
        (1.0, "split size fraction 1.0 must be between 0 and 1 (exclusive); give an int for a sample count"),
        (1.5, "split size fraction 1.5 must be between 0 and 1 (exclusive); give an int for a sample count"),
        (0, "split size of 0 takes 0 of 10 samples: choose a size that leaves samples on both sides"),
        (10, "split size of 10 takes 10 of 10 samples: choose a size that leaves samples on both sides"),
        (0.01, "split size of 0.01 takes 0 of 10 samples: choose a size that leaves samples on both sides"),
        ("5", "split size must be a fraction (e.g. 0.1) or a sample count (e.g. 5000), not '5'"),
        (True, "split size must be a fraction (e.g. 0.1) or a sample count (e.g. 5000), not True"),
    ],
)
def test_bad_split_sizes_are_one_line_errors(size: object, message: str) -> None:
    with pytest.raises(CnnlabError) as e:
        stratified_split(torch.tensor([0] * 6 + [1] * 4), size, 0)  # type: ignore[arg-type]
    assert str(e.value) == message


def test_limit_keeps_one_sample_or_everything() -> None:
    y = torch.tensor([0] * 6 + [1] * 4)
    assert len(limit_indices(y, 1, 0)) == 1 and per_class(y, limit_indices(y, 5, 0)) == [3, 2]
    assert limit_indices(y, 10, 0).tolist() == limit_indices(y, 99, 0).tolist() == list(range(10))


@pytest.mark.parametrize("limit", [0, -3, 2.5, "5", True])
def test_bad_limits_are_one_line_errors(limit: object) -> None:
    with pytest.raises(CnnlabError) as e:
        limit_indices(torch.tensor([0, 1, 0, 1]), limit, 0)  # type: ignore[arg-type]
    assert str(e.value) == f"limit must be a positive sample count, not {limit!r}"


def test_a_limit_keeps_every_class_it_can() -> None:
    """A class of one image in 41: its proportional share of a limit of 10 rounds to none, and every seed trained a
    model on two of its three classes. It keeps one, taken from the largest share; a limit below the number of
    classes cannot keep them all, and a val split is proportional as before (the rare image stays in train)."""
    y = torch.tensor([0] * 20 + [1] * 20 + [2])
    for seed in range(5):
        assert per_class(y, limit_indices(y, 10, seed)) == [4, 5, 1]
    assert sorted(per_class(y, limit_indices(y, 3, 0))) == [1, 1, 1] and len(limit_indices(y, 2, 0)) == 2
    three = torch.tensor([0] * 60 + [1] * 37 + [2] * 3)  # shares 6, 3.7 and 0.3 of 10: 6, 4, 0 rounded
    assert per_class(three, limit_indices(three, 10, 0)) == [5, 4, 1]
    four = torch.tensor([0] * 50 + [1] * 48 + [2, 3])  # two rare classes: each gets one, from the largest shares
    assert per_class(four, limit_indices(four, 10, 0)) == [4, 4, 1, 1]
    kept, val = stratified_split(y, 10, 0)
    assert per_class(y, val)[:2] == [5, 5] and 40 in kept.tolist()


def test_the_held_out_share_rounds_to_the_nearest_image() -> None:
    """19% of 10 images is 1.9: 2 held out, not the 1 that truncating gives."""
    assert len(stratified_split(torch.arange(10) % 2, 0.19, seed=0)[1]) == 2
