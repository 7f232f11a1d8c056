"""Freed memory kept for the next training step instead of handed back to the kernel and faulted in again.

Every step of a CPU training allocates and frees the same activations. glibc's malloc gives a freed block at the
top of its heap back to the kernel once it exceeds the trim threshold, so the next step pays a page fault (and a
zeroed page) for every 4 KiB again: about 1,000 faults a step at batch 32 for the Keras course network on
CIFAR-10, a tenth of its epoch. PyTorch's CUDA caching allocator keeps such memory on the GPU; on the CPU,
Intel's launcher for PyTorch preloads jemalloc or tcmalloc for the same reason. Raising glibc's thresholds for
the length of a run (mallopt) does it without a preload; they are put back afterwards and the kept memory
returned (malloc_trim), so a notebook's process does not hold it."""

from __future__ import annotations

import ctypes
import functools
import platform
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_TRIM_THRESHOLD, _TOP_PAD, _MMAP_THRESHOLD = -1, -2, -3  # glibc's mallopt parameters
_KEEP = {_TRIM_THRESHOLD: 1 << 30, _TOP_PAD: 64 << 20, _MMAP_THRESHOLD: 32 << 20}  # 32 MiB: the most glibc allows
# After a run: glibc's default trim threshold and top pad; the mmap threshold stays at 32 MiB, where glibc's own
# (which stops adapting once any of these is set) would have grown to after freeing the run's large blocks.
_AFTER = {_TRIM_THRESHOLD: 128 << 10, _TOP_PAD: 128 << 10}
_lock = threading.Lock()
_depth = 0


@functools.cache  # platform.libc_ver reads the interpreter's binary: once per process, not once per run
def _glibc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None  # musl, macOS and Windows allocators keep memory differently; nothing to set
    libc = ctypes.CDLL(None)
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def _set(libc: ctypes.CDLL, values: dict[int, int]) -> None:
    for param, value in values.items():
        libc.mallopt(ctypes.c_int(param), ctypes.c_int(value))


@contextmanager
def freed_memory_kept() -> Iterator[bool]:
    """Within the block, memory the process frees stays in its heap for reuse; yields whether that could be set
    (glibc only). Nested blocks share the outermost one's setting."""
    global _depth
    libc = _glibc()
    if libc is None:
        yield False
        return
    with _lock:
        _depth += 1
        if _depth == 1:
            _set(libc, _KEEP)
    try:
        yield True
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _set(libc, _AFTER)
                libc.malloc_trim(ctypes.c_size_t(0))
