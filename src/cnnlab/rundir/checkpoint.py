"""The checkpoint set of a run: everything one epoch leaves behind, published as one unit or not at all.

    checkpoints/epoch-0003/   weights.safetensors (the weights that count), state.pt (optimiser, scheduler, RNG,
                              data order, engine state), meta.json (classes, preprocessing, build options, a
                              network file's text), metrics.csv (every row so far), and training.safetensors when
                              the weights that count are an average (--ema) of the weights being trained
    checkpoints/manifest.json which epoch folder is the last and which the best, with each file's size and sha256

An epoch folder is written under a temporary name, fsynced and renamed; then the manifest is replaced atomically.
Until that one rename the previous set is the run's state, so a process killed at any instant leaves either the
old set or the new one. Readers verify sizes and digests against the manifest, so a damaged file is named, never
loaded. Folders the manifest does not name are leftovers of a killed writer and are removed by the next writer.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import pickle
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save

from cnnlab.atomic import publish_dir, remove_stale, temp_dir, write_text
from cnnlab.errors import CnnlabError
from cnnlab.failpoint import failpoint
from cnnlab.tensorfile import load_tensors

MANIFEST = "manifest.json"
WEIGHTS, TRAINING, STATE, META, METRICS = (
    "weights.safetensors",
    "training.safetensors",
    "state.pt",
    "meta.json",
    "metrics.csv",
)
# lr_first, lr_last: the learning rate of the epoch's first and of its last update (they differ under a schedule)
METRIC_FIELDS = ["epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr_first", "lr_last", "seconds"]
FORMAT = 1


def _digest(path: Path) -> dict[str, Any]:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return {"size": path.stat().st_size, "sha256": h.hexdigest()}


def metrics_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, METRIC_FIELDS, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r[k]) for k in METRIC_FIELDS})
    return buf.getvalue()


def parse_metrics(text: str) -> list[dict[str, Any]]:
    rows = list(csv.DictReader(io.StringIO(text)))
    return [
        {k: (int(v) if k == "epoch" else float(v) if v not in ("", None) else None) for k, v in r.items()} for r in rows
    ]


def _tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except FileNotFoundError:
        raise
    except Exception as e:
        raise CnnlabError(f"checkpoint {path} is unreadable ({e.__class__.__name__}); retrain or restore it") from None


@dataclass(frozen=True)
class Checkpoint:
    """One published, verified epoch folder."""

    folder: Path
    epoch: int
    meta: dict[str, Any]
    metrics: list[dict[str, Any]]
    weights: dict[str, torch.Tensor]  # the model's tensors, read with the rest of the set (empty if not asked for)

    def training_weights(self) -> dict[str, torch.Tensor]:
        """The weights being trained: `weights` itself, unless those are an average (--ema), for resuming."""
        return _tensors(self.folder / TRAINING) if (self.folder / TRAINING).is_file() else self.weights

    def train_state(self) -> dict[str, Any]:
        """Optimiser, scheduler, RNG and data-order state, loaded with weights_only=True (no code runs)."""
        path = self.folder / STATE
        try:
            return load_tensors(path)
        except FileNotFoundError:
            raise
        except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as e:
            if isinstance(e, pickle.UnpicklingError):
                why = "it would build objects other than tensors"
            else:
                why = f"{e.__class__.__name__}: {(str(e).splitlines() or [''])[0][:120]}"
            raise CnnlabError(
                f"the resumable state {path} is not a plain tensor file ({why}); refusing to load it: retrain the run"
            ) from None


class CheckpointStore:
    """The checkpoints/ folder of a run: reads verify, `publish` (for the run's one writer) replaces atomically."""

    def __init__(self, folder: Path, run: str) -> None:
        self.folder, self.run = folder, run

    # ------------------------------------------------------------------------------------------------ reading
    def manifest(self) -> dict[str, Any] | None:
        """The manifest, or None when no checkpoint was ever published."""
        path = self.folder / MANIFEST
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise CnnlabError(
                f"{path} is damaged ({e.__class__.__name__}); remove the run directory and retrain"
            ) from None
        ok = isinstance(data, dict) and data.get("format") == FORMAT and isinstance(data.get("last"), dict)
        ok = ok and all(
            isinstance(data.get(k), dict)
            and isinstance(data[k].get("dir"), str)
            and isinstance(data[k].get("files"), dict)
            and isinstance(data[k].get("epoch"), int)
            for k in ("last", "best")
            if data.get(k) is not None
        )
        if not ok:
            raise CnnlabError(f"{path} is not a cnnlab checkpoint manifest; remove the run directory and retrain")
        return data

    def load(self, which: str = "best", weights: bool = True) -> Checkpoint | None:
        """The verified `which` ("best" or "last"; "best" falls back to "last") checkpoint, or None if none exists;
        `weights=False` reads its metadata and metrics only.

        A writer may replace the set while this reads; then the read starts over on the new manifest."""
        manifest = self.manifest()
        for _ in range(10):
            if manifest is None:
                return None
            entry = manifest.get(which) or manifest["last"]
            try:
                return self._verified(entry, weights)
            except FileNotFoundError as e:
                missing = e.filename
            newer = self.manifest()  # the writer may have published a newer set and removed this one
            if newer == manifest:
                raise CnnlabError(f"checkpoint file {missing} is missing; restore it or retrain the run")
            manifest = newer
        raise CnnlabError(f"the checkpoints of {self.run} kept changing while being read; try again")

    def stopped(self) -> str | None:
        """Why the run stopped before its last epoch (an early stop, a tuner), if it did."""
        manifest = self.manifest()
        return manifest.get("stopped") if manifest else None

    def _verified(self, entry: dict[str, Any], weights: bool) -> Checkpoint:
        folder = self.folder / Path(entry["dir"]).name
        for name, want in entry["files"].items():
            if not weights and name != META and name != METRICS:
                continue
            path = folder / Path(name).name
            got = {"size": path.stat().st_size}
            if got["size"] != want.get("size") or _digest(path) != want:
                raise CnnlabError(
                    f"checkpoint file {path} is damaged (its size or sha256 differs from the manifest); "
                    "restore it or retrain the run"
                )
        try:
            meta = json.loads((folder / META).read_text())
            metrics = parse_metrics((folder / METRICS).read_text())
        except (ValueError, KeyError, TypeError) as e:
            raise CnnlabError(
                f"checkpoint {folder} has unreadable metadata ({e.__class__.__name__}); retrain the run"
            ) from None
        if not isinstance(meta, dict):
            raise CnnlabError(f"checkpoint {folder / META} is not a metadata object; retrain the run")
        return Checkpoint(folder, entry["epoch"], meta, metrics, _tensors(folder / WEIGHTS) if weights else {})

    # ------------------------------------------------------------------------------------------------ writing
    def clean(self) -> None:
        """Remove what a killed writer left: temporaries and epoch folders the manifest does not name.
        Only the run's writer (holding its lock) calls this."""
        remove_stale(self.folder, everything=True)
        manifest = self.manifest() if self.folder.is_dir() else None
        keep = {manifest[k]["dir"] for k in ("last", "best") if manifest and manifest.get(k)}
        for entry in self.folder.iterdir() if self.folder.is_dir() else []:
            if entry.is_dir() and entry.name.startswith("epoch-") and entry.name not in keep:
                shutil.rmtree(entry)

    def reset(self) -> None:
        """Forget every checkpoint (a run started over)."""
        if self.folder.exists():
            shutil.rmtree(self.folder)

    def publish(
        self,
        epoch: int,
        weights: dict[str, torch.Tensor],
        train_state: dict[str, Any],
        meta: dict[str, Any],
        metrics: list[dict[str, Any]],
        best: bool,
        stopped: str | None = None,
        training: dict[str, torch.Tensor] | None = None,
    ) -> None:
        """Write epoch `epoch`'s set and make it the last (and, with best=True, the best) in one atomic step."""
        name = f"epoch-{epoch:04d}"
        final = self.folder / name
        if final.exists():  # a leftover of a killed attempt at this epoch that never reached the manifest
            shutil.rmtree(final)
        tmp = temp_dir(final)
        try:
            # serialised in memory and written by Python, so a full disk is an OSError (torch.save would raise a
            # RuntimeError from its zip writer)
            state = io.BytesIO()
            torch.save(train_state, state)
            contents = [
                (WEIGHTS, lambda: save(weights)),
                (TRAINING, (lambda: save(training)) if training is not None else None),
                (STATE, state.getvalue),
                (META, lambda: json.dumps(meta, indent=2).encode()),
                (METRICS, lambda: metrics_csv(metrics).encode()),
            ]
            for file, content in contents:
                if content is not None:
                    (tmp / file).write_bytes(content())
                    failpoint("checkpoint-file")
            files = {f.name: _digest(f) for f in sorted(tmp.iterdir())}
            publish_dir(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        failpoint("checkpoint-folder")
        old = self.manifest() or {}
        entry = {"dir": name, "epoch": epoch, "files": files}
        manifest = {"format": FORMAT, "last": entry, "best": entry if best else old.get("best"), "stopped": stopped}
        write_text(self.folder / MANIFEST, json.dumps(manifest, indent=2))
        failpoint("manifest")
        self.clean()

    def mark_stopped(self, reason: str, finding: str | None = None) -> None:
        """Record that the run ends here (so a resume goes straight to the final test), with the diagnosis that
        says why when the last checkpoint cannot hold it (a non-finite loss after that epoch)."""
        manifest = self.manifest()
        if manifest is not None:
            said = {"stopped_finding": finding} if finding is not None else {}
            write_text(self.folder / MANIFEST, json.dumps({**manifest, "stopped": reason, **said}, indent=2))

    def stopped_finding(self) -> str | None:
        """The diagnosis recorded with the stop (`mark_stopped`), if any."""
        manifest = self.manifest()
        return manifest.get("stopped_finding") if manifest else None
