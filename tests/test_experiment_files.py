"""An experiment file that starts from another (`recipe = "recipe:NAME"` or a path): the base's settings with the
file's laid over them, chains followed, flags on top; the shipped variants equal their bases with what they change.
Loops, missing bases and typos in a base: tests/test_bad_input.py."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from cnnlab.cli import build_parser
from cnnlab.cli.common import run_config
from cnnlab.rundir import RunConfig
from cnnlab.study import load_study
from tests.conftest import write_toml


def test_a_file_says_only_what_it_changes_from_a_shipped_recipe(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # recipe:NAME needs no checkout
    mine = write_toml(tmp_path / "mine.toml", 'recipe = "recipe:cifar10-90"\nepochs = 4\nlabel-smoothing = 0.1\n')
    expected = dataclasses.replace(RunConfig.from_toml("recipe:cifar10-90"), epochs=4, label_smoothing=0.1)
    assert RunConfig.from_toml(mine) == expected


def test_a_chain_of_relative_paths_layers_nearest_last(tmp_path: Path) -> None:
    """Each path is relative to the file that names it; the nearer file wins a key, the base keeps the rest."""
    (tmp_path / "base").mkdir()
    write_toml(tmp_path / "base" / "root.toml", 'model = "mlp"\ndata = "digits"\nlr = 0.5\nepochs = 7\nseed = 3\n')
    write_toml(tmp_path / "base" / "mid.toml", 'recipe = "root.toml"\nlr = 0.2\nepochs = 5\n')
    top = write_toml(tmp_path / "top.toml", 'recipe = "base/mid.toml"\nepochs = 2\n')
    config = RunConfig.from_toml(top)
    assert (config.model, config.data, config.seed, config.lr, config.epochs) == ("mlp", "digits", 3, 0.2, 2)


def test_flags_override_the_file_and_its_base(tmp_path: Path) -> None:
    mine = write_toml(tmp_path / "mine.toml", 'recipe = "recipe:cifar10-80"\nlr = 0.4\n')
    args = build_parser().parse_args(["train", str(mine), "--lr", "0.3", "--seed", "2"])
    config = run_config(args)
    assert (config.lr, config.seed, config.epochs) == (0.3, 2, 3)
    assert config.model == RunConfig.from_toml("recipe:cifar10-70").model


def test_a_study_run_takes_a_recipe_that_extends_another(tmp_path: Path) -> None:
    write_toml(tmp_path / "r.toml", 'recipe = "recipe:cifar10-80"\nlr = 0.4\n')
    study = load_study(write_toml(tmp_path / "s.toml", '[[runs]]\nname = "a"\nrecipe = "r.toml"\nseed = 1\n'))
    config = study.runs[0].config
    expected = dataclasses.replace(RunConfig.from_toml("recipe:cifar10-80"), lr=0.4, seed=1)
    assert config == dataclasses.replace(expected, data=config.data)  # the study fills {data_dir}


# The shipped variants: each is its base with the settings it names, and nothing else moves.
VARIANTS = {
    "cifar10-80": ("cifar10-70", {"epochs": 3}),
    "cifar10-80-muon": ("cifar10-70-muon", {"input": [3, 30, 30], "epochs": 3, "lr": 0.15}),
    "cifar10-90-fast": ("cifar10-90", {"progressive": [20, 0.5]}),
    "cifar10-90-gpu": ("cifar10-90", {"batch_size": 2000, "lr": 0.24, "head_lr": 1.64, "bias_lr": 106}),
}


@pytest.mark.parametrize("name", VARIANTS)
def test_a_shipped_variant_is_its_base_with_its_changes(name: str) -> None:
    base, changes = VARIANTS[name]
    variant, original = RunConfig.from_toml(f"recipe:{name}"), RunConfig.from_toml(f"recipe:{base}")
    moved = {f.name for f in dataclasses.fields(RunConfig) if getattr(variant, f.name) != getattr(original, f.name)}
    assert moved == set(changes) and variant == dataclasses.replace(original, **changes)
