"""The run directory: the contract between every cnnlab command (config, checkpoint sets, metrics, summary, lock).

It stands beneath training, transfer, studies, tuning, explanation and reports; nothing else knows its file names.
"""

from cnnlab.rundir.checkpoint import Checkpoint
from cnnlab.rundir.config import FREEZE_PATTERN, RunConfig
from cnnlab.rundir.run import Run, RunDir, RunSummary, RunWriter, build_model, load_state, open_run

__all__ = [
    "FREEZE_PATTERN",
    "Checkpoint",
    "Run",
    "RunConfig",
    "RunDir",
    "RunSummary",
    "RunWriter",
    "build_model",
    "load_state",
    "open_run",
]
