"""Plots of runs as PNG bytes: confusion matrix, per-class accuracy, and a grid of test images with predicted and
true labels (wrong ones in red); the curves of all runs overlaid are cnnlab.display.curves. Drawn on bare matplotlib
Figures (no pyplot), so a notebook's plotting backend is left alone."""

from __future__ import annotations

import io

import torch
from matplotlib.figure import Figure


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return buf.getvalue()


def confusion(matrix: list[list[int]], classes: list[str], title: str) -> bytes:
    k = len(classes)
    fig = Figure(figsize=(1.2 + 0.45 * k, 1 + 0.45 * k))
    ax = fig.subplots()
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(k), classes, rotation=90, fontsize=7)
    ax.set_yticks(range(k), classes, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    top = max(max(row) for row in matrix) or 1
    for i, row in enumerate(matrix):
        for j, v in enumerate(row):
            if v:
                ax.text(j, i, str(v), ha="center", va="center", fontsize=6, color="white" if v > top / 2 else "black")
    return _png(fig)


def per_class(accuracy: list[float], classes: list[str], title: str) -> bytes:
    fig = Figure(figsize=(max(4, 0.4 * len(classes) + 1), 2.8))
    ax = fig.subplots()
    ax.bar(range(len(classes)), accuracy, color="C0")
    ax.set_xticks(range(len(classes)), classes, rotation=90, fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("test accuracy")
    ax.set_title(title, fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def samples(
    images: torch.Tensor,
    labels: torch.Tensor,
    predictions: torch.Tensor,
    classes: list[str],
    n: int = 24,
    seed: int = 0,
) -> bytes:
    """A seeded sample of test images, titled 'predicted / true'; wrong predictions in red."""
    pick = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))[:n]
    cols = 8
    rows = max(1, -(-len(pick) // cols))
    fig = Figure(figsize=(cols * 1.3, rows * 1.5))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, pick.tolist()):
        img = images[i].permute(1, 2, 0).numpy()
        ax.imshow(img[..., 0] if img.shape[2] == 1 else img, cmap="gray" if img.shape[2] == 1 else None)
        p, t = int(predictions[i]), int(labels[i])
        ax.set_title(f"{classes[p]} / {classes[t]}", fontsize=7, color="black" if p == t else "red")
    return _png(fig)
