"""Grading Keras `model.summary()` printouts pasted as tables: Keras 3 box drawing and Keras 2 text."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnlab.analysis import ModelSummary, summarize
from cnnlab.analysis.grade import grade, read_table

ROOT = Path(__file__).resolve().parents[1]
NETS = ROOT / "examples" / "nets"

# keras.applications.VGG16().summary() in Keras 3, typed out by hand. Parameters by hand: a 3x3 conv has
# (3*3*C_in + 1)*C_out: 1,792 (C_in 3, C_out 64), 36,928, 73,856, 147,584, 295,168, 590,080, 1,180,160,
# 2,359,808 (512 to 512); fc1 (25,088 + 1)*4,096 = 102,764,544; fc2 (4,096 + 1)*4,096 = 16,781,312;
# predictions (4,096 + 1)*1,000 = 4,097,000. Convs 14,714,688 + dense 123,642,856 = 138,357,544.
VGG16_KERAS3 = """\
Model: "vgg16"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ input_layer (InputLayer)        │ (None, 224, 224, 3)    │             0 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ block1_conv1 (Conv2D)           │ (None, 224, 224, 64)   │         1,792 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ block1_conv2 (Conv2D)           │ (None, 224, 224, 64)   │        36,928 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ block1_pool (MaxPooling2D)      │ (None, 112, 112, 64)   │             0 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ block2_conv1 (Conv2D)           │ (None, 112, 112, 128)  │        73,856 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ block2_conv2 (Conv2D)           │ (None, 112, 112, 128)  │       147,584 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ block2_pool (MaxPooling2D)      │ (None, 56, 56, 128)    │             0 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ block3_conv1 (Conv2D)           │ (None, 56, 56, 256)    │       295,168 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ block3_conv2 (Conv2D)           │ (None, 56, 56, 256)    │       590,080 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ block3_conv3 (Conv2D)           │ (None, 56, 56, 256)    │       590,080 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ block3_pool (MaxPooling2D)      │ (None, 28, 28, 256)    │             0 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ block4_conv1 (Conv2D)           │ (None, 28, 28, 512)    │     1,180,160 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ block4_conv2 (Conv2D)           │ (None, 28, 28, 512)    │     2,359,808 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ block4_conv3 (Conv2D)           │ (None, 28, 28, 512)    │     2,359,808 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ block4_pool (MaxPooling2D)      │ (None, 14, 14, 512)    │             0 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ block5_conv1 (Conv2D)           │ (None, 14, 14, 512)    │     2,359,808 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ block5_conv2 (Conv2D)           │ (None, 14, 14, 512)    │     2,359,808 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ block5_conv3 (Conv2D)           │ (None, 14, 14, 512)    │     2,359,808 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ block5_pool (MaxPooling2D)      │ (None, 7, 7, 512)      │             0 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ flatten (Flatten)               │ (None, 25088)          │             0 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ fc1 (Dense)                     │ (None, 4096)           │   102,764,544 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ fc2 (Dense)                     │ (None, 4096)           │    16,781,312 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ predictions (Dense)             │ (None, 1000)           │     4,097,000 │
└─────────────────────────────────┴────────────────────────┴───────────────┘
 Total params: 138,357,544 (527.79 MB)
 Trainable params: 138,357,544 (527.79 MB)
 Non-trainable params: 0 (0.00 B)
"""


@pytest.fixture(scope="module")
def vgg16() -> ModelSummary:
    return summarize("vgg16")


def write(tmp_path: Path, text: str, name: str = "summary.txt") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("rules", [True, False], ids=["row-rules", "no-row-rules"])
def test_keras3_vgg16_summary_grades_right(tmp_path: Path, vgg16: ModelSummary, rules: bool) -> None:
    text = VGG16_KERAS3 if rules else "".join(x for x in VGG16_KERAS3.splitlines(True) if not x.startswith("├"))
    table = read_table(write(tmp_path, text))
    assert set(table.columns) == {"shape", "params"} and len(table.rows) == 26
    assert table.rows[0].label == "input_layer (InputLayer)"
    assert [r.label for r in table.rows[-3:]] == ["Total params", "Trainable params", "Non-trainable params"]
    result = grade(table, vgg16)
    assert result.ok and result.right == 49  # 23 layers with a shape and a count, and the three footer counts
    flatten = [c for c in result.cells if c.row == "flatten"]
    assert [(c.column, c.expected) for c in flatten] == [("shape", (25088,)), ("params", 0)]
    total = next(c for c in result.cells if c.row == "Total params")
    assert total.expected == 138_357_544
    # torchvision's adaptive 7x7 average pool is a no-op at 224x224; Keras' VGG16 has none
    assert result.notes == ["not in the table: avgpool (AdaptiveAvgPool2d, which keeps the shape of its 512x7x7 input)"]


def test_keras3_vgg16_with_wrong_cells(tmp_path: Path, vgg16: ModelSummary) -> None:
    # 1,728 = 3*3*3*64 leaves out the biases; a 25,088-wide flatten of a 7x7x512 output is written as 25,000
    text = VGG16_KERAS3.replace("│         1,792 │", "│         1,728 │").replace("(None, 25088) ", "(None, 25000) ")
    result = grade(read_table(write(tmp_path, text)), vgg16)
    assert [(c.row, c.column, c.given) for c in result.wrong] == [
        ("block1_conv1", "params", "1,728"),
        ("flatten", "shape", "(None, 25000)"),
    ]
    lines = result.render().splitlines()
    assert lines[0] == (
        "block1_conv1 parameters: 1,728 is wrong; right: 1,792 = (k_h*k_w*C_in + 1)*C_out = (3*3*3 + 1)*64 = 1,792"
    )
    assert (
        lines[1]
        == "flatten shape: (None, 25000) is wrong; right: (None, 25088) (512*7*7 = 25,088 (the output above, flattened))"
    )


LENET_KERAS3_WRAPPED = """\
┏━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━┳━━━━━━━━━┓
┃ Layer (type)     ┃ Output Shape    ┃ Param # ┃
┡━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━╇━━━━━━━━━┩
│ conv2d (Conv2D)  │ (None, 28, 28,  │     608 │
│                  │ 8)              │         │
│ max_pooling2d    │ (None, 14, 14,  │       0 │
│ (MaxPooling2D)   │ 8)              │         │
│ flatten_1        │ (None, 1568)    │       0 │
│ (Flatten)        │                 │         │
└──────────────────┴─────────────────┴─────────┘
"""


def test_keras3_cells_that_wrap_are_joined(tmp_path: Path) -> None:
    path = write(tmp_path, LENET_KERAS3_WRAPPED)
    table = read_table(path)
    assert [(r.label, r.cells["shape"], r.cells["params"]) for r in table.rows] == [
        ("conv2d (Conv2D)", "(None, 28, 28, 8)", "608"),
        ("max_pooling2d (MaxPooling2D)", "(None, 14, 14, 8)", "0"),
        ("flatten_1 (Flatten)", "(None, 1568)", "0"),
    ]


# The LeNet-like network (examples/nets/lenet-like.toml) as Keras 2 prints it; long names wrap onto a second
# line. Parameters by hand: (5*5*3 + 1)*8 = 608, (5*5*8 + 1)*16 = 3,216, (400 + 1)*120 = 48,120,
# (120 + 1)*84 = 10,164, (84 + 1)*10 = 850; total 62,958.
LENET_KERAS2 = """\
Model: "sequential"
_________________________________________________________________
 Layer (type)                Output Shape              Param #
=================================================================
 conv2d (Conv2D)             (None, 28, 28, 8)         608

 max_pooling2d (MaxPooling2D  (None, 14, 14, 8)        0
 )

 conv2d_1 (Conv2D)           (None, 10, 10, 16)        3216

 max_pooling2d_1 (MaxPooling  (None, 5, 5, 16)         0
 2D)

 flatten (Flatten)           (None, 400)               0

 dense (Dense)               (None, 120)               48120

 dense_1 (Dense)             (None, 84)                10164

 dense_2 (Dense)             (None, 10)                851

=================================================================
Total params: 62,959
Trainable params: 62,959
Non-trainable params: 0
_________________________________________________________________
"""


def test_keras2_summary_text(tmp_path: Path) -> None:
    text = "\n".join(line.ljust(65) for line in LENET_KERAS2.splitlines()) + "\n"  # Keras pads lines to 65
    table = read_table(write(tmp_path, text))
    assert [r.label for r in table.rows][:2] == ["conv2d (Conv2D)", "max_pooling2d (MaxPooling2D )"]
    result = grade(table, summarize(str(NETS / "lenet-like.toml")))
    assert [(c.row, c.given, c.expected) for c in result.wrong] == [
        ("dense_2", "851", 850),
        ("Total params", "62,959", 62_958),
        ("Trainable params", "62,959", 62_958),
    ]
    assert result.right == 16  # 15 before the footer's Trainable and Non-trainable lines were graded too
