"""Cache of decoded datasets as uint8/int64 .npy files, so only the first load pays for decoding.

An entry is keyed on the source files' path, size and mtime (and decode options); a changed source gets a new
entry. Every file is written to a temp file and moved into place with os.replace, meta.json last, so a reader
never sees a half-written entry. The cache folder can be deleted at any time.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import warnings
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import BinaryIO

import numpy as np

from cnnlab.data.formats import Decoded

CACHE_VERSION = 1
_ARRAYS = ("train_x", "train_y", "test_x", "test_y")


def _stat(path: Path, name: str) -> list:
    st = path.stat()
    return [name, st.st_size, st.st_mtime_ns]


def fingerprint(paths: Iterable[Path]) -> list:
    """Path, size and mtime of each source file; a directory contributes every file below it."""
    out: list = []
    for path in paths:
        path = path.resolve()
        if path.is_dir():
            for folder, _, names in sorted(os.walk(path, followlinks=True)):
                out += [_stat(Path(folder) / n, str(Path(folder) / n)) for n in sorted(names)]
        else:
            out.append(_stat(path, str(path)))
    return out


def entry_name(label: str, sources: Iterable[Path], options: dict) -> str:
    """The cache entry folder name: a readable label plus a hash of the sources' fingerprint and the options."""
    blob = json.dumps([CACHE_VERSION, label, fingerprint(sources), options], sort_keys=True, default=str)
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-")[:60]
    return f"{slug}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def _write_atomic(path: Path, write: Callable[[BinaryIO], object]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_entry(entry: Path) -> Decoded | None:
    """The cached dataset in `entry`, or None if it is missing, incomplete or unreadable."""
    try:
        meta = json.loads((entry / "meta.json").read_text())
        if meta.get("version") != CACHE_VERSION:
            return None
        arrays = [np.load(entry / f"{name}.npy", allow_pickle=False) for name in _ARRAYS]
    except (OSError, ValueError):
        return None
    return Decoded(*arrays, classes=list(meta["classes"]))


def save_entry(entry: Path, decoded: Decoded) -> None:
    """Write `decoded` into `entry`, each file atomically and meta.json (the completion mark) last."""
    entry.mkdir(parents=True, exist_ok=True)
    for name in _ARRAYS:
        _write_atomic(entry / f"{name}.npy", partial(np.save, arr=getattr(decoded, name)))
    meta = json.dumps({"version": CACHE_VERSION, "classes": decoded.classes}).encode()
    _write_atomic(entry / "meta.json", lambda f: f.write(meta))


def cached(cache_dir: Path, label: str, sources: list[Path], options: dict, build: Callable[[], Decoded]) -> Decoded:
    """Load the decoded dataset from the cache, or build it and store it; an unwritable cache only warns."""
    entry = cache_dir / entry_name(label, sources, options)
    decoded = load_entry(entry)
    if decoded is None:
        decoded = build()
        try:
            save_entry(entry, decoded)
        except OSError as e:
            warnings.warn(
                f"could not write the data cache in {cache_dir} ({e}); pass cache_dir= to use another folder",
                stacklevel=2,
            )
    return decoded
