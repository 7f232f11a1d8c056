"""One writer per run directory: an OS file lock (flock) on the run's lock file, held for as long as the run is
written and released by the kernel when its holder dies, so a killed run is never locked out.

The lock file stays empty (the holder's PID is read from /proc/locks, not written), so taking the lock and being
refused changes no byte of the run."""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

from cnnlab.errors import CnnlabError


def holder(path: Path) -> int | None:
    """The PID holding an flock on `path`, from Linux's /proc/locks (None elsewhere or when it cannot be told)."""
    try:
        inode = os.stat(path).st_ino
        for line in Path("/proc/locks").read_text().splitlines():
            parts = line.split()
            if "FLOCK" in parts and len(parts) >= 6 and parts[-3].rsplit(":", 1)[-1] == str(inode):
                return int(parts[-4])
    except (OSError, ValueError):
        return None
    return None


class WriterLock:
    """`acquire()` takes the exclusive lock or raises a one-line CnnlabError naming the holder; `release()` gives
    it back (so does the holder's death)."""

    def __init__(self, path: Path, what: str) -> None:
        self.path, self.what, self._fd = path, what, -1

    def acquire(self) -> WriterLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            pid = holder(self.path)
            by = f"process {pid}" if pid else "another process"
            raise CnnlabError(
                f"{self.what} is being written by {by}; wait for it to finish (or stop it), or use another --out"
            ) from None
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = -1
