"""What the crash tests share: running `cnnlab` in a real process (forked from a launcher that imported torch once,
see tests/launcher.py; optionally told to SIGKILL itself at a named instant, see cnnlab.failpoint), a data cache of
the test module's own, and reading back what a run left."""

from __future__ import annotations

import os
from pathlib import Path

from tests.launcher import Child, Completed, Launcher


def cnnlab(args: list[str], env: dict[str, str], failpoint: str | None = None) -> Completed:
    """`cnnlab ARGS` in a process of its own (forked from the test worker's launcher), and how it ended."""
    return start(args, env, failpoint).wait()


def start(args: list[str], env: dict[str, str], failpoint: str | None = None) -> Child:
    """`cnnlab ARGS` started in a process of its own; the caller may kill it (its pid) and `wait()`."""
    global _launcher
    if _launcher is None:
        _launcher = Launcher()
    return _launcher.start(args, {**env, **({"CNNLAB_FAILPOINT": failpoint} if failpoint else {})})


def close() -> None:
    """End the test worker's launcher, if it started one (conftest does, when the session ends)."""
    global _launcher
    if _launcher is not None:
        _launcher.close()
        _launcher = None


_launcher: Launcher | None = None


def suite_cache() -> dict[str, str]:
    """The environment for a module's processes whose kills never fall in the data cache: the suite's decoded
    datasets (tests/conftest.py), decoded once for all such modules, no failpoint."""
    return {k: v for k, v in os.environ.items() if k != "CNNLAB_FAILPOINT"}


def private_cache(tmp_path_factory) -> dict[str, str]:
    """The environment for a module's processes: a data cache of the module's own, not the user's, no failpoint."""
    return {**suite_cache(), "XDG_CACHE_HOME": str(tmp_path_factory.mktemp("cache"))}


def uninterrupted(tmp_path_factory, env: dict[str, str], command: list[str], name: str) -> Path:
    """The run a killed-and-rerun command must end up identical to."""
    out = tmp_path_factory.mktemp(name) / "run"
    r = cnnlab([*command, "--out", str(out)], env)
    assert r.returncode == 0, r.stderr
    return out


def temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".tmp-" in p.name]


def metrics(run: Path) -> list[dict]:
    """metrics.csv as the user reads it, without the wall-clock column."""
    text = (run / "metrics.csv").read_text().splitlines()
    head = text[0].split(",")
    return [{k: v for k, v in zip(head, line.split(",")) if k != "seconds"} for line in text[1:]]
