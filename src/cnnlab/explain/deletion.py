"""The deletion metric (Petsiuk et al., RISE, 2018): does a saliency map point at what the model uses?

Pixels are blacked out most-salient first, in equal steps, and the softmax probability of the explained class is
tracked; the area under that curve (x: fraction deleted, 0..1) is low when the map found the evidence. Two orders
that need no model are the baselines: a seeded random one, and brightest first (the pixels farthest from the fill
colour, whose deletion changes the image most). On dark backgrounds such as MNIST's, deleting background pixels
changes nothing, so any map that points at the ink beats random order; brightest-first shows how far ink alone goes.
Each image's random streams are seeded from its pixels, so an image's numbers do not depend on its place in a list.
"""

from __future__ import annotations

import hashlib
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
    bright: torch.Tensor  # (N, steps + 1) the same for brightest first (farthest from the fill colour)
    saliency_auc: torch.Tensor  # (N,)
    random_auc: torch.Tensor  # (N,)
    bright_auc: torch.Tensor  # (N,)


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
    streams = [_generator(seed, image) for image in pixels]
    random_order = torch.stack([torch.randperm(h * w, generator=g) for g in streams])
    shuffle = torch.stack([torch.randperm(h * w, generator=g) for g in streams])

    def most_first(keys: torch.Tensor) -> torch.Tensor:  # ties in the shuffled order, not top to bottom
        return shuffle.gather(1, keys.reshape(n, -1).gather(1, shuffle).argsort(dim=1, descending=True, stable=True))

    orders = [most_first(heatmaps), random_order, most_first((pixels - fill).abs().sum(1))]
    counts = [round(i * h * w / steps) for i in range(steps + 1)]
    fractions = torch.tensor(counts, dtype=torch.float32) / (h * w)
    sal, rnd, bright = _curves(probabilities, pixels, _ranks(torch.cat(orders)), targets, counts, fill).split(n)
    return DeletionResult(
        fractions, sal, rnd, bright, *(torch.trapezoid(c, fractions, dim=1) for c in (sal, rnd, bright))
    )


def _generator(seed: int, image: torch.Tensor) -> torch.Generator:
    """A random stream for one image, from `seed` and the image's pixels."""
    digest = hashlib.sha256(str(seed).encode() + image.numpy().tobytes()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)
