"""Samplers and pruners by name, with settings that suit budgets of tens of trials."""

from __future__ import annotations

import math
import warnings

import optuna

SAMPLERS = ("random", "tpe", "gp", "cmaes")
PRUNERS = ("hyperband", "median", "none")


def make_sampler(name: str, seed: int, trials: int) -> optuna.samplers.BaseSampler:
    """A third of the expected trials (2 to 10) samples at random before TPE or the GP model the rest.

    TPE is multivariate and grouped: it models parameters that occur together (filters_0..filters_{n-1} exist only
    with conv_layers >= n) jointly instead of one by one."""
    startup = min(10, max(2, trials // 3))
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        if name == "tpe":
            return optuna.samplers.TPESampler(
                seed=seed, n_startup_trials=startup, multivariate=True, group=True, constant_liar=True
            )
        if name == "gp":
            return optuna.samplers.GPSampler(seed=seed, n_startup_trials=startup, warn_independent_sampling=False)
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)


def hyperband_brackets(epochs: int, trials: int) -> tuple[int, int]:
    """(reduction factor, brackets) for Hyperband over 1..epochs with about `trials` trials.

    Optuna's samplers learn only from trials in the same bracket, and TPE needs about ten to model anything, so a
    search too small for ten trials a bracket runs one: successive halving from epoch 1, where a trial goes on past
    its first epoch only while it is in the top 1/(epochs+1) of the trials there (the best so far, early on)."""
    brackets = math.floor(math.log(epochs, 3)) + 1  # Optuna's own count for reduction factor 3
    if trials >= 10 * brackets:
        return 3, brackets
    return epochs + 1, 1


def make_pruner(name: str, epochs: int, trials: int = 20) -> optuna.pruners.BasePruner:
    if name == "hyperband":
        eta, _ = hyperband_brackets(epochs, trials)
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=epochs, reduction_factor=eta)
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)
    return optuna.pruners.NopPruner()
