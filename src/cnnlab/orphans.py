"""Child processes that must not outlive the process that started them: the ranks of `cnnlab train --nproc` and
the workers that decode an image folder. Killed outright (kill -9, the OOM killer), a parent cannot stop its
children; left running, they would train on holding a run's lock, or hold a cache's lock (inherited across fork)
so that the next load waits forever. Linux's PR_SET_PDEATHSIG sends them SIGKILL when it dies; elsewhere nothing
changes."""

from __future__ import annotations

import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # prctl(2): the signal this process gets when the thread that started it ends


def die_with_parent(parent: int) -> None:
    """Call in the child, first thing: SIGKILL when process `parent` (its parent) ends, and at once when it has
    ended already (before the prctl, nothing would send the signal)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGKILL)
