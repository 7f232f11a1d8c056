"""TOML networks: every layer type builds, runs for real, and bad files get one-line errors."""

from __future__ import annotations

import pytest
import torch

import cnnlab
from cnnlab.analysis import summarize
from cnnlab.errors import CnnlabError
from tests.conftest import EXAMPLES, write_toml

ALL_TYPES = """
name = "everything"
input = [3, 32, 32]
num_classes = 5

[[layers]]
type = "conv"
filters = 16
kernel = 3
padding = "same"
bias = false
[[layers]]
type = "batchnorm"
[[layers]]
type = "relu"
[[layers]]
type = "residual"
activation = "relu"
layers = [
  {type = "conv", filters = 32, kernel = 3, stride = 2, padding = 1},
  {type = "batchnorm"},
  {type = "relu"},
  {type = "conv", filters = 32, kernel = 3, padding = "same", groups = 4},
]
shortcut = [{type = "conv", filters = 32, kernel = 1, stride = 2}]
[[layers]]
type = "inception"
ch1x1 = 8
ch3x3red = 8
ch3x3 = 16
ch5x5red = 4
ch5x5 = 8
pool_proj = 8
batchnorm = true
[[layers]]
type = "conv"
filters = 24
kernel = 5
stride = 2
dilation = 2
padding = "same"
activation = "leaky-relu"
[[layers]]
type = "avgpool"
size = 2
[[layers]]
type = "maxpool"
size = 2
stride = 1
[[layers]]
type = "adaptive-avgpool"
output = 1
[[layers]]
type = "flatten"
[[layers]]
type = "dropout"
rate = 0.25
[[layers]]
type = "dense"
units = "num_classes"
"""


def test_every_layer_type_builds_and_trains(tmp_path):
    path = write_toml(tmp_path / "all.toml", ALL_TYPES)
    model = cnnlab.create_model(path)
    x = torch.randn(4, 3, 32, 32)
    loss = torch.nn.functional.cross_entropy(model(x), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    s = summarize(path)
    assert s.output_shape == (5,)
    types = {r.type for r in s.rows}
    assert {"Residual", "Inception", "Conv2dSame", "AdaptiveAvgPool2d", "Dropout", "LeakyReLU"} <= types
    same = next(r for r in s.rows if r.type == "Conv2dSame")
    assert same.output_shape[1:] == (8, 8)  # Keras 'same' at stride 2: ceil(16 / 2)


def test_num_classes_and_in_channels_override(tmp_path):
    model = cnnlab.create_model(str(EXAMPLES / "nets" / "lenet-like.toml"), num_classes=3, in_channels=1)
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, 3)


@pytest.mark.parametrize(
    "body, expected",
    [
        ('[[layers]]\ntype = "convolution"\n', "unknown layer type 'convolution'"),
        ('[[layers]]\ntype = "conv"\nkernel = 3\n', "missing option 'filters'"),
        ('[[layers]]\ntype = "conv"\nfilters = 4\npadding = "full"\n', "padding must be"),
        ('[[layers]]\ntype = "conv"\nfilters = 4\nkernal = 3\n', "unknown option(s) kernal"),
        ('[[layers]]\ntype = "dropout"\nrate = 1.5\n', "dropout rate"),
        ('[[layers]]\ntype = "conv"\nfilters = 5\ngroups = 2\n', "groups=2 must divide"),
        ("layers = 3\n", "list of layer tables"),
        ('name = "x"\n', "no [[layers]]"),
        ("[[layers]\n", "not valid TOML"),
    ],
)
def test_bad_network_files_get_one_line_errors(tmp_path, body, expected):
    path = write_toml(tmp_path / "bad.toml", "input = [3, 32, 32]\n" + body)
    with pytest.raises(CnnlabError) as e:
        cnnlab.create_model(path)
    assert expected in str(e.value) and "\n" not in str(e.value)


def test_residual_shape_mismatch_is_explained(tmp_path):
    path = write_toml(
        tmp_path / "res.toml",
        'input = [3, 8, 8]\n[[layers]]\ntype = "residual"\n'
        'layers = [{type = "conv", filters = 4, kernel = 3, padding = 1}]\n',
    )
    with pytest.raises(CnnlabError, match="shortcut projection"):
        cnnlab.create_model(path)


def test_missing_network_file():
    with pytest.raises(CnnlabError, match="not found"):
        cnnlab.create_model("no/such/net.toml")


DENSE_BN = """
input = [1, 28, 28]
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
units = 30
[[layers]]
type = "batchnorm"
[[layers]]
type = "dense"
units = 10
"""


def test_batch_norm_after_a_dense_layer_builds_summarises_and_trains_a_last_batch_of_one(tmp_path):
    """Dense -> batch norm -> dense (as in the course's Keras AlexNet with BN): the shape probe once built the next
    dense layer for the wrong width, and a last training batch of one image crashed BatchNorm1d."""
    from cnnlab.train import RunConfig, train

    path = write_toml(tmp_path / "dense-bn.toml", DENSE_BN)
    s = summarize(cnnlab.create_model(str(path)), (1, 28, 28))
    # 784*30 + 30 = 23,550; batch norm: 2 * 30 = 60; 30*10 + 10 = 310
    assert s.params == 23_550 + 60 + 310 and s.output_shape == (10,)
    # digits: 1,294 training images after the default split, so batch 1,293 leaves a last batch of one image
    summary = train(
        RunConfig(model=str(path), data="digits", epochs=2, batch_size=1293), tmp_path / "run", log=lambda _: None
    )
    assert summary["train_size"] == 1294 and summary["epochs_run"] == 2
    assert torch.isfinite(torch.tensor(summary["train_loss"]))


# GoogLeNet's inception 3a (Table 1: 64, 96, 128, 16, 32, 32) at 28x28x192 with its 1x1 branch left out.
THREE_TOWERS = """
input = [192, 28, 28]
[[layers]]
type = "inception"
ch1x1 = 0
ch3x3red = 96
ch3x3 = 128
ch5x5red = 16
ch5x5 = 32
pool_proj = 32
"""


def test_an_inception_module_without_its_1x1_branch_counts_by_hand(tmp_path):
    s = summarize(write_toml(tmp_path / "three.toml", THREE_TOWERS))
    # weights: 3x3 tower 192*96 + 96*128*9, 5x5 tower 192*16 + 16*32*25, pool projection 192*32
    weights = 192 * 96 + 96 * 128 * 9 + 192 * 16 + 16 * 32 * 25 + 192 * 32
    assert weights == 18_432 + 110_592 + 3_072 + 12_800 + 6_144 == 151_040
    assert s.params == weights + 96 + 128 + 16 + 32 + 32 == 151_344  # plus one bias per filter
    assert s.macs == weights * 28 * 28 == 118_415_360
    assert s.output_shape == (128 + 32 + 32, 28, 28)
    block = s.rows[0]
    assert block.type == "Inception" and block.params == 151_344 and block.macs == 118_415_360
    assert not any(r.name.startswith(f"{block.name}.branch1") for r in s.rows)
    model = cnnlab.create_model(write_toml(tmp_path / "three.toml", THREE_TOWERS))
    assert model(torch.zeros(2, 192, 28, 28)).shape == (2, 192, 28, 28)


@pytest.mark.parametrize(
    "widths, out",
    [
        ("ch1x1 = 8\nch3x3 = 0\nch5x5 = 0\npool_proj = 0", 8),  # reductions of dropped branches may be left out
        ("ch1x1 = 0\nch3x3red = 4\nch3x3 = 8\nch5x5 = 0\npool_proj = 4", 12),
        ("ch1x1 = 4\nch3x3red = 4\nch3x3 = 8\nch5x5red = 2\nch5x5 = 4\npool_proj = 0", 16),
        ("ch1x1 = 0\nch3x3 = 8\nch5x5 = 0\nnaive = true", 8 + 6),  # naive: the pool passes its 6 channels
    ],
)
def test_any_inception_branch_may_be_left_out(tmp_path, widths, out):
    path = write_toml(tmp_path / "inc.toml", f'input = [6, 8, 8]\n[[layers]]\ntype = "inception"\n{widths}\n')
    model = cnnlab.create_model(path)
    assert model(torch.zeros(2, 6, 8, 8)).shape == (2, out, 8, 8)


@pytest.mark.parametrize(
    "widths, expected",
    [
        ("ch1x1 = 0\nch3x3red = 4\nch3x3 = 0\nch5x5red = 4\nch5x5 = 0\npool_proj = 0", "needs a branch"),
        ("ch1x1 = 0\nch3x3 = 8\nch5x5 = 0\npool_proj = 4", "missing option 'ch3x3red'"),
        ("ch1x1 = 0\nch3x3red = 0\nch3x3 = 8\nch5x5 = 0\npool_proj = 4", "ch3x3red must be an integer >= 1"),
    ],
)
def test_an_inception_module_with_no_branch_is_a_one_line_error(tmp_path, capsys, widths, expected):
    from cnnlab.cli import main

    path = write_toml(tmp_path / "inc.toml", f'input = [6, 8, 8]\n[[layers]]\ntype = "inception"\n{widths}\n')
    assert main(["summary", path]) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1


def test_the_inception_block_refuses_no_branches_and_missing_reductions():
    from cnnlab.zoo.blocks import Inception

    with pytest.raises(ValueError, match="at least one branch"):
        Inception(8, 0, 4, 0, 4, 0, 0)
    with pytest.raises(ValueError, match="ch5x5red must be at least 1"):
        Inception(8, 4, 4, 4, 0, 4, 4)
    three = Inception(8, 0, 4, 8, 2, 4, 4)
    assert three.branch1 is None and three.out_channels == 16
    assert not any(k.startswith("branch1.") for k in three.state_dict())
