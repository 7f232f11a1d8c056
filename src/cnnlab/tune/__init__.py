"""Hyperparameter search on Optuna: a TOML search space, one normal run directory per trial, many workers.

from cnnlab.tune import tune, open_study, study_plots
study, study_dir = tune("space:mnist-cnn", "runs/tune", trials=20)
"""

from cnnlab.tune.plots import study_plots
from cnnlab.tune.space import Space, load_space
from cnnlab.tune.study import StudyDir, open_study, tune
from cnnlab.tune.summary import epochs_trained, ranked, render_summary, retrain_best

__all__ = [
    "Space",
    "StudyDir",
    "epochs_trained",
    "load_space",
    "open_study",
    "ranked",
    "render_summary",
    "retrain_best",
    "study_plots",
    "tune",
]
