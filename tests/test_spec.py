"""TOML networks: every layer type builds, runs for real, and bad files get one-line errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

import cnnlab
from cnnlab.analysis import summarize
from cnnlab.data import load_dataset
from cnnlab.errors import CnnlabError, cli_voice
from cnnlab.zoo.spec import build_from_toml
from tests.conftest import EXAMPLES, SHARED, write_toml

# Every layer type the spec supports (each a `type = "..."` below; the test checks none is missing), on MNIST's
# images, average-pooled to 1x14x14. Shapes by hand on the right.
ALL_TYPES = """
name = "everything"
input = [1, 14, 14]
num_classes = 10

[[layers]]
type = "conv"                # Conv2d, padding "same" at stride 1: 8x14x14
filters = 8
kernel = 3
padding = "same"
bias = false
[[layers]]
type = "batchnorm"           # BatchNorm2d
[[layers]]
type = "relu"
[[layers]]
type = "lrn"
size = 5
[[layers]]
type = "residual"            # 16x7x7
activation = "relu"
layers = [
  {type = "conv", filters = 16, kernel = 3, stride = 2, padding = 1},
  {type = "batchnorm"},
  {type = "elu"},
  {type = "conv", filters = 16, kernel = 3, padding = "same", groups = 4},
]
shortcut = [{type = "conv", filters = 16, kernel = 1, stride = 2}]
[[layers]]
type = "inception"           # 4 + 8 + 4 + 4 = 20x7x7
ch1x1 = 4
ch3x3red = 4
ch3x3 = 8
ch5x5red = 2
ch5x5 = 4
pool_proj = 4
batchnorm = true
[[layers]]
type = "conv"                # Conv2dSame (Keras 'same' at stride 2): 12x4x4, then LeakyReLU
filters = 12
kernel = 5
stride = 2
dilation = 2
padding = "same"
activation = "leaky-relu"
[[layers]]
type = "gelu"
[[layers]]
type = "avgpool"             # 12x3x3
size = 2
stride = 1
[[layers]]
type = "maxpool"             # 12x2x2
size = 2
stride = 1
[[layers]]
type = "adaptive-maxpool"    # 12x1x1
output = 1
[[layers]]
type = "tanh"
[[layers]]
type = "adaptive-avgpool"    # 12x1x1
output = 1
[[layers]]
type = "flatten"             # 12
[[layers]]
type = "dense"               # 32, then Sigmoid
units = 32
activation = "sigmoid"
[[layers]]
type = "batchnorm"           # BatchNorm1d
[[layers]]
type = "dropout"
rate = 0.1
[[layers]]
type = "identity"
[[layers]]
type = "linear"
units = 16
[[layers]]
type = "softmax"
[[layers]]
type = "dense"
units = "num_classes"
"""
# The module each type builds (an activation option on conv/linear adds the activation's module).
BUILT = {
    "conv": {"Conv2d", "Conv2dSame"},
    "maxpool": {"MaxPool2d"},
    "avgpool": {"AvgPool2d"},
    "adaptive-avgpool": {"AdaptiveAvgPool2d"},
    "adaptive-maxpool": {"AdaptiveMaxPool2d"},
    "batchnorm": {"BatchNorm2d", "BatchNorm1d"},
    "lrn": {"LocalResponseNorm"},
    "dropout": {"Dropout"},
    "flatten": {"Flatten"},
    "linear": {"Linear"},
    "residual": {"Residual"},
    "inception": {"Inception"},
    "relu": {"ReLU"},
    "leaky-relu": {"LeakyReLU"},
    "elu": {"ELU"},
    "gelu": {"GELU"},
    "tanh": {"Tanh"},
    "sigmoid": {"Sigmoid"},
    "softmax": {"Softmax"},
    "identity": {"Identity"},
}


def test_every_layer_type_builds_and_trains(tmp_path):
    from cnnlab.zoo.spec import ACTIVATIONS, SHORT

    declared = set(re.findall(r'type = "([a-z-]+)"', ALL_TYPES)) | {"leaky-relu", "sigmoid"}  # activation options
    declared = {{"dense": "linear"}.get(t, t) for t in declared}
    supported = set(SHORT) | set(ACTIVATIONS)
    assert set(BUILT) == supported, f"BUILT must list every supported type: {sorted(supported ^ set(BUILT))}"
    assert declared == supported, f"ALL_TYPES must use every layer type; missing {sorted(supported - declared)}"
    path = write_toml(tmp_path / "all.toml", ALL_TYPES)
    torch.manual_seed(0)
    model = cnnlab.create_model(path)
    built = {type(m).__name__ for m in model.modules()}
    missing = {t: names for t, names in BUILT.items() if not names <= built}
    assert not missing, f"layer types not built into their modules: {missing}"
    s = summarize(path)
    assert s.output_shape == (10,)
    same = next(r for r in s.rows if r.type == "Conv2dSame")
    assert same.output_shape[1:] == (4, 4)  # Keras 'same' at stride 2: ceil(7 / 2)
    shapes = {r.type: r.output_shape for r in s.rows}
    assert shapes["Residual"] == (16, 7, 7) and shapes["Inception"] == (20, 7, 7)
    assert shapes["MaxPool2d"] == (12, 2, 2) and shapes["AdaptiveMaxPool2d"] == (12, 1, 1)
    assert shapes["BatchNorm1d"] == (32,)

    # Train on a fixed batch of 100 real MNIST digits: the loss must fall and every parameter must move. One thread:
    # these small tensors run ten times slower on two threads of a busy machine.
    d = load_dataset("mnist", data_dir=SHARED / "datasets", limit=100)
    x = torch.nn.functional.avg_pool2d((d.train_x.float() / 255 - d.mean[0]) / d.std[0], 2)
    y = d.train_y
    assert x.shape == (100, 1, 14, 14) and len(set(y.tolist())) == 10
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model.eval()
        with torch.no_grad():
            first = torch.nn.functional.cross_entropy(model(x), y).item()
        model.train()
        for _ in range(40):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            out = model(x)
    finally:
        torch.set_num_threads(threads)
    last = torch.nn.functional.cross_entropy(out, y).item()
    assert torch.isfinite(out).all()
    assert 2.2 < first < 2.4, f"an untrained 10-class net should start near ln(10) = 2.30, got {first:.3f}"
    assert last < 0.8 * first, f"loss went from {first:.3f} to only {last:.3f} in 40 steps"  # 1.66 when written
    still = [k for k, v in model.named_parameters() if torch.equal(v, before[k])]
    assert not still, f"parameters that training did not change: {still}"


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
        ('[[layers]]\ntype = "dropout"\nrate = 1.0\n', "dropout rate must be in [0, 1), got 1.0"),  # drops all
        ('[[layers]]\ntype = "conv"\nfilters = 5\ngroups = 2\n', "groups=2 must divide"),
        ("layers = 3\n", "list of layer tables"),
        ('name = "x"\n', "no [[layers]]"),
        ("[[layers]\n", "not valid TOML"),
        ('[[layers]]\ntype = "residual"\nlayers = []\n', "a residual block needs at least one layer in its layers"),
        ('[[layers]]\ntype = "batchnorm"\neps = 0\n', "batchnorm eps must be a positive number (Keras' is 1e-3)"),
    ],
)
def test_bad_network_files_get_one_line_errors(tmp_path, body, expected):
    path = write_toml(tmp_path / "bad.toml", "input = [3, 32, 32]\n" + body)
    with pytest.raises(CnnlabError) as e:
        cnnlab.create_model(path)
    assert expected in str(e.value) and "\n" not in str(e.value)


def test_a_batchnorm_takes_keras_eps_and_computes_with_it(tmp_path):
    """Keras' BatchNormalization divides by sqrt(var + 1e-3), PyTorch's by sqrt(var + 1e-5): a network file that is
    to compute what a Keras model with the same weights computes says eps = 1e-3 (it was refused as unknown)."""
    body = '[[layers]]\ntype = "batchnorm"\neps = 1e-3\n[[layers]]\ntype = "flatten"\n'
    model = cnnlab.create_model(write_toml(tmp_path / "bn.toml", "input = [2, 3, 3]\n" + body)).eval()
    bn = model[0]
    with torch.no_grad():
        bn.running_var.copy_(torch.tensor([0.004, 2.0]))
        bn.running_mean.copy_(torch.tensor([0.1, -1.0]))
    x = torch.randn(1, 2, 3, 3)
    want = (x - bn.running_mean.view(1, 2, 1, 1)) / torch.sqrt(bn.running_var.view(1, 2, 1, 1) + 1e-3)
    assert bn.eps == 1e-3 and torch.allclose(model(x), want.flatten(1), atol=1e-6)


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


# A factorised 7x7 (Szegedy et al. 2016, "Rethinking the Inception Architecture", fig. 6) on its 17x17x192 grid,
# then asymmetric strides, explicit [height, width] padding and asymmetric pools.
FACTORISED = """
input = [192, 17, 17]
[[layers]]
type = "conv"
filters = 192
kernel = [1, 7]
padding = "same"
activation = "relu"
[[layers]]
type = "conv"
filters = 192
kernel = [7, 1]
padding = [3, 0]
activation = "relu"
[[layers]]
type = "conv"
filters = 64
kernel = [1, 7]
stride = [2, 1]
padding = "same"
[[layers]]
type = "conv"
filters = 32
kernel = [3, 1]
stride = [2, 1]
[[layers]]
type = "maxpool"
size = [1, 3]
stride = [1, 2]
padding = [0, 1]
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
units = 10
"""


def test_asymmetric_kernels_shapes_params_macs_and_receptive_fields(tmp_path):
    path = write_toml(tmp_path / "factorised.toml", FACTORISED)
    model = cnnlab.create_model(path)
    s = summarize(path)
    convs = [r for r in s.rows if r.kind == "conv"]
    # 1x7 then 7x1, 192 -> 192 filters, both keep 17x17: params (1*7*192 + 1)*192 = 1,345*192 = 258,240 each;
    # MACs H_out*W_out*C_out*C_in*k_h*k_w = 17*17*192*192*1*7 = 74,575,872 each (a 7x7 would be 7x: 522,031,104)
    assert [r.params for r in convs[:2]] == [258_240, 258_240]
    assert [r.macs for r in convs[:2]] == [74_575_872, 74_575_872]
    assert [r.output_shape for r in convs[:2]] == [(192, 17, 17), (192, 17, 17)]
    assert convs[0].window == (1, 7) and convs[1].window == (7, 1)
    # receptive field: 1x7 after the first, 7x7 after both (a factorised 7x7 sees what a 7x7 sees)
    assert (convs[0].rf.h.size, convs[0].rf.w.size) == (1, 7) and convs[0].rf.label() == "1x7/1/0.5"
    assert (convs[1].rf.h.size, convs[1].rf.w.size) == (7, 7) and convs[1].rf.label() == "7/1/0.5"
    # Keras 'same' at stride [2, 1]: H ceil(17/2) = 9, W 17; params (1*7*192 + 1)*64 = 86,080;
    # MACs 9*17*64*192*7 = 13,160,448; RF height 7 + (1-1)*1 = 7, width 7 + (7-1)*1 = 13; jump 2x1
    assert type(model.conv3).__name__ == "Conv2dSame"
    assert convs[2].output_shape == (64, 9, 17) and convs[2].params == 86_080 and convs[2].macs == 13_160_448
    assert convs[2].rf.label().startswith("7x13/2x1/")
    assert "W_out = ceil(17/1) = 17" in convs[2].formulas["output_shape"]
    # 3x1 stride [2, 1], no padding: H floor((9 - 3)/2) + 1 = 4, W 17; params (3*1*64 + 1)*32 = 6,176;
    # MACs 4*17*32*64*3 = 417,792; RF height 7 + (3-1)*2 = 11, width 13; jump 4x1
    assert convs[3].output_shape == (32, 4, 17) and convs[3].params == 6_176 and convs[3].macs == 417_792
    assert convs[3].rf.label().startswith("11x13/4x1/")
    # 1x3 max-pool, stride [1, 2], padding [0, 1]: H 4, W floor((17 + 2 - 3)/2) + 1 = 9; RF width 13 + 2*1 = 15
    pool = next(r for r in s.rows if r.kind == "pool")
    assert pool.output_shape == (32, 4, 9) and pool.rf.label().startswith("11x15/4x2/")
    assert "W_out = floor((17 + 2*1 - 3)/2) + 1 = 9" in pool.formulas["output_shape"]
    # dense 32*4*9 = 1,152 inputs: (1,152 + 1)*10 = 11,530
    assert s.rows[-1].params == 11_530 and s.output_shape == (10,)
    assert s.params == 2 * 258_240 + 86_080 + 6_176 + 11_530 == sum(p.numel() for p in model.parameters())
    # PyTorch's own shapes agree, layer by layer, on a real forward pass
    x = torch.randn(2, 192, 17, 17)
    shapes = []
    for _, layer in model.named_children():
        x = layer(x)
        shapes.append(tuple(x.shape[1:]))
    assert shapes == [r.output_shape for r in s.rows]
    ref = torch.nn.Conv2d(192, 64, (1, 7), stride=(2, 1))(torch.randn(1, 192, 17, 17 + 6))
    assert tuple(ref.shape[2:]) == (9, 17)  # the same 9x17 from torch with the width padded by hand
    # the table, CSV and JSON show height x width where the two differ
    assert "conv1,Conv2d,1,0,192x17x17,55488,258240,258240,74575872,1x7,1,0.5" in s.render("csv")
    assert "  1x7/1/0.5" in s.render() and '"size": [\n' in s.render("json")


def test_lrn_layer_has_no_parameters_and_no_macs(tmp_path):
    body = '[[layers]]\ntype = "conv"\nfilters = 8\nkernel = 3\nactivation = "relu"\n[[layers]]\ntype = "lrn"\n'
    path = write_toml(
        tmp_path / "lrn.toml",
        "input = [3, 16, 16]\n" + body + '[[layers]]\ntype = "lrn"\nsize = 3\nalpha = 0.001\nbeta = 0.5\nk = 1.0\n',
    )
    model = cnnlab.create_model(path)
    lrn1, lrn2 = model.lrn1, model.lrn2
    assert (lrn1.size, lrn1.alpha, lrn1.beta, lrn1.k) == (5, 1e-4, 0.75, 2.0)  # AlexNet's defaults
    assert (lrn2.size, lrn2.alpha, lrn2.beta, lrn2.k) == (3, 1e-3, 0.5, 1.0)
    s = summarize(path)
    rows = [r for r in s.rows if r.type == "LocalResponseNorm"]
    assert [(r.params, r.macs, r.output_shape) for r in rows] == [(0, 0, (8, 14, 14))] * 2
    assert s.params == (3 * 3 * 3 + 1) * 8 and s.macs == 14 * 14 * 8 * 3 * 3 * 3
    assert torch.isfinite(model(torch.randn(2, 3, 16, 16))).all()


@pytest.mark.parametrize(
    "body, expected",
    [
        ("kernel = [1, 7, 1]\n", "kernel must be an integer >= 1 or a list [height, width] of two such integers"),
        ("kernel = [7]\n", "got [7]"),
        ("kernel = [0, 7]\n", "kernel must be an integer >= 1 or a list"),
        ('kernel = [1, "7"]\n', "kernel must be"),
        ("kernel = [1, 7]\nstride = [2, 0]\n", "stride must be an integer >= 1 or a list"),
        ("kernel = [1, 7]\npadding = [0, -1]\n", "padding must be an integer >= 0 or a list"),
        ("kernel = [1, 7]\npadding = [0, 3, 3]\n", "padding must be"),
        ("kernel = [1, 7]\ndilation = [1, 0]\n", "dilation must be"),
    ],
)
def test_bad_asymmetric_options_get_one_line_errors(tmp_path, body, expected):
    path = write_toml(tmp_path / "bad.toml", 'input = [3, 32, 32]\n[[layers]]\ntype = "conv"\nfilters = 4\n' + body)
    with pytest.raises(CnnlabError) as e:
        cnnlab.create_model(path)
    assert expected in str(e.value) and "layers[1]" in str(e.value) and "\n" not in str(e.value)


def test_bad_pool_and_lrn_options(tmp_path):
    for body, expected in (
        ('type = "maxpool"\nsize = [3, 0]\n', "size must be an integer >= 1 or a list"),
        ('type = "lrn"\nsize = 0\n', "size must be an integer >= 1"),
        ('type = "lrn"\nalpha = "big"\n', "alpha must be a number"),
    ):
        path = write_toml(tmp_path / "bad.toml", "input = [3, 32, 32]\n[[layers]]\n" + body)
        with pytest.raises(CnnlabError, match=expected.replace("[", r"\[")):
            cnnlab.create_model(path)


HEAD_TAIL = '[[layers]]\ntype = "flatten"\n[[layers]]\ntype = "dense"\nunits = "num_classes"\n'


@pytest.mark.parametrize(
    "text, expected",
    [
        # sizes whose product overflows PyTorch's 64-bit counts: "Storage size calculation overflowed" tracebacks
        ('[[layers]]\ntype = "conv"\nfilters = 9223372036854775807\n', "filters must be below 2**31"),
        ('[[layers]]\ntype = "conv"\nfilters = 2147483647\nkernel = 46341\n', "layers[1]: too large to build"),
        ('[[layers]]\ntype = "inception"\nnaive = true\nch1x1 = 9223372036854775807\n', "ch1x1 must be below"),
        ('[[layers]]\ntype = "dense"\nunits = 9223372036854775807\n', "units must be a positive integer below"),
        ("num_classes = 9223372036854775807\n" + HEAD_TAIL, "num_classes must be a positive integer below 2**31"),
        # true is no number of units (a TypeError inside nn.Linear before)
        ('[[layers]]\ntype = "dense"\nunits = true\n', "units must be a positive integer below 2**31"),
        # a layer name with a dot (KeyError from add_module), or a name taken twice (the first layer vanished)
        ('[[layers]]\ntype = "conv"\nfilters = 2\nname = "a.b"\n', "name must be text without dots"),
        (
            '[[layers]]\ntype = "conv"\nfilters = 2\nname = 1.5\n',
            'name must be text without dots (e.g. "conv1"), got 1.5',
        ),
        (
            '[[layers]]\ntype = "conv"\nfilters = 2\nname = "a"\n[[layers]]\ntype = "relu"\nname = "a"\n',
            "layers[2]: layer name 'a' is already taken by an earlier layer",
        ),
        ('[[layers]]\ntype = "lrn"\nalpha = inf\n', "alpha must be a finite number, got inf"),
        (  # the one-unit head's sigmoid is named sigmoid1 after the layers: the dense layer vanished
            'num_classes = 2\n[[layers]]\ntype = "flatten"\nname = "sigmoid1"\n[[layers]]\ntype = "dense"\nunits = 1\n',
            "layers: layer name 'sigmoid1' is taken twice",
        ),
    ],
)
def test_wrong_kind_or_size_in_a_network_file_is_one_line(tmp_path, capsys, text, expected):
    from cnnlab.cli import main

    path = write_toml(tmp_path / "net.toml", "input = [1, 8, 8]\n" + text)
    assert main(["summary", path]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err and err.startswith("cnnlab: error: ")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("input = [1, 9223372036854775807, 1]\n", "input must be [C, H, W] with positive integers below 2**31"),
        ("input = [true, 8, 8]\n", "input must be [C, H, W] with positive integers below 2**31, got [True, 8, 8]"),
        ("input = [2147483647, 2147483647, 2147483647]\n", "Storage size calculation overflowed"),
    ],
)
def test_an_input_too_large_to_count_is_one_line(tmp_path, capsys, text, expected):
    from cnnlab.cli import main

    path = write_toml(tmp_path / "net.toml", text + HEAD_TAIL)
    assert main(["summary", path]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err
    assert main(["summary", "lenet5", "--input", "1,9223372036854775807,1"]) == 2
    assert "cannot run on input 1x9223372036854775807x1" in capsys.readouterr().err


@pytest.mark.parametrize(
    "conv, expected",
    [
        # 7x1 on a 5-row input: H_out = floor((5 + 2*0 - 7)/1) + 1 = -1
        ("kernel = [7, 1]\n", "(Conv2d 7x1, padding 0): its 5x20 input is smaller than its effective 7x1 kernel"),
        # 1x9 with padding [0, 1] on 5x6: W_out = floor((6 + 2*1 - 9)/1) + 1 = 0
        ("kernel = [1, 9]\npadding = [0, 1]\n", "padding 0x1): its 5x6 input is smaller than its effective 1x9"),
    ],
)
def test_asymmetric_kernel_larger_than_its_input_is_one_line_exit_2(tmp_path, capsys, conv, expected):
    from cnnlab.cli import main

    width = 20 if "7, 1" in conv else 6
    path = write_toml(
        tmp_path / "big.toml", f'input = [3, 5, {width}]\n[[layers]]\ntype = "conv"\nfilters = 4\n' + conv
    )
    with pytest.raises(CnnlabError) as e:
        summarize(path)
    assert expected in str(e.value) and "\n" not in str(e.value)
    assert main(["summary", path]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err


def test_factorised_example_and_its_keras_notes(tmp_path):
    s = summarize(str(EXAMPLES / "nets" / "factorised-7x7.toml"))
    # 1x7 'same', 7x1 with padding [3, 0], then a 3x1 max-pool at stride [2, 1]: floor((17 - 3)/2) + 1 = 8 rows
    assert [r.output_shape for r in s.rows if r.kind in ("conv", "pool")][:3] == [(192, 17, 17)] * 2 + [(192, 8, 17)]
    assert s.params == 2 * 258_240 + (192 + 1) * 10
    # Keras: the [3, 0] padding keeps 17x17, which padding='same' gives, so no ZeroPadding2D note
    assert "ZeroPadding2D" not in s.render(convention="keras")
    # 1x7 with padding [0, 1] on 10x10: W_out = 10 + 2 - 7 + 1 = 6, and Keras needs ZeroPadding2D((0, 1))
    path = write_toml(
        tmp_path / "pad.toml",
        'input = [3, 10, 10]\n[[layers]]\ntype = "conv"\nfilters = 2\nkernel = [1, 7]\npadding = [0, 1]\n',
    )
    text = summarize(path).render(convention="keras")
    assert "conv1: Keras has no numeric padding; use ZeroPadding2D((0, 1)) then padding='valid'" in text


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


def test_pools_with_same_padding_follow_tensorflow(tmp_path):
    """Keras' MaxPooling2D/AveragePooling2D(padding="same"): output ceil(H / stride); on a 5x5 input with 2x2 windows
    at stride 2 the odd row and column are padded on the far side, so the last window covers one pixel. Max ignores
    the padding; the average divides by the pixels covered (0, 1, 5, 6 -> 3; 20, 21 -> 20.5; 24 alone -> 24)."""
    x = torch.arange(25.0).reshape(1, 1, 5, 5)
    for kind, expected in (
        ("maxpool", [[6, 8, 9], [16, 18, 19], [21, 23, 24]]),
        ("avgpool", [[3, 5, 6.5], [13, 15, 16.5], [20.5, 22.5, 24]]),
    ):
        body = f'input = [1, 5, 5]\n[[layers]]\ntype = "{kind}"\nsize = 2\npadding = "same"\n'
        net = cnnlab.create_model(write_toml(tmp_path / f"{kind}.toml", body))
        assert net(x)[0, 0].tolist() == expected, kind
        row = summarize(net).leaves[0]
        assert row.output_shape == (1, 3, 3) and row.params == 0
        assert row.rf.h.size == 2 and row.rf.h.jump == 2 and row.rf.h.start == 1.0  # padding on the far side only
        assert "ceil(H/s) = ceil(5/2) = 3" in row.formulas["output_shape"]
    # Inception's pooling branch: 3x3 at stride 1 keeps the size; a border window takes the max of what it covers.
    body = 'input = [1, 4, 4]\n[[layers]]\ntype = "maxpool"\nsize = 3\nstride = 1\npadding = "same"\n'
    net = cnnlab.create_model(write_toml(tmp_path / "inception-pool.toml", body))
    y = net(torch.arange(16.0).reshape(1, 1, 4, 4))
    assert y[0, 0].tolist() == [[5, 6, 7, 7], [9, 10, 11, 11], [13, 14, 15, 15], [13, 14, 15, 15]]
    assert summarize(net).leaves[0].rf.h.start == 0.5
    path = write_toml(tmp_path / "bad.toml", 'input = [1, 5, 5]\n[[layers]]\ntype = "maxpool"\npadding = "full"\n')
    with pytest.raises(CnnlabError, match="padding must be"):
        cnnlab.create_model(path)


def test_same_padding_never_empties_an_output_so_summary_runs_what_pytorch_runs(tmp_path, recwarn):
    """'same' pads unevenly where the window needs an odd total (TensorFlow's at stride 2, PyTorch's with an even
    kernel): on a 1x1 input every layer below still gives 1x1, as PyTorch and Keras do, and summary says so (it
    once took the padding before the input for the padding after it too, and called the output empty). PyTorch's
    note that an even 'same' kernel copies its input is about speed, and a shape probe does not show it."""
    body = 'input = [1, 1, 1]\n[[layers]]\ntype = "conv"\nfilters = 2\nkernel = 4\npadding = "same"\n'
    body += '[[layers]]\ntype = "avgpool"\nsize = 2\npadding = "same"\n'
    body += '[[layers]]\ntype = "conv"\nfilters = 3\nkernel = 2\nstride = 2\npadding = "same"\n'
    body += '[[layers]]\ntype = "maxpool"\nsize = 2\npadding = "same"\n'
    net = cnnlab.create_model(write_toml(tmp_path / "same.toml", body))
    assert net(torch.zeros(1, 1, 1, 1)).shape == (1, 3, 1, 1)
    rows = summarize(net).leaves
    assert [r.output_shape for r in rows] == [(2, 1, 1), (2, 1, 1), (3, 1, 1), (3, 1, 1)]
    assert not [w for w in recwarn.list if "even kernel" in str(w.message)]


def test_a_layer_that_cannot_take_its_input_is_named_with_the_fix(tmp_path, capsys):
    """PyTorch's own refusal, and then what to change: a flatten before a dense layer, conv layers before the
    flatten, channels that agree; a module with no input size of its own asks for one."""
    from torch import nn

    from cnnlab.cli import main

    conv = '[[layers]]\ntype = "conv"\nfilters = 3\nkernel = 3\n'
    cases = (
        (
            conv + '[[layers]]\ntype = "dense"\nunits = 10\n',
            "fc1",
            "a dense layer cannot take the 3x14x14 feature map: put a flatten (or global pooling) layer before it",
        ),
        (
            '[[layers]]\ntype = "flatten"\n' + conv,
            "conv1",
            "a conv layer cannot take a flat vector: put conv layers before the flatten layer",
        ),
    )
    for i, (layers, layer, fix) in enumerate(cases):
        path = write_toml(tmp_path / f"net{i}.toml", "input = [3, 16, 16]\n" + layers)
        with pytest.raises(
            CnnlabError,
            match=rf"^\S*/net{i}.toml cannot run on input 3x16x16 \(at layer '{layer}'\): .*; " + re.escape(fix) + "$",
        ):
            summarize(path)
    with pytest.raises(
        CnnlabError,
        match=r"^Sequential cannot run on input 3x8x8 \(at layer '0'\): .*; its input has 3 channels: give the channels it "
        r"expects \(in_channels, or C of input_shape C,H,W\)$",  # a Python caller's arguments
    ):
        summarize(nn.Sequential(nn.Conv2d(1, 4, 3)), (3, 8, 8))
    with cli_voice(), pytest.raises(CnnlabError, match=r"\(--in-channels, or C of --input C,H,W\)$"):
        summarize(nn.Sequential(nn.Conv2d(1, 4, 3)), (3, 8, 8))
    assert main(["summary", "resnet18", "--in-channels", "1", "--input", "3,64,64"]) == 2
    assert capsys.readouterr().err.strip() == (
        "cnnlab: error: in_channels 1 and input 3x64x64 disagree on the channels; give one of them (--in-channels or "
        "--input C,H,W)"
    )
    with pytest.raises(
        CnnlabError,
        match=r"^Sequential does not say its input size; pass it: summarize\(model, "
        r"\(C, H, W\)\) \(--input C,H,W on the CLI\)$",
    ):
        summarize(nn.Sequential(nn.Conv2d(1, 4, 3)))


def test_print_shows_the_table_not_the_fields():
    s = summarize("lenet5")
    assert str(s) == s.render() and str(s).startswith("lenet5\n")


def test_a_residual_blocks_activation_is_applied_after_the_sum(tmp_path) -> None:
    """relu(x + body(x)): with the body's conv at zero and the input negative, the output is 0, not the input."""
    from cnnlab.zoo import create_model

    net = create_model(write_toml(tmp_path / "r.toml", """
input = [1, 2, 2]
[[layers]]
type = "residual"
activation = "relu"
layers = [{ type = "conv", filters = 1, kernel = 1, bias = false }]
[[layers]]
type = "flatten"
"""))  # fmt: skip
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        assert net(-torch.ones(1, 1, 2, 2)).eq(0).all()


def test_a_same_maxpool_pads_with_minus_infinity_so_negative_maps_keep_their_maxima(tmp_path) -> None:
    """TensorFlow's 'same' max pooling ignores the padding; zeros would win over every negative value at the edge."""
    from cnnlab.zoo import create_model

    net = create_model(write_toml(tmp_path / "p.toml", """
input = [1, 5, 5]
[[layers]]
type = "maxpool"
size = 2
padding = "same"
[[layers]]
type = "flatten"
"""))  # fmt: skip
    x = -(torch.arange(25.0) + 1).view(1, 1, 5, 5)
    assert net(x).view(3, 3).tolist() == [[-1, -3, -5], [-11, -13, -15], [-21, -23, -25]]


def test_a_made_up_name_passes_over_one_given_by_hand(tmp_path: Path) -> None:
    """A conv named "conv1" by hand, then an unnamed conv: the second was made up as conv1 too and replaced the
    first without a word (then refused, blaming a layer the user never named). It is conv2 now; two names given
    by hand alike are still refused."""
    layers = '[[layers]]\ntype = "conv"\nname = "conv1"\nfilters = 4\nkernel = 3\n[[layers]]\ntype = "conv"\n'
    layers += 'filters = 4\nkernel = 3\n[[layers]]\ntype = "flatten"\n'
    net = build_from_toml(write_toml(tmp_path / "n.toml", "input = [1, 8, 8]\n" + layers))
    assert [name for name, _ in net.named_children()][:2] == ["conv1", "conv2"]
    own = build_from_toml(write_toml(tmp_path / "r.toml", 'input = [1, 8, 8]\n[[layers]]\ntype = "conv"\nfilters = 2\n'
                                     'name = "relu1"\nactivation = "relu"\n[[layers]]\ntype = "flatten"\n'))  # fmt: skip
    assert [name for name, _ in own.named_children()][:2] == ["relu1", "relu2"]  # its activation passes over it
    twice = layers.replace(
        'filters = 4\nkernel = 3\n[[layers]]\ntype = "flatten"', 'name = "conv1"\nfilters = 4\nkernel = 3'
    )
    with pytest.raises(CnnlabError, match="layer name 'conv1' is already taken"):
        build_from_toml(write_toml(tmp_path / "m.toml", "input = [1, 8, 8]\n" + twice))


def test_a_network_file_named_otherwise_resumes_from_another_folder(tmp_path: Path, monkeypatch, capsys) -> None:
    """A network file whose name does not end in .toml (mine.net), trained from its folder and resumed from another,
    was `unknown model 'mine.net'`: the run rebuilds it from the text it kept. A name spelt as a path with no file
    behind it is a missing network file, not an unknown zoo model; a zoo name's typo is still one."""
    from cnnlab.cli import main
    from cnnlab.rundir import RunDir
    from tests.conftest import DIGITS_NET

    here, there, run = tmp_path / "here", tmp_path / "there", tmp_path / "run"
    here.mkdir(), there.mkdir()
    (here / "mine.net").write_text(DIGITS_NET)
    monkeypatch.chdir(here)
    flags = ["--data", "digits", "--no-progress", "--out", str(run)]
    assert main(["train", "--model", "mine.net", "--epochs", "1", *flags]) == 0
    monkeypatch.chdir(there)
    capsys.readouterr()
    assert main(["train", "--resume", "--epochs", "2", *flags]) == 0, capsys.readouterr().err
    assert RunDir(run).summary()["epochs_run"] == 2 and RunDir(run).config().model == "mine.net"
    assert "resuming" in capsys.readouterr().err
    for name in ("mine.net", "nets/mine"):
        assert main(["summary", name]) == 2
        assert capsys.readouterr().err == (
            f"cnnlab: error: network file '{name}' not found; give a zoo model name (`cnnlab models`) or a path to a "
            ".toml file\n"
        )
    assert main(["summary", "lenet-5"]) == 2
    assert capsys.readouterr().err.startswith("cnnlab: error: unknown model 'lenet-5': did you mean lenet5")
