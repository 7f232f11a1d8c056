"""The run directory, the contract between commands: config.toml, metrics.csv, checkpoints/, summary.json.

Everything after `train` (eval, predict, compare, report) rebuilds what it needs from these files.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.train.checkpoint import load_meta, load_weights, write_text
from cnnlab.train.config import RunConfig

METRIC_FIELDS = ["epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds"]


@dataclass(frozen=True)
class RunDir:
    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))  # accept str too, as notebooks pass

    @property
    def config_path(self) -> Path:
        return self.path / "config.toml"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.csv"

    @property
    def summary_path(self) -> Path:
        return self.path / "summary.json"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    def exists(self) -> bool:
        return self.config_path.is_file()

    def config(self) -> RunConfig:
        if not self.exists():
            raise CnnlabError(f"{self.path} is not a cnnlab run directory (no config.toml); train one with "
                              "`cnnlab train ... --out DIR`")
        return RunConfig.from_toml(self.config_path)

    def metrics(self) -> list[dict[str, Any]]:
        if not self.metrics_path.is_file():
            return []
        rows = list(csv.DictReader(io.StringIO(self.metrics_path.read_text())))
        return [{k: (float(v) if v not in ("", None) and k != "epoch" else (int(v) if k == "epoch" else None))
                 for k, v in r.items()} for r in rows]

    def write_metrics(self, rows: list[dict[str, Any]]) -> None:
        buf = io.StringIO()
        w = csv.DictWriter(buf, METRIC_FIELDS, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r[k]) for k in METRIC_FIELDS})
        write_text(self.metrics_path, buf.getvalue())

    def summary(self) -> dict[str, Any]:
        if not self.summary_path.is_file():
            raise CnnlabError(f"{self.path} has no summary.json: the run has not finished; resume it with --resume")
        return json.loads(self.summary_path.read_text())

    def load_model(self, which: str = "best") -> tuple[nn.Module, dict[str, Any]]:
        """The trained model (best checkpoint, else last) and its metadata (classes, input shape, mean/std)."""
        from cnnlab.zoo import create_model

        config = self.config()
        tag = which if (self.checkpoints / f"{which}.safetensors").is_file() else "last"
        meta = load_meta(self.checkpoints / f"{tag}.json")
        model = create_model(config.model, num_classes=len(meta["classes"]), in_channels=meta["input_shape"][0])
        load_weights(self.checkpoints / f"{tag}.safetensors", model)
        model.eval()
        return model, meta

    def frozen_model(self) -> tuple[nn.Module, tuple[int, int, int]]:
        """The trained model with the run's freeze policy applied, and its input shape: for `cnnlab summary RUN`,
        which then shows trainable versus frozen parameters per layer."""
        from cnnlab.transfer import freeze

        model, meta = self.load_model()
        freeze(model, self.config().freeze)
        return model, tuple(meta["input_shape"])
