"""How much memory this machine has, so work that cannot fit is refused before anything is allocated
(rather than after minutes of swapping, or being killed by the kernel)."""

from __future__ import annotations

import os

from cnnlab.errors import CnnlabError

FLOAT_BYTES = 4  # parameters and activations are fp32


def physical_memory() -> int:
    """Bytes of physical memory (0 where the system does not say, which disables the check)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def gigabytes(nbytes: float) -> str:
    return f"{nbytes / 1e9:,.1f} GB"


def require_memory(nbytes: int, what: str, purpose: str, hint: str) -> None:
    """Raise a one-line CnnlabError naming both figures when `what` needs more than this machine's memory."""
    have = physical_memory()
    if have and nbytes > have:
        raise CnnlabError(
            f"{what}: needs {gigabytes(nbytes)} for {purpose}, this machine has {gigabytes(have)} of memory; {hint}"
        )
