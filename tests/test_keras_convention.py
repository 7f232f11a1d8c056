"""`--convention keras` counts what Keras counts: batch norm's moving mean and variance are parameters (issue #14).

Keras' BatchNormalization has gamma, beta, moving_mean and moving_variance: 4C parameters, 2C of them
non-trainable. PyTorch's BatchNorm2d has 2C parameters and keeps the running mean and variance as buffers.
Every value below is worked out by hand; keras itself is only needed by the last test.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from torch import nn

from cnnlab.analysis import ModelSummary, summarize
from cnnlab.analysis.grade import grade, read_table
from cnnlab.analysis.keras_notes import reference_notes
from cnnlab.analysis.render import keras_bytes, render
from cnnlab.cli import main
from cnnlab.errors import CnnlabError
from cnnlab.resources import resolve

# conv(8, 3x3, same) - BN - ReLU - maxpool 2 - conv(16, 3x3, same) - BN - ReLU - flatten - dense 10, 32x32x3 input
CONV_BN = """\
name = "conv-bn"
input = [3, 32, 32]
num_classes = 10

[[layers]]
type = "conv"
filters = 8
kernel = 3
padding = "same"

[[layers]]
type = "batchnorm"

[[layers]]
type = "relu"

[[layers]]
type = "maxpool"
size = 2

[[layers]]
type = "conv"
filters = 16
kernel = 3
padding = "same"

[[layers]]
type = "batchnorm"

[[layers]]
type = "relu"

[[layers]]
type = "flatten"

[[layers]]
type = "linear"
units = "num_classes"
"""
# By hand: conv1 (3*3*3 + 1)*8 = 224; bn1 PyTorch 2*8 = 16, Keras 4*8 = 32 (16 non-trainable);
# conv2 (3*3*8 + 1)*16 = 1,168; bn2 PyTorch 2*16 = 32, Keras 4*16 = 64 (32 non-trainable);
# dense (16*16*16 + 1)*10 = 40,970. PyTorch: 224 + 16 + 1,168 + 32 + 40,970 = 42,410 parameters.
# Keras: 42,410 + 2*8 + 2*16 = 42,458 in all, 42,410 trainable, 48 non-trainable.
# Sizes in float32: 42,458*4 = 169,832 B = 165.85 KB; 42,410*4 = 169,640 B = 165.66 KB; 48*4 = 192.00 B.
TORCH_PARAMS, KERAS_TOTAL, KERAS_NON_TRAINABLE = 42_410, 42_458, 48

# What Keras 3 prints for the same network (model.summary(), Keras 3.15), copied as it is.
CONV_BN_KERAS3 = """\
Model: "sequential"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ conv2d (Conv2D)                 │ (None, 32, 32, 8)      │           224 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ batch_normalization             │ (None, 32, 32, 8)      │            32 │
│ (BatchNormalization)            │                        │               │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ re_lu (ReLU)                    │ (None, 32, 32, 8)      │             0 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ max_pooling2d (MaxPooling2D)    │ (None, 16, 16, 8)      │             0 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ conv2d_1 (Conv2D)               │ (None, 16, 16, 16)     │         1,168 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ batch_normalization_1           │ (None, 16, 16, 16)     │            64 │
│ (BatchNormalization)            │                        │               │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ re_lu_1 (ReLU)                  │ (None, 16, 16, 16)     │             0 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ flatten (Flatten)               │ (None, 4096)           │             0 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dense (Dense)                   │ (None, 10)             │        40,970 │
└─────────────────────────────────┴────────────────────────┴───────────────┘
 Total params: 42,458 (165.85 KB)
 Trainable params: 42,410 (165.66 KB)
 Non-trainable params: 48 (192.00 B)
"""


@pytest.fixture
def net(tmp_path: Path) -> Path:
    path = tmp_path / "conv-bn.toml"
    path.write_text(CONV_BN, encoding="utf-8")
    return path


@pytest.fixture
def conv_bn(net: Path) -> ModelSummary:
    return summarize(str(net))


def write(tmp_path: Path, text: str, name: str = "summary.txt") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_counts_by_hand(conv_bn: ModelSummary) -> None:
    assert conv_bn.params == conv_bn.trainable_params == TORCH_PARAMS
    assert conv_bn.moving_stats == 2 * 8 + 2 * 16
    assert conv_bn.keras_totals() == {
        "params": KERAS_TOTAL,
        "trainable_params": TORCH_PARAMS,
        "non_trainable_params": KERAS_NON_TRAINABLE,
        "moving_stats": 48,
    }
    bn = [r for r in conv_bn.leaves if r.type == "BatchNorm2d"]
    assert [(r.params, r.keras_params, r.keras_non_trainable) for r in bn] == [(16, 32, 16), (32, 64, 32)]


def test_keras_footer_and_table(conv_bn: ModelSummary) -> None:
    text = render(conv_bn, "table", "keras")
    lines = text.splitlines()
    assert "Total params: 42,458 (165.85 KB)" in lines
    assert "Trainable params: 42,410 (165.66 KB)" in lines
    assert "Non-trainable params: 48 (192.00 B)" in lines
    assert lines[2].split() == [
        "Layer",
        "Type",
        "Output",
        "(H,W,C)",
        "Activations",
        "Params",
        "Non-trainable",
        "MACs",
        "RF",
        "size/jump/start",
    ]
    bn1 = next(line for line in lines if line.startswith("bn1 "))
    assert bn1.split()[:6] == ["bn1", "BatchNorm2d", "32x32x8", "8,192", "32", "16"]
    assert any("moving mean and variance as non-trainable parameters (2C per layer, 48 here" in x for x in lines)
    # the torch convention is unchanged: 2C per batch norm, no Keras footer
    torch_text = render(conv_bn, "table", "torch")
    assert "Params: 42,410 (42.41k); trainable 42,410, frozen 0" in torch_text and "Total params" not in torch_text
    assert "Frozen" not in torch_text.splitlines()[2]


def test_keras_json_and_csv(conv_bn: ModelSummary) -> None:
    doc = json.loads(render(conv_bn, "json", "keras"))
    assert doc["totals"]["params"] == KERAS_TOTAL and doc["totals"]["non_trainable_params"] == KERAS_NON_TRAINABLE
    assert doc["totals"]["trainable_params"] == TORCH_PARAMS and doc["totals"]["moving_stats"] == 48
    bn1 = next(r for r in doc["layers"] if r["name"] == "bn1")
    assert (bn1["params"], bn1["non_trainable_params"], bn1["moving_stats"]) == (32, 16, 16)
    assert json.loads(render(conv_bn, "json", "torch"))["totals"]["params"] == TORCH_PARAMS
    csv_text = render(conv_bn, "csv", "keras")
    assert "bn1,BatchNorm2d,1,0,32x32x8,8192,32,16," in csv_text


def test_vgg11_bn_cifar_by_hand() -> None:
    # VGG-11 (config A) with batch norm on 32x32: convs (3*3*3+1)*64 = 1,792, (3*3*64+1)*128 = 73,856,
    # (3*3*128+1)*256 = 295,168, (3*3*256+1)*256 = 590,080, (3*3*256+1)*512 = 1,180,160 and 3 x (3*3*512+1)*512
    # = 3 x 2,359,808: 9,220,480; dense (512+1)*512 + (512+1)*10 = 267,786; batch norm over
    # 64+128+256+256+512+512+512+512 = 2,752 channels: PyTorch 2*2,752 = 5,504, Keras 4*2,752 = 11,008.
    s = summarize("vgg11_bn-cifar")
    channels = 64 + 128 + 256 + 256 + 4 * 512
    torch_params = 9_220_480 + 267_786 + 2 * channels
    assert s.params == torch_params == 9_493_770
    assert s.keras_totals()["params"] == torch_params + 2 * channels == 9_499_274
    assert s.keras_totals()["non_trainable_params"] == 2 * channels == 5_504
    text = render(s, "table", "keras")
    assert "Total params: 9,499,274 (36.24 MB)" in text  # 9,499,274*4 B / 1024**2
    assert "Non-trainable params: 5,504 (21.50 KB)" in text  # 5,504*4 B / 1024


def test_frozen_layers_are_non_trainable_too() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    model[0].requires_grad_(False)  # (3*3*3 + 1)*4 = 112 frozen
    s = summarize(model, (3, 8, 8))
    # PyTorch: 112 + 8 + (144 + 1)*2 = 410; Keras: + 2*4 moving statistics; non-trainable 112 + 8
    assert s.keras_totals() == {"params": 418, "trainable_params": 298, "non_trainable_params": 120, "moving_stats": 8}
    assert "Non-trainable params: 120 (480.00 B)" in render(s, "table", "keras")


def test_keras_bytes_as_keras3_prints_them() -> None:
    assert keras_bytes(138_357_544) == "527.79 MB"  # keras.applications.VGG16
    assert keras_bytes(42_458) == "165.85 KB"
    assert keras_bytes(48) == "192.00 B"
    assert keras_bytes(0) == "0.00 B"


def test_grader_accepts_keras_counts_under_keras_convention(tmp_path: Path, conv_bn: ModelSummary) -> None:
    table = read_table(write(tmp_path, CONV_BN_KERAS3))
    assert [r.label for r in table.rows[-3:]] == ["Total params", "Trainable params", "Non-trainable params"]
    result = grade(table, conv_bn, convention="keras")
    assert result.ok and result.right == 21, result.render()  # 9 layers x (shape, params) + 3 footer counts
    expected = {c.row: c.expected for c in result.cells if c.column == "params"}
    assert expected["batch_normalization"] == 32 and expected["batch_normalization_1"] == 64
    assert expected["Total params"] == KERAS_TOTAL and expected["Non-trainable params"] == KERAS_NON_TRAINABLE


def test_grader_under_torch_convention_says_where_keras_counts(tmp_path: Path, conv_bn: ModelSummary) -> None:
    result = grade(read_table(write(tmp_path, CONV_BN_KERAS3)), conv_bn)
    assert [(c.row, c.given, c.expected) for c in result.wrong] == [
        ("batch_normalization", "32", 16),
        ("batch_normalization_1", "64", 32),
        ("Total params", "42,458", TORCH_PARAMS),
        ("Non-trainable params", "48", 0),
    ]
    assert any("4 parameter cells hold Keras' count" in n and "--convention keras" in n for n in result.notes)


def test_grader_explains_a_wrong_batch_norm_count_the_keras_way(tmp_path: Path, conv_bn: ModelSummary) -> None:
    text = CONV_BN_KERAS3.replace("│            32 │", "│            16 │").replace(
        "Non-trainable params: 48 ", "Non-trainable params: 0 "
    )
    result = grade(read_table(write(tmp_path, text)), conv_bn, convention="keras")
    lines = result.render().splitlines()
    assert lines[0] == (
        "batch_normalization parameters: 16 is wrong; right: 32 = 4*C (gamma, beta, moving mean and moving "
        "variance; Keras counts the moving two as non-trainable parameters, PyTorch as buffers) = 4*8 = 32"
    )
    assert lines[1].startswith("Non-trainable params: 0 is wrong; right: 48 = frozen parameters + ")
    assert lines[-1] == "19 of 21 cells right"


def test_cli_check_and_summary_with_keras_convention(tmp_path: Path, net: Path, capsys) -> None:
    path = write(tmp_path, CONV_BN_KERAS3)
    assert main(["check", str(path), "--model", str(net), "--convention", "keras"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "21 of 21 cells right"
    assert main(["check", str(path), "--model", str(net)]) == 1
    # by hand, PyTorch's way: batch norm has 2*C parameters (2*8 = 16, 2*16 = 32), so the total drops by the 48
    # moving statistics (2*8 + 2*16) to 42,410 and none are non-trainable; the 17 other cells are right
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[:2] == [
        "batch_normalization parameters: 32 is wrong; right: 16 = 2*C (scale and shift; running mean/var are "
        "buffers) = 2*8 = 16",
        "batch_normalization_1 parameters: 64 is wrong; right: 32 = 2*C (scale and shift; running mean/var are "
        "buffers) = 2*16 = 32",
    ]
    assert lines[2].startswith("Total params: 42,458 is wrong; right: 42,410 = ")
    assert lines[3].startswith("Non-trainable params: 48 is wrong; right: 0 = ")
    assert lines[4].startswith("4 parameter cells hold Keras' count") and lines[5:] == ["17 of 21 cells right"]
    assert main(["summary", str(net), "--convention", "keras"]) == 0
    assert "Total params: 42,458 (165.85 KB)" in capsys.readouterr().out


def test_unknown_convention_is_one_line(tmp_path: Path, net: Path, conv_bn: ModelSummary, capsys) -> None:
    for argv in (
        ["summary", str(net), "--convention", "tf"],
        ["check", str(net), "--model", str(net), "--convention", "tf"],
    ):
        with pytest.raises(SystemExit) as e:  # argparse exits itself, with one line
            main(argv)
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "invalid choice: 'tf'" in err
    with pytest.raises(CnnlabError, match=r"^unknown convention 'tf'; use torch or keras$"):
        render(conv_bn, "table", "tf")
    with pytest.raises(CnnlabError, match=r"^unknown convention 'tf'; use torch or keras$"):
        grade(read_table(write(tmp_path, CONV_BN_KERAS3)), conv_bn, convention="tf")


def test_resnet50_says_where_keras_reference_differs(tmp_path: Path) -> None:
    s = summarize("resnet50")
    note = (
        "resnet50: Keras' ResNet50 has biases on its convolutions (25,636,712 total, 53,120 non-trainable), "
        "torchvision's (ours) has none (25,557,032 parameters plus batch-norm buffers)"
    )
    assert note in render(s, "table", "keras").splitlines()
    assert note in json.loads(render(s, "json", "keras"))["notes"]
    assert "ResNet50" not in render(s, "table", "torch")
    # ours in Keras' count: 25,557,032 + 53,120 moving statistics; Keras' own adds a bias per conv channel
    assert s.keras_totals()["params"] == 25_557_032 + 53_120 and s.keras_totals()["non_trainable_params"] == 53_120
    # the grader says it too, and grades ours: Keras' own total (with conv biases) is not forced to fit
    table = read_table(write(tmp_path, "| Layer | Parameters |\n|---|---|\n| Total params | 25,636,712 |\n", "t.md"))
    result = grade(table, s, convention="keras")
    assert [(c.given, c.expected) for c in result.wrong] == [("25,636,712", 25_610_152)] and note in result.notes
    ten = render(summarize("resnet50", num_classes=10), "table", "keras")
    assert "resnet50: Keras' ResNet50 has biases on its convolutions; torchvision's (ours) has none" in ten


def test_a_network_on_a_resnet50_base_says_how_many_biases_keras_adds(tmp_path: Path) -> None:
    """net:resnet50-head is Keras' ResNet50(include_top=False) with a head; Keras' summary of it counts 24,114,826
    (Keras 3.15), ours 24,088,266 in Keras' convention: the 26,560 conv biases (one per filter) Keras' ResNet50 has
    and torchvision's has not, said as for the zoo resnet50 (it was not)."""
    s = summarize("net:resnet50-head")
    note = (
        "net:resnet50-head: its base, Keras' ResNet50(include_top=False), has biases on its convolutions (one per "
        "filter, 26,560 here); torchvision's (ours) has none, so Keras' parameter counts are higher by that many"
    )
    assert s.base_model == "resnet50" and note in render(s, "table", "keras").splitlines()
    assert s.keras_totals()["params"] + 26_560 == 24_114_826  # Keras' own Total params
    assert "ResNet50" not in render(s, "table", "torch") and reference_notes(summarize("net:vgg16-cats-dogs")) == []


def test_matches_a_real_keras_model(tmp_path: Path, conv_bn: ModelSummary) -> None:
    keras = pytest.importorskip("keras")
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            layers.Conv2D(8, 3, padding="same"),
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.MaxPooling2D(2),
            layers.Conv2D(16, 3, padding="same"),
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.Flatten(),
            layers.Dense(10),
        ]
    )
    non_trainable = sum(_prod(w.shape) for w in model.non_trainable_weights)
    assert model.count_params() == KERAS_TOTAL and non_trainable == KERAS_NON_TRAINABLE
    printed: list[str] = []
    model.summary(print_fn=lambda line, *args, **kwargs: printed.append(line))
    text = "\n".join(printed) + "\n"
    assert "Total params: 42,458 (165.85 KB)" in text
    result = grade(read_table(write(tmp_path, text)), conv_bn, convention="keras")
    assert result.ok, result.render()


def _prod(shape) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def test_the_materials_keras_alexnet_with_batch_norm_counts_24_834_833(tmp_path: Path) -> None:
    """The figure of the material's Keras AlexNet-with-BN, worked out layer by layer (examples/nets/alexnet-bn-keras)."""
    s = summarize(str(resolve("net:alexnet-bn-keras", "net")))
    convs = [(3, 96, 11), (96, 256, 5), (256, 384, 3), (384, 384, 3), (384, 256, 3)]
    conv_params = sum(k * k * cin * cout + cout for cin, cout, k in convs)
    assert conv_params == 34_944 + 614_656 + 885_120 + 1_327_488 + 884_992
    # 227 -conv 11/4-> 55 -pool 3/2-> 27 -conv 5-> 23 -pool-> 11 -conv 3 (x3)-> 5 -pool-> 2: Flatten 2*2*256
    dense_params = (1024 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 17 + 17)
    bn_channels = 96 + 256 + 384 + 384 + 256 + 4096 + 4096
    assert conv_params + dense_params + 4 * bn_channels == 24_834_833
    totals = s.keras_totals()
    assert (totals["params"], totals["non_trainable_params"]) == (24_834_833, 2 * bn_channels) == (24_834_833, 19_136)
    assert s.params == 24_834_833 - 19_136
    assert [r.output_shape for r in s.rows if r.type in ("MaxPool2d", "Flatten")][-2:] == [(256, 2, 2), (1024,)]
    table = write(tmp_path, "| Layer | Parameters |\n|---|---|\n| Total params | 24,834,833 |\n", "t.md")
    assert grade(read_table(table), s, convention="keras").ok
