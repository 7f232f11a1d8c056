"""Output that PyTorch's C++ side writes straight to a file descriptor, past Python's sys.stdout and sys.stderr."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def silenced(fd: int) -> Iterator[None]:
    """File descriptor `fd` (1: stdout, 2: stderr) sent nowhere for the duration: where PyTorch's C++ side writes
    a page of its own (a failed connection's stack frames, a graph it cannot export), the command reports the
    outcome in one line instead."""
    (sys.stdout if fd == 1 else sys.stderr).flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "wb") as sink:
            os.dup2(sink.fileno(), fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
