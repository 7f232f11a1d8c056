"""The run directory: the contract between every cnnlab command (config, checkpoint sets, metrics, summary, lock).

It stands beneath training, transfer, studies, tuning, explanation and reports; nothing else knows its file names.
Names are imported when first used (PEP 562): the CLI reads RunConfig's fields to build its flags, and
`cnnlab predict MODEL.onnx` must not import PyTorch (which run.py and checkpoint.py need) on the way.
"""

from importlib import import_module
from typing import Any

_LAZY = {
    "Checkpoint": "cnnlab.rundir.checkpoint",
    "FREEZE_PATTERN": "cnnlab.rundir.config",
    "RunConfig": "cnnlab.rundir.config",
    "Run": "cnnlab.rundir.run",
    "RunDir": "cnnlab.rundir.run",
    "RunSummary": "cnnlab.rundir.run",
    "RunWriter": "cnnlab.rundir.run",
    "build_model": "cnnlab.rundir.run",
    "load_state": "cnnlab.rundir.run",
    "open_run": "cnnlab.rundir.run",
    "RunState": "cnnlab.rundir.listing",
    "Runs": "cnnlab.rundir.listing",
    "runs_below": "cnnlab.rundir.listing",
    "check_outside_runs": "cnnlab.rundir.layout",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'cnnlab.rundir' has no attribute {name!r}")
