"""The facts issue 2 names, reproduced by the layer analysis."""

from __future__ import annotations

import math
import re

import pytest
import torch

import cnnlab
from cnnlab.analysis import summarize
from cnnlab.errors import CnnlabError, ShapeError
from cnnlab.zoo.spec import Conv2dSame
from tests.conftest import EXAMPLES, write_toml

NETS = EXAMPLES / "nets"


def leaf_rows(summary, types=None):
    return [r for r in summary.leaves if types is None or r.type in types]


def test_lenet_like_shapes_activations_params():
    s = summarize(str(NETS / "lenet-like.toml"))
    main = [r for r in s.leaves if r.type in ("Conv2d", "MaxPool2d", "Linear")]
    hwc = [(r.output_shape[1], r.output_shape[2], r.output_shape[0]) for r in main[:4]]
    assert hwc == [(28, 28, 8), (14, 14, 8), (10, 10, 16), (5, 5, 16)]
    assert [r.activations for r in main] == [6272, 1568, 1600, 400, 120, 84, 10]
    assert [r.params for r in main] == [608, 0, 3216, 0, 48120, 10164, 850]
    assert s.params == 608 + 3216 + 48120 + 10164 + 850


@pytest.mark.parametrize(
    "name, shape, macs",
    [
        ("inception-naive.toml", (672, 32, 32), 1_115_684_864),
        ("inception-reduction.toml", (480, 32, 32), 354_418_688),
    ],
)
def test_inception_module_shapes_and_macs(name, shape, macs):
    s = summarize(str(NETS / name))
    assert s.input_shape == (256, 32, 32)
    assert s.output_shape == shape
    assert s.macs == macs
    block = s.rows[0]
    assert block.type == "Inception" and not block.leaf and block.macs == macs and block.output_shape == shape


@pytest.mark.parametrize(
    "name, gmacs",
    [
        ("resnet18", 1.81),
        ("resnet50", 4.09),
        ("vgg16", 15.47),
        ("alexnet-tv", 0.71),
        ("googlenet", 1.50),
    ],
)
def test_macs_match_torchvision_published_figures(name, gmacs):
    import torchvision

    s = summarize(name, (3, 224, 224))
    assert abs(s.macs / 1e9 - gmacs) / gmacs < 0.01
    tv_name = "alexnet" if name == "alexnet-tv" else name
    with torch.device("meta"):
        tv = getattr(torchvision.models, tv_name)(
            weights=None, **({"aux_logits": False, "init_weights": False} if name == "googlenet" else {})
        )
    assert s.params == sum(p.numel() for p in tv.parameters())


@pytest.mark.parametrize(
    "name, macs, paper",
    [
        ("resnet18", 1_814_073_344, 1.8),
        ("resnet34", 3_663_761_408, 3.6),
        ("resnet50-v1", 3_857_973_248, 3.8),
        ("resnet101-v1", 7_570_194_432, 7.6),
        ("resnet152-v1", 11_282_415_616, 11.3),
    ],
)
def test_resnet_v1_macs_are_the_papers_table_1_flops(name, macs, paper):
    """He et al. 2015 Table 1 gives 10^9 multiply-adds to one decimal; it cuts 3.66 and 3.86 down to 3.6 and 3.8
    and rounds 7.57 and 11.28 to 7.6 and 11.3, so the exact count is within 0.07 G, either cut or rounded."""
    s = summarize(name, (3, 224, 224))
    assert s.macs == macs
    assert paper in (math.floor(macs / 1e8) / 10, round(macs / 1e9, 1))
    assert abs(macs / 1e9 - paper) < 0.07


@pytest.mark.parametrize(
    "depth, v15, v1",
    [(50, 4_089_184_256, 3_857_973_248), (101, 7_801_405_440, 7_570_194_432), (152, 11_513_626_624, 11_282_415_616)],
)
def test_resnet_v15_strides_in_the_3x3_and_costs_more(depth, v15, v1):
    """v1.5 runs the first 1x1 conv of each stage's first block at the larger resolution (the strided 3x3 outputs
    the same map as in v1): 4.09 G for ResNet-50, off the paper's 3.8; the same 231,211,008 more at every depth."""
    assert summarize(f"resnet{depth}").macs == v15
    # stages 2-4: the 1x1's inplanes*planes weights over 4 - 1 = 3 times the strided output's positions
    extra = sum(c * p * 3 * n for c, p, n in ((256, 128, 28 * 28), (512, 256, 14 * 14), (1024, 512, 7 * 7)))
    assert v15 - v1 == extra == 3 * 77_070_336 == 231_211_008
    assert round(v15 / 1e9, 2) == {50: 4.09, 101: 7.80, 152: 11.51}[depth]


def test_lenet5_is_faithful():
    s = summarize("lenet5")
    by_name = {r.name: r for r in s.leaves}
    assert {k: by_name[k].params for k in ("c1", "s2", "c3", "s4", "c5", "f6", "output")} == {
        "c1": 156,
        "s2": 12,
        "c3": 1516,
        "s4": 32,
        "c5": 48120,
        "f6": 10164,
        "output": 0,
    }
    assert s.params == s.trainable_params == 60_000
    model = cnnlab.create_model("lenet5")
    centres = dict(model.named_buffers())["output.centres"]
    assert centres.shape == (10, 84) and set(centres.unique().tolist()) == {-1.0, 1.0}
    assert not any(p is centres for p in model.parameters())
    x = torch.randn(4, 1, 32, 32)
    out = model(x)
    assert out.shape == (4, 10) and (out <= 0).all()  # negated squared distances
    # C3 keeps the partial connection table: map 0 ignores input maps 3, 4, 5
    x = torch.zeros(1, 6, 14, 14)
    x[0, 3:] = torch.randn(3, 14, 14)
    c3 = model.c3
    assert torch.allclose(c3(x)[0, 0], c3.bias[0].expand(10, 10))


def test_receptive_field_of_stacked_3x3_convs(tmp_path):
    layer = '[[layers]]\ntype = "conv"\nfilters = 4\nkernel = 3\npadding = "same"\n'
    for n, size in ((2, 5), (3, 7)):
        path = write_toml(tmp_path / f"stack{n}.toml", "input = [1, 16, 16]\n" + layer * n)
        s = summarize(path)
        assert s.rows[-1].rf.as_dict() == {"size": size, "jump": 1, "start": 0.5}


def test_receptive_field_through_pool_and_stride():
    s = summarize(str(NETS / "lenet-like.toml"))
    rf = {r.name: r.rf.as_dict() for r in s.leaves}
    assert rf["conv1"]["size"] == 5 and rf["pool1"] == {"size": 6, "jump": 2, "start": 3.0}
    assert rf["conv2"]["size"] == 14 and rf["pool2"]["size"] == 16 and rf["pool2"]["jump"] == 4


def test_receptive_field_follows_residual_and_concat():
    s = summarize("resnet18-cifar")
    block = next(r for r in s.rows if r.name == "layer1.0")
    assert block.rf.as_dict()["size"] == 7  # 3x3 stem, then two 3x3 convs in the body; identity shortcut is smaller
    g = summarize("googlenet")
    inc = next(r for r in g.rows if r.name == "inception3a")
    branches = [r for r in g.rows if r.name.startswith("inception3a.") and r.leaf]
    assert inc.rf.h.size == max(r.rf.h.size for r in branches)


def test_dilated_chain_shapes_then_one_line_error():
    with pytest.raises(ShapeError) as e:
        summarize(str(NETS / "dilated-chain.toml"))
    hwc = [(r.output_shape[1], r.output_shape[2], r.output_shape[0]) for r in e.value.rows]
    assert hwc == [
        (256, 256, 64),
        (124, 124, 32),
        (62, 62, 32),
        (62, 62, 128),
        (23, 23, 64),
        (11, 11, 64),
        (11, 11, 256),
    ]
    msg = str(e.value)
    assert "\n" not in msg and "conv6" in msg and "11x11" in msg and "33x33" in msg


def test_conv_vs_dense_shares_and_totals():
    s = summarize("vgg16")
    sh = s.shares()
    assert sh["dense"]["params"] > 0.85 and sh["conv"]["macs"] > 0.99
    assert abs(sh["conv"]["params"] + sh["dense"]["params"] - 1) < 1e-9
    t = s.totals()
    assert t["flops"] == 2 * t["macs"] and t["params"] == 138_357_544


def test_frozen_parameters_are_reported():
    model = cnnlab.create_model("tutorial-net")
    for p in model.conv1.parameters():
        p.requires_grad_(False)
    s = summarize(model, (3, 32, 32))
    conv1 = next(r for r in s.rows if r.name == "conv1")
    assert conv1.frozen_params == 456 and conv1.trainable_params == 0
    assert s.trainable_params == s.params - 456
    assert model.conv1.weight.device.type == "cpu"  # the caller's model keeps its weights


@pytest.mark.parametrize(
    "name, params",
    [
        ("tutorial-net", 62_006),
        ("mnist-cnn", 241_546),
        ("mlp", 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10),
        ("resnet18-cifar", 11_173_962),
        ("alexnet", 62_378_344),
        ("lenet5-modern", 61_706),
    ],
)
def test_small_and_cifar_models(name, params):
    assert summarize(name).params == params


def test_every_zoo_model_takes_num_classes_and_in_channels():
    for name in cnnlab.list_models():
        with torch.device("meta"):
            model = cnnlab.create_model(name, num_classes=7, in_channels=2)
        s = summarize(model)
        assert s.output_shape == (7,), name
        assert s.input_shape[0] == 2, name


def test_mlp_hidden_sizes_are_configurable():
    model = cnnlab.create_model("mlp", hidden=[64, 32, 16])
    assert [m.out_features for m in model if isinstance(m, torch.nn.Linear)] == [64, 32, 16, 10]


def test_unknown_model_suggests_close_names():
    with pytest.raises(CnnlabError, match="resnet18"):
        cnnlab.create_model("resnet-18")


# The numeric output-size claims in a shape formula: "floor((62 + 2*0 - (4*(5-1)+1))/2) + 1 = 23", "ceil(15/2) = 8".
CLAIM = re.compile(r"((?:floor|ceil)\(\([\d\s+\-*/()]*\)(?: [+-] 1)+|ceil\(\d+/\d+\)) = (-?\d+)")


@pytest.mark.parametrize(
    "layer, shape, claims",
    [
        # by hand: floor((32 + 2 - 3)/2) + 1 = 16
        (torch.nn.Conv2d(3, 8, 3, stride=2, padding=1), (3, 32, 32), [16]),
        # effective kernel 4*(5-1)+1 = 17: floor((62 - 17)/2) + 1 = 23 (it printed as 24 once, without brackets)
        (torch.nn.Conv2d(64, 64, 5, stride=2, dilation=4), (64, 62, 62), [23]),
        # effective kernel 5: floor((20 + 4 - 5)/1) + 1 = 20
        (torch.nn.Conv2d(3, 4, 3, padding=2, dilation=2), (3, 20, 20), [20]),
        # H: floor((17 + 2 - 3)/2) + 1 = 9, W: floor((30 - 5)/1) + 1 = 26
        (torch.nn.Conv2d(3, 4, (3, 5), stride=(2, 1), padding=(1, 0)), (3, 17, 30), [9, 26]),
        # ceil((8 - 3)/2) + 1 = 4
        (torch.nn.MaxPool2d(3, stride=2, ceil_mode=True), (1, 8, 8), [4]),
        # ceil((5 + 2 - 2)/2) + 1 = 4, but the 4th window would start at 6 >= 5 + 1 (in the right padding): 3
        (torch.nn.MaxPool2d(2, stride=2, padding=1, ceil_mode=True), (1, 5, 5), [3]),
        # floor((9 + 2 - 3)/2) + 1 = 5
        (torch.nn.AvgPool2d(3, stride=2, padding=1), (1, 9, 9), [5]),
        # effective kernel 2*(3-1)+1 = 5: floor((10 + 2 - 5)/1) + 1 = 8
        (torch.nn.MaxPool2d(3, stride=1, padding=1, dilation=2), (1, 10, 10), [8]),
        # floor((7 - 2)/2) + 1 = 3
        (torch.nn.MaxPool2d(2), (1, 7, 7), [3]),
        # TensorFlow 'same': ceil(15/2) = 8
        (Conv2dSame(3, 4, 3, stride=2), (3, 15, 15), [8]),
        # torch 'same' (stride 1): H_out = H_in = 12, nothing to evaluate
        (torch.nn.Conv2d(3, 4, 5, padding="same"), (3, 12, 12), []),
    ],
)
def test_printed_shape_formulas_evaluate_to_what_they_claim(layer, shape, claims):
    formula = summarize(torch.nn.Sequential(layer), shape).leaves[0].formulas["output_shape"]
    found = CLAIM.findall(formula)
    assert [int(value) for _, value in found] == claims, formula
    for expr, value in found:
        assert eval(expr, {"__builtins__": {}, "floor": math.floor, "ceil": math.ceil}) == int(value), formula
    real = layer(torch.zeros(1, *shape)).shape[-2:]  # what torch itself makes of the input
    assert claims == [real[0], real[1]][: len(claims)]
    if not claims:
        assert formula == f"padding 'same': H_out = H_in = {real[0]}, C_out = 4"


def test_a_module_called_again_lists_its_parameters_once_so_the_column_adds_up() -> None:
    """A block and a conv each called twice (weights shared): the later calls' rows have their own shapes, MACs
    and fields, and no parameters of their own, so the Params column sums to the model's 44, as Keras lists a
    shared layer's weights once. The conv's second row said 38 again while its block's said nothing."""

    class Block(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c, self.r = torch.nn.Conv2d(2, 2, 3, padding=1), torch.nn.ReLU()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.r(self.c(x))

    class Twice(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.blk, self.c2 = Block(), torch.nn.Conv2d(2, 2, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.c2(self.c2(self.blk(self.blk(x))))

    s = summarize(Twice(), (2, 8, 8))
    rows = {r.name: r for r in s.rows}
    names = ("blk", "blk.c", "blk (call 2)", "blk.c (call 2)", "c2", "c2 (call 2)")
    assert [rows[n].params for n in names] == [38, 38, 0, 0, 6, 0]
    assert sum(r.params for r in s.rows if r.leaf) == s.params == 44
    assert rows["blk.c (call 2)"].macs == rows["blk.c"].macs == 2304
    line = next(line for line in s.render().splitlines() if line.strip().startswith("blk.c (call 2)"))
    assert line.split()[-4:] == ["2x8x8", "128", "2,304", "5/1/0.5"], line  # an empty Params cell


def test_summarize_refuses_an_input_shape_of_zero_or_negative_sizes_in_one_line() -> None:
    for shape in ((1, 0, 28), (1, 28, -2), (0, 28, 28)):
        with pytest.raises(CnnlabError, match=r"^input must be C,H,W with three positive integers, got"):
            summarize("mlp", shape)


def test_a_frozen_layer_gets_a_frozen_column_and_the_csv_says_it_does_not_train():
    """Freezing conv1 of tutorial-net (456 parameters): the terminal table gets a Frozen column beside Params (empty
    where nothing is frozen), the footer counts both, and the CSV's trainable_params is 0 for conv1 (the column a
    script reads to see what trains); the CSV's receptive field is size, jump, start as its header says."""
    import csv
    import io

    model = cnnlab.create_model("tutorial-net")
    for p in model.conv1.parameters():
        p.requires_grad_(False)
    s = summarize(model, (3, 32, 32))
    lines = s.render().splitlines()
    assert lines[2].split()[:8] == ["Layer", "Type", "Output", "(C,H,W)", "Activations", "Params", "Frozen", "MACs"]
    conv1 = next(line for line in lines if line.startswith("conv1 "))
    assert conv1.split() == ["conv1", "Conv2d", "6x28x28", "4,704", "456", "456", "352,800", "5/1/2.5"]
    conv2 = next(line for line in lines if line.startswith("conv2 "))
    assert conv2.split() == ["conv2", "Conv2d", "16x10x10", "1,600", "2,416", "240,000", "14/2/7"]  # nothing frozen
    relu1 = next(line for line in lines if line.startswith("relu1 "))
    assert relu1.split() == ["relu1", "ReLU", "6x28x28", "4,704", "0", "0", "5/1/2.5"]  # a layer's 0 MACs are shown
    assert "Params: 62,006 (62.01k); trainable 61,550, frozen 456" in lines
    # conv: (456 + 2,416) / 62,006 params, (352,800 + 240,000) / 651,720 MACs; dense: the rest
    assert "Conv layers: 4.6% of params, 91.0% of MACs; dense layers: 95.4% of params, 9.0% of MACs" in lines
    rows = {r["name"]: r for r in csv.DictReader(io.StringIO(s.render("csv")))}
    assert [(rows[n]["params"], rows[n]["trainable_params"]) for n in ("conv1", "conv2")] == [
        ("456", "0"),
        ("2416", "2416"),
    ]
    assert [float(rows["pool1"][k]) for k in ("rf_size", "rf_jump", "rf_start")] == [6, 2, 3]


def test_the_table_indents_a_blocks_layers_and_its_footer_gives_the_totals_in_units():
    """resnet18-cifar: a residual block's layers are indented under it in the terminal table (markdown keeps the
    names alone); the footer's MACs, FLOPs and activations are its own totals, in k/M/G."""
    s = summarize("resnet18-cifar")
    lines = s.render().splitlines()
    block = next(line for line in lines if line.split()[0] == "layer1.0")
    conv = next(line for line in lines if line.split()[0] == "layer1.0.conv1")
    assert block.startswith("layer1.0 ") and conv.startswith("  layer1.0.conv1 "), (block, conv)
    assert "MACs: 555,422,720 (555.42M); FLOPs = 2 x MACs = 1.11G" in lines
    assert "Activations (sum of layer outputs, batch 1): 1,851,914" in lines
    assert "| layer1.0.conv1 | Conv2d | 64x32x32 | 65,536 | 36,864 | 37,748,736 | 5/1/0.5 |" in s.render("markdown")


def test_summarize_takes_a_run_and_builds_a_named_model_for_the_inputs_channels_as_the_cli_does(tmp_path, capsys):
    """A notebook's summarize("runs/x") was `unknown model 'runs/x'` where `cnnlab summary runs/x` shows the trained
    model with its frozen layers, and summarize("vgg11-cifar", (1, 32, 32)) failed at features.0 where the command
    builds the model for one channel; both now give the command's table."""
    from cnnlab.rundir import RunConfig
    from cnnlab.train import train
    from tests.conftest import DIGITS_NET, cli_as_terminal

    net = write_toml(tmp_path / "net.toml", DIGITS_NET)
    out = tmp_path / "run"
    train(RunConfig(model=net, data="digits", epochs=1, freeze="features"), out, log=lambda s: None, progress=False)
    s = summarize(out)
    assert (s.params, s.trainable_params) == (40 + 4 * 64 * 10 + 10, 4 * 64 * 10 + 10)  # the conv frozen
    for model, flags, python in ((str(out), [], summarize(str(out))), ("vgg11-cifar", ["--input", "1,32,32"], None)):
        code, printed, err = cli_as_terminal(["summary", model, *flags], capsys)
        python = python or summarize(model, (1, 32, 32))
        assert code == 0 and printed == python.render("table"), err
    one = sum(p.numel() for p in cnnlab.create_model("vgg11-cifar", in_channels=1).parameters())
    assert summarize("vgg11-cifar", (1, 32, 32)).params == one == 9_488_266 - 2 * 64 * 3 * 3  # first conv: 1 channel
    with pytest.raises(CnnlabError, match=r"^input_shape and options cannot change a run: .* is summarised as it"):
        summarize(out, (1, 8, 8), options={"dropout": 0.1})
    code, _, err = cli_as_terminal(["summary", str(out), "--input", "1,8,8"], capsys)
    assert code == 2 and "--input cannot change a run" in err
