"""Files that appear whole or not at all: write to a temporary name, fsync, rename (atomic on POSIX), fsync the folder.

Temporary names carry the writer's PID (`.NAME.tmp-PID-XXXX`), so `remove_stale` can tell an abandoned temporary
(its writer is dead) from one a live process is still writing."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from cnnlab.failpoint import failpoint

_TEMP = re.compile(r"^\..+\.tmp-(\d+)-[A-Za-z0-9_]+$")


def temp_name(path: Path) -> str:
    """The prefix of temporaries for `path`: hidden, marked as temporary and owned by this process."""
    return f".{path.name}.tmp-{os.getpid()}-"


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


@contextmanager
def exclusive(lock_file: Path) -> Iterator[None]:
    """Held by one process at a time: an OS file lock (flock) on `lock_file`, created if missing. The kernel
    releases it when its holder dies, SIGKILL included, so a waiter never wedges on a dead process."""
    with open(lock_file, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Call write(tmp_path), fsync it, then rename it onto `path`; on any failure no temporary is left behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_name(path))
    except OSError as e:  # name the file the caller asked for, not the hidden temporary (.NAME.tmp-PID-XXXX)
        raise type(e)(e.errno, e.strerror, str(path)) from None
    os.close(fd)
    try:
        write(tmp)
        failpoint("atomic-write")  # a killed writer leaves its temporary: _remove_abandoned's case
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the permissions open() would
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    _remove_abandoned(path)


def _remove_abandoned(path: Path) -> None:
    """Remove the temporaries of `path` that dead writers left (a `compare`, `export` or `report` killed while
    writing it): in folders no lock guards, writing the file again is the one moment known to be theirs."""
    prefix = f".{path.name}.tmp-"
    for entry in path.parent.iterdir():
        m = _TEMP.match(entry.name) if entry.name.startswith(prefix) else None
        if m and not process_alive(int(m.group(1))) and entry.is_file():
            entry.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def temp_dir(final: Path) -> Path:
    """A fresh temporary folder beside `final`, to be filled and then published with `publish_dir`."""
    final.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=final.parent, prefix=temp_name(final)))


def publish_dir(tmp: Path, final: Path) -> None:
    """fsync every file of `tmp` (given the permissions open() and mkdir() would), then rename it to `final` in one
    step."""
    umask = _umask()
    for f in tmp.iterdir():
        os.chmod(f, 0o666 & ~umask)
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    os.chmod(tmp, 0o777 & ~umask)
    fsync_dir(tmp)
    os.rename(tmp, final)
    fsync_dir(final.parent)


def process_alive(pid: int) -> bool:
    """Whether process `pid` exists on this machine (one we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(folder: Path, everything: bool = False) -> list[Path]:
    """Remove temporaries in `folder` left by dead writers (`everything`: by any writer but this process, for a
    caller that holds the folder's lock). Returns what was removed."""
    removed = []
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        m = _TEMP.match(entry.name)
        if not m:
            continue
        pid = int(m.group(1))
        if pid == os.getpid() or (not everything and process_alive(pid)):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed
