"""The run directory's pure logic called directly, in well under a second a test: RunConfig's checks and their
messages, how a resume compares settings, the early-stop rules and `off`, settings read from and written to files
(cnnlab.rundir.config); and the readers around a run's files (listing, view, lock, batches, events, layout).

Written for the mutation round of the run-directory package (scripts/mutation.py): the other tests of the package
train real runs in subprocesses, too slow to run once per mutant, so each test here pins a behaviour a user would
notice (a refusal's words, a setting kept or changed, a run's state) by calling the function itself."""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import io
import json
import math
import os
import tomllib
from html import escape
from pathlib import Path

import pytest
import torch

from cnnlab.errors import CnnlabError, cli_voice
from cnnlab.rundir import batches, checkpoint, events, layout, listing, lock, view
from cnnlab.rundir import config as cfg
from cnnlab.rundir.checkpoint import CheckpointStore
from cnnlab.rundir.config import RunConfig
from cnnlab.rundir.listing import RunState

# --------------------------------------------------------------------------------------------------------------------
# RunConfig: validation


def refusal(**settings) -> str:
    """The one line `validate` refuses these settings with (over a valid MLP on the digits), in the command line's
    words (--data-dir; a Python caller reads data_dir, which tests/test_bad_input.py pins)."""
    with cli_voice(), pytest.raises(CnnlabError) as e:
        RunConfig(**{"model": "mlp", **settings}).validate()
    return str(e.value)


def valid(**settings) -> RunConfig:
    return RunConfig(**{"model": "mlp", **settings}).validate()


REFUSED = [
    # types
    ({"normalize": "no"}, "--normalize must be true or false, got 'no'"),
    ({"normalize": 1}, "--normalize must be true or false, got 1"),
    ({"device": 1}, "--device must be text, got 1"),
    ({"data": None}, "--data must be text, got None"),
    ({"data": "  "}, "--data is empty; give a value or leave it out"),
    ({"data_dir": 5}, "--data-dir must be text, got 5"),
    ({"channels_last": "yes"}, "--channels-last must be true or false, got 'yes'"),
    ({"epochs": True}, "--epochs must be a whole number, got True"),
    ({"epochs": "5"}, "--epochs must be a whole number, got '5'"),
    ({"augment": "crop"}, "--augment is a list, [\"crop\"], got the text 'crop'"),
    ({"augment": ["crop", 1]}, '--augment must be a list of names, e.g. ["crop", "flip"], got [\'crop\', 1]'),
    ({"input": [1, 8]}, "--input must be C,H,W with positive integers, got [1, 8]"),
    ({"input": [1, 8, 0]}, "--input must be C,H,W with positive integers, got [1, 8, 0]"),
    ({"input": [True, 8, 8]}, "--input must be C,H,W with positive integers, got [True, 8, 8]"),
    ({"input": [1.5, 8, 8]}, "--input must be C,H,W with positive integers, got [1.5, 8, 8]"),
    ({"input": 5}, "--input must be C,H,W with positive integers, got 5"),
    ({"model": None}, "model must be a zoo name or a TOML network file, got None"),
    ({"options": {1: 2}}, "options must be a table of model options (e.g. {kernel5 = 5}), got {1: 2}"),
    ({"options": "k=5"}, "options must be a table of model options (e.g. {kernel5 = 5}), got 'k=5'"),
    # numbers
    ({"epochs": 0}, "--epochs must be a positive integer, got 0"),
    ({"epochs": 2.5}, "--epochs must be a positive integer, got 2.5"),
    ({"batch_size": -1}, "--batch-size must be a positive integer, got -1"),
    ({"step_size": 0}, "--step-size must be a positive integer, got 0"),
    ({"lr": 0}, "--lr must be a positive number, got 0"),
    ({"lr": None}, "--lr must be a positive number, got None"),
    ({"lr": True}, "--lr must be a positive number, got True"),
    ({"lr": math.inf}, "--lr must be a positive number, got inf"),
    ({"lr": math.nan}, "--lr must be a positive number, got nan"),
    ({"init_std": 0.0}, "--init-std must be a positive number, got 0.0"),
    ({"gamma": -0.5}, "--gamma must be a positive number, got -0.5"),
    ({"momentum": -0.1}, "--momentum must be a non-negative number, got -0.1"),
    ({"weight_decay": -1e-4}, "--weight-decay must be a non-negative number, got -0.0001"),
    ({"decay": -1}, "--decay must be a non-negative number, got -1"),
    ({"warmup_epochs": -1}, "--warmup-epochs must be a non-negative number, got -1"),
    ({"label_smoothing": -0.1}, "--label-smoothing must be a non-negative number, got -0.1"),
    ({"val_split": -0.1}, "--val-split must be a non-negative number, got -0.1"),
    ({"limit": 0}, "--limit must be a positive integer, got 0"),
    ({"limit": 2.5}, "--limit must be a positive integer, got 2.5"),
    ({"log_every": -1}, "--log-every must be a positive integer, or 0 for off, got -1"),
    ({"log_every": False}, "--log-every must be a positive integer, or 0 for off, got False"),
    ({"log_every": 2.5}, "--log-every must be a positive integer, or 0 for off, got 2.5"),
    ({"patience": 0}, "--patience must be a positive integer, or off, got 0"),
    ({"patience": 1.5}, "--patience must be a positive integer, or off, got 1.5"),
    ({"patience": "none"}, "--patience must be a positive integer, or off, got 'none'"),
    ({"patience": "a, got b"}, "--patience must be a positive integer, or off, got 'a, got b'"),  # echoed as given
    ({"gl_alpha": 0}, "--gl-alpha must be a positive number, or off, got 0"),
    ({"head_lr": 0}, "--head-lr must be a positive number, got 0"),
    ({"bias_lr": -1.0}, "--bias-lr must be a positive number, got -1.0"),
    ({"seed": 2**64}, f"--seed must be a whole number from -2**63 to 2**64 - 1, got {2**64}"),
    ({"seed": -(2**63) - 1}, f"--seed must be a whole number from -2**63 to 2**64 - 1, got {-(2**63) - 1}"),
    ({"seed": 1.5}, "--seed must be a whole number from -2**63 to 2**64 - 1, got 1.5"),
    ({"ema": 0}, "--ema must be a decay between 0 and 1 (exclusive), e.g. 0.99, got 0"),
    ({"ema": 1}, "--ema must be a decay between 0 and 1 (exclusive), e.g. 0.99, got 1"),
    ({"ema": "0.5"}, "--ema must be a decay between 0 and 1 (exclusive), e.g. 0.99, got '0.5'"),
    ({"val_split": 1.5}, "--val-split must be a fraction below 1 or a whole count, got 1.5"),
    ({"muon_momentum": 1}, "--muon-momentum must be at least 0 and below 1, e.g. 0.6, got 1"),
    ({"muon_momentum": -0.1}, "--muon-momentum must be at least 0 and below 1, e.g. 0.6, got -0.1"),
    ({"muon_momentum": "0.5"}, "--muon-momentum must be at least 0 and below 1, e.g. 0.6, got '0.5'"),
    ({"label_smoothing": 1}, "--label-smoothing must be below 1, got 1"),
    # settings that need another
    ({"lookahead": True}, "--lookahead needs --ema DECAY: the decay of the average it writes back, e.g. 0.987"),
    ({"freeze": "first:0"}, "--freeze 'first:0' is not one of none, features, all-but-last:N or first:N (N >= 1)"),
    ({"freeze": "features2"}, "--freeze 'features2' is not one of none, features, all-but-last:N or first:N (N >= 1)"),
    ({"match": "order"}, "--match order needs --init-from: there is no source to match tensors of"),
    ({"norm_stats": "source"}, "--norm-stats source needs --init-from: there is no source to take statistics from"),
    # choices
    ({"optimizer": "rmsprop"}, "--optimizer 'rmsprop' is not one of sgd, adam, adamw, muon"),
    ({"decay_per": "batch"}, "--decay-per 'batch' is not one of step, epoch"),
    ({"augment": ["crop", "zoom"]}, "--augment 'zoom' is not one of crop, translate, flip, altflip"),
    ({"augment": ["flip", "altflip"]}, "--augment: give flip (random) or altflip (alternate epochs), not both"),
    (
        {"augment": ["crop", "translate"]},
        "--augment: give crop (4 pixels, zero border) or translate (2, mirrored), not both",
    ),
    ({"tta": "rotate"}, "--tta 'rotate' is not one of none, flip, translate, flip,translate"),
    # statistics
    ({"mean": [], "std": [1]}, "--mean must be finite numbers (one, or one per channel), got []"),
    ({"mean": [math.nan], "std": [1]}, "--mean must be finite numbers (one, or one per channel), got [nan]"),
    ({"mean": [True], "std": [1]}, "--mean must be finite numbers (one, or one per channel), got [True]"),
    ({"mean": "0.5", "std": [1]}, "--mean is a list, [0.5], got the text '0.5'"),
    ({"mean": [0.5], "std": ["1"]}, "--std must be finite numbers (one, or one per channel), got ['1']"),
    ({"std": ["x"]}, "--std must be finite numbers (one, or one per channel), got ['x']"),
    ({"mean": [0.5]}, "--mean needs --std too (e.g. --std 1)"),
    ({"std": [0.5]}, "--std needs --mean too (e.g. --mean 0)"),
    ({"mean": [0.5], "std": [0]}, "--std must be above 0 in every channel, got [0]"),
    ({"mean": [0.5, 0.5], "std": [0.2, -1]}, "--std must be above 0 in every channel, got [0.2, -1]"),
    (
        {"mean": [0.1, 0.2, 0.3], "std": [0.2, 0.3]},
        "--mean has 3 values but --std 2; give one per channel or one for all",
    ),
    (
        {"mean": [0.1, 0.2], "std": [0.2, 0.3, 0.4]},
        "--mean has 2 values but --std 3; give one per channel or one for all",
    ),
    (
        {"mean": [0.5], "std": [0.2], "normalize": False},
        "--mean/--std standardise the inputs, which --no-normalize turns off; drop one of them",
    ),
    (
        {"mean": [0.5], "std": [0.2], "norm_stats": "dataset"},
        "--mean/--std replace --norm-stats dataset; give one of them (the other stays auto)",
    ),
    # progressive resizing
    (
        {"progressive": [20]},
        "--progressive must be H,F: a height in pixels and the fraction of updates at it, e.g. 20,0.5; got [20]",
    ),
    (
        {"progressive": "20,0.5"},
        "--progressive is a list, [20, 0.5], got the text '20,0.5'",
    ),
    (
        {"progressive": [True, 0.5]},
        "--progressive must be H,F: a height in pixels and the fraction of updates at it, e.g. 20,0.5; got [True, 0.5]",
    ),
    (
        {"progressive": [20, False]},
        "--progressive must be H,F: a height in pixels and the fraction of updates at it, e.g. 20,0.5; got [20, False]",
    ),
    (
        {"progressive": [20.5, 0.5]},
        "--progressive must be H,F: a height in pixels and the fraction of updates at it, e.g. 20,0.5; got [20.5, 0.5]",
    ),
    (
        {"progressive": [0, 0.5]},
        "--progressive must be H,F: a height in pixels and the fraction of updates at it, e.g. 20,0.5; got [0, 0.5]",
    ),
    (
        {"progressive": [20, 0]},
        "--progressive 20,F: F is the fraction of updates on small images, above 0 and at most 1; got 0",
    ),
    (
        {"progressive": [20.0, 1.5]},
        "--progressive 20,F: F is the fraction of updates on small images, above 0 and at most 1; got 1.5",
    ),
    # device
    ({"device": "gpu"}, "--device must be cpu, cuda or auto, got 'gpu'"),
]


@pytest.mark.parametrize(("settings", "message"), REFUSED, ids=[m for _, m in REFUSED])
def test_each_bad_setting_is_refused_in_its_own_words(settings, message) -> None:
    """What `cnnlab train` (and a Python caller) prints for a bad value: the flag, the rule and the value given."""
    assert refusal(**settings) == message


@pytest.mark.parametrize(
    "settings",
    [
        {"momentum": 0, "weight_decay": 0, "decay": 0, "warmup_epochs": 0, "label_smoothing": 0, "val_split": 0},
        {"val_split": 1},
        {"val_split": 100.0},
        {"seed": -(2**63)},
        {"seed": 2**64 - 1},
        {"ema": 0.5, "lookahead": True},
        {"muon_momentum": 0},
        {"label_smoothing": 0.99},
        {"patience": 1, "gl_alpha": 0.5},
        {"freeze": "first:3", "init_from": "runs/a"},
        {"freeze": "all-but-last:12"},
        {"freeze": "features"},
        {"match": "order", "init_from": "runs/a"},
        {"norm_stats": "source", "init_from": "runs/a"},
        {"mean": [0.5], "std": [0.2, 0.3, 0.4]},
        {"mean": [0.1, 0.2, 0.3], "std": [0.2]},
        {"mean": [0.1, 0.2], "std": [0.2, 0.3]},
        {"progressive": [1, 1]},
        {"progressive": [20.0, 0.5]},
        {"device": "cuda:1"},
        {"device": "cuda"},
        {"device": "auto"},
        {"augment": ["translate", "altflip"]},
        {"options": {"kernel5": 5}},
        {"limit": 1, "log_every": 1, "head_lr": 1e-9, "bias_lr": 2},
        {"input": [1, 8, 8]},
    ],
)
def test_the_edges_of_every_range_are_accepted(settings) -> None:
    """The smallest and largest values each rule allows train: 0 where it is allowed, a whole count of validation
    images, the torch.manual_seed range's ends, one mean for three stds, a GPU by number."""
    valid(**settings)


def test_unset_and_off_values_become_none_and_numbers_their_declared_kind(tmp_path) -> None:
    """What validation records: `off` unsets a stop rule, log_every 0 is off, {} options are none, blank optional
    paths are unset, a Path is text, a tuple is a list and a whole float is an int; weight decay is the one used."""
    c = valid(
        patience="off",
        gl_alpha="off",
        log_every=0,
        options={},
        data_dir="  ",
        init_from="",
        input=(1, 8, 8),
        augment=("crop",),
        epochs=3.0,
        limit=10.0,
        seed=2.0,
    )
    assert (c.patience, c.gl_alpha, c.log_every, c.options, c.data_dir, c.init_from) == (None,) * 6
    assert (c.input, c.augment) == ([1, 8, 8], ["crop"])
    assert [(v, type(v)) for v in (c.epochs, c.limit, c.seed)] == [(3, int), (10, int), (2, int)]
    assert c.weight_decay == 0.0
    c = valid(data_dir=tmp_path, init_from=tmp_path / "run", model=Path("net.toml"), optimizer="adamw")
    assert (c.data_dir, c.init_from, c.model) == (str(tmp_path), str(tmp_path / "run"), "net.toml")
    assert c.weight_decay == 0.01
    assert valid(optimizer="adamw", weight_decay=0).weight_decay == 0  # an explicit 0 is not AdamW's default
    assert valid(patience=2, gl_alpha=1.5, log_every=5, options={"k": 1}).recorded()["patience"] == 2
    assert valid(patience=2, gl_alpha=1.5, log_every=5).log_every == 5


def test_decay_used_is_the_setting_or_the_optimisers_default() -> None:
    assert RunConfig(optimizer="adamw").decay_used() == 0.01
    assert RunConfig(optimizer="adam").decay_used() == 0.0
    assert RunConfig(optimizer="sgd", weight_decay=5e-4).decay_used() == 5e-4
    assert RunConfig(optimizer="adamw", weight_decay=0.0).decay_used() == 0.0


def test_a_model_object_is_refused_naming_how_to_register_it() -> None:
    import torch.nn as nn

    assert refusal(model=nn.Linear(2, 2)).startswith("model must be a zoo name or a TOML network file, not a Linear")


def test_validation_runs_once_and_again_for_a_setting_changed_since(monkeypatch) -> None:
    """The command line validates, then hands the config to train, which does not validate it again; a setting
    changed in between is validated, even from 2 to 2.0 (then recorded as 2)."""
    c = valid(epochs=2)
    calls = []
    real = RunConfig._validate
    monkeypatch.setattr(RunConfig, "_validate", lambda self: calls.append(1) or real(self))
    assert c.validate() is c and calls == []
    c.epochs = 2.0
    assert c.validate() is c and calls == [1] and type(c.epochs) is int
    c.lr = 0
    with pytest.raises(CnnlabError, match="^lr must be a positive number"):
        c.validate()
    assert "_validated" not in {f.name for f in dataclasses.fields(c)}


def test_a_bad_value_from_a_file_is_named_by_the_file_and_its_key() -> None:
    """An experiment file's bad value names the file and the key as written there, not a flag; a flag's stays."""
    sources = {"lr": "exp.toml", "lookahead": "exp.toml", "normalize": "n.toml"}
    with pytest.raises(CnnlabError) as e:
        RunConfig(model="mlp", lr=0).validate(sources)
    assert str(e.value) == "exp.toml: lr must be a positive number, got 0"
    with pytest.raises(CnnlabError) as e:
        RunConfig(model="mlp", lookahead=True).validate(sources)
    assert str(e.value) == "exp.toml: lookahead needs ema DECAY: the decay of the average it writes back, e.g. 0.987"
    with pytest.raises(CnnlabError) as e:
        RunConfig(model="mlp", lr=0).validate({"epochs": "exp.toml"})
    assert str(e.value) == "lr must be a positive number, got 0"  # a Python caller's argument
    with cli_voice(), pytest.raises(CnnlabError) as e:
        RunConfig(model="mlp", lr=0).validate()
    assert str(e.value) == "--lr must be a positive number, got 0"


@pytest.mark.parametrize(
    ("message", "sources", "said"),
    [
        ("--lr must be positive", {}, "--lr must be positive"),
        ("--lr must be positive", {"lr": "e.toml"}, "e.toml: lr must be positive"),
        ("--data-dir is empty", {"data_dir": "e.toml"}, "e.toml: data_dir is empty"),
        ("options must be a table", {"options": "e.toml"}, "e.toml: options must be a table"),
        (
            "--mean/--std standardise the inputs, which --no-normalize turns off; --out stays",
            {"mean": "e.toml"},
            "e.toml: mean/std standardise the inputs, which normalize = false turns off; --out stays",
        ),
        ("--lr 5 and --init-from x", {"lr": "e.toml"}, "e.toml: lr 5 and init_from x"),
        ("Model refused", {"model": "e.toml"}, "Model refused"),
        ("--out refused", {"out": "e.toml"}, "e.toml: --out refused"),
    ],
)
def test_said_of_file_names_the_file_and_each_setting_by_its_key(message, sources, said) -> None:
    with cli_voice():
        assert cfg.said_of_file(message, sources) == said
    if not sources:  # a Python caller gave the setting as an argument
        assert cfg.said_of_file(message, sources) == said.removeprefix("--")


def test_a_check_tta_names_the_views() -> None:
    assert cfg.check_tta("flip,translate") == "flip,translate"
    with cli_voice(), pytest.raises(CnnlabError) as e:
        cfg.check_tta("flip, translate")
    assert str(e.value) == "--tta 'flip, translate' is not one of none, flip, translate, flip,translate"


def test_the_mirror_warning_names_every_flip_and_the_remedy() -> None:
    assert cfg.mirror_warning("digits", None, "none") is None
    assert cfg.mirror_warning("digits", ["crop"], "translate") is None
    assert cfg.mirror_warning("digits", ["crop", "flip"], "flip,translate") == (
        "digits: a mirrored digit is no digit, or another one, so with --augment flip and --tta flip,translate the "
        "net sees mirrored digits under labels they do not have (for digits use --augment crop and --tta translate)"
    )
    assert cfg.mirror_warning("m.onnx", ["altflip"], "none", "drop --tta flip") == (
        "m.onnx: a mirrored digit is no digit, or another one, so with --augment altflip the net sees mirrored "
        "digits under labels they do not have (drop --tta flip)"
    )
    assert cfg.mirror_warning("x", None, "flip").endswith(
        "with --tta flip the net sees mirrored digits under labels "
        "they do not have (for digits use --augment crop and --tta "
        "translate)"
    )


def test_setting_carries_its_help_group_and_choices() -> None:
    """A field's --help line, its group in `cnnlab train --help` and the values validate allows."""
    f = cfg.setting(3, "run", "how many", ("a", "b"))
    assert (f.default, dict(f.metadata)) == (3, {"group": "run", "help": "how many", "choices": ("a", "b")})
    assert dict(cfg.setting(None, "data", "h").metadata)["choices"] == ()


# --------------------------------------------------------------------------------------------------------------------
# RunConfig: habits, unused settings


def test_warnings_name_a_time_schedule_without_decay_and_a_warmup_longer_than_the_run() -> None:
    assert RunConfig().warnings() == []
    assert RunConfig(schedule="time", decay=1e-4).warnings() == []
    assert RunConfig(schedule="step", decay=0).warnings() == []
    assert RunConfig(schedule="time").warnings() == [
        "--schedule time with --decay 0 keeps the learning rate constant; give --decay (Keras' decay, e.g. 1e-4 per "
        "update)"
    ]
    assert RunConfig(epochs=2, warmup_epochs=2).warnings() == []
    assert RunConfig(epochs=2, warmup_epochs=2.5, lr=0.05).warnings() == [
        "--warmup-epochs 2.5 is longer than the run's 2 epoch(s), so the learning rate never reaches --lr 0.05; give "
        "fewer warm-up epochs or more epochs"
    ]
    assert len(RunConfig(schedule="time", epochs=1, warmup_epochs=3).warnings()) == 2


def test_a_flag_the_other_settings_leave_unused_is_named_with_what_would_use_it() -> None:
    assert RunConfig(optimizer="adam").unused(["momentum", "lr", "seed"]) == [
        "--momentum does nothing with --optimizer adam: only --optimizer sgd or muon uses it; drop --momentum or "
        "give --optimizer sgd or muon"
    ]
    assert RunConfig(optimizer="sgd", schedule="constant").unused(["gamma", "decay_per", "muon_momentum"]) == [
        "--gamma does nothing with --schedule constant: only --schedule step or exponential uses it; drop --gamma or "
        "give --schedule step or exponential",
        "--decay-per does nothing with --schedule constant: only --schedule time uses it; drop --decay-per or give "
        "--schedule time",
        "--muon-momentum does nothing with --optimizer sgd: only --optimizer muon uses it; drop --muon-momentum or "
        "give --optimizer muon",
    ]
    assert RunConfig(optimizer="muon", schedule="step").unused(["momentum", "nesterov", "gamma", "step_size"]) == []
    assert RunConfig(schedule="time").unused(["decay", "decay_per"]) == []
    assert RunConfig(init="normal").unused(["init_std"]) == []
    assert RunConfig(init="zeros").unused(["init_std"])[0].startswith("--init-std does nothing with --init zeros")


def test_nesterov_without_momentum_is_named_only_for_sgd_given_both() -> None:
    line = (
        "--nesterov does nothing with --momentum 0: Nesterov's look-ahead is a momentum step; give a momentum "
        "(e.g. 0.9) or drop --nesterov"
    )
    assert RunConfig(optimizer="sgd", nesterov=True, momentum=0).unused(["nesterov"]) == [line]
    assert RunConfig(optimizer="sgd", nesterov=True, momentum=0.9).unused(["nesterov"]) == []
    assert RunConfig(optimizer="sgd", nesterov=False, momentum=0).unused(["nesterov"]) == []
    assert RunConfig(optimizer="muon", nesterov=True, momentum=0).unused(["nesterov"]) == []
    assert RunConfig(optimizer="sgd", nesterov=True, momentum=0).unused(["momentum"]) == []


# --------------------------------------------------------------------------------------------------------------------
# RunConfig: files


def test_recorded_leaves_unset_settings_out_and_to_toml_reads_back_equal() -> None:
    c = valid(patience=3, mean=[0.5], std=[0.25], augment=["crop"])
    kept = c.recorded()
    assert "gl_alpha" not in kept and "data_dir" not in kept and kept["patience"] == 3 and kept["mean"] == [0.5]
    assert set(kept) == {f.name for f in dataclasses.fields(c) if getattr(c, f.name) is not None}
    assert RunConfig.from_dict(tomllib.loads(c.to_toml())) == c


def test_from_dict_takes_dashes_unsets_blank_paths_and_refuses_unknown_keys() -> None:
    c = RunConfig.from_dict({"batch-size": 8, "init_from": " ", "data-dir": "", "data": ""})
    assert (c.batch_size, c.init_from, c.data_dir, c.data) == (8, None, None, "")
    with pytest.raises(CnnlabError) as e:
        RunConfig.from_dict({"lrr": 1, "epochz": 2}, "exp.toml")
    assert str(e.value) == (
        "unknown setting 'lrr' in exp.toml (and 1 more: epochz): did you mean 'lr'? (settings are the flags of "
        "`cnnlab train --help`)"
    )
    with pytest.raises(CnnlabError, match=r"^unknown setting 'lrr' in config: "):
        RunConfig.from_dict({"lrr": 1})


def test_the_settings_and_the_optional_paths() -> None:
    assert cfg.SETTINGS[:3] == ("model", "options", "data") and len(cfg.SETTINGS) == len(dataclasses.fields(RunConfig))
    assert cfg.OPTIONAL_TEXT == ("data_dir", "init_from")


def test_a_run_config_without_decay_per_resumes_as_the_time_schedule_decayed(tmp_path) -> None:
    """A config.toml from before --decay-per: with the time schedule it decayed per epoch; others take today's
    default. Every run's config names its model; a wrong kind names the file and key."""
    path = tmp_path / "config.toml"
    path.write_text('model = "mlp"\nschedule = "time"\ndecay = 0.1\n')
    assert RunConfig.from_run_toml(path).decay_per == "epoch"
    path.write_text('model = "mlp"\nschedule = "time"\ndecay-per = "step"\n')
    assert RunConfig.from_run_toml(path).decay_per == "step"
    path.write_text('model = "mlp"\nschedule = "step"\nlog-every = 2\n')
    c = RunConfig.from_run_toml(path)
    assert (c.decay_per, c.log_every) == ("step", 2)
    path.write_text('model = "mlp"\ntta = 5\n')
    with pytest.raises(CnnlabError) as e:
        RunConfig.from_run_toml(path)
    assert str(e.value) == f"{path}: tta must be text, got 5"
    path.write_text('model = "mlp"\nepochs = 2.0\ninit_from = ""\n')
    c = RunConfig.from_run_toml(path)
    assert (c.epochs, type(c.epochs), c.init_from) == (2, int, None)
    path.write_text('data = "digits"\n')
    with pytest.raises(CnnlabError) as e:
        RunConfig.from_run_toml(path)
    assert str(e.value) == f"{path} names no model, as every run's config does: put it back from a copy"
    path.write_text('model = "mlp"\nlrr = 1\n')
    with pytest.raises(CnnlabError, match=f"^unknown setting 'lrr' in {path}: did you mean 'lr'"):
        RunConfig.from_run_toml(path)
    with pytest.raises(CnnlabError) as e:
        RunConfig.from_run_toml(tmp_path / "gone.toml")
    assert str(e.value) == f"run config {str(tmp_path / 'gone.toml')!r} not found"


def experiment_refusal(*args) -> str:
    """The one line `read_experiment` refuses these arguments with."""
    with pytest.raises(CnnlabError) as e:
        cfg.read_experiment(*args)
    return str(e.value)


def test_an_experiment_file_layers_over_its_recipe_and_names_a_bad_base(tmp_path) -> None:
    """A file that starts from another takes its settings and lays its own over them; a bad base, a loop or a typo in
    a base is one line naming the file, with the settings listing of `cnnlab train --help` rather than 60 keys."""
    (tmp_path / "base.toml").write_text('model = "mlp"\nlr = 0.5\nepochs = 7\n')
    (tmp_path / "top.toml").write_text('recipe = "base.toml"\nepochs = 2\n')
    assert cfg.read_experiment("top.toml", folder=tmp_path) == {"model": "mlp", "lr": 0.5, "epochs": 2}
    c = RunConfig.from_toml(tmp_path / "top.toml")
    assert (c.model, c.lr, c.epochs) == ("mlp", 0.5, 2)
    assert RunConfig.from_toml("recipe:mnist-99").model == cfg.read_experiment("recipe:mnist-99")["model"]
    (tmp_path / "bad.toml").write_text("recipe = 5\n")
    assert experiment_refusal(tmp_path / "bad.toml") == (
        f"{tmp_path / 'bad.toml'}: recipe must name an experiment file, got 5; give recipe:NAME or the path of an "
        "experiment file, relative to the file that names it"
    )
    (tmp_path / "empty.toml").write_text('recipe = ""\n')
    with pytest.raises(CnnlabError, match="recipe must name an experiment file, got ''"):
        cfg.read_experiment(tmp_path / "empty.toml")
    (tmp_path / "gone.toml").write_text('recipe = "nothere.toml"\n')
    assert experiment_refusal(tmp_path / "gone.toml") == (
        f"{tmp_path / 'gone.toml'}: recipe {str(tmp_path / 'nothere.toml')!r} not found; give recipe:NAME or the "
        "path of an experiment file, relative to the file that names it"
    )
    (tmp_path / "typo.toml").write_text('recipe = "recipe:mnist-999"\n')
    with pytest.raises(CnnlabError, match=r"typo.toml: recipe: "):
        cfg.read_experiment(tmp_path / "typo.toml")
    (tmp_path / "a.toml").write_text('recipe = "b.toml"\n')
    (tmp_path / "b.toml").write_text('recipe = "a.toml"\nlrr = 1\n')
    assert experiment_refusal(tmp_path / "a.toml") == (
        f"unknown setting 'lrr' in {tmp_path / 'b.toml'}: did you mean 'lr'? (settings are the flags of "
        "`cnnlab train --help`)"
    )
    (tmp_path / "b.toml").write_text('recipe = "a.toml"\n')
    assert experiment_refusal(tmp_path / "a.toml") == (
        f"{tmp_path / 'b.toml'}: recipe 'a.toml' leads back to a file that extends it; an experiment file cannot "
        "start from itself, directly or through others"
    )
    (tmp_path / "self.toml").write_text('recipe = "self.toml"\n')
    with pytest.raises(CnnlabError, match="leads back to a file that extends it"):
        cfg.read_experiment(tmp_path / "self.toml")
    assert (
        experiment_refusal(tmp_path / "missing.toml", "study's recipe", "give a path")
        == f"study's recipe {str(tmp_path / 'missing.toml')!r} not found; give a path"
    )
    assert (
        experiment_refusal(tmp_path / "missing.toml") == f"experiment file {str(tmp_path / 'missing.toml')!r} not found"
    )
    (tmp_path / "r.toml").write_text('recipe = "recipe:mnist-99"\nrecipe-x = 1\n')
    with pytest.raises(CnnlabError, match="unknown setting 'recipe_x' in "):
        cfg.read_experiment(tmp_path / "r.toml")


def test_a_shipped_recipes_error_names_it_as_given(tmp_path) -> None:
    (tmp_path / "v.toml").write_text('recipe = "recipe:mnist-99"\n')
    assert cfg._shown("recipe:mnist-99", Path("/x/mnist-99.toml")) == "recipe:mnist-99"
    assert cfg._shown("a/b.toml", Path("/x/a/b.toml")) == "/x/a/b.toml"
    assert cfg.read_experiment(tmp_path / "v.toml") == cfg.read_experiment("recipe:mnist-99")


# --------------------------------------------------------------------------------------------------------------------
# RunConfig: resuming and stopping


def test_a_resume_compares_every_setting_but_the_resumable_ones() -> None:
    base = RunConfig(model="mlp")
    assert base.differences(RunConfig(model="mlp")) == []
    other = dataclasses.replace(base, epochs=9, patience=2, gl_alpha=1.0, data_dir="/d", device="auto", log_every=3)
    assert base.differences(other) == []
    assert RunConfig.RESUMABLE == ("epochs", "patience", "gl_alpha", "data_dir", "device", "log_every")
    changed = dataclasses.replace(base, lr=0.1, seed=1, model="lenet5")
    assert base.differences(changed) == ["model", "lr", "seed"]
    assert changed.differences(base) == ["model", "lr", "seed"]


def test_the_monitored_metric_is_its_training_twin_without_validation_data() -> None:
    assert RunConfig(monitor="val_accuracy").monitored(has_val=True) == "val_accuracy"
    assert RunConfig(monitor="val_accuracy").monitored(has_val=False) == "train_accuracy"
    assert RunConfig(monitor="val_loss").monitored(has_val=False) == "train_loss"
    assert RunConfig(monitor="train_loss").monitored(has_val=False) == "train_loss"
    assert RunConfig(monitor="train_loss").monitored(has_val=True) == "train_loss"


def test_patience_stops_at_its_count_of_epochs_without_improvement() -> None:
    c = RunConfig(patience=3)
    assert c.early_stop(2, None, None, "val_accuracy") is None
    assert c.early_stop(3, None, None, "val_accuracy") == "early stop: val_accuracy did not improve for 3 epochs"
    assert c.early_stop(4, 0.5, 0.4, "train_loss") == "early stop: train_loss did not improve for 3 epochs"
    assert RunConfig().early_stop(100, 1.0, 5.0, "val_loss") is None
    assert cfg.EARLY_STOP == "early stop: " and cfg.OFF == "off" and cfg.SWITCHED_OFF == ("patience", "gl_alpha")


def test_e_opt_is_the_lowest_validation_loss_of_the_rows_that_have_one() -> None:
    rows = [{"epoch": 1, "val_loss": 0.9}, {"epoch": 2, "val_loss": None}, {"epoch": 3, "val_loss": 0.4}, {"epoch": 4}]
    assert cfg.lowest_val_loss(rows) == 0.4
    assert cfg.lowest_val_loss([{"epoch": 1, "val_loss": 0.0}, {"epoch": 2, "val_loss": 0.5}]) == 0.0
    assert cfg.lowest_val_loss([{"epoch": 1}, {"epoch": 2, "val_loss": None}]) is None
    assert cfg.lowest_val_loss([]) is None


@pytest.mark.parametrize(
    "given, fix",
    [
        ({"model": "mlp"}, "RunConfig(**settings)"),
        ("mlp", "RunConfig(model=..., data=...)"),
        (None, "RunConfig(model=..., data=...)"),
    ],
)
def test_a_caller_given_settings_instead_of_a_run_config_is_told_how_to_make_one(given, fix) -> None:
    with pytest.raises(CnnlabError) as e:
        cfg.validated(given, "train")
    assert str(e.value) == (
        f"train takes a RunConfig (from cnnlab.train import RunConfig), got {type(given).__name__}; give {fix}"
    )
    config = RunConfig(model="mlp", data="digits")
    assert cfg.validated(config, "train") is config


def test_the_generalisation_loss_stops_above_alpha_only() -> None:
    """Prechelt's GL = 100 * (E_val / E_opt - 1): above alpha the run stops, at alpha it goes on; it needs both
    losses, and a lowest loss of 0 is no ground to stop on (not a division by zero)."""
    c = RunConfig(gl_alpha=25)
    assert c.early_stop(0, 1.0, 1.25, "val_loss") is None  # GL = 25.0 exactly
    assert RunConfig(gl_alpha=24.9).early_stop(0, 1.0, 1.25, "val_loss") == (
        "early stop: generalisation loss GL = 25.0 > 24.9"
    )
    assert RunConfig(gl_alpha=5).early_stop(0, 2.0, 3.0, "val_loss") == "early stop: generalisation loss GL = 50.0 > 5"
    assert c.early_stop(0, 2.0, 1.0, "val_loss") is None  # below the lowest: GL < 0
    assert c.early_stop(0, None, 3.0, "val_loss") is None
    assert c.early_stop(0, 1.0, None, "val_loss") is None
    assert RunConfig(gl_alpha=1e-9).early_stop(0, 0.0, 1.0, "val_loss") is None
    both = RunConfig(patience=1, gl_alpha=1)
    assert both.early_stop(1, 1.0, 3.0, "val_loss") == "early stop: val_loss did not improve for 1 epochs"
    assert both.early_stop(0, 1.0, 3.0, "val_loss") == "early stop: generalisation loss GL = 200.0 > 1"


# --------------------------------------------------------------------------------------------------------------------
# layout: the paths a run claims


def test_a_runs_own_files_are_claimed_and_what_lies_beside_them_is_not(tmp_path) -> None:
    run = tmp_path / "run"
    (run / "checkpoints" / "epoch-0001").mkdir(parents=True)
    (run / "config.toml").write_text('model = "mlp"\n')
    for own in (
        "config.toml",
        "metrics.csv",
        "summary.json",
        "checkpoints/epoch-0001/x",
        ".lock",
        "tensorboard/a",
        "batches.csv",
    ):
        assert layout.run_owning(run / own) == run, own
    assert layout.run_owning(run / "model.onnx") is None
    assert layout.run_owning(run / "pictures" / "a.png") is None
    assert layout.run_owning(tmp_path / "elsewhere.png") is None
    layout.check_outside_runs(run / "model.onnx", "--out")
    with pytest.raises(CnnlabError) as e:
        layout.check_outside_runs(run / "config.toml", "--out")
    assert str(e.value) == (
        f"--out {run / 'config.toml'} is one of the run {run}'s own files or folders, which writing there would "
        f"destroy; choose another path (beside them in {run} is fine)"
    )
    with pytest.raises(CnnlabError) as e:
        layout.check_outside_runs(run / "summary.json")
    assert str(e.value).startswith(f"{run / 'summary.json'} is one of the run {run}'s own files or folders")


def test_a_study_directory_keeps_its_runs_and_trials_where_compare_tune_and_report_look(tmp_path) -> None:
    """The names are the contract: a study made by one version of cnnlab is read by the next."""
    assert layout.study_run(tmp_path, "lr-0.1") == tmp_path / "runs" / "lr-0.1"
    assert layout.trial_run(tmp_path, 7) == tmp_path / "trials" / "0007"
    assert layout.trial_run(tmp_path, 12345) == tmp_path / "trials" / "12345"
    assert layout.retrained_run(tmp_path) == tmp_path / "best"
    assert not layout.holds_tune_study(tmp_path) and not layout.holds_compare_study(tmp_path)
    for number in (10, 2, 0):
        layout.trial_run(tmp_path, number).mkdir(parents=True)
    assert layout.holds_tune_study(tmp_path)
    assert layout.trial_runs(tmp_path) == [tmp_path / "trials" / n for n in ("0000", "0002", "0010")]
    (tmp_path / "study.json").write_text("{}")
    assert layout.holds_compare_study(tmp_path)


# --------------------------------------------------------------------------------------------------------------------
# lock: one writer per run


def test_the_lock_names_its_holder_refuses_a_second_writer_and_is_released(tmp_path) -> None:
    path = tmp_path / "deep" / "run" / ".lock"
    assert lock.holder(path) is None  # no file
    first = lock.WriterLock(path, "run X").acquire()
    assert path.is_file() and path.read_bytes() == b"" and lock.holder(path) == os.getpid()
    assert (path.stat().st_mode & 0o777) == 0o644 & ~current_umask()
    with pytest.raises(CnnlabError) as e:
        lock.WriterLock(path, "run X").acquire()
    assert str(e.value) == (
        f"run X is being written by process {os.getpid()}; wait for it to finish (or stop it), or use another --out"
    )
    first.release()
    first.release()  # twice: nothing more to give back
    assert lock.holder(path) is None
    second = lock.WriterLock(path, "run X").acquire()
    assert lock.holder(path) == os.getpid()
    second.release()


def test_release_closes_the_locks_own_descriptor_once_and_no_other(tmp_path, monkeypatch) -> None:
    """A lock never taken, or given back already, closes nothing (descriptor 1 is stdout); one taken on descriptor
    0 (a process started with stdin closed) is given back like any other, so the next run in the process gets it."""
    closed = []
    real_close = os.close
    monkeypatch.setattr(lock.os, "close", lambda fd: closed.append(fd) or real_close(fd))
    path = tmp_path / ".lock"
    lock.WriterLock(path, "r").release()
    assert closed == []
    held = lock.WriterLock(path, "r").acquire()
    fd = held._fd
    held.release()
    held.release()
    assert closed == [fd]
    stdin = os.dup(0)
    real_open = os.open
    try:

        def on_zero(*args):
            fd = real_open(*args)
            os.dup2(fd, 0)
            real_close(fd)
            return 0

        monkeypatch.setattr(lock.os, "open", on_zero)
        held = lock.WriterLock(path, "r").acquire()
        assert held._fd == 0 and lock.holder(path) == os.getpid()
        held.release()
        assert lock.holder(path) is None
    finally:
        os.dup2(stdin, 0)
        real_close(stdin)


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_lock_held_without_a_known_holder_and_other_errors(tmp_path, monkeypatch) -> None:
    path = tmp_path / ".lock"
    held = lock.WriterLock(path, "the run").acquire()
    monkeypatch.setattr(lock, "holder", lambda p: None)
    with pytest.raises(CnnlabError) as e:
        lock.WriterLock(path, "the run").acquire()
    assert str(e.value).startswith("the run is being written by another process; wait")
    held.release()

    def broken(fd, how):
        raise OSError(5, "I/O error")

    monkeypatch.setattr(lock.fcntl, "flock", broken)
    with pytest.raises(OSError, match="I/O error"):
        lock.WriterLock(path, "the run").acquire()


def test_a_posix_lock_or_another_files_flock_is_no_holder(tmp_path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("")
    b.write_text("")
    held = lock.WriterLock(b, "b").acquire()
    with open(a, "r+") as f:
        fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert lock.holder(a) is None
    held.release()


def test_holder_reads_proc_locks_flock_lines_by_inode(tmp_path, monkeypatch) -> None:
    """The PID is the line's fifth field counted from its end, matched by the inode after the device's colon."""
    path = tmp_path / "l"
    path.write_text("")
    ino = os.stat(path).st_ino
    lines = {
        "flock": f"1: FLOCK  ADVISORY  WRITE 4242 fe:00:{ino} 0 EOF\n",
        "blocked": f"2: -> FLOCK  ADVISORY  WRITE 77 fe:00:{ino} 0 EOF\n",
        "posix": f"1: POSIX  ADVISORY  WRITE 4242 fe:00:{ino} 0 EOF\n",
        "other": f"1: FLOCK  ADVISORY  WRITE 4242 fe:00:{ino}1 0 EOF\n",
        "short": f"1: FLOCK 4242 fe:00:{ino} 0\n",
        "garbled": f"1: FLOCK  ADVISORY  WRITE pid fe:00:{ino} 0 EOF\n",
    }
    real = Path.read_text

    def proc(text):
        monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: text if str(self) == "/proc/locks" else real(self))
        return lock.holder(path)

    assert proc(lines["flock"]) == 4242
    assert proc(lines["other"] + lines["flock"]) == 4242
    assert proc(lines["blocked"]) == 77
    assert proc(lines["posix"]) is None
    assert proc(lines["other"]) is None
    assert proc(lines["short"]) is None
    assert proc(lines["garbled"]) is None
    assert proc(f"1: FLOCK  ADVISORY  WRITE 9 {ino} 0 EOF\n") == 9  # no device prefix: the whole field


# --------------------------------------------------------------------------------------------------------------------
# batches and events: --log-every's rows and TensorBoard's files


def read_events(folder: Path) -> list:
    """The events of the folder's one event file, read as TFRecords (length, its CRC, the record, its CRC) without
    tensorboard's loader, which imports TensorFlow where it is installed."""
    import struct

    from tensorboard.compat.proto.event_pb2 import Event

    (file,) = folder.glob("events.out.tfevents.*.cnnlab")
    data, found, at = file.read_bytes(), [], 0
    while at < len(data):
        (n,) = struct.unpack("<Q", data[at : at + 8])
        found.append(Event.FromString(data[at + 12 : at + 12 + n]))
        at += 12 + n + 4
    return found


def scalars(found: list) -> list[tuple[int, str, float]]:
    return [(e.step, v.tag, round(v.simple_value, 6)) for e in found for v in e.summary.value]


def test_cut_batches_keeps_whole_rows_up_to_the_checkpoint(tmp_path) -> None:
    path = tmp_path / "batches.csv"
    batches.cut_batches(path, 3)
    assert not path.exists()
    path.write_text(
        "epoch,batch,step,loss,accuracy,lr\n1,1,1,2.0,0.1,0.01\n2,1,2,1.5,0.2,0.01\n3,1,3,1.0,0.3,0.01\n"
        "x,1,4,1,1,1\n4,1,4,0.5,0.4,0.01\n3,2,5,0.4"
    )
    batches.cut_batches(path, 2)
    assert path.read_text() == "epoch,batch,step,loss,accuracy,lr\n1,1,1,2.0,0.1,0.01\n2,1,2,1.5,0.2,0.01\n"
    batches.cut_batches(path, 0)
    assert path.read_text() == "epoch,batch,step,loss,accuracy,lr\n"


def test_parse_batches_reads_counts_as_integers_and_the_rest_as_floats() -> None:
    rows = batches.parse_batches("epoch,batch,step,loss,accuracy,lr\n1,2,3,0.5,1,0.01\n")
    assert rows == [{"epoch": 1, "batch": 2, "step": 3, "loss": 0.5, "accuracy": 1.0, "lr": 0.01}]
    assert [type(v) for v in rows[0].values()] == [int, int, int, float, float, float]
    assert batches.parse_batches("epoch,batch,step,loss,accuracy,lr\n") == []


def test_a_batch_log_appends_whole_rows_and_their_scalars(tmp_path) -> None:
    """--log-every's rows reach batches.csv at once, one whole line each with plain newlines (as its header), extra
    keys dropped; a resume appends below the kept rows and marks the TensorBoard purge at its first step."""
    path, tb = tmp_path / "batches.csv", tmp_path / "tensorboard" / "batches"
    log = batches.BatchLog(path, tb, first_step=1)
    log.log({"epoch": 1, "batch": 1, "step": 1, "loss": 2.5, "accuracy": 0.25, "lr": 0.1, "other": 9})
    assert path.read_bytes() == b"epoch,batch,step,loss,accuracy,lr\n1,1,1,2.5,0.25,0.1\n"  # flushed; no \\r
    log.close()
    assert scalars(read_events(tb)) == [(1, "batch/loss", 2.5), (1, "batch/accuracy", 0.25), (1, "batch/lr", 0.1)]
    for f in tb.iterdir():
        f.unlink()
    log = batches.BatchLog(path, tb, first_step=2)  # a resume appends below the rows kept
    log.log({"epoch": 1, "batch": 2, "step": 2, "loss": 1.0, "accuracy": 0.5, "lr": 0.1})
    log.close()
    assert path.read_text().splitlines()[1:] == ["1,1,1,2.5,0.25,0.1", "1,2,2,1.0,0.5,0.1"]
    assert [e.session_log.status for e in read_events(tb) if e.HasField("session_log")] == [1]  # START


def test_an_event_log_writes_epoch_scalars_under_shared_charts_and_marks_a_resume(tmp_path) -> None:
    """train_loss and val_loss share one chart (loss/train, loss/val), unset values are left out, and a resume's
    purge marker carries its step and a real wall time, which TensorBoard's relative axis reads."""
    folder = tmp_path / "run" / "tensorboard"
    with events.EventLog(folder) as log:
        log.log(
            {
                "epoch": 1,
                "train_loss": 1.5,
                "val_loss": 2.0,
                "val_accuracy": 0.5,
                "lr_first": 0.1,
                "seconds": 3,
                "test_accuracy": None,
            }
        )
    (file,) = folder.iterdir()
    assert file.name.startswith("events.out.tfevents.") and file.name.endswith(f".{os.getpid()}.cnnlab")
    found = read_events(folder)
    assert found[0].file_version == "brain.Event:2" and found[0].wall_time > 0
    assert not any(e.HasField("session_log") for e in found)
    assert scalars(found) == [
        (1, "loss/train", 1.5),
        (1, "loss/val", 2.0),
        (1, "accuracy/val", 0.5),
        (1, "lr_first", 0.1),
        (1, "seconds", 3.0),
    ]
    assert found[1].wall_time >= found[0].wall_time > 1e9
    file.unlink()
    with events.EventLog(folder, first_step=4) as log:
        log.scalars(4, {"x": 1})
    found = read_events(folder)
    assert [(e.step, e.session_log.status) for e in found if e.HasField("session_log")] == [(4, 1)]
    assert all(e.wall_time > 1e9 for e in found)  # the purge marker too: TensorBoard's relative axis reads it
    assert scalars(found) == [(4, "x", 1.0)]


def test_without_tensorboard_an_event_log_writes_nothing(tmp_path, monkeypatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "tensorboard.summary.writer.record_writer", None)
    with events.EventLog(tmp_path / "tb", first_step=3) as log:
        assert log.writer is None
        log.log({"epoch": 1, "train_loss": 1.0})
    assert not (tmp_path / "tb").exists()


# --------------------------------------------------------------------------------------------------------------------
# view and listing: how runs show themselves


def test_summary_rows_show_accuracies_to_four_places_and_each_diagnosis() -> None:
    s = {
        "test_accuracy": 0.91234,
        "val_accuracy": 1,
        "train_accuracy": 0.5,
        "epochs_run": 3,
        "train_seconds": 1.23456,
        "params": 100,
        "stopped": None,
        "diagnosis": ["too high", "too low"],
    }
    assert view.summary_rows(s) == [
        ("test_accuracy", "0.9123"),
        ("val_accuracy", "1"),
        ("train_accuracy", "0.5000"),
        ("epochs_run", "3"),
        ("train_seconds", "1.23456"),
        ("params", "100"),
        ("stopped", "None"),
        ("diagnosis", "too high"),
        ("diagnosis", "too low"),
    ]
    assert view.summary_rows({**s, "diagnosis": None})[-1] == ("stopped", "None")
    assert view.summary_rows(None) == [("stopped", "not finished: resume it with resume=True")]
    with cli_voice():
        assert view.summary_rows(None) == [("stopped", "not finished: resume it with --resume")]
    assert view.summary_text("runs/a", None) == "run: runs/a\n        stopped: not finished: resume it with resume=True"


def test_a_runs_html_has_its_table_and_curves_once_an_epoch_finished(tmp_path) -> None:
    """Jupyter's view of a run: its summary's figures (not 'not finished' once it has one), and the curves with
    their caption once an epoch has finished."""
    bare = view.run_html(tmp_path / "r", None, [])
    assert bare.startswith(f'<p style="margin:2px 0"><b>run: {tmp_path / "r"}</b></p><table>') and "<img" not in bare
    assert "not finished: resume it with resume=True" in bare
    rows = [{"epoch": 1, "train_loss": 1.0, "val_loss": 1.2, "train_accuracy": 0.5, "val_accuracy": 0.4}]
    with_curves = view.run_html(tmp_path / "r", None, rows)
    assert with_curves.startswith(bare)
    assert "<figcaption>loss and accuracy per epoch (train solid, validation dashed)</figcaption>" in with_curves
    assert with_curves.count("<img") == 1
    done = view.run_html(tmp_path / "r", {**SUMMARY, "diagnosis": ["lr too high"]}, rows)
    assert '<td style="text-align:left;white-space:pre">0.9123</td>' in done and "lr too high" in done
    assert "not finished" not in done


SUMMARY = {
    "test_accuracy": 0.91234,
    "val_accuracy": 1,
    "train_accuracy": 0.5,
    "epochs_run": 3,
    "train_seconds": 1.23456,
    "params": 100,
    "stopped": None,
}


def test_summary_text_is_what_train_prints_at_the_end() -> None:
    """The lines `cnnlab train` prints when a run ends: each figure right-aligned under its key."""
    assert view.summary_text("runs/a", SUMMARY).splitlines() == [
        "run: runs/a",
        "  test_accuracy: 0.9123",
        "   val_accuracy: 1",
        " train_accuracy: 0.5000",
        "     epochs_run: 3",
        "  train_seconds: 1.23456",
        "         params: 100",
        "        stopped: None",
    ]


def state(path: Path, done: int = 2, state: str = "completed", val=0.5, test=None, **kw) -> RunState:
    return RunState(path, kw.get("model", "mlp"), kw.get("data", "digits"), kw.get("epochs", 3), done, state, val, test)


def test_the_runs_table_names_each_run_below_the_folder_and_how_to_go_on(tmp_path) -> None:
    """`cnnlab runs`: each run's path below the folder, a network file and an image folder by their names, the
    accuracies in percent (a missing one as a dash), and how to resume the first run that stopped early."""
    states = [
        state(tmp_path / "a", 3, val=0.98765, test=0.0),
        state(tmp_path / "s" / "b", 1, "interrupted", None, model="/x/nets/net.toml", data="folder:/data/cats"),
        state(tmp_path / "c d", 0, "no epoch finished", None, data="folder:rel/dogs"),
    ]
    assert view.runs_rows(states, tmp_path) == [
        ("a", "mlp", "digits", "3/3", "98.77%", "0.00%", "completed"),
        ("s/b", "net.toml", "folder:cats", "1/3", "-", "-", "interrupted"),
        ("c d", "mlp", "folder:dogs", "0/3", "-", "-", "no epoch finished"),
    ]
    assert view.runs_rows([state(tmp_path, 1)], tmp_path)[0][0] == str(tmp_path)
    # only a .toml file is shortened to its name: a network file named otherwise is shown as the run gave it
    assert view.runs_rows([state(tmp_path / "a", model="nets/custom")], tmp_path)[0][1] == "nets/custom"
    assert view.runs_footer(states, tmp_path) == (
        f"3 runs in {tmp_path}; 2 stopped before the end: train(config, out={str(tmp_path / 's' / 'b')!r}, "
        "resume=True) goes on"
    )
    with cli_voice():
        assert view.runs_footer(states[2:], tmp_path) == (
            f"1 run in {tmp_path}; 1 stopped before the end: `cnnlab train --out '{tmp_path / 'c d'}' --resume` goes on"
        )
    assert view.runs_footer([], tmp_path) == f"0 runs in {tmp_path}"
    assert view.runs_footer(states[:1], tmp_path) == f"1 run in {tmp_path}"
    table = view.runs_table(states, tmp_path).splitlines()
    assert table[0].split() == ["run", "model", "data", "epochs", "val", "test", "state"]
    assert table[1] == "a    mlp       digits          3/3  98.77%  0.00%  completed"
    assert table[-1] == view.runs_footer(states, tmp_path)
    html = view.runs_html(states, tmp_path)
    assert '<th style="text-align:right;white-space:nowrap">epochs</th>' in html
    assert '<th style="text-align:left;white-space:pre">data</th>' in html
    assert html.endswith(f'<p style="margin:2px 0">{escape(view.runs_footer(states, tmp_path))}</p>')


def test_a_run_states_resumable_only_when_stopped_before_its_end(tmp_path) -> None:
    for where, resumable in [
        ("interrupted", True),
        ("no epoch finished", True),
        ("completed", False),
        ("running (process 5)", False),
        ("early stop: x", False),
        ("damaged: y", False),
    ]:
        assert state(tmp_path, state=where).resumable is resumable


def make_run(folder: Path, epochs: int = 3, done=(), best=(), summary=None, **settings) -> Path:
    """A run directory as training leaves it, without training: config.toml, a checkpoint set per epoch in `done`
    (each epoch in `best` the best so far; val_accuracy 0.1 * epoch + 0.5 at epoch 1), and a summary if given."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.toml").write_text(RunConfig(model="mlp", epochs=epochs, **settings).to_toml())
    store = CheckpointStore(folder / "checkpoints", str(folder))
    rows = []
    for e in done:
        rows.append({"epoch": e, "train_loss": 1.0, "val_accuracy": 0.1 * e + (0.5 if e == 1 else 0)})
        store.publish(e, {"w": torch.zeros(1)}, {"step": e}, {"epoch": e}, list(rows), best=e in best)
    if summary is not None:
        (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def test_where_each_run_stands_from_its_own_files(tmp_path) -> None:
    """Finished (why and after how many epochs), interrupted (the best epoch's validation accuracy by the monitor)
    or not started, from the run's files alone."""
    done = make_run(
        tmp_path / "done",
        done=(1, 2, 3),
        best=(1,),
        summary={"epochs_run": 3, "val_accuracy": 0.6, "test_accuracy": 0.7},
    )
    assert listing.run_state(done) == RunState(done, "mlp", "digits", 3, 3, "completed", 0.6, 0.7)
    early = make_run(
        tmp_path / "early", epochs=9, done=(1, 2), best=(1, 2), summary={"epochs_run": 4, "stopped": "early stop: x"}
    )
    assert listing.run_state(early) == RunState(early, "mlp", "digits", 9, 4, "early stop: x", None, None)
    nocount = make_run(tmp_path / "nocount", done=(1, 2), best=(2,), summary={"epochs_run": None})
    assert listing.run_state(nocount).done == 2 and listing.run_state(nocount).state == "completed"
    weightless = make_run(tmp_path / "weightless", summary={})
    assert listing.run_state(weightless) == RunState(weightless, "mlp", "digits", 3, 0, "completed")
    # the best checkpoint's validation accuracy by the monitor, not the column's highest (epoch 2's 0.2 < 0.6)
    stopped = make_run(tmp_path / "stopped", done=(1, 2), best=(1,))
    assert listing.run_state(stopped) == RunState(stopped, "mlp", "digits", 3, 2, "interrupted", 0.6)
    latest = make_run(tmp_path / "latest", done=(1, 2), best=(2,))
    assert listing.run_state(latest).val_accuracy == pytest.approx(0.2)
    unbest = make_run(tmp_path / "unbest", done=(1, 2))  # no best set: the last stands for it
    assert listing.run_state(unbest).val_accuracy == pytest.approx(0.2)
    fresh = make_run(tmp_path / "fresh")
    assert listing.run_state(fresh) == RunState(fresh, "mlp", "digits", 3, 0, "no epoch finished", None)


def test_listing_reads_the_last_sets_metrics_and_no_weights(tmp_path) -> None:
    """`cnnlab runs` reads each run's last checkpoint set, its metadata and metrics only: never the weights
    (gigabytes for a big net, and damage to them shows where they are used), nor the best set, whose epoch's row
    the last set's metrics hold too."""
    run = make_run(tmp_path / "r", done=(1, 2), best=(1,))
    (run / "checkpoints" / "epoch-0002" / "weights.safetensors").write_bytes(b"not weights")
    (run / "checkpoints" / "epoch-0001" / "metrics.csv").write_text("epoch\n")
    assert listing.run_state(run) == RunState(run, "mlp", "digits", 3, 2, "interrupted", 0.6)


def test_a_run_being_written_is_running_even_once_finished(tmp_path) -> None:
    for name, summary in (("going", None), ("more", {"epochs_run": 3})):
        run = make_run(tmp_path / name, done=(1,), best=(1,), summary=summary)
        held = lock.WriterLock(run / ".lock", "r").acquire()
        try:
            assert listing.run_state(run) == RunState(
                run, "mlp", "digits", 3, 1, f"running (process {os.getpid()})", 0.6
            )
        finally:
            held.release()


def test_damaged_runs_are_reported_not_raised(tmp_path) -> None:
    """`cnnlab runs` lists a damaged run with what is wrong instead of stopping at it."""
    lost = make_run(tmp_path / "lost", done=(1,), best=(1,))
    (lost / "config.toml").unlink()
    assert listing.run_state(lost) == RunState(
        lost, "?", "?", 0, 0, "damaged: it has checkpoints but no config.toml; restore it from a copy"
    )
    bad = make_run(tmp_path / "bad")
    (bad / "config.toml").write_text('model = "mlp"\ntta = 5\n')
    assert listing.run_state(bad) == RunState(
        bad, "?", "?", 0, 0, f"damaged: {bad / 'config.toml'}: tta must be text, got 5"
    )
    summary = make_run(tmp_path / "summary", done=(1,), best=(1,), summary={"test_accuracy": "x"})
    s = listing.run_state(summary)
    assert (s.model, s.epochs, s.done) == ("mlp", 3, 0)
    assert s.state.startswith(f'damaged: {summary / "summary.json"} is damaged: test_accuracy is "x", not a number')
    manifest = make_run(tmp_path / "manifest", done=(1,), best=(1,))
    (manifest / "checkpoints" / "manifest.json").write_text("[]")
    assert listing.run_state(manifest).state.startswith(f"damaged: {manifest / 'checkpoints' / 'manifest.json'} is not")


def test_run_dirs_finds_runs_down_to_its_depth_not_inside_runs_or_hidden_folders(tmp_path, monkeypatch) -> None:
    """`cnnlab runs` finds runs four levels down (not inside a run, nor in hidden folders, nor a folder whose
    config.toml is a folder or a broken link), lists checkpoints without their config as damaged, and looks in ./runs
    when given no folder."""
    with pytest.raises(CnnlabError) as e:
        listing.run_dirs(tmp_path / "nothing")
    assert str(e.value) == f"{tmp_path / 'nothing'} is not a folder; give a folder that holds run directories"
    (tmp_path / "file").write_text("")
    with pytest.raises(CnnlabError, match="is not a folder"):
        listing.run_dirs(tmp_path / "file")
    runs = [make_run(tmp_path / p) for p in ("b", "a", "s/runs/x", "1/2/3/4")]
    make_run(tmp_path / "1/2/3/4/5")  # a run inside a run's folder
    make_run(tmp_path / "d/e/f/g/h")  # five levels down
    make_run(tmp_path / ".hidden/r")
    lost = make_run(tmp_path / "lost", done=(1,), best=(1,))
    (lost / "config.toml").unlink()
    (tmp_path / "notrun" / "checkpoints").mkdir(parents=True)
    (tmp_path / "cfgdir" / "config.toml").mkdir(parents=True)
    (tmp_path / "dangling").mkdir()
    (tmp_path / "dangling" / "config.toml").symlink_to(tmp_path / "gone.toml")  # a link to no file is no config
    assert listing.run_dirs(tmp_path) == sorted([*runs, lost])
    assert listing.DEPTH == 4
    assert listing.run_dirs(tmp_path, depth=1) == sorted([runs[0], runs[1], lost])
    assert listing.run_dirs(tmp_path / "a") == [tmp_path / "a"]
    below = listing.runs_below(tmp_path, depth=1)
    assert [r.path for r in below] == sorted([runs[0], runs[1], lost]) and below.top == tmp_path
    assert str(below) == view.runs_table(below, tmp_path) and below._repr_html_() == view.runs_html(below, tmp_path)
    monkeypatch.chdir(tmp_path / "s")
    assert [r.path for r in listing.runs_below()] == [Path("runs/x")]  # `cnnlab runs` lists ./runs
    printed = []
    below._repr_pretty_(type("P", (), {"text": lambda self, t: printed.append(t)})(), False)
    assert printed == [str(below)]


# --------------------------------------------------------------------------------------------------------------------
# checkpoint: the checkpoint sets (more in tests/test_checkpoint_store.py)


def three_epochs(folder: Path, **extra) -> CheckpointStore:
    """Epochs 1 to 3 of a run, the best at epoch 1; train_state {"step": epoch}, meta {"epoch": epoch}."""
    store = CheckpointStore(folder / "checkpoints", "runs/r")
    rows = []
    for e in (1, 2, 3):
        rows.append({"epoch": e, "train_loss": 1.0 / e, "val_accuracy": None})
        store.publish(e, {"w": torch.full((2,), float(e))}, {"step": e}, {"epoch": e}, list(rows), e == 1, **extra)
    return store


def redigest(store: CheckpointStore, name: str, data: bytes) -> Path:
    """Replace a file of the last set and record its new size and sha256, as if it had been written so."""
    manifest = json.loads((store.folder / "manifest.json").read_text())
    path = store.folder / manifest["last"]["dir"] / name
    path.write_bytes(data)
    manifest["last"]["files"][name] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (store.folder / "manifest.json").write_text(json.dumps(manifest))
    return path


def test_a_set_is_recorded_by_each_files_size_and_sha256_and_read_back_whole(tmp_path) -> None:
    """The manifest names each file's size and sha256 (as a run from an earlier version recorded them, so that it
    stays readable); meta.json and the manifest are indented for a reader; metrics.csv has plain newlines."""
    store = three_epochs(tmp_path)
    manifest = json.loads((store.folder / "manifest.json").read_text())
    last = store.folder / "epoch-0003"
    assert manifest == {
        "format": 1,
        "last": {
            "dir": "epoch-0003",
            "epoch": 3,
            "files": {
                p.name: {"size": p.stat().st_size, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
                for p in sorted(last.iterdir())
            },
        },
        "best": manifest["best"],
        "stopped": None,
    }
    assert sorted(manifest["last"]["files"]) == ["meta.json", "metrics.csv", "state.pt", "weights.safetensors"]
    assert (store.folder / "manifest.json").read_text() == json.dumps(manifest, indent=2)
    assert (last / "meta.json").read_text() == json.dumps({"epoch": 3}, indent=2)
    assert (last / "metrics.csv").read_bytes().startswith(b"epoch,train_loss,train_accuracy,val_loss,val_accuracy,")
    assert b"\r" not in (last / "metrics.csv").read_bytes()
    c = store.load()  # the best by default
    assert (c.folder, c.epoch, c.meta, c.weights["w"].tolist()) == (
        store.folder / "epoch-0001",
        1,
        {"epoch": 1},
        [1, 1],
    )
    c = store.load("last")
    assert c.folder == last and c.train_state() == {"step": 3} and c.training_weights() is c.weights
    assert c.metrics == [
        {
            "epoch": 1,
            "train_loss": 1.0,
            "train_accuracy": None,
            "val_loss": None,
            "val_accuracy": None,
            "lr_first": None,
            "lr_last": None,
            "seconds": None,
        },
        {
            "epoch": 2,
            "train_loss": 0.5,
            "train_accuracy": None,
            "val_loss": None,
            "val_accuracy": None,
            "lr_first": None,
            "lr_last": None,
            "seconds": None,
        },
        {
            "epoch": 3,
            "train_loss": 1 / 3,
            "train_accuracy": None,
            "val_loss": None,
            "val_accuracy": None,
            "lr_first": None,
            "lr_last": None,
            "seconds": None,
        },
    ]
    assert [type(r["epoch"]) for r in c.metrics] == [int, int, int]
    assert store.load("last", weights=False).weights == {}


def test_metrics_drop_columns_of_no_field_and_read_the_epoch_as_a_count() -> None:
    """A row with a column metrics.csv has no field for (one from an older run's history) is written without it."""
    text = checkpoint.metrics_csv([{"epoch": 2, "train_loss": 0.5, "lr": 0.1}])
    assert text == "epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr_first,lr_last,seconds\n2,0.5,,,,,,\n"
    assert checkpoint.parse_metrics(text) == [
        {
            "epoch": 2,
            "train_loss": 0.5,
            "train_accuracy": None,
            "val_loss": None,
            "val_accuracy": None,
            "lr_first": None,
            "lr_last": None,
            "seconds": None,
        }
    ]
    assert checkpoint.parse_metrics("epoch,train_loss\n7,1e-3\n") == [{"epoch": 7, "train_loss": 0.001}]
    assert type(checkpoint.parse_metrics("epoch\n7\n")[0]["epoch"]) is int


def test_the_weights_being_trained_are_kept_beside_an_average_and_the_stop_with_its_finding(tmp_path) -> None:
    """With --ema a set keeps the weights being trained beside the average, which a resume goes on from; the stop
    reason and the diagnosis recorded with it are read back, and a store without checkpoints records nothing."""
    store = three_epochs(tmp_path, training={"w": torch.tensor([9.0])}, stopped="early stop: x")
    c = store.load("last")
    assert c.weights["w"].tolist() == [3.0, 3.0] and c.training_weights()["w"].tolist() == [9.0]
    assert "training.safetensors" in json.loads((store.folder / "manifest.json").read_text())["last"]["files"]
    assert store.stopped() == "early stop: x" and store.stopped_finding() is None
    store.mark_stopped("loss is nan", "the loss went non-finite at epoch 4")
    assert (store.folder / "manifest.json").read_text() == json.dumps(store.manifest(), indent=2)
    assert (store.stopped(), store.stopped_finding()) == ("loss is nan", "the loss went non-finite at epoch 4")
    assert store.load("last").epoch == 3
    store.mark_stopped("tuner pruned it")
    assert (store.stopped(), store.stopped_finding()) == ("tuner pruned it", "the loss went non-finite at epoch 4")
    empty = CheckpointStore(tmp_path / "none", "r")
    empty.mark_stopped("x")
    assert (empty.stopped(), empty.stopped_finding(), empty.load(), empty.manifest()) == (None,) * 4
    assert not (tmp_path / "none").exists()
    store.reset()
    assert not store.folder.exists() and store.load() is None
    store.reset()  # nothing left to forget


def test_a_best_set_never_marked_falls_back_to_the_last(tmp_path) -> None:
    """A run whose monitor never improved on its first epoch's (none marked best) evaluates its last set."""
    store = CheckpointStore(tmp_path / "c", "r")
    store.publish(1, {"w": torch.zeros(1)}, {}, {}, [{"epoch": 1}], best=False)
    assert store.manifest()["best"] is None and store.load("best").epoch == 1


def test_publishing_replaces_a_killed_attempts_folder_and_clean_removes_what_no_manifest_names(tmp_path) -> None:
    """A resumed run republishes over the folder a killed attempt left at that epoch, and the lock holder removes
    every other writer's temporaries (even a live process's) and epoch folders the manifest does not name."""
    store = three_epochs(tmp_path)
    (store.folder / "epoch-0004").mkdir()
    (store.folder / "epoch-0004" / "junk").write_text("a killed attempt's leftover")
    (store.folder / "epoch-0009").mkdir()
    stale = store.folder / ".epoch-0005.tmp-1-abc"  # process 1 is alive, but holds no lock on this run: stale
    stale.mkdir()
    mine = store.folder / f".epoch-0006.tmp-{os.getpid()}-abc"
    mine.mkdir()
    store.publish(4, {"w": torch.zeros(1)}, {}, {}, [], best=False)
    assert sorted(p.name for p in store.folder.iterdir()) == [mine.name, "epoch-0001", "epoch-0004", "manifest.json"]
    assert sorted(p.name for p in (store.folder / "epoch-0004").iterdir()) == [
        "meta.json",
        "metrics.csv",
        "state.pt",
        "weights.safetensors",
    ]
    CheckpointStore(tmp_path / "nothing", "r").clean()
    assert not (tmp_path / "nothing").exists()


def test_a_failed_publish_leaves_no_temporary_and_raises_its_own_error(tmp_path, monkeypatch) -> None:
    """A full disk while a set is written or published is reported as such (not as a failed clean-up), and the
    failpoints the crash tests kill a run at are passed in order."""
    store = three_epochs(tmp_path)
    passed = []
    monkeypatch.setattr(checkpoint, "failpoint", passed.append)
    store.publish(4, {"w": torch.zeros(1)}, {}, {}, [], best=False, training={"w": torch.ones(1)})
    assert passed == ["checkpoint-file"] * 5 + ["checkpoint-folder", "manifest"]

    def full(name):
        if name == "checkpoint-file" and len(list(store.folder.glob(".epoch-0005.tmp-*/*"))) == 2:
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint, "failpoint", full)
    with pytest.raises(OSError, match="No space left on device"):
        store.publish(5, {"w": torch.zeros(1)}, {}, {}, [], best=False)
    assert sorted(p.name for p in store.folder.iterdir()) == ["epoch-0001", "epoch-0004", "manifest.json"]
    real = checkpoint.publish_dir

    def renamed_then_full(tmp, final):
        real(tmp, final)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint, "failpoint", lambda name: None)
    monkeypatch.setattr(checkpoint, "publish_dir", renamed_then_full)
    with pytest.raises(OSError, match="No space left on device"):
        store.publish(6, {"w": torch.zeros(1)}, {}, {}, [], best=False)
    assert store.load("last").epoch == 4


def test_damaged_manifests_and_sets_are_one_line_naming_the_file(tmp_path) -> None:
    """Each kind of damage to the checkpoints is one line naming the file and what to do, never a traceback."""
    store = three_epochs(tmp_path)
    path, last = store.folder / "manifest.json", store.folder / "epoch-0003"
    good = path.read_text()
    originals = {p.name: p.read_bytes() for p in last.iterdir()}

    def refused(which: str = "last", weights: bool = True, state: bool = False) -> str:
        with pytest.raises(CnnlabError) as e:
            c = store.load(which, weights)
            if state:
                c.train_state()
        path.write_text(good)
        for name, data in originals.items():
            (last / name).write_bytes(data)
        return str(e.value)

    path.write_text("{")
    assert refused("best") == f"{path} is damaged (JSONDecodeError); remove the run directory and retrain"
    path.write_text(json.dumps({**json.loads(good), "last": {"epoch": 3}}))
    assert refused() == f"{path} is not a cnnlab checkpoint manifest; remove the run directory and retrain"
    (last / "state.pt").write_bytes(b"x")
    assert refused() == (
        f"checkpoint file {last / 'state.pt'} is damaged (its size or sha256 differs from the manifest); restore it "
        "or retrain the run"
    )
    redigest(store, "weights.safetensors", b"no safetensors")
    message = refused()
    assert message.startswith(f"checkpoint {last / 'weights.safetensors'} is unreadable (")
    assert message.endswith("); retrain or restore it")
    redigest(store, "meta.json", b"{")
    assert refused(weights=False) == f"checkpoint {last} has unreadable metadata (JSONDecodeError); retrain the run"
    redigest(store, "meta.json", b"[1]")
    assert refused(weights=False) == f"checkpoint {last / 'meta.json'} is not a metadata object; retrain the run"
    redigest(store, "state.pt", b"not a tensor file")
    message = refused(state=True)
    assert message.startswith(f"the resumable state {last / 'state.pt'} is not a plain tensor file (")
    assert message.endswith("); refusing to load it: retrain the run")
    buf = io.BytesIO()
    torch.save({"f": Path("x")}, buf)
    redigest(store, "state.pt", buf.getvalue())
    assert refused(state=True) == (
        f"the resumable state {last / 'state.pt'} is not a plain tensor file (it would build objects other than "
        "tensors); refusing to load it: retrain the run"
    )
    whole = originals["state.pt"]
    redigest(store, "state.pt", whole[: len(whole) // 2])  # a zip cut short: torch's first line, cut at 120
    line = (
        "PytorchStreamReader failed reading zip archive: failed finding central directory. This is an internal miniz "
        "error. If you are seeing this error, there is a high likelihood that your checkpoint file is corrupted."
    )[:120]
    assert refused(state=True) == (
        f"the resumable state {last / 'state.pt'} is not a plain tensor file (RuntimeError: {line}); refusing to "
        "load it: retrain the run"
    )
    redigest(store, "state.pt", b"")  # an error without a message: its kind alone
    assert refused(state=True) == (
        f"the resumable state {last / 'state.pt'} is not a plain tensor file (EOFError: ); refusing to load it: "
        "retrain the run"
    )
    assert store.load("last").train_state() == {"step": 3}  # put back whole


def test_a_read_starts_over_on_the_set_a_writer_published_meanwhile_and_gives_up_after_ten(tmp_path, monkeypatch):
    """A reader (eval, `cnnlab runs`) racing the writer reads the set published meanwhile instead of failing on
    the one it removed, and gives up with one line after ten re-reads of a manifest that keeps changing."""
    store = three_epochs(tmp_path)
    old = store.manifest()
    store.publish(4, {"w": torch.zeros(1)}, {}, {}, [], best=False)  # epoch 3's set is gone
    first = iter([old])
    real = CheckpointStore.manifest
    monkeypatch.setattr(store, "manifest", lambda: next(first, None) or real(store))
    assert store.load("last").epoch == 4
    reads = []

    def changing():
        reads.append(1)
        return {"format": 1, "last": {"dir": f"epoch-{len(reads):04d}x", "epoch": 1, "files": {"meta.json": {}}}}

    monkeypatch.setattr(store, "manifest", changing)
    with pytest.raises(CnnlabError) as e:
        store.load("last")
    assert str(e.value) == "the checkpoints of runs/r kept changing while being read; try again"
    assert len(reads) == 11  # the first read and ten more


def test_one_number_for_mean_and_std_is_one_value_for_every_channel() -> None:
    """mean=0.5 from Python or a file is [0.5] (as --mean 0.5), for std too; True is no number."""
    c = valid(mean=0.5, std=0.25)
    assert (c.mean, c.std) == ([0.5], [0.25])
    assert (valid(mean=[0.5], std=2).mean, valid(mean=[0.5], std=2).std) == ([0.5], [2])
    with cli_voice():
        assert refusal(mean=True, std=[1]).startswith("--mean must be finite numbers")


def test_a_list_given_as_text_is_shown_as_the_list_to_give() -> None:
    assert refusal(augment="crop,flip") == '--augment is a list, ["crop", "flip"], got the text \'crop,flip\''
    assert refusal(input="1, 8 ,8") == "--input is a list, [1, 8, 8], got the text '1, 8 ,8'"


def test_a_python_caller_reads_the_switch_off_as_an_argument() -> None:
    """--no-normalize is normalize=False to a Python caller, who has no flags."""
    with pytest.raises(CnnlabError) as e:
        RunConfig(model="mlp", mean=[0.5], std=[0.5], normalize=False).validate()
    assert str(e.value) == "mean/std standardise the inputs, which normalize=False turns off; drop one of them"


def test_a_compare_study_folder_is_told_by_its_index(tmp_path) -> None:
    """tune refuses to search into a `cnnlab compare` study folder, known by its study.json; a run folder is none."""
    assert not layout.holds_compare_study(tmp_path)
    (tmp_path / layout.STUDY_INDEX).write_text("{}")
    assert layout.holds_compare_study(tmp_path) and layout.STUDY_INDEX == "study.json"
    (tmp_path / "folder").mkdir()
    assert not layout.holds_compare_study(tmp_path / "folder")
