"""The deletion metric (Petsiuk et al., RISE, 2018): does a saliency map point at what the model uses?

Pixels are blacked out most-salient first, in equal steps, and the softmax probability of the explained class is
tracked; the area under that curve (x: fraction deleted, 0..1) is low when the map found the evidence. The same
curve for a seeded random order is the baseline a meaningful map must beat.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

STEPS = 20
CHUNK = 256  # images per model call


@dataclass(frozen=True)
class DeletionResult:
    fractions: torch.Tensor  # (steps + 1,) fraction of pixels deleted
    saliency: torch.Tensor  # (N, steps + 1) class probability, most salient pixels deleted first
    random: torch.Tensor  # (N, steps + 1) the same for a random order
    saliency_auc: torch.Tensor  # (N,)
    random_auc: torch.Tensor  # (N,)


def _ranks(order: torch.Tensor) -> torch.Tensor:
    """rank[n, p] = when pixel p is deleted in image n, from a deletion order (N, pixels)."""
    steps = torch.arange(order.shape[1]).expand_as(order)
    return torch.empty_like(order).scatter_(1, order, steps)


def _curves(
    probabilities: Callable[[torch.Tensor], torch.Tensor],
    pixels: torch.Tensor,
    ranks: torch.Tensor,
    targets: torch.Tensor,
    counts: list[int],
    fill: float,
) -> torch.Tensor:
    """Class probability (M, steps + 1) for M deletion orders (ranks row m deletes from image m % N).

    Every (step, order) pair is one image; they go to the model in chunks of CHUNK, not one small batch per step."""
    n, _, h, w = pixels.shape
    m, total = len(ranks), len(ranks) * len(counts)
    kept = torch.tensor(counts)
    out = torch.empty(total)
    for start in range(0, total, CHUNK):
        job = torch.arange(start, min(start + CHUNK, total))
        step, row = job // m, job % m
        gone = (ranks[row] < kept[step, None]).view(-1, 1, h, w)
        batch = torch.where(gone, torch.tensor(fill), pixels[row % n])
        out[job] = probabilities(batch).gather(1, targets[row % n, None])[:, 0]
    return out.view(len(counts), m).T


def deletion_check(
    probabilities: Callable[[torch.Tensor], torch.Tensor],
    pixels: torch.Tensor,
    heatmaps: torch.Tensor,
    targets: torch.Tensor,
    steps: int = STEPS,
    seed: int = 0,
    fill: float = 0.0,
) -> DeletionResult:
    """Deletion curves and AUCs for heatmaps (N, H, W) over pixels (N, C, H, W) in 0..255.

    `probabilities(pixels)` returns softmax probabilities (N, classes); deleted pixels get `fill` in every channel
    (0: black, as in RISE). Equal heatmap values are deleted in a random order, so ties do not sweep the image
    top to bottom."""
    pixels = pixels.float()
    n, _, h, w = pixels.shape
    g = torch.Generator().manual_seed(seed)
    random_order = torch.stack([torch.randperm(h * w, generator=g) for _ in range(n)])
    shuffle = torch.stack([torch.randperm(h * w, generator=g) for _ in range(n)])
    keys = heatmaps.reshape(n, -1).gather(1, shuffle)
    saliency_order = shuffle.gather(1, keys.argsort(dim=1, descending=True, stable=True))
    counts = [round(i * h * w / steps) for i in range(steps + 1)]
    fractions = torch.tensor(counts, dtype=torch.float32) / (h * w)
    curves = _curves(probabilities, pixels, _ranks(torch.cat([saliency_order, random_order])), targets, counts, fill)
    sal, rnd = curves[:n], curves[n:]
    return DeletionResult(
        fractions, sal, rnd, torch.trapezoid(sal, fractions, dim=1), torch.trapezoid(rnd, fractions, dim=1)
    )
