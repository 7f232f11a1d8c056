"""Samplers and pruners by name, with settings that suit budgets of tens of trials."""
from __future__ import annotations

import optuna

SAMPLERS = ("random", "tpe", "gp", "cmaes")
PRUNERS = ("hyperband", "median", "none")


def make_sampler(name: str, seed: int, trials: int) -> optuna.samplers.BaseSampler:
    """A third of the budget (2 to 10 trials) samples at random before TPE or the GP model the rest."""
    startup = min(10, max(2, trials // 3))
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup, constant_liar=True)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=startup, warn_independent_sampling=False)
    return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)


def make_pruner(name: str, epochs: int) -> optuna.pruners.BasePruner:
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=epochs, reduction_factor=3)
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)
    return optuna.pruners.NopPruner()
