"""What the crash tests share: running `cnnlab` in a real process (optionally told to SIGKILL itself at a named
instant, see cnnlab.failpoint), a data cache of the test module's own, and reading back what a run left."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def cnnlab(args: list[str], env: dict[str, str], failpoint: str | None = None) -> subprocess.CompletedProcess:
    env = {**env, **({"CNNLAB_FAILPOINT": failpoint} if failpoint else {})}
    return subprocess.run([sys.executable, "-m", "cnnlab", *args], capture_output=True, text=True, env=env, timeout=600)


def private_cache(tmp_path_factory) -> dict[str, str]:
    """The environment for a module's processes: a data cache of the module's own, not the user's, no failpoint."""
    env = {k: v for k, v in os.environ.items() if k != "CNNLAB_FAILPOINT"}
    return {**env, "XDG_CACHE_HOME": str(tmp_path_factory.mktemp("cache"))}


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
