"""The image-filter lab: classic hand-made kernels slid over an image, the step before conv layers learn their own.

Kernels are applied as a conv layer applies its weights (cross-correlation, no flip), with replicated borders so a
flat image gives exactly zero for an edge detector. A kernel file is whitespace-separated numbers forming an odd
square (one row per line, or all on one line).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from cnnlab.errors import CnnlabError
from cnnlab.explain.images import display_scale, grid, to_image
from cnnlab.imagefile import LUMA
from cnnlab.reference.textmatrix import read_cell

KERNELS: dict[str, list[list[float]]] = {
    "sobel-x": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],  # left-to-right brightening: vertical edges
    "sobel-y": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],  # top-to-bottom brightening: horizontal edges
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "outline": [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
    "blur": [[1 / 16, 2 / 16, 1 / 16], [2 / 16, 4 / 16, 2 / 16], [1 / 16, 2 / 16, 1 / 16]],
    "emboss": [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]],
}


def read_kernel_file(path: str | Path) -> torch.Tensor:
    """A (k, k) kernel from a text file of numbers; every way the file can be wrong is a one-line error."""
    p = Path(path)
    try:
        text = p.read_text()
    except UnicodeDecodeError:
        raise CnnlabError(f"kernel file {p} is not a text file; write the kernel as rows of numbers") from None
    except OSError as e:
        raise CnnlabError(f"cannot read kernel file {p} ({e.__class__.__name__})") from None
    rows = [line.split() for line in text.splitlines() if line.strip()]
    values: list[float] = []
    for token in (t for row in rows for t in row):
        try:
            values.append(read_cell(token))
        except ValueError as e:
            raise CnnlabError(f"kernel file {p}: {e}") from None
    if not values:
        raise CnnlabError(f"kernel file {p} holds no numbers; write e.g. 3 rows of 3 numbers")
    if not all(math.isfinite(v) for v in values):
        raise CnnlabError(f"kernel file {p} holds an infinite or NaN value; use finite numbers")
    k = math.isqrt(len(values))
    if k * k != len(values) or k % 2 == 0:
        raise CnnlabError(
            f"kernel file {p} holds {len(values)} numbers; a kernel needs an odd square count "
            "(9 for 3x3, 25 for 5x5, ...)"
        )
    if len(rows) > 1 and any(len(row) != k for row in rows):
        bad = next(i for i, row in enumerate(rows, start=1) if len(row) != k)
        raise CnnlabError(
            f"kernel file {p}: row {bad} has {len(rows[bad - 1])} numbers; a {k}x{k} kernel needs {k} "
            "per row (or put all numbers on one line)"
        )
    return torch.tensor(values, dtype=torch.float32).view(k, k)


Kernel = str | Path | Sequence[Sequence[float]] | np.ndarray | torch.Tensor


def get_kernel(spec: Kernel) -> tuple[str, torch.Tensor]:
    """(name, kernel) for a built-in name or a kernel file, or (from Python) the numbers themselves: a notebook's
    [[0, -1, 0], [-1, 5, -1], [0, -1, 0]] was a TypeError (unhashable type) rather than a kernel."""
    if not isinstance(spec, str | Path):
        kernel = numbers_kernel(spec)
        return f"{kernel.shape[0]}x{kernel.shape[1]} kernel", kernel
    if spec in KERNELS:
        return str(spec), torch.tensor(KERNELS[str(spec)], dtype=torch.float32)
    if Path(spec).is_file():
        return Path(spec).stem, read_kernel_file(spec)
    raise CnnlabError(f"unknown kernel {str(spec)!r}: use one of {', '.join(KERNELS)} or a text file of numbers")


def numbers_kernel(numbers: Sequence[Sequence[float]] | np.ndarray | torch.Tensor) -> torch.Tensor:
    """A (k, k) kernel from k rows of k finite numbers (a list of lists, an array or a tensor), k odd, as a kernel
    file must hold; anything else is a one-line error."""
    try:
        values = np.asarray(numbers.detach().cpu() if isinstance(numbers, torch.Tensor) else numbers, dtype=np.float64)
    except (TypeError, ValueError):
        raise CnnlabError(
            f"a kernel is a name ({', '.join(KERNELS)}), a text file of numbers or k rows of k numbers, got "
            f"{type(numbers).__name__} {str(numbers)[:60]}"
        ) from None
    if values.ndim != 2 or values.shape[0] != values.shape[1] or values.shape[0] % 2 == 0:
        raise CnnlabError(f"a kernel must be k rows of k numbers, k odd (3x3, 5x5, ...), got shape {values.shape}")
    if not np.isfinite(values).all():
        raise CnnlabError("the kernel holds an infinite or NaN value; use finite numbers")
    return torch.from_numpy(values).float()


def apply_kernel(planes: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Each (H, W) plane of planes (P, H, W) cross-correlated with the kernel; same size, replicated borders."""
    r = kernel.shape[-1] // 2
    x = F.pad(planes.float()[:, None], (r, r, r, r), mode="replicate")
    return F.conv2d(x, kernel.float()[None, None])[:, 0]


def _shown(response: torch.Tensor, zero_sum: bool) -> np.ndarray:
    """Edge detectors (weights summing to 0) answer with signed values: show |response| scaled to its maximum.
    Other kernels keep brightness: clip to the 0..1 range."""
    if zero_sum:
        a = response.abs()
        return (a / a.max().clamp(min=1e-12)).numpy()
    return response.clamp(0, 1).numpy()


def filter_panels(pixels: torch.Tensor, name: str, kernel: torch.Tensor) -> list[tuple[str, np.ndarray]]:
    """The lab's panels as (label, image in 0..1): the image (uint8 C, H, W), then `kernel` (as `get_kernel` gives
    it, with its name) applied to its grayscale version and, for a colour image, to R, G and B separately (a grey
    image's three would be the grayscale panel again)."""
    grey = pixels.shape[0] == 1
    rgb = pixels.float().div(255)
    rgb = rgb.expand(3, -1, -1) if grey else rgb
    gray = (rgb * torch.tensor(LUMA).view(3, 1, 1)).sum(0, keepdim=True)
    responses = apply_kernel(gray if grey else torch.cat([gray, rgb]), kernel)
    zero_sum = abs(float(kernel.sum())) <= 1e-6 * float(kernel.abs().sum())
    planes = ("gray",) if grey else ("gray", "R", "G", "B")
    labels = [f"|{plane} * {name}|" if zero_sum else f"{plane} * {name}" for plane in planes]
    return [("input", rgb.permute(1, 2, 0).numpy())] + [
        (label, _shown(r, zero_sum)) for label, r in zip(labels, responses, strict=True)
    ]


def filter_lab(pixels: torch.Tensor, name: str, kernel: torch.Tensor) -> Image.Image:
    """The panels of `filter_panels` side by side, each labelled."""
    scale = display_scale(*pixels.shape[-2:])
    panels = filter_panels(pixels, name, kernel)
    return grid([to_image(image, scale) for _, image in panels], [label for label, _ in panels], cols=len(panels))
