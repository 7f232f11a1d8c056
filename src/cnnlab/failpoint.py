"""Named instants at which the crash-safety tests kill a real process (a failpoint, as in FoundationDB or etcd's
gofail): with CNNLAB_FAILPOINT=NAME:N the process sends itself SIGKILL the N-th time it passes NAME. In a
data-parallel run, NAME:N@R kills only rank R (torchrun's RANK). With CNNLAB_FAILPOINT_SIGNAL=SIGSTOP the process
stops there instead, for a test to act on it at that instant (send it SIGINT, kill another rank) and then SIGCONT
it. Unset, a failpoint costs one dictionary lookup."""

from __future__ import annotations

import os
import signal

_COUNTS: dict[str, int] = {}


def _target() -> tuple[str, int] | None:
    spec = os.environ.get("CNNLAB_FAILPOINT")
    if not spec:
        return None
    spec, _, rank = spec.partition("@")
    if rank and rank != os.environ.get("RANK", "0"):
        return None
    name, _, count = spec.partition(":")
    return name, int(count or 1)


def failpoint(name: str) -> None:
    """Die here, as `kill -9` would (or take CNNLAB_FAILPOINT_SIGNAL's signal), when CNNLAB_FAILPOINT names this
    instant and its count is reached."""
    target = _target()
    if target is None or target[0] != name:
        return
    _COUNTS[name] = _COUNTS.get(name, 0) + 1
    if _COUNTS[name] == target[1]:
        os.kill(os.getpid(), signal.Signals[os.environ.get("CNNLAB_FAILPOINT_SIGNAL", "SIGKILL")])
