"""Seeded, stratified index selection: validation splits and per-split size limits keep class proportions."""

from __future__ import annotations

import torch

from cnnlab.errors import CnnlabError


def _allocate(counts: torch.Tensor, n: int, every_class: bool) -> torch.Tensor:
    """Split `n` over classes in proportion to `counts` (largest-remainder rounding, so the total is exact). With
    `every_class` and `n` at least the number of classes, a class whose share rounds to none gets one, taken from
    the largest share: a subset that left a rare class out would train a model on fewer classes than it has."""
    quota = counts.double() * n / counts.sum()
    take = quota.floor().long()
    short = n - int(take.sum())
    if short:
        take[torch.argsort(quota - take, descending=True, stable=True)[:short]] += 1
    if every_class and n >= len(counts):
        for empty in torch.nonzero(take == 0).flatten().tolist():
            take[int(torch.argmax(take))] -= 1
            take[empty] = 1
    return take


def stratified_subset(y: torch.Tensor, n: int, seed: int, every_class: bool = False) -> torch.Tensor:
    """Sorted indices of `n` samples drawn at random (seeded) within each class, class proportions preserved
    (`every_class`: see _allocate)."""
    _, inverse, counts = torch.unique(y, return_inverse=True, return_counts=True)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    grouped = perm[torch.argsort(inverse[perm], stable=True)]  # by class, random order within each class
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(len(y)) - starts.repeat_interleave(counts)
    return grouped[rank < _allocate(counts, n, every_class).repeat_interleave(counts)].sort().values


def _count(size: float | int, total: int, what: str) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, float)):
        raise CnnlabError(f"{what} must be a fraction (e.g. 0.1) or a sample count (e.g. 5000), not {size!r}")
    if isinstance(size, float) and not 0 < size < 1:
        raise CnnlabError(f"{what} fraction {size} must be between 0 and 1 (exclusive); give an int for a sample count")
    n = round(size * total) if isinstance(size, float) else size
    if not 0 < n < total:
        raise CnnlabError(
            f"{what} of {size} takes {n} of {total} samples: choose a size that leaves samples on both sides"
        )
    return n


def stratified_split(
    y: torch.Tensor, size: float | int, seed: int, what: str = "split size"
) -> tuple[torch.Tensor, torch.Tensor]:
    """(kept, split-off) sorted indices; `size` is a fraction of len(y) or a sample count, stratified by label."""
    picked = stratified_subset(y, _count(size, len(y), what), seed)
    mask = torch.ones(len(y), dtype=torch.bool)
    mask[picked] = False
    return mask.nonzero().flatten(), picked


def limit_indices(y: torch.Tensor, limit: int, seed: int) -> torch.Tensor:
    """Sorted indices of at most `limit` samples, stratified and seeded, for quick runs on a subset."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise CnnlabError(f"limit must be a positive sample count, not {limit!r}")
    if limit >= len(y):
        return torch.arange(len(y))
    return stratified_subset(y, limit, seed, every_class=True)
