"""TensorBoard event files in RUN/tensorboard/, written when the tensorboard package is installed (optional)."""
from __future__ import annotations

from pathlib import Path
from typing import Any


class EventLog:
    """Per-epoch scalars (loss/accuracy for train and val, lr, seconds) for `tensorboard --logdir RUN`.

    `first_epoch` > 1 on resume: events from an interrupted epoch after it are purged so curves do not fork."""

    def __init__(self, run_path: Path, first_epoch: int = 1) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard not installed: metrics.csv still holds everything
            self.writer = None
            return
        self.writer = SummaryWriter(str(run_path / "tensorboard"), purge_step=first_epoch if first_epoch > 1 else None)

    def log(self, row: dict[str, Any]) -> None:
        if self.writer is None:
            return
        for key, value in row.items():
            if key != "epoch" and value is not None:
                split, _, metric = key.partition("_")
                tag = f"{metric}/{split}" if metric else key
                self.writer.add_scalar(tag, value, row["epoch"])
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
