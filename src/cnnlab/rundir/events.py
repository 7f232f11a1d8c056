"""TensorBoard event files in the run's tensorboard folder, written when the tensorboard package is installed (optional).

Written with tensorboard's record writer on a plain file: torch.utils.tensorboard and tensorboard's EventFileWriter
both import TensorFlow whenever it is installed (seconds of start-up and log noise on every run)."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any


class EventLog:
    """Per-epoch scalars (loss/accuracy for train and val, lr, seconds) for `tensorboard --logdir RUN`.

    On resume (`first_step` > 1: the first epoch, or update, still to come) a new event file starts with a purge
    marker there, so TensorBoard drops points an interrupted attempt logged after the checkpoint and curves do not
    fork."""

    def __init__(self, folder: Path, first_step: int = 1) -> None:
        try:
            from tensorboard.compat.proto.event_pb2 import Event, SessionLog
            from tensorboard.compat.proto.summary_pb2 import Summary
            from tensorboard.summary.writer.record_writer import RecordWriter
        except ImportError:  # tensorboard not installed: metrics.csv still holds everything
            self.writer = None
            return
        self._event, self._summary = Event, Summary
        folder.mkdir(parents=True, exist_ok=True)
        now = time.time()
        name = f"events.out.tfevents.{now:.6f}.{socket.gethostname()}.{os.getpid()}.cnnlab"
        self.writer = RecordWriter(open(folder / name, "wb"))  # noqa: SIM115 (closed in close())
        self._write(Event(wall_time=now, file_version="brain.Event:2"))
        if first_step > 1:
            self._write(Event(step=first_step, wall_time=now, session_log=SessionLog(status=SessionLog.START)))

    def log(self, row: dict[str, Any]) -> None:
        """An epoch's metrics row at step = its epoch: train_loss as loss/train (so train and val share a chart),
        other columns under their own names."""
        tags = {}
        for key, value in row.items():
            split, _, metric = key.partition("_")
            if key != "epoch" and value is not None:
                tags[f"{metric}/{split}" if split in ("train", "val") else key] = value
        self.scalars(row["epoch"], tags)

    def scalars(self, step: int, values: dict[str, float]) -> None:
        if self.writer is None:
            return
        summary = self._summary(value=[self._summary.Value(tag=k, simple_value=float(v)) for k, v in values.items()])
        self._write(self._event(step=step, wall_time=time.time(), summary=summary))

    def _write(self, event: Any) -> None:
        self.writer.write(event.SerializeToString())
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
