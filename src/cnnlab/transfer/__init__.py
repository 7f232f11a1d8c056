"""Transfer learning: start a run from other weights (a run, a safetensors file, torchvision), freeze, re-head."""

from cnnlab.transfer.apply import freeze, frozen, load_matching, parameter_groups, train_mode
from cnnlab.transfer.sources import Source, resolve_source

__all__ = ["Source", "freeze", "frozen", "load_matching", "parameter_groups", "resolve_source", "train_mode"]
