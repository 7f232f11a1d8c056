"""Training: the engine, its configuration, checkpoints and diagnosis; the run directory is its output."""
from cnnlab.train.config import RunConfig
from cnnlab.train.engine import evaluate, prepare, train
from cnnlab.train.run import RunDir

__all__ = ["RunConfig", "RunDir", "evaluate", "prepare", "train"]
