"""The main job behind `make demo`: train two zoo models on the offline digits dataset and compare them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from cnnlab.display import aligned
from cnnlab.errors import CnnlabError
from cnnlab.train import RunConfig, RunDir, train

DEMO_RUNS = (
    RunConfig(model="mnist-cnn", data="digits", epochs=10, batch_size=64, optimizer="adam", lr=1e-3, seed=0),
    RunConfig(model="lenet5-modern", data="digits", epochs=10, batch_size=64, optimizer="adam", lr=2e-3, seed=0),
)


def comparison_table(summaries: list[dict]) -> str:
    """One row per run: what a reader compares first."""
    head = ["model", "train/val/test", "train acc", "test acc", "train time", "params"]
    rows = [
        [
            s["model"],
            f"{s['train_size']}/{s['val_size']}/{s['test_size']}",
            f"{s['train_accuracy']:.2%}",
            f"{s['test_accuracy']:.2%}",
            f"{s['train_seconds']:.1f} s",
            f"{s['params']:,}",
        ]
        for s in summaries
    ]
    return aligned(head, rows, numeric=range(1, len(head)), rule="under")


def run_demo(out: str | Path = "runs/demo", epochs: int | None = None) -> list[dict]:
    """Train (or reuse finished) demo runs under `out` and return their summaries; `epochs` shortens them for a
    quick check that an installation works (default: the demo's 10)."""
    summaries = []
    for config in DEMO_RUNS:
        config = replace(config, epochs=config.epochs if epochs is None else epochs).validate()
        run = RunDir(Path(out) / config.model)
        if run.finished() and run.config().epochs != config.epochs:
            raise CnnlabError(
                f"{run.path} holds a finished demo run of {run.config().epochs} epochs, not {config.epochs}; "
                "give another --out"
            )
        if run.finished():
            summaries.append(run.summary())
            continue
        summaries.append(train(config, run.path, resume=run.exists()))
    return summaries
