"""Loss and accuracy per epoch as a PNG: the report's curves and the live figure of a run trained in a notebook.

Drawn on a bare matplotlib Figure (no pyplot), so nothing changes the backend of a notebook that also plots."""

from __future__ import annotations

import io
import math
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

LOG_SPAN = 100  # losses spanning more than this factor get a log axis: a diverged run's 1e14 flattens the rest


def curves_png(runs: dict[str, list[dict[str, Any]]]) -> bytes:
    """curves_figure as PNG bytes."""
    buf = io.BytesIO()
    curves_figure(runs).savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return buf.getvalue()


def curves_figure(runs: dict[str, list[dict[str, Any]]]) -> Figure:
    """Loss and accuracy per epoch (each run's metrics rows) for every run on shared axes: train solid with dots,
    validation dashed with squares (told apart with one epoch too), whole epochs on the x axis; the loss axis is
    logarithmic (and labelled so) when the losses span more than LOG_SPAN times, as one diverging run's do."""
    fig = Figure(figsize=(11, 4))
    ax_loss, ax_acc = fig.subplots(1, 2)
    epochs_shown = [r["epoch"] for rows in runs.values() for r in rows] or [1]
    for i, (name, rows) in enumerate(runs.items()):
        color = f"C{i % 10}"
        epochs = [r["epoch"] for r in rows]
        for ax, key in ((ax_loss, "loss"), (ax_acc, "accuracy")):
            ax.plot(epochs, [r[f"train_{key}"] for r in rows], color=color, marker="o", label=f"{name} train")
            if any(r[f"val_{key}"] is not None for r in rows):
                ax.plot(
                    epochs,
                    [r[f"val_{key}"] for r in rows],
                    color=color,
                    marker="s",
                    linestyle="--",
                    label=f"{name} val",
                )
    for ax, title in ((ax_loss, "loss"), (ax_acc, "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_xlim(min(epochs_shown) - 0.5, max(epochs_shown) + 0.5)  # one epoch: not 0.96 ... 1.04
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # no epoch 1.5
        ax.set_title(title)
        ax.grid(alpha=0.3)
    losses = [
        v
        for rows in runs.values()
        for r in rows
        for v in (r["train_loss"], r["val_loss"])
        if v is not None and math.isfinite(v) and v > 0
    ]
    log = bool(losses) and max(losses) > LOG_SPAN * min(losses)
    if log:
        ax_loss.set_yscale("log")
    ax_loss.set_ylabel("loss (log scale)" if log else "loss")
    ax_acc.legend(fontsize=7, loc="lower right")
    return fig
