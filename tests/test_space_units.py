"""Search-space files (tune/space.py) parsed straight from small texts: the parameters each trial samples, the
corners the template is checked at, the objective's defaults, a trial's settings, and the whole one-line refusal of
each bad file."""

from __future__ import annotations

import tomllib

import optuna
import pytest

from cnnlab.errors import CnnlabError
from cnnlab.rundir.config import MONITORS
from cnnlab.tune.space import Param, parse_space
from cnnlab.tune.template import expand

NETWORK = '[network]\ninput = [1, 8, 8]\n[[network.layers]]\ntype = "flatten"\n[[network.layers]]\ntype = "dense"\n'
COUNT = '[params.n]\ntype = "int"\nlow = 0\nhigh = 2\n'
WIDTHS = '[params.w]\ntype = "int"\nlow = 4\nhigh = 8\nstep = 4\nfor_each = "n"\n'


def parse(text: str, **overrides: object):
    return parse_space(tomllib.loads(text + NETWORK), text, "s.toml", overrides)


def refusal(text: str, network: str = NETWORK) -> str:
    with pytest.raises(CnnlabError) as e:
        parse_space(tomllib.loads(text + network), text, "s.toml")
    message = str(e.value)
    assert message.startswith("s.toml: ") and "\n" not in message
    return message[len("s.toml: ") :]


def test_per_layer_parameters_are_sampled_for_the_layers_their_count_asks_for() -> None:
    """n = 2 samples w_0 and w_1, n = 0 none, each on its step of 4, in file order."""
    space = parse(COUNT + WIDTHS)
    assert space.sample(optuna.trial.FixedTrial({"n": 2, "w_0": 4, "w_1": 8})) == {"n": 2, "w_0": 4, "w_1": 8}
    assert space.sample(optuna.trial.FixedTrial({"n": 0})) == {"n": 0}


def test_the_corners_are_every_parameter_low_then_every_parameter_high() -> None:
    """The template is tried with all lows (the count's low layers) and all highs (its high layers, the last
    choice)."""
    kind = '[params.act]\ntype = "categorical"\nchoices = ["relu", "gelu", "tanh"]\n'
    space = parse(COUNT + WIDTHS + kind)
    assert space.corners() == [{"n": 0, "act": "relu"}, {"n": 2, "w_0": 8, "w_1": 8, "act": "tanh"}]


def test_parameters_keep_their_kind_scale_and_step() -> None:
    """An int keeps its step, a float its log scale and float bounds, a categorical its choices in order."""
    space = parse(
        COUNT
        + WIDTHS
        + '[params.lr]\ntype = "float"\nlow = 1\nhigh = 3\nlog = true\n'
        + '[params.optimizer]\ntype = "categorical"\nchoices = ["sgd", "adam"]\n'
    )
    n, w, lr, opt = space.params
    assert n == Param("n", "int", 0, 2)
    assert w == Param("w", "int", 4, 8, 4, False, for_each="n")
    assert lr == Param("lr", "float", 1.0, 3.0, None, True) and isinstance(lr.low, float)
    assert isinstance(lr.high, float)
    assert opt == Param("optimizer", "categorical", choices=("sgd", "adam"))


def test_a_trial_suggests_on_the_declared_scale() -> None:
    """Optuna is asked for an int on its step, a float on its log scale, a categorical from its choices: the
    distributions it records are those."""
    study = optuna.create_study()
    trial = study.ask()
    Param("w", "int", 4, 8, 4).suggest(trial, "w")
    Param("x", "int", 1, 9).suggest(trial, "x")
    Param("lr", "float", 1e-3, 1e-1, None, True).suggest(trial, "lr")
    Param("m", "float", 0.5, 0.9, 0.1).suggest(trial, "m")
    Param("opt", "categorical", choices=("sgd", "adam")).suggest(trial, "opt")
    Param("u", "int", 1, 64, None, True).suggest(trial, "u")
    d = trial.distributions
    assert d["w"] == optuna.distributions.IntDistribution(4, 8, step=4)
    assert d["x"] == optuna.distributions.IntDistribution(1, 9, step=1)
    assert d["lr"] == optuna.distributions.FloatDistribution(1e-3, 1e-1, log=True)
    assert d["m"] == optuna.distributions.FloatDistribution(0.5, 0.9, step=0.1)
    assert d["opt"] == optuna.distributions.CategoricalDistribution(["sgd", "adam"])
    assert d["u"] == optuna.distributions.IntDistribution(1, 64, log=True)


def test_a_per_layer_choice_is_sampled_for_each_layer() -> None:
    """A categorical with for_each (an activation per layer) is drawn once per layer the count asks for."""
    space = parse(COUNT + '[params.act]\ntype = "categorical"\nchoices = ["relu", "tanh"]\nfor_each = "n"\n')
    trial = optuna.trial.FixedTrial({"n": 2, "act_0": "relu", "act_1": "tanh"})
    assert space.sample(trial) == {"n": 2, "act_0": "relu", "act_1": "tanh"}


def test_edges_a_space_accepts() -> None:
    """low equal to high is a constant; a count up to exactly 1,000 layers is allowed; a loss needs no
    validation split; the file's text is kept as read."""
    text = COUNT.replace("high = 2", "high = 1000") + WIDTHS + '[params.c]\ntype = "int"\nlow = 3\nhigh = 3\n'
    assert parse(text).text == text
    assert parse('[train]\nval_split = 0\n[objective]\nmetric = "train_loss"\n' + COUNT).metric == "train_loss"


@pytest.mark.parametrize(
    "objective, metric, direction",
    [
        ("", "val_accuracy", "maximize"),
        ('[objective]\nmetric = "val_loss"\n', "val_loss", "minimize"),
        ('[objective]\nmetric = "train_accuracy"\n', "train_accuracy", "maximize"),
        ('[objective]\nmetric = "val_accuracy"\ndirection = "minimize"\n', "val_accuracy", "minimize"),
    ],
)
def test_the_objective_defaults_to_validation_accuracy_maximised(objective: str, metric: str, direction: str) -> None:
    """No [objective]: val_accuracy, maximised; a loss is minimised, an accuracy maximised, unless told."""
    space = parse(objective + COUNT)
    assert (space.metric, space.direction) == (metric, direction)


def test_a_trials_settings_are_the_files_the_sampled_ones_then_the_overrides() -> None:
    """[train]'s settings, a sampled lr, the trial's model and the objective as the monitored metric; the epochs
    count is [train]'s, or RunConfig's default."""
    space = parse('[train]\nepochs = 3\nbatch_size = 64\n[params.lr]\ntype = "float"\nlow = 0.01\nhigh = 0.1\n')
    config = space.run_config({"lr": 0.05, "n": 2}, "net.toml", seed=7)
    assert (config.epochs, config.batch_size, config.lr, config.model, config.seed) == (3, 64, 0.05, "net.toml", 7)
    assert config.monitor == "val_accuracy" and space.epochs == 3
    assert parse(COUNT, epochs=5, limit=None).epochs == 5 and "limit" not in parse(COUNT, limit=None).train


@pytest.mark.parametrize(
    "text, message",
    [
        ("[params.x]\n", "params.x: unknown type None; use one of int, float, categorical"),
        ("params.x = 3\n", 'params.x must be a table with type = "int" | "float" | "categorical"'),
        (
            '[params.x]\ntype = "int"\nlow = 1\nhigh = 4\nstride = 2\nchoices = []\n',
            "params.x: unknown key(s) choices, stride for a int parameter",
        ),
        ('[params.model]\ntype = "int"\nlow = 1\nhigh = 4\n', "params.model: model is not a searchable setting"),
        ('[params.monitor]\ntype = "int"\nlow = 1\nhigh = 4\n', "params.monitor: monitor is not a searchable setting"),
        ('[train]\nlr = 0.1\n[params.lr]\ntype = "float"\nlow = 0.01\nhigh = 0.1\n', "params.lr: lr is set in [train]"),
        ('[params.x]\ntype = "int"\nhigh = 4\n', "params.x: missing low"),
        ('[params.x]\ntype = "int"\nlow = 1\n', "params.x: missing high"),
        ('[params.x]\ntype = "int"\nlow = 1.5\nhigh = 4\n', "params.x: low must be an integer, got 1.5"),
        ('[params.x]\ntype = "float"\nlow = 0\nhigh = true\n', "params.x: high must be a number, got True"),
        ('[params.x]\ntype = "float"\nlow = 0\nhigh = inf\n', "params.x: high must be a number, got inf"),
        ('[params.x]\ntype = "int"\nlow = 5\nhigh = 1\n', "params.x: low 5 is greater than high 1"),
        ('[params.x]\ntype = "int"\nlow = 1\nhigh = 4\nlog = 1\n', "params.x: log must be true or false, got 1"),
        ('[params.x]\ntype = "float"\nlow = 0\nhigh = 1\nlog = true\n', "params.x: a log scale needs low > 0, got 0"),
        ('[params.x]\ntype = "int"\nlow = 1\nhigh = 4\nstep = 0\n', "params.x: step must be a positive integer, got 0"),
        (
            '[params.x]\ntype = "float"\nlow = 1\nhigh = 4\nstep = true\n',
            "params.x: step must be a positive number, got True",
        ),
        (
            '[params.x]\ntype = "float"\nlow = 1\nhigh = 4\nstep = 1\nlog = true\n',
            "params.x: step and log cannot be combined",
        ),
        ('[params.x]\ntype = "categorical"\nchoices = []\n', "params.x: missing choices = [...] (a non-empty list)"),
        (
            '[params.x]\ntype = "categorical"\nchoices = [[1]]\n',
            "params.x: choices must be strings, numbers or booleans",
        ),
        (
            COUNT.replace("low = 0", "low = -1") + WIDTHS,
            "params.w: for_each = 'n' must name a non-negative int parameter declared above it",
        ),
        (
            '[params.n]\ntype = "float"\nlow = 0\nhigh = 2\n' + WIDTHS,
            "params.w: for_each = 'n' must name a non-negative int parameter declared above it",
        ),
        (
            COUNT.replace("high = 2", "high = 1001") + WIDTHS,
            "params.w: for_each = 'n' counts up to 1001, but a per-layer parameter stands for at most 1000 layers; "
            "lower [params.n] high",
        ),
        ("[objective]\ngoal = 1\n" + COUNT, "[objective] takes metric and direction only"),
        (
            COUNT + WIDTHS.replace('for_each = "n"', 'for_each = ["n"]'),
            "params.w: for_each must name an int parameter declared above it, got ['n']",
        ),
        (
            COUNT + '[params.lr]\ntype = "float"\nlow = 0.01\nhigh = 0.1\nfor_each = "n"\n',
            "params.lr: a per-layer parameter cannot be the training setting lr",
        ),
        (
            "[train]\nval_split = 0\n" + COUNT,
            "[objective] metric val_accuracy needs a validation split, but [train] val_split is 0",
        ),
        (
            '[params.batch_size]\ntype = "int"\nlow = 0\nhigh = 4\n',
            "[params.batch_size] can sample 0, which training refuses: batch_size must be a positive integer, got 0",
        ),
        ("train = 5\n" + COUNT, "train must be a table of settings ([train] above them), got 5"),
        (
            '[objective]\nmetric = "acc"\n' + COUNT,
            f"[objective] metric 'acc' is not one of {', '.join(MONITORS)}",
        ),
        ("objective = 3\n" + COUNT, "[objective] takes metric and direction only"),
        (
            '[objective]\ndirection = "up"\n' + COUNT,
            "[objective] direction must be maximize or minimize, got 'up'",
        ),
        ('[train]\nmodel = "x"\n' + COUNT, "[train] must not set model: the network comes from [network]"),
        (
            '[train]\nmonitor = "val_loss"\n' + COUNT,
            "[train] must not set monitor: the monitored metric is [objective] metric",
        ),
    ],
)
def test_bad_space_files_are_refused_whole(text: str, message: str) -> None:
    """Each refusal names the file and the table, and says what is wrong, whole."""
    got = refusal(text)
    assert got.startswith(message) if message.endswith("one of ") else got == message


@pytest.mark.parametrize(
    "network, message",
    [
        ("", "missing [network] (a network template with [[network.layers]])"),
        ("[network]\ninput = [1, 8, 8]\n", "[network] has no layers; list them as [[network.layers]] tables"),
    ],
)
def test_a_space_without_a_network_says_how_to_write_one(network: str, message: str) -> None:
    assert refusal(COUNT, network) == message


def test_an_unknown_section_names_the_close_one() -> None:
    """[trian] for [train]: the file, the section meant and every section a space file takes."""
    with pytest.raises(CnnlabError) as e:
        parse_space(tomllib.loads("[trian]\nepochs = 1\n" + COUNT + NETWORK), "", "s.toml")
    assert str(e.value) == (
        "unknown section 'trian' in s.toml: did you mean 'train'? (accepted: train, objective, params, network)"
    )


def test_a_template_naming_no_parameter_names_the_file() -> None:
    network = '[network]\ninput = [1, 8, 8]\n[[network.layers]]\ntype = "dense"\nunits = "$width"\n'
    assert refusal(COUNT, network) == (
        "network.layers[1].units: '$width' names no parameter ('width' is not sampled here); parameters: n"
    )


def test_a_space_without_parameters_says_how_to_declare_one() -> None:
    assert refusal("") == "missing [params] (at least one [params.NAME] table)"


def test_a_template_that_fails_at_a_corner_names_the_values() -> None:
    """A conv of kernel `$k` on 8x8 images with k up to 9: the high corner's values, and what failed."""
    network = (
        '[network]\ninput = [1, 8, 8]\n[[network.layers]]\ntype = "conv"\nfilters = 2\nkernel = "$k"\n'
        '[[network.layers]]\ntype = "flatten"\n'
    )
    got = refusal('[params.k]\ntype = "int"\nlow = 3\nhigh = 9\n[params.f]\ntype = "int"\nlow = 1\nhigh = 2\n', network)
    assert got.startswith("[network] fails for k=9, f=2: layer 'conv1' (Conv2d 9x9, padding 0): its 8x8 input is ")
    assert "net.toml" not in got


def test_a_template_whose_layer_is_refused_at_a_corner_names_the_layer_not_a_temporary_file() -> None:
    """The corner is built from a temporary network file, whose path starts every error the network's reader
    gives: it is taken off, so the line names the space file, the values and the layer."""
    network = (
        '[network]\ninput = [1, 8, 8]\n[[network.layers]]\ntype = "flatten"\n'
        '[[network.layers]]\ntype = "dense"\nunits = "$u"\n'
    )
    assert refusal('[params.u]\ntype = "int"\nlow = 0\nhigh = 2\n', network) == (
        '[network] fails for u=0: layers[2]: units must be a positive integer below 2**31 or "num_classes", got 0'
    )


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "[train]\nepoch = 1\n" + COUNT + NETWORK,
            "unknown setting 'epoch' in s.toml: did you mean 'epochs'? (settings are the flags of `cnnlab train "
            "--help`)",
        ),
        (
            COUNT + '[network]\ninputs = [1, 8, 8]\nlayers = [{type = "flatten"}, {type = "dense"}]\n',
            "unknown key 'inputs' in s.toml [network]: did you mean 'input'? (accepted: name, input, num_classes, "
            "base, keep, layers)",
        ),
    ],
)
def test_a_misspelt_setting_or_network_key_names_the_space_file(text: str, message: str) -> None:
    with pytest.raises(CnnlabError) as e:
        parse_space(tomllib.loads(text), text, "s.toml")
    assert str(e.value) == message


# ---------------------------------------------------------------------------------------------- templates
CONV_I = {"type": "conv", "filters": "$filters_{i}", "name": "conv{i}", "act": {"kind": "relu{i}"}, "tags": ["t{i}"]}


def test_a_repeat_unrolls_its_layers_once_per_index_with_the_index_in_every_string() -> None:
    """`repeat = "$n"` copies its layers n times; "{i}" anywhere inside (a name, a nested table, a parameter's
    name) is the copy's index; a literal count works too, and 0 copies nothing."""
    network = {"input": [1, 8, 8], "layers": [{"repeat": "$n", "layers": [CONV_I, {"type": "maxpool"}]}]}
    params = {"n": 2, "filters_0": 4, "filters_1": 8}
    assert expand(network, params) == {
        "input": [1, 8, 8],
        "layers": [
            {"type": "conv", "filters": 4, "name": "conv0", "act": {"kind": "relu0"}, "tags": ["t0"]},
            {"type": "maxpool"},
            {"type": "conv", "filters": 8, "name": "conv1", "act": {"kind": "relu1"}, "tags": ["t1"]},
            {"type": "maxpool"},
        ],
    }
    assert expand({"layers": [{"repeat": 0, "layers": [CONV_I]}, {"type": "flatten"}]}, {}) == {
        "layers": [{"type": "flatten"}]
    }
    # a repeat inside a repeat: "{i}" is the inner copy's index
    inner = {"layers": [{"repeat": 2, "layers": [{"repeat": 3, "layers": [{"name": "c{i}"}]}]}]}
    assert [x["name"] for x in expand(inner, {})["layers"]] == ["c0", "c1", "c2"] * 2
    # an inner count may name the outer copy's parameter: n_0 = 1 copy in the first, n_1 = 2 in the second
    per_copy = {"layers": [{"repeat": 2, "layers": [{"repeat": "$n_{i}", "layers": [{"name": "c{i}"}]}]}]}
    assert [x["name"] for x in expand(per_copy, {"n_0": 1, "n_1": 2})["layers"]] == ["c0", "c0", "c1"]
    assert len(expand({"layers": [{"repeat": 1000, "layers": [{"type": "relu"}]}]}, {})["layers"]) == 1000


@pytest.mark.parametrize(
    "layers, message",
    [
        ([{"repeat": 2, "layers": [], "name": "x"}], 'network.layers[1]: a repeat entry has exactly two keys, repeat = "$NAME" (or a count) and layers = [...]'),
        ([{"repeat": 2, "layers": {"type": "relu"}}], 'network.layers[1]: a repeat entry has exactly two keys, repeat = "$NAME" (or a count) and layers = [...]'),
        ([{"repeat": 1001, "layers": []}], "network.layers[1].repeat must be an integer from 0 to 1000, got 1001"),
        ([{"repeat": -1, "layers": []}], "network.layers[1].repeat must be an integer from 0 to 1000, got -1"),
        ([{"repeat": True, "layers": []}], "network.layers[1].repeat must be an integer from 0 to 1000, got True"),
        ([{"repeat": "3", "layers": []}], "network.layers[1].repeat must be an integer from 0 to 1000, got '3'"),
        ([{"type": "relu"}, {"repeat": "$m", "layers": []}], "network.layers[2].repeat: '$m' names no parameter ('m' is not sampled here); parameters: n, w"),
        ([{"repeat": 1, "layers": [{"units": "$w_{i}"}]}], "network.layers[1].layers[1].units: '$w_{i}' names no parameter ('w_0' is not sampled here); parameters: n, w"),
        ([{"units": "$w_{i}"}], "network.layers[1].units: '$w_{i}' names no parameter ('w_{i}' is not sampled here); parameters: n, w"),
    ],
)  # fmt: skip
def test_a_template_that_cannot_unroll_says_where_and_why_whole(layers: list, message: str) -> None:
    with pytest.raises(CnnlabError) as e:
        expand({"layers": layers}, {"n": 1, "w": 4})
    assert str(e.value) == message


def test_a_template_without_parameters_says_none_are_sampled() -> None:
    with pytest.raises(CnnlabError) as e:
        expand({"layers": [{"units": "$w"}]}, {}, "s.toml: network")
    assert (
        str(e.value)
        == "s.toml: network.layers[1].units: '$w' names no parameter ('w' is not sampled here); parameters: none"
    )


def test_a_space_file_is_read_by_its_path_or_shipped_name_and_a_missing_one_named(tmp_path, monkeypatch) -> None:
    from cnnlab.tune.space import load_space

    text = COUNT + '[train]\nepochs = 3\ndata = "digits"\n'
    (tmp_path / "s.toml").write_text(text + NETWORK)
    monkeypatch.chdir(tmp_path)
    space = load_space("s.toml", epochs=1)
    assert (space.source, space.text, space.epochs) == ("s.toml", text + NETWORK, 1)  # the override over the file
    assert [p.name for p in space.params] == ["n"] and space.train["data"] == "digits"
    assert load_space(tmp_path / "s.toml").epochs == 3
    shipped = load_space("space:mnist-cnn")
    assert shipped.source.endswith("mnist-cnn.toml") and shipped.params
    with pytest.raises(CnnlabError) as e:
        load_space("none.toml")
    assert str(e.value) == (
        "search space file 'none.toml' not found; write one like space:mnist-cnn (`cnnlab recipes --kind space`)"
    )
    with pytest.raises(CnnlabError, match=r"^study:parity is a shipped study, not a space: give space:NAME"):
        load_space("study:parity")
