"""Checkpoints: weights in safetensors, metadata in JSON, optimiser/scheduler/RNG state in a torch file loaded
with weights_only=True. Every file is written to a temporary name and renamed, so a crash never leaves half a file."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from cnnlab.errors import CnnlabError


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Call write(tmp_path) then rename onto `path` (atomic on POSIX)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the permissions open() would
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def save_checkpoint(directory: Path, tag: str, model: nn.Module, meta: dict[str, Any],
                    train_state: dict[str, Any] | None = None) -> None:
    """Write <tag>.safetensors, <tag>.json and (for resuming) <tag>.state.pt."""
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    atomic_write(directory / f"{tag}.safetensors", lambda tmp: save_file(tensors, tmp))
    if train_state is not None:
        atomic_write(directory / f"{tag}.state.pt", lambda tmp: torch.save(train_state, tmp))
    write_text(directory / f"{tag}.json", json.dumps(meta, indent=2))


def load_weights(path: Path, model: nn.Module) -> None:
    """Load a safetensors file into `model` (strict); errors name the file."""
    if not path.is_file():
        raise CnnlabError(f"checkpoint {path} not found; train the run first (cnnlab train ... --out RUN)")
    try:
        state = load_file(str(path))
    except Exception as e:
        raise CnnlabError(f"checkpoint {path} is unreadable ({e}); retrain or restore it") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()[0]
        raise CnnlabError(f"checkpoint {path} does not fit the model: {first}") from None


def load_train_state(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CnnlabError(f"no resumable state at {path}; start the run without --resume")
    return torch.load(path, weights_only=True)


def load_meta(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CnnlabError(f"{path} not found; is this a cnnlab run directory?")
    return json.loads(path.read_text())
