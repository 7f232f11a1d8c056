"""Training: the engine and its phases, set-up, optimisers, diagnosis, inference; the run directory
(cnnlab.rundir) is its output."""

from cnnlab.rundir import RunConfig, RunDir
from cnnlab.train.callbacks import Callback
from cnnlab.train.engine import evaluate, train
from cnnlab.train.setup import prepare, setup

__all__ = ["Callback", "RunConfig", "RunDir", "evaluate", "prepare", "setup", "train"]
