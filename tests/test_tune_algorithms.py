"""Which Optuna sampler and pruner each name builds, with which settings (tune/algorithms.py), worked out by hand (#18).

The startup count is a third of the trials, at least 2 and at most 10; Hyperband gets reduction factor 3 and Optuna's
own bracket count floor(log3(epochs)) + 1 when the search has ten trials a bracket, else one bracket of successive
halving with reduction factor epochs + 1. Real Optuna objects; a seeded sampler is compared with Optuna's own sampler
built with the same seed, never with make_sampler itself.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest

from cnnlab.errors import CnnlabError
from cnnlab.tune.algorithms import PRUNERS, SAMPLERS, hyperband_brackets, make_pruner, make_sampler
from cnnlab.tune.study import tune

optuna.logging.set_verbosity(optuna.logging.WARNING)


def first_params(sampler: optuna.samplers.BaseSampler, n: int = 3) -> list[dict[str, float]]:
    """The parameters `sampler` draws for the first `n` trials of a one-parameter study."""
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=n)
    return [t.params for t in study.trials]


def test_the_names_are_the_four_samplers_and_three_pruners() -> None:
    assert SAMPLERS == ("random", "tpe", "gp", "cmaes")
    assert PRUNERS == ("hyperband", "median", "none")


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("random", optuna.samplers.RandomSampler),
        ("tpe", optuna.samplers.TPESampler),
        ("gp", optuna.samplers.GPSampler),
        ("cmaes", optuna.samplers.CmaEsSampler),
    ],
)
def test_each_sampler_name_builds_its_sampler_without_an_experimental_warning(name: str, cls: type) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # TPE's multivariate/group/constant_liar and GP are experimental in Optuna
        sampler = make_sampler(name, seed=0, trials=20)
    assert type(sampler) is cls


@pytest.mark.parametrize(
    ("trials", "startup"),
    [
        (1, 2),  # 1 // 3 = 0, raised to the floor of 2
        (6, 2),  # 6 // 3 = 2
        (8, 2),  # 8 // 3 = 2 (8 / 3 = 2.67 would not be an int)
        (9, 3),  # 9 // 3 = 3
        (10, 3),  # 10 // 3 = 3
        (30, 10),  # 30 // 3 = 10
        (33, 10),  # 33 // 3 = 11, capped at 10
    ],
)
def test_tpe_and_gp_sample_a_third_of_the_trials_at_random_first(trials: int, startup: int) -> None:
    tpe = make_sampler("tpe", seed=0, trials=trials)
    gp = make_sampler("gp", seed=0, trials=trials)
    assert tpe._n_startup_trials == startup and gp._n_startup_trials == startup


def test_tpe_is_multivariate_grouped_with_a_constant_liar_and_gp_and_cmaes_do_not_warn() -> None:
    tpe = make_sampler("tpe", seed=0, trials=20)
    assert tpe._multivariate is True and tpe._group is True and tpe._constant_liar is True
    assert make_sampler("gp", seed=0, trials=20)._warn_independent_sampling is False
    assert make_sampler("cmaes", seed=0, trials=20)._warn_independent_sampling is False


@pytest.mark.parametrize(
    ("name", "reference"),
    [
        ("random", lambda: optuna.samplers.RandomSampler(seed=7)),
        ("tpe", lambda: optuna.samplers.TPESampler(seed=7)),
        ("gp", lambda: optuna.samplers.GPSampler(seed=7)),
        ("cmaes", lambda: optuna.samplers.CmaEsSampler(seed=7)),
    ],
)
def test_each_sampler_is_seeded(name: str, reference: Callable[[], optuna.samplers.BaseSampler]) -> None:
    """The first trial of each is drawn at random from the seed (TPE and GP are still in their startup trials, CMA-ES
    samples its first trial independently), so it equals Optuna's own sampler's with seed 7, and not seed 8's."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        drawn = first_params(make_sampler(name, seed=7, trials=30), n=1)
        assert drawn == first_params(reference(), n=1)
        assert drawn != first_params(make_sampler(name, seed=8, trials=30), n=1)


@pytest.mark.parametrize(
    ("epochs", "trials", "expected"),
    [
        (1, 10, (3, 1)),  # log3(1) = 0: one bracket, 10 trials are enough for it
        (1, 9, (2, 1)),  # 9 < 10: one bracket, reduction factor 1 + 1
        (3, 20, (3, 2)),  # log3(3) = 1: two brackets, 20 = 10 * 2 trials
        (3, 19, (4, 1)),
        (8, 20, (3, 2)),  # log3(8) = 1.89, floored to 1
        (9, 30, (3, 3)),  # log3(9) = 2: three brackets
        (9, 29, (10, 1)),
        (27, 40, (3, 4)),  # log3(27) = 3 (3.0000000000000004 in floats)
    ],
)
def test_hyperband_brackets_by_hand(epochs: int, trials: int, expected: tuple[int, int]) -> None:
    assert hyperband_brackets(epochs, trials) == expected


def test_hyperband_pruner_runs_from_epoch_1_to_the_last_with_the_brackets_reduction_factor() -> None:
    big = make_pruner("hyperband", epochs=9, trials=30)  # 3 brackets, 30 trials: reduction factor 3
    assert type(big) is optuna.pruners.HyperbandPruner
    assert (big._min_resource, big._max_resource, big._reduction_factor) == (1, 9, 3)
    small = make_pruner("hyperband", epochs=9, trials=29)  # one bracket: reduction factor 9 + 1
    assert (small._min_resource, small._max_resource, small._reduction_factor) == (1, 9, 10)
    # the default of 20 trials: 3 epochs make 2 brackets (20 >= 10 * 2), 9 epochs make 3 (20 < 30)
    assert make_pruner("hyperband", epochs=3)._reduction_factor == 3
    assert make_pruner("hyperband", epochs=9)._reduction_factor == 10


def test_median_pruner_waits_for_two_trials_and_one_epoch_and_none_never_prunes() -> None:
    median = make_pruner("median", epochs=5)
    assert type(median) is optuna.pruners.MedianPruner
    assert (median._n_startup_trials, median._n_warmup_steps) == (2, 1)
    assert type(make_pruner("none", epochs=5)) is optuna.pruners.NopPruner


def test_a_bad_sampler_or_pruner_name_is_a_one_line_error_naming_the_choices(tmp_path: Path) -> None:
    """From Python, named by the argument (the CLI names its flag, --sampler, in tests/test_tune.py)."""
    with pytest.raises(CnnlabError) as bad:
        tune(tmp_path / "space.toml", sampler="bayes")
    assert str(bad.value) == "sampler 'bayes' is not one of random, tpe, gp, cmaes"
    with pytest.raises(CnnlabError) as bad:
        tune(tmp_path / "space.toml", pruner="asha")
    assert str(bad.value) == "pruner 'asha' is not one of hyperband, median, none"
