"""Reading a study file into its runs (`cnnlab compare`'s plan, cnnlab.study.load_study): grids, placeholders,
recipes, overrides and every refusal, with nothing trained, so each test takes milliseconds (and mutation testing
can run them once per mutant: scripts/mutation.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnlab.errors import CnnlabError
from cnnlab.study import load_study
from tests.conftest import EXAMPLES, SHARED, cli_as_terminal, write_toml

DATA = str(SHARED / "datasets")
STUDIES = EXAMPLES / "studies"


def plan(tmp_path: Path, text: str, overrides: dict | None = None, name: str = "s.toml"):
    return load_study(write_toml(tmp_path / name, text), overrides)


def refusal(tmp_path: Path, text: str, overrides: dict | None = None) -> str:
    with pytest.raises(CnnlabError) as caught:
        plan(tmp_path, text, overrides)
    return str(caught.value)


@pytest.mark.parametrize(
    "text, message",
    [
        ('[[runs]]\nname = "a"\nmodle = "mlp"\n', "unknown setting 'modle'"),
        ('title = "x"\n', "no [[runs]]"),
        ('[[runs]]\nmodel = "mlp"\n', "has no name"),
        ('[[runs]]\nname = "a"\ninit_from = "@b"\n[[runs]]\nname = "b"\n', "@b, which is not an earlier run"),
        ('[[runs]]\nname = "a"\ngrid = { lr = 0.1 }\n', "grid must map settings to non-empty lists"),
        ('[[runs]]\nname = "a"\ngrid = { lr = [0.1, 0.2] }\n', "run name(s) a repeat"),
        # a bad value is named by the file and its key, not by a flag never typed (it said --lr)
        ('[[runs]]\nname = "a"\nlr = -1.0\n', "bad.toml run 'a': lr must be a positive number"),
        # values of the wrong kind: tracebacks (TypeError, AttributeError) or silently str()-ed before
        ('defaults = 5\n[[runs]]\nname = "a"\n', "defaults must be a table of settings ([defaults] above them), got 5"),
        ("[[runs]]\nname = true\n", "run #1: name must be text (in quotes), got True"),
        ('title = ["x"]\n[[runs]]\nname = "a"\n', "title must be text (in quotes), got ['x']"),
        ('[[runs]]\nname = "{model.x}"\nmodel = "mlp"\n', "cannot fill '{model.x}': 'str' object has no attribute"),
        ('[[runs]]\nname = "{model[a]}"\nmodel = "mlp"\n', "cannot fill '{model[a]}': string indices must be"),
        ('colour = 1\n[[runs]]\nname = "a"\n', "unknown key 'colour'"),
        ('[[runs]]\nname = "a"\nrecipe = "nowhere.toml"\n', "run 'a': recipe "),
        ('[[runs]]\nname = "a"\nrecipe = 3\n', "recipe must be the path of an experiment file, got 3"),
        ('[[runs]]\nname = "../escape"\n', "run name '../escape' must be letters, digits"),  # out of the study
    ],
)
def test_bad_study_files_are_one_line_errors(tmp_path, text, message, capsys):
    path = write_toml(tmp_path / "bad.toml", text)
    code, _, err = cli_as_terminal(["compare", path, "--out", str(tmp_path / "out")], capsys)  # in-process: faster
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert message in err


def test_a_bad_value_from_a_recipe_is_named_by_the_recipe(tmp_path, capsys):
    write_toml(tmp_path / "rec.toml", "lr = -1.0\n")
    path = write_toml(
        tmp_path / "s.toml", '[defaults]\ndata = "digits"\nmodel = "mlp"\n[[runs]]\nname = "a"\nrecipe = "rec.toml"\n'
    )
    code, _, err = cli_as_terminal(["compare", path, "--dry-run"], capsys)
    assert code == 2 and err.strip() == "cnnlab: error: rec.toml: lr must be a positive number, got -1.0", err
    code, _, err = cli_as_terminal(["compare", path, "--dry-run", "--epochs", "0"], capsys)
    assert (
        code == 2
        and err.strip() == f"cnnlab: error: --epochs, given for every run of {path}: must be a positive integer, got 0"
    ), err  # a flag


@pytest.mark.parametrize(
    "flags, said",
    [
        (["--epochs", "-1"], "--epochs, given for every run of {path}: must be a positive integer, got -1"),
        (["--limit", "0"], "--limit, given for every run of {path}: must be a positive integer, got 0"),
        (["--data", "nope"], "--data, given for every run of {path}: unknown dataset 'nope': known: "),
        (["--data", "folder:"], "--data, given for every run of {path}: folder: needs the image folder's path"),
        (["--data", "mnist:nope"], "--data, given for every run of {path}: unknown task 'mnist:nope'"),
    ],
)
def test_a_bad_value_from_a_compare_flag_is_named_by_the_flag_and_the_runs(tmp_path, capsys, flags, said):
    """A flag that overrides every run's setting is the source of its bad value, named as a file is (`study.toml
    run 'a': lr must be ...`): it said `--epochs must be ...`, and a bad --data blamed the study's first run."""
    path = write_toml(
        tmp_path / "s.toml", '[defaults]\nmodel = "mlp"\ndata = "digits"\n[[runs]]\nname = "a"\n[[runs]]\nname = "b"\n'
    )
    code, _, err = cli_as_terminal(["compare", path, "--dry-run", *flags], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith("cnnlab: error: " + said.format(path=path)), err


def test_a_bad_dataset_from_a_recipe_is_named_by_the_recipe(tmp_path, capsys):
    """As its bad values are (it blamed the study's run, which does not say data)."""
    write_toml(tmp_path / "rec.toml", 'data = "nope"\n')
    path = write_toml(tmp_path / "s.toml", '[defaults]\nmodel = "mlp"\nrecipe = "rec.toml"\n[[runs]]\nname = "a"\n')
    code, _, err = cli_as_terminal(["compare", path, "--dry-run"], capsys)
    assert code == 2 and err.startswith("cnnlab: error: rec.toml: unknown dataset 'nope'"), err


def test_a_recipe_sits_beneath_the_study_settings(tmp_path):
    """recipe = FILE (relative to the study) gives a run the recipe's settings; the study's own keys win."""
    (tmp_path / "recipes").mkdir()
    write_toml(tmp_path / "recipes" / "fast.toml", 'model = "mnist-fast"\noptimizer = "sgd"\nlr = 0.8\nepochs = 5\n')
    study = load_study(
        write_toml(
            tmp_path / "s.toml",
            '[defaults]\nrecipe = "recipes/fast.toml"\nlr = 0.1\n[[runs]]\nname = "a"\n[[runs]]\nname = "b"\nlr = 0.2\n',
        ),
        {"epochs": 2},
    )
    a, b = (r.config for r in study.runs)
    assert (a.model, a.optimizer, a.lr, a.epochs) == ("mnist-fast", "sgd", 0.1, 2)
    assert (b.model, b.lr) == ("mnist-fast", 0.2)


def test_every_shipped_study_plans(tmp_path):
    expected = {
        "parity": 4,
        "init": 4,
        "cifar10-architectures": 4,
        "batchnorm": 2,
        "vgg-mnist-transfer": 4,
        "resnet-plain-cifar": 4,
        "flowers": 8,
    }
    for name, count in expected.items():
        study = load_study(STUDIES / f"{name}.toml", {"data_dir": DATA})
        assert len(study.runs) == count and study.expected, name
        for run in study.runs:
            assert "{data_dir}" not in run.config.data
    with pytest.raises(CnnlabError, match="unknown setting"):
        load_study(STUDIES / "init.toml", {"colour": 1})


def test_a_study_file_named_like_a_setting_is_named_as_the_file(tmp_path, monkeypatch):
    """A bad value in lr.toml is said of the file and its run, not taken for the setting lr given for every run
    (load_study's overrides are told from the file's settings by the setting's name, and `lr.toml` begins with
    one)."""
    monkeypatch.chdir(tmp_path)
    write_toml(tmp_path / "lr.toml", '[[runs]]\nname = "a"\nmodel = "mlp"\ndata = "digits"\nepochs = -1\n')
    with pytest.raises(CnnlabError) as e:
        load_study("lr.toml")
    assert str(e.value) == "lr.toml run 'a': epochs must be a positive integer, got -1"


def test_a_study_is_titled_by_its_file_unless_it_says_and_keeps_its_expected_text_stripped(tmp_path) -> None:
    study = plan(tmp_path, '[[runs]]\nname = "a"\n', name="plain.toml")
    assert (study.path, study.title, study.expected) == (tmp_path / "plain.toml", "plain", "")
    study = plan(tmp_path, 'title = "T"\nexpected = "  what to see \\n"\n[[runs]]\nname = "a"\n')
    assert (study.title, study.expected) == ("T", "what to see")


def test_a_grid_is_every_combination_in_order_each_named_from_its_settings(tmp_path) -> None:
    text = '[defaults]\nmodel = "mlp"\n[[runs]]\nname = "lr{lr}-s{seed}"\ngrid = { lr = [0.1, 0.2], seed = [1, 2] }\n'
    text += '[[runs]]\nname = "last"\nseed = 9\n'
    runs = plan(tmp_path, text).runs
    assert [r.name for r in runs] == ["lr0.1-s1", "lr0.1-s2", "lr0.2-s1", "lr0.2-s2", "last"]
    assert [(r.config.lr, r.config.seed, r.config.model) for r in runs[:2]] == [(0.1, 1, "mlp"), (0.1, 2, "mlp")]
    assert runs[-1].config.seed == 9 and all(r.after == [] for r in runs)


def test_a_run_started_from_an_earlier_one_comes_after_it(tmp_path) -> None:
    runs = plan(tmp_path, '[[runs]]\nname = "a"\n[[runs]]\nname = "b"\ninit_from = "@a"\n').runs
    assert [(r.name, r.after) for r in runs] == [("a", []), ("b", ["a"])]
    assert runs[1].config.init_from == "@a"  # the runner puts the run directory in its place


def test_overrides_reach_every_run_and_data_dir_fills_the_placeholder(tmp_path) -> None:
    from cnnlab.data.sources import data_root

    text = '[[runs]]\nname = "a"\ndata = "folder:{data_dir}/x"\n[[runs]]\nname = "b"\nepochs = 7\n'
    a, b = plan(tmp_path, text).runs
    assert a.config.data == f"folder:{data_root(None)}/x" and a.config.data_dir is None
    a, b = plan(tmp_path, text, {"data_dir": "/d", "epochs": 2, "limit": None}).runs
    assert (a.config.data, a.config.data_dir, a.config.epochs, b.config.epochs) == ("folder:/d/x", "/d", 2, 2)
    assert a.config.limit is None  # an override of None is no override
    with_default = '[defaults]\ndata_dir = "/e"\n' + text
    a, _ = plan(tmp_path, with_default).runs
    assert (a.config.data, a.config.data_dir) == ("folder:/e/x", "/e")
    a, _ = plan(tmp_path, with_default, {"data_dir": "/d"}).runs
    assert (a.config.data, a.config.data_dir) == ("folder:/d/x", "/d")  # the flag over the file


@pytest.mark.parametrize(
    "text, message",
    [
        ('title = "x"\nexpected = 3\n[[runs]]\nname = "a"\n', "s.toml: expected must be text (in quotes), got 3"),
        ('runs = "a"\n', "s.toml: no [[runs]]; add at least one run table with a name"),
        ("runs = []\n", "s.toml: no [[runs]]; add at least one run table with a name"),
        (
            '[[runs]]\nname = "a"\n[[runs]]\nname = "b"\n[[runs]]\nname = "a"\n[[runs]]\nname = "b"\n',
            "s.toml: run name(s) a, b repeat; use {field} placeholders in grid names",
        ),
        ('[[runs]]\nname = "{nope}"\n', "s.toml: cannot fill '{nope}': 'nope' is not a setting of this run"),
        (
            '[[runs]]\nname = "a"\nmodle = 1\n',
            "unknown setting 'modle' in s.toml run 'a': did you mean 'model'? (settings are the flags of `cnnlab train "
            "--help`)",
        ),
        (
            '[[runs]]\nname = "a"\nmodel = "missing.toml"\n',
            "s.toml run 'a': network file 'missing.toml' not found; give a zoo model name (`cnnlab models`) or a path "
            "to a .toml file",
        ),
        (
            '[[runs]]\nname = "a"\nrecipe = "nowhere.toml"\n',
            "s.toml: run 'a': recipe 'nowhere.toml' not found; give recipe:NAME or its path relative to the study file",
        ),
        (
            'colour = 1\n[[runs]]\nname = "a"\n',
            "unknown key 'colour' in s.toml: (accepted: title, expected, defaults, runs)",
        ),
    ],
)
def test_each_refusal_whole(tmp_path, monkeypatch, text, message) -> None:
    monkeypatch.chdir(tmp_path)  # the file as the user names it, relative
    write_toml(tmp_path / "s.toml", text)
    with pytest.raises(CnnlabError) as caught:
        load_study("s.toml")
    assert str(caught.value) == message


def test_a_missing_study_file_an_unknown_shipped_one_and_a_folder_are_named(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for given, message in [
        ("none.toml", "study file 'none.toml' not found"),
        ("study:nope", "unknown study 'nope'; shipped studies: "),
        (".", ". is a folder, not a study file; `cnnlab compare` runs a study file (study:NAME or a .toml), and "
              "`cnnlab report .` tabulates runs and study directories already made"),
    ]:  # fmt: skip
        with pytest.raises(CnnlabError) as caught:
            load_study(given)
        assert str(caught.value).startswith(message), caught.value
    shipped = load_study("study:parity")
    assert shipped.path.name == "parity.toml" and shipped.title == load_study(STUDIES / "parity.toml").title


@pytest.mark.parametrize("name", ["epochs", "plan"])
def test_a_study_file_without_a_suffix_is_not_taken_for_a_flag(tmp_path, monkeypatch, name) -> None:
    """A bad value in a study file named `epochs` (or `plan`) is said of the file, as one in `lr.toml` is: the
    message begins with a word, as a flag's does, but that word is the file's name."""
    monkeypatch.chdir(tmp_path)
    write_toml(tmp_path / name, '[[runs]]\nname = "a"\nepochs = -1\n')
    with pytest.raises(CnnlabError) as caught:
        load_study(name)
    assert str(caught.value) == f"{name} run 'a': epochs must be a positive integer, got -1"


def test_a_bad_override_is_named_by_its_setting_for_every_run(tmp_path) -> None:
    path = write_toml(tmp_path / "s.toml", '[[runs]]\nname = "a"\n')
    with pytest.raises(CnnlabError) as caught:
        load_study(path, {"log_every": -1})
    assert str(caught.value) == f"log_every, given for every run of {path}: must be a positive integer, or 0 for off, got -1"  # fmt: skip
