"""Comparison studies: a TOML file of runs (or grids of runs), run in order, resumable, tabulated and reported."""

from cnnlab.study.plan import PlannedRun, Study, load_study
from cnnlab.study.runner import run_study

__all__ = ["PlannedRun", "Study", "load_study", "run_study"]
