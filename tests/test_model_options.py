"""Model options on the command line (--option KEY=VALUE): summary, check, models, and a run that keeps them."""

from __future__ import annotations

import json

import pytest
import torch

from cnnlab.analysis import summarize
from cnnlab.cli import main
from cnnlab.errors import CnnlabError
from cnnlab.rundir import open_run
from cnnlab.zoo.googlenet import INCEPTION_CFG
from cnnlab.zoo.registry import check_model_options, describe_options, parse_option
from tests.conftest import EXAMPLES, cli_as_terminal

GOOGLENET = 6_624_904
GOOGLENET_OPTIONS = "aux_logits=false, inception=reduction, kernel5=3, dropout=0.2, dropout_aux=0.7"


def test_googlenet_with_the_papers_5x5_kernel_by_hand(capsys):
    # every module's "5x5" conv has #5x5reduce inputs and #5x5 filters (Table 1): 25 - 9 more weights per pair
    extra = sum((5 * 5 - 3 * 3) * red * out for _, _, _, red, out, _ in INCEPTION_CFG.values())
    pairs = [16 * 32, 32 * 96, 16 * 48, 24 * 64, 24 * 64, 32 * 64, 32 * 128, 32 * 128, 48 * 128]
    assert extra == 16 * sum(pairs) == 16 * 23_808 == 380_928
    assert main(["summary", "googlenet", "--option", "kernel5=5", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["totals"]["params"] == GOOGLENET + extra == 7_005_832
    assert summarize("googlenet").params == GOOGLENET
    five = summarize("googlenet", options={"kernel5": 5})
    conv = next(r for r in five.leaves if r.name == "inception3a.branch3.1.conv")
    assert conv.params == 16 * 32 * 25 and conv.output_shape == (32, 28, 28)


def test_options_are_typed_from_the_text():
    assert parse_option("kernel5=5") == ("kernel5", 5)
    assert parse_option("dropout=0.3") == ("dropout", 0.3)
    assert parse_option("aux_logits=true") == ("aux_logits", True)
    assert parse_option("aux-logits=False") == ("aux_logits", False)
    assert parse_option("inception=naive") == ("inception", "naive")
    assert parse_option("widths=32,64,128") == ("widths", [32, 64, 128])
    # as an experiment file writes them (options = { widths = [16, 32, 64], activation = "relu" })
    assert parse_option("widths=[16, 32, 64]") == ("widths", [16, 32, 64])
    assert parse_option("hidden=[64]") == ("hidden", [64])
    assert parse_option('activation="relu"') == ("activation", "relu")
    assert parse_option("activation='relu'") == ("activation", "relu")
    assert check_model_options("googlenet", {"dropout": 1}) == {"dropout": 1.0}
    assert check_model_options("airbench-cifar-s", {"widths": [8, 8, 8]}) == {"widths": [8, 8, 8]}
    assert check_model_options("mlp", {"hidden": 64}) == {"hidden": [64]}  # hidden=64: a list of one
    assert describe_options("googlenet") == GOOGLENET_OPTIONS
    assert describe_options("resnet50-v1") == "stem=imagenet, zero_init_residual=false, stride_in_1x1=true"
    assert describe_options("lenet5") == "none"


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["summary", "googlenet", "--option", "kernel=5"], "model 'googlenet' has no option 'kernel'; googlenet takes"),
        (["summary", "googlenet", "--option", "kernel5=five"], "option kernel5 must be an integer, got five"),
        (["summary", "googlenet", "--option", "kernel5=4"], "kernel5 must be an odd kernel size"),
        (["summary", "googlenet", "--option", "inception=fancy"], "must be one of reduction, naive"),
        (["summary", "googlenet", "--option", "aux_logits=2"], "option aux_logits must be true or false"),
        (["summary", "googlenet", "--option", "kernel5"], "--option takes KEY=VALUE"),
        (["summary", "googlenet", "--option", "num_classes=3"], "give num_classes with --num-classes"),
        (["summary", "lenet5", "--option", "dropout=0.1"], "lenet5 takes: none"),
        (["summary", str(EXAMPLES / "nets" / "lenet-like.toml"), "--option", "x=1"], "a network file takes no options"),
        (["train", "--model", "mlp", "--data", "digits", "--option", "hiden=8"], "model 'mlp' has no option 'hiden'"),
        (["check", "table.md", "--model", "googlenet", "--option", "k=1"], "has no option 'k'"),
        # items of a list option were not checked: hidden=1.5 built a 1-unit layer (mlp's int(h)), and 10**22 was an
        # OverflowError (train) or TypeError (summary, on the meta device) traceback
        (
            ["summary", "mlp", "--option", "hidden=64,1.5"],
            "option hidden must be a comma-separated list, each an integer, got",
        ),
        (["summary", "mlp", "--option", "hidden=" + "9" * 23], "each an integer below 2**31, got 999"),
        (["summary", "mlp", "--option", "image_size=" + "9" * 15], "option image_size must be an integer below 2**31"),
        (["train", "--model", "mlp", "--data", "digits", "--option", "hidden=" + "9" * 23], "an integer below 2**31"),
    ],
)
def test_bad_options_are_one_line_errors(tmp_path, monkeypatch, capsys, argv, expected):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "table.md").write_text("| layer | parameters |\n|---|---|\n| conv1 | 9472 |\n")
    code, _, err = cli_as_terminal(argv, capsys)
    assert code == 2 and expected in err and err.count("\n") == 1, err
    if "has no option" in expected:
        assert "takes:" in err
    assert not list(tmp_path.glob("runs/*"))  # no run directory for a model that cannot be built


def test_models_lists_each_models_options(capsys):
    assert main(["models", "goog*"]) == 0
    out = capsys.readouterr().out
    assert "options (--option KEY=VALUE, defaults)" in out and GOOGLENET_OPTIONS in out
    assert main(["models", "resnet50*"]) == 0
    out = capsys.readouterr().out
    assert "resnet50-v1" in out and "stride_in_1x1=true" in out


def test_a_run_records_its_options_and_rebuilds_the_same_model(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--model", "mlp", "--data", "digits", "--limit", "200", "--epochs", "1", "--no-progress"]
    assert main([*argv, "--option", "hidden=12,6", "--out", str(out)]) == 0
    capsys.readouterr()
    assert "[options]" in (out / "config.toml").read_text()
    run = open_run(out)
    assert run.config.options == {"hidden": [12, 6]}
    assert [m.out_features for m in run.model if isinstance(m, torch.nn.Linear)] == [12, 6, 10]
    assert main(["eval", str(out)]) == 0
    assert "test accuracy:" in capsys.readouterr().out
    assert main(["summary", str(out), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["totals"]["params"] == 28 * 28 * 12 + 12 + 12 * 6 + 6 + 6 * 10 + 10
    # resuming keeps the options; another value is a different model, which resume refuses
    assert main([*argv, "--epochs", "2", "--out", str(out), "--resume"]) == 0
    assert open_run(out, "last").config.options == {"hidden": [12, 6]}
    capsys.readouterr()
    assert main([*argv, "--epochs", "3", "--option", "hidden=8", "--out", str(out), "--resume"]) == 2
    assert "options" in capsys.readouterr().err


def test_python_options_are_checked_too():
    import cnnlab

    with pytest.raises(CnnlabError, match="has no option 'kernal5'"):
        cnnlab.create_model("googlenet", kernal5=5)
    assert cnnlab.create_model("resnet18", stem="cifar").maxpool.__class__.__name__ == "Identity"


def test_a_model_for_a_billion_input_channels_is_refused_for_its_memory_before_allocating() -> None:
    from cnnlab.memory import gigabytes, physical_memory
    from cnnlab.zoo import create_model

    # vgg16's 138,357,544 parameters, its first conv's 64*3*3*3 weights read from 2**30 channels instead of 3
    params = 138_357_544 - 64 * 3 * 3 * 3 + 64 * 2**30 * 3 * 3
    expected = (
        f"model vgg16 with in_channels=1073741824: needs {gigabytes(4 * params)} for {params:,} parameters, this "
        f"machine has {gigabytes(physical_memory())} of memory; give smaller options, fewer channels or a smaller model"
    )
    with pytest.raises(CnnlabError) as caught:
        create_model("vgg16", in_channels=2**30)
    assert str(caught.value) == expected


def test_a_models_buffers_count_toward_its_memory() -> None:
    """LeNet-5's output layer holds its class codes (84 values a class) as a buffer, not parameters, beside C3's
    table of 60 connections: a billion classes are 336 GB of buffers while the parameters stay at 60,000."""
    from cnnlab.zoo import create_model

    with pytest.raises(CnnlabError) as caught:
        create_model("lenet5", num_classes=10**9)
    assert str(caught.value).startswith(
        "model lenet5 with num_classes=1000000000: needs 336.0 GB for 60,000 parameters and 84,000,000,060 buffer "
        "values, this machine has "
    )


@pytest.mark.parametrize("size", [4, 7])
def test_an_image_size_too_small_for_the_pools_is_refused_when_the_model_is_built(size: int) -> None:
    """mnist-cnn halves the image three times: 7 -> 3 -> 1 -> 0 leaves its last pool nothing (8 is the least)."""
    from cnnlab.zoo import create_model

    with pytest.raises(CnnlabError) as caught:
        create_model("mnist-cnn", image_size=size)
    message = str(caught.value)
    assert message.startswith(f"model mnist-cnn with image_size={size} cannot run on its own input 1x{size}x{size} (")
    assert message.endswith("); change the options, or see which layer with summarize")
    assert "\n" not in message
    assert create_model("mnist-cnn", image_size=8).input_size == (1, 8, 8)


def test_an_image_size_of_no_pixels_is_refused_when_the_model_is_built() -> None:
    from cnnlab.zoo import create_model

    with pytest.raises(CnnlabError) as caught:
        create_model("mlp", image_size=0)
    assert str(caught.value) == (
        "model mlp with image_size=0 is built for input 1x0x0, which holds no pixels; give a positive size"
    )


def test_a_registered_model_with_batch_norm_after_a_dense_layer_builds_with_options(monkeypatch) -> None:
    """The probe runs one image, so the model runs in eval mode there (batch norm refuses to train on a batch of
    one); the model returned is in training mode, as every builder's is."""
    from torch import nn

    from cnnlab.zoo import create_model, registry

    def bn_head(num_classes: int = 10, in_channels: int = 1, hidden: int = 16) -> nn.Module:
        return nn.Sequential(
            nn.Flatten(), nn.Linear(in_channels * 64, hidden), nn.BatchNorm1d(hidden), nn.Linear(hidden, num_classes)
        )

    monkeypatch.setitem(registry._REGISTRY, "bn-head", registry.ModelInfo("bn-head", "test", (1, 8, 8), 10, bn_head))
    model = create_model("bn-head", hidden=32)
    assert model[2].num_features == 32 and model.training and model.input_size == (1, 8, 8)


def test_a_summary_of_a_model_built_for_no_pixels_says_so(capsys) -> None:
    """`cnnlab summary mnist-cnn --option image_size=0` said `input must be C,H,W ..., got None`: the model's own
    input, from its options, is what holds no pixels."""
    code, _, err = cli_as_terminal(["summary", "mnist-cnn", "--option", "image_size=0"], capsys)
    said = "mnist-cnn is built for input 1x0x0, which holds no pixels; give it options that make a positive size"
    assert (code, err) == (2, f"cnnlab: error: {said}\n")
    with pytest.raises(CnnlabError) as e:
        summarize("mlp", options={"image_size": 0})
    assert str(e.value) == said.replace("mnist-cnn", "mlp")
    with pytest.raises(CnnlabError, match=r"^input must be C,H,W with three positive integers, got \(1, 0, 3\)$"):
        summarize("mlp", (1, 0, 3))
