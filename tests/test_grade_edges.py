"""Edges of the grader that a mutation run of scripts/mutation.py found untested (2026-12-04): box tables drawn with
other rule characters, Keras 2 printouts cut short or followed by notes, the columns a header names, shapes that are
not square, the formulas a student reads for blocks, totals, the input, vectors and footer rows, rows named by a
layer's full name followed by rows that depend on them, and the layer that cannot exist named in full (which the grader
took for the next layer with weights until then). Every expected value is worked out by hand in a comment.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

import cnnlab
from cnnlab.analysis import ModelSummary, summarize
from cnnlab.analysis.grade import check, grade
from cnnlab.analysis.match import label_kind
from cnnlab.analysis.table import _header_role, _split_pipes, parse_number, parse_shape, read_table, shapes_match
from cnnlab.errors import CnnlabError, ShapeError
from tests.conftest import write_toml
from tests.gradekit import graded, md, messages, write

ROOT = Path(__file__).resolve().parents[1]
NETS = ROOT / "examples" / "nets"
LENET = str(NETS / "lenet-like.toml")
# a fully convolutional net: one 3x3 conv with 2 filters on 1x5x5
SMALL_CONV = (
    'name = "small"\ninput = [1, 5, 5]\nnum_classes = 2\n\n[[layers]]\ntype = "conv"\nfilters = 2\nkernel = 3\n'
)


@pytest.fixture(scope="module")
def lenet() -> ModelSummary:
    # lenet-like.toml on 3x32x32: conv1 608 parameters (8x28x28), pool1, conv2 3,216 (16x10x10), pool2 (16x5x5),
    # flatten1 (400), fc1 48,120, fc2 10,164, fc3 850; 62,958 parameters, 849,320 MACs
    return summarize(LENET)


@pytest.fixture(scope="module")
def vgg16() -> ModelSummary:
    return summarize("vgg16")


# ---------------------------------------------------------------------------------------------- reading


@pytest.mark.parametrize("rule", ["├", "┝", "┠", "┣"])
def test_a_two_column_box_joins_the_lines_between_its_row_rules(tmp_path: Path, rule: str) -> None:
    # rows are ruled (with any of rich's light or heavy rule characters), so the second line of conv2d is its
    # wrapped name even though a two-column line is never taken as wrapped text without rules; the '│' line above
    # the header is not part of the table, and the footer's parameter column is the second one
    text = f"""\
│ a note drawn in a box │
┏━━━━━━━━━━━━━━━━━━┳━━━━━━━━━┓
┃ Layer (type)     ┃ Param # ┃
┡━━━━━━━━━━━━━━━━━━╇━━━━━━━━━┩
│ conv2d           │     608 │
│ (Conv2D)         │         │
{rule}──────────────────┼─────────┤
│ flatten          │       0 │
└──────────────────┴─────────┘
 Total params: 608
"""
    table = read_table(write(tmp_path, text, "s.txt"))
    assert [(r.label, r.cells["params"], r.line) for r in table.rows] == [
        ("conv2d (Conv2D)", "608", 5),
        ("flatten", "0", 8),
        ("Total params", "608", 10),
    ]


def test_without_rules_a_two_column_line_starts_a_row(tmp_path: Path) -> None:
    text = """\
┃ Layer (type)     ┃ Param # ┃
│ conv2d           │     608 │
│ (Conv2D)         │         │
"""
    table = read_table(write(tmp_path, text, "s.txt"))
    assert [(r.label, r.cells["params"]) for r in table.rows] == [("conv2d", "608"), ("(Conv2D)", "")]


def test_the_footer_under_a_heavy_box_bottom_and_none_above_the_box(tmp_path: Path) -> None:
    # the footer is read up to six lines under the box's bottom line, ┗ as well as └; a 'Total params' line above
    # the box is someone's note, not its footer; a box without a parameter column has no footer rows
    box = """\
Total params: 1
┏━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━┳━━━━━━━━━┓
┃ Layer (type)     ┃ Output Shape    ┃ Param # ┃
┡━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━╇━━━━━━━━━┩
│ conv2d (Conv2D)  │ (None, 28, 28,  │     608 │
│                  │ 8)              │         │
┗━━━━━━━━━━━━━━━━━━┻━━━━━━━━━━━━━━━━━┻━━━━━━━━━┛
"""
    table = read_table(write(tmp_path, box + "\n" * 5 + "Total params: 608\n", "a.txt"))
    # lines: 1 note, 2 top, 3 header, 4 rule, 5-6 conv2d, 7 bottom, 8-12 blank, 13 footer
    assert [(r.label, r.line) for r in table.rows] == [("conv2d (Conv2D)", 5), ("Total params", 13)]
    no_params = box.replace("Param #", "Size   ").replace("    608 │", "  6,272 │")
    table = read_table(write(tmp_path, no_params + "Total params: 608\n", "b.txt"))
    assert [r.label for r in table.rows] == ["conv2d (Conv2D)"]


def keras2_text(rows: list[tuple[str, str, str]], after: str) -> str:
    """A Keras 2 summary: columns at 1, 29 and 55 as Keras prints them; `after` follows its header's rule."""
    head = " " + "Layer (type)".ljust(28) + "Output Shape".ljust(26) + "Param #"
    body = "\n".join(" " + a.ljust(28) + b.ljust(26) + c for a, b, c in rows)
    return f'Model: "m"\n{"_" * 65}\n{head}\n{"=" * 65}\n{body}\n{after}'


def test_a_keras2_summary_ends_at_its_second_rule_even_with_notes_under_it(tmp_path: Path) -> None:
    # the first row wraps onto a second line (its parameter column empty there), and the printout's own lines are
    # followed by the student's notes, which are not rows
    text = keras2_text(
        [("conv2d", "(None, 28, 28, 8)", "608"), ("(Conv2D)", "", ""), ("flatten (Flatten)", "(None, 6272)", "0")],
        "=" * 65 + "\n" + " my notes".ljust(29) + "are here".ljust(26) + "12\n",
    )
    table = read_table(write(tmp_path, text, "s.txt"))
    # lines: 1 Model, 2 rule, 3 header, 4 ====, 5-6 conv2d, 7 flatten, 8 ====, 9 notes
    assert [(r.label, r.cells["params"], r.line) for r in table.rows] == [
        ("conv2d (Conv2D)", "608", 5),
        ("flatten (Flatten)", "0", 7),
    ]


def test_a_keras2_summary_cut_short_and_one_whose_first_row_has_no_parameters(tmp_path: Path) -> None:
    # no closing rule and no footer: the rows are all there is
    text = keras2_text([("conv2d (Conv2D)", "(None, 28, 28, 8)", "608")], "")
    assert [(r.label, r.line) for r in read_table(write(tmp_path, text, "a.txt")).rows] == [("conv2d (Conv2D)", 5)]
    # a first row with its parameter column left empty is a row of its own, not a continuation of the header
    text = keras2_text([("conv2d (Conv2D)", "(None, 28, 28, 8)", ""), ("flatten (Flatten)", "(None, 6272)", "0")], "")
    table = read_table(write(tmp_path, text, "b.txt"))
    assert table.columns == {"shape": "Output Shape", "params": "Param #"}
    assert [(r.label, r.cells["params"]) for r in table.rows] == [("conv2d (Conv2D)", ""), ("flatten (Flatten)", "0")]


def test_a_markdown_table_with_a_byte_order_mark_and_a_table_name(tmp_path: Path, lenet: ModelSummary) -> None:
    # Windows editors save UTF-8 with a byte order mark, which would otherwise become a column of its own
    path = tmp_path / "bom.md"
    path.write_text("\ufeff" + md("Layer | Params", "conv1 | 608"), encoding="utf-8")
    table = read_table(path)
    assert table.columns == {"params": "Params"} and [r.label for r in table.rows] == ["conv1"]
    # table:NAME reads a shipped table
    shipped = read_table("table:lenet-like-correct")
    assert shipped.source.endswith("lenet-like-correct.md") and grade(shipped, lenet).ok


def test_a_row_ending_in_an_escaped_pipe_keeps_it() -> None:
    assert _split_pipes(r"| conv1 | a \|") == ["conv1", "a |"]
    assert _split_pipes(r"| conv1 | a |") == ["conv1", "a"]


@pytest.mark.parametrize(
    "header, role",
    [
        # what a layer is given or how it is built is not graded, even where the header says 'size'
        ("Kernel size", None),
        ("Stride size", None),
        ("Padding size", None),
        ("Input size", None),
        ("Filter size", None),
        # how many values a layer outputs
        ("Activations", "size?"),
        ("Output size", "size?"),
        # a receptive field's size, though the header says 'size'
        ("Receptive field size", "rf"),
        # the GoogLeNet paper's multiply-adds, as a whole word only
        ("ops", "macs"),
        ("# Ops", "macs"),
        ("Stops", None),
        ("Drops", None),
    ],
)
def test_the_role_a_header_names(header: str, role: str | None) -> None:
    assert _header_role(header) == role


def test_unread_working_names_the_file_and_the_line(tmp_path: Path, lenet: ModelSummary) -> None:
    path = write(tmp_path, md("Layer | Params", "conv1 | 5*5*x = 608"))
    with pytest.raises(CnnlabError) as e:
        grade(read_table(path), lenet)
    assert str(e.value).startswith(f"{path} line 3: cannot read the working '5*5*x' in the 'Params' cell")
    assert str(e.value).endswith("; write working with numbers and + - * / ( ) only, or give just the value")


def test_rows_of_different_lengths_are_refused_with_the_fix(tmp_path: Path) -> None:
    path = write(tmp_path, "| Layer | Params |\n|---|---|\n| conv1 | 608 | 1 |\n")
    with pytest.raises(CnnlabError) as e:
        read_table(path)
    assert str(e.value) == f"{path} line 3 has 3 cells but the header has 2; give every row one cell per column"


# ---------------------------------------------------------------------------------------------- shapes


def test_channels_last_shapes_of_a_feature_map_that_is_not_square() -> None:
    assert shapes_match((28, 27, 8), (8, 28, 27)) and shapes_match((8, 28, 27), (8, 28, 27))
    assert not shapes_match((27, 28, 8), (8, 28, 27))
    # only vectors drop their 1s: a one-channel map written without its channel is not its shape
    assert shapes_match((120, 1), (120,)) and not shapes_match((28, 28), (1, 28, 28))


# ---------------------------------------------------------------------------------------------- formulas


def test_the_input_row_and_vectors_say_how_many_values_they_hold(tmp_path: Path, lenet: ModelSummary) -> None:
    result = graded(
        tmp_path,
        lenet,
        "Layer | Activation size | Connections",
        "input | 1 | 1",
        "conv1 | 1 |",
        "flatten | 1 |",
        "softmax | 1 |",
    )
    # a map's size is its shape multiplied out; a vector's size is its length, with nothing more to say
    assert messages(result)[:5] == [
        "input activation size: 1 is wrong; right: 3,072 = 3*32*32 = 3,072",
        "input connections: 1 is wrong; right: 0 = 0 (nothing connects into the input)",
        "conv1 activation size: 1 is wrong; right: 6,272 = 8*28*28 = 6,272",
        "flatten activation size: 1 is wrong; right: 400",
        "softmax activation size: 1 is wrong; right: 10",
    ]


def test_a_module_row_sums_its_own_layers(tmp_path: Path) -> None:
    # the naive inception module: its 1x1, 3x3 and 5x5 convolutions on 256x32x32 (the pool has no weights):
    # (1*1*256 + 1)*128 = 32,896, (3*3*256 + 1)*192 = 442,560, (5*5*256 + 1)*96 = 614,496 parameters;
    # MACs 32*32 times 256*128 = 33,554,432, 9*256*192 = 452,984,832 and 25*256*96 = 629,145,600
    inception = summarize(str(NETS / "inception-naive.toml"))
    result = graded(tmp_path, inception, "Layer | Params | MACs", "inception | 1 | 1")
    assert messages(result)[:2] == [
        "inception parameters: 1 is wrong; right: 1,089,952 = 32,896 + 442,560 + 614,496 = 1,089,952",
        "inception MACs: 1 is wrong; right: 1,115,684,864 = 33,554,432 + 452,984,832 + 629,145,600 = 1,115,684,864",
    ]


def test_a_module_row_of_more_than_ten_layers_is_a_sum_over_them(tmp_path: Path) -> None:
    # a residual block of eleven 1x1 convs with one filter on 1x4x4: each (1*1*1 + 1)*1 = 2 parameters, 4*4 = 16
    # MACs and 32 connections (16 weights' and 16 biases'), so the block 22, 176 and 352, too many parts to list
    layers = ", ".join(['{type = "conv", filters = 1, kernel = 1}'] * 11)
    text = f'input = [1, 4, 4]\nnum_classes = 2\n[[layers]]\ntype = "residual"\nlayers = [{layers}]\n'
    deep = summarize(write_toml(tmp_path / "deep.toml", text + '[[layers]]\ntype = "flatten"\n'))
    result = graded(tmp_path, deep, "Layer | Params | MACs | Connections", "residual1 | 1 | 1 | 1")
    assert messages(result)[:3] == [
        "residual1 parameters: 1 is wrong; right: 22 = sum over its layers = 22",
        "residual1 MACs: 1 is wrong; right: 176 = sum over its layers = 176",
        "residual1 connections: 1 is wrong; right: 352 = sum over its layers = 352",
    ]


# an inception module named inception_3a inside a residual block (its outputs 1 + 1 + 1 + 1 = 4 channels, the
# block's input), then a naive one, inception_3b, whose 3x3 and 5x5 branches are one conv each, on 4x8x8
NESTED_INCEPTIONS = """input = [4, 8, 8]
num_classes = 2
[[layers]]
type = "residual"
[[layers.layers]]
type = "inception"
name = "inception_3a"
ch1x1 = 1
ch3x3red = 2
ch3x3 = 1
ch5x5red = 2
ch5x5 = 1
pool_proj = 1
[[layers]]
type = "inception"
name = "inception_3b"
naive = true
ch1x1 = 1
ch3x3 = 1
ch5x5 = 1
[[layers]]
type = "flatten"
"""


@pytest.fixture(scope="module")
def nested(tmp_path_factory: pytest.TempPathFactory) -> ModelSummary:
    return summarize(write_toml(tmp_path_factory.mktemp("nets") / "nested.toml", NESTED_INCEPTIONS))


def test_a_branch_of_one_counted_layer_is_worked_as_that_layer(tmp_path: Path, nested: ModelSummary) -> None:
    # inception(3a) names res1.body.inception_3a (the module's own name, in a block, with its underscore); its 1x1
    # branch is a conv and its ReLU: the conv's (1*1*4 + 1)*1 = 5 parameters, 8*8*1*4 = 256 MACs and 5*8*8 = 320
    # connections, worked as the conv's, where a sum of one part said "5 = 5"
    result = graded(tmp_path, nested, "Layer | Params | MACs | Connections", "inception(3a) 1x1 | 1 | 1 | 1")
    assert messages(result)[:3] == [
        "inception(3a) 1x1 parameters: 1 is wrong; right: 5 = (k_h*k_w*C_in + 1)*C_out = (1*1*4 + 1)*1 = 5",
        "inception(3a) 1x1 MACs: 1 is wrong; right: 256 = H_out*W_out*C_out*C_in*k_h*k_w = 8*8*1*4*1*1 = 256",
        "inception(3a) 1x1 connections: 1 is wrong; right: 320 = (k_h*k_w*C_in + 1)*C_out*H_out*W_out = "
        "(1*1*4 + 1)*1*8*8 = 320",
    ]
    assert [c.layer for c in result.cells] == ["res1.body.inception_3a.branch1"] * 3


def test_a_total_of_one_counted_layer_is_worked_as_that_layer(tmp_path: Path) -> None:
    # the small net's one 3x3 conv: (3*3*1 + 1)*2 = 20 parameters (Keras counts them alike), 3*3*2*9 = 162 MACs;
    # the total size of one row above is that row's 2*3*3 = 18, with no working to show
    small = summarize(write_toml(tmp_path / "small.toml", SMALL_CONV))
    params = "total parameters: 1 is wrong; right: 20 = (k_h*k_w*C_in + 1)*C_out = (3*3*1 + 1)*2 = 20"
    assert messages(graded(tmp_path, small, "Layer | Params | MACs", "total | 1 | 1"))[:2] == [
        params,
        "total MACs: 1 is wrong; right: 162 = H_out*W_out*C_out*C_in*k_h*k_w = 3*3*2*1*3*3 = 162",
    ]
    assert messages(graded(tmp_path, small, "Layer | Params", "total | 1", convention="keras"))[0] == params
    assert messages(graded(tmp_path, small, "Layer | Size", "conv | 18", "total | 1"))[0] == (
        "total activation size: 1 is wrong; right: 18"
    )


def test_the_input_rows_field_and_a_blocks_shape_and_field(tmp_path: Path) -> None:
    # the input's field is 1/1/0.5 (size/jump/start: a pixel sees itself, its centre half a pixel in); the 3x3
    # conv's 1 + (3-1)*1 = 3 with its centre at 1.5. A block's shape and field are its last layer's, with no
    # working of their own (two 1x1 convs of one filter: 1x4x4, field 1)
    small = summarize(write_toml(tmp_path / "small.toml", SMALL_CONV))
    assert graded(tmp_path, small, "Layer | RF", "input | 1/1/0.5", "conv | 3/1/1.5").ok
    assert messages(graded(tmp_path, small, "Layer | RF", "input | 2/1/0.5"))[0] == (
        "input receptive field: 2/1/0.5 is wrong; right: 1/1/0.5 (size/jump/start; size 1 = 1 (an input pixel sees "
        "itself))"
    )
    layers = ", ".join(['{type = "conv", filters = 1, kernel = 1}'] * 2)
    text = f'input = [1, 4, 4]\nnum_classes = 2\n[[layers]]\ntype = "residual"\nlayers = [{layers}]\n'
    block = summarize(write_toml(tmp_path / "block.toml", text + '[[layers]]\ntype = "flatten"\n'))
    assert messages(graded(tmp_path, block, "Layer | Output shape | RF", "residual1 | 2x4x4 | 3"))[:2] == [
        "residual1 shape: 2x4x4 is wrong; right: 1x4x4",
        "residual1 receptive field: 3 is wrong; right: 1",
    ]


def test_a_naive_module_has_no_reduce_and_a_row_under_a_module_that_names_no_branch_is_not_it(
    tmp_path: Path, nested: ModelSummary
) -> None:
    result = graded(tmp_path, nested, "Layer | Params", "inception(3b) 3x3 reduce | 1")
    assert messages(result)[0] == (
        "inception(3b) 3x3 reduce: inception_3b has no 3x3 reduce branch (its branch2 is a single layer, "
        "inception_3b.branch2)"
    )
    # "reduction" under the row of module 3a names no branch: not the module again, but (no row naming a kind)
    # the next layer with weights, inception_3b's 1x1 conv; each conv left out is told of once
    result = graded(tmp_path, nested, "Layer | Params", "3a | 100", "reduction | 5")
    assert result.ok and [c.layer for c in result.cells] == ["res1.body.inception_3a", "inception_3b.branch1.conv"]
    assert messages(result)[:-1] == [
        "not in the table: inception_3b.branch2.conv (Conv2d)",
        "not in the table: inception_3b.branch3.conv (Conv2d)",
    ]


def test_totals_list_their_parts_up_to_ten(tmp_path: Path, lenet: ModelSummary) -> None:
    result = graded(tmp_path, lenet, "Layer | Params | MACs", "total | 1 | 1")
    # MACs: conv1 28*28*8*75 = 470,400, conv2 10*10*16*200 = 320,000, fc1 48,000, fc2 10,080, fc3 840
    assert messages(result)[:2] == [
        "total parameters: 1 is wrong; right: 62,958 = 608 + 3,216 + 48,120 + 10,164 + 850 = 62,958",
        "total MACs: 1 is wrong; right: 849,320 = 470,400 + 320,000 + 48,000 + 10,080 + 840 = 849,320",
    ]
    # the total activation size over exactly ten rows above still lists them; over eleven it is a sum
    rows = ["conv1 | 6272", "relu1 | 6272", "pool1 | 1568", "conv2 | 1600", "relu2 | 1600", "pool2 | 400"]
    rows += ["flatten | 400", "fc1 | 120", "relu3 | 120", "fc2 | 84"]
    ten = graded(tmp_path, lenet, "Layer | Size", *rows, "total | 1")
    assert messages(ten)[0] == (
        "total activation size: 1 is wrong; right: 18,436 = 6,272 + 6,272 + 1,568 + 1,600 + 1,600 + 400 + 400 + "
        "120 + 120 + 84 = 18,436"
    )
    eleven = graded(tmp_path, lenet, "Layer | Size", *rows, "relu4 | 84", "total | 1")
    assert messages(eleven)[0] == "total activation size: 1 is wrong; right: 18,520 = sum over the rows above = 18,520"


def test_footer_rows_are_named_as_keras_names_them(tmp_path: Path, lenet: ModelSummary) -> None:
    result = graded(tmp_path, lenet, "Layer | Params", "Trainable params | 1", "Non-trainable params | 1")
    # without batch norm nothing is said about moving statistics
    assert messages(result)[:2] == [
        "Trainable params: 1 is wrong; right: 62,958 = parameters that train = 62,958",
        "Non-trainable params: 1 is wrong; right: 0 = frozen parameters = 0",
    ]
    assert [c.layer for c in result.cells] == ["Trainable params", "Non-trainable params"]


def test_working_that_gives_a_large_number_shows_it_whole(tmp_path: Path, lenet: ModelSummary) -> None:
    # conv1's MACs are 470,400; the working 1000*1000 gives 1,000,000, written out in full, not as 1e+06
    result = graded(tmp_path, lenet, "Layer | MACs", "conv1 | 1000*1000 = 470,400")
    assert messages(result)[0].startswith(
        "conv1 MACs: 1000*1000 = 470,400 has working that does not give its value: 1000*1000 = 1,000,000; right:"
    )


# ---------------------------------------------------------------------------------------------- rows named in full


def test_rows_after_a_row_named_in_full_know_its_shape_and_size(tmp_path: Path, vgg16: ModelSummary) -> None:
    # features.30 is VGG16's last max-pool, 512x7x7 = 25,088 values; VGG16 flattens in its forward code, so the
    # flatten row below is that output flattened, and the total size is the sum of the rows above
    result = graded(
        tmp_path,
        vgg16,
        "Layer | Output shape | Size",
        "features.30 | 512x7x7 | 25088",
        "flatten | 1 | 1",
        "total | | 1",
    )
    assert messages(result)[:3] == [
        "flatten shape: 1 is wrong; right: 25088 (512*7*7 = 25,088 (the output above, flattened))",
        "flatten activation size: 1 is wrong; right: 25,088 = 512*7*7 = 25,088 (the output above, flattened)",
        "total activation size: 1 is wrong; right: 50,176 = 25,088 + 25,088 = 50,176",
    ]


def test_a_flatten_row_in_forward_code_has_no_weights_and_computes_nothing(tmp_path: Path, vgg16: ModelSummary) -> None:
    result = graded(tmp_path, vgg16, "Layer | Params | FLOPs", "flatten | 1 | 1")
    assert messages(result)[:2] == [
        "flatten parameters: 1 is wrong; right: 0 = 0 (flattening has no weights)",
        "flatten FLOPs: 1 is wrong; right: 0 = 0 (flattening computes nothing)",
    ]
    assert graded(tmp_path, vgg16, "Layer | Params | FLOPs", "flatten | 0 | 0").ok


# ---------------------------------------------------------------------------------------------- check


def test_check_passes_its_conventions_on(tmp_path: Path) -> None:
    # lenet-like's conv1 does 470,400 MACs: a FLOPs column of MACs is right with --flops macs, and the keras
    # convention is the one named in the grade
    path = write(tmp_path, md("Layer | FLOPs", "conv1 | 470,400"))
    assert check(read_table(path), LENET, flops="macs").ok
    assert not check(read_table(path), LENET, flops="2macs").ok


def test_module_and_branch_names_that_do_not_exist(tmp_path: Path, lenet: ModelSummary) -> None:
    result = graded(tmp_path, lenet, "Layer | Params", "inception(3a) | 1")
    assert messages(result)[0] == "inception(3a): no inception module 3a in the model (its inception modules: none)"
    googlenet = summarize("googlenet", (3, 224, 224))
    # inception3a's branches, not those of the modules after it
    result = graded(tmp_path, googlenet, "Layer | Params", "inception(3a) branch5 | 1")
    assert messages(result)[0] == (
        "inception(3a) branch5: inception3a has no branch5 (its branches: branch1, branch2, branch3, branch4)"
    )


def test_check_of_a_model_that_cannot_run_at_a_later_layer(tmp_path: Path) -> None:
    # lenet-like on 3x12x12: conv1 (5x5) gives 8x8x8 = 512 values, pool1 4x4x8 = 128, and conv2 (5x5) cannot run on
    # 4x4; the rows above it are graded, the row for it says why, and the rows below are not graded
    path = write(tmp_path, md("Layer | Size", "conv1 | 512", "pool1 | 128", "conv2 | 1", "total | 1"))
    result = check(read_table(path), LENET, input_shape=(3, 12, 12))
    lines = messages(result)
    assert lines[0].startswith("conv2: this layer cannot exist: layer 'conv2' (Conv2d 5x5, padding 0): its 4x4 input")
    assert lines[1:] == ["not graded, after the layer that cannot exist: total", "2 of 3 cells right"]
    assert result.cannot == "conv2"


def test_a_model_that_cannot_run_at_a_layer_keras_names_by_its_type(tmp_path: Path) -> None:
    # Keras names layers after their type (conv2d, max_pooling2d, conv2d_1): the conv that cannot exist is a leaf,
    # so "conv2d" stays a conv row, not a block of that type; lenet-like on 3x12x12 as above
    path = write(tmp_path, md("Layer | Params", "conv2d | 608", "max_pooling2d | 0", "conv2d_1 | 3216"))
    result = check(read_table(path), LENET, input_shape=(3, 12, 12))
    assert messages(result)[0].startswith("conv2d_1: this layer cannot exist: layer 'conv2' (Conv2d 5x5, padding 0)")
    assert messages(result)[1:] == ["2 of 3 cells right"] and result.cannot == "conv2"


class Mismatch(nn.Module):
    """Two convs of one input added, whose outputs differ in size: the block's own forward fails, not a layer."""

    def __init__(self) -> None:
        super().__init__()
        self.wide, self.narrow = nn.Conv2d(1, 2, 3), nn.Conv2d(1, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.wide(x) + self.narrow(x)


class Stem(nn.Module):
    """A 1x1 conv and its ReLU: a block that runs."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.relu = nn.Conv2d(1, 1, 1), nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(x))


def test_a_block_before_the_layer_that_cannot_exist_is_graded_without_working(tmp_path: Path) -> None:
    # the stem keeps 1x5x5 and a field of 1; its shape and field have no working of their own (its layers'), and
    # are graded as the mismatched block after it cannot exist
    net = nn.Sequential(Stem(), Mismatch())
    path = write(tmp_path, md("Layer | Output shape | RF", "stem | 1x5x5 | 2", "mismatch | 2x3x3 | 3"))
    lines = messages(check(read_table(path), net, (1, 5, 5)))
    assert lines[0] == "stem receptive field: 2 is wrong; right: 1"
    assert lines[1].startswith("mismatch: this layer cannot exist: ") and lines[2:] == ["1 of 4 cells right"]


def test_a_block_that_cannot_run_is_the_row_named_by_its_type(tmp_path: Path) -> None:
    # on 1x5x5 the 3x3 conv gives 2x3x3 and the 1x1 conv 2x5x5, which cannot be added: the block (Sequential's
    # layer 1, of type Mismatch) is the layer that cannot exist, and a row naming its type is its row
    net = nn.Sequential(nn.Conv2d(1, 1, 1), Mismatch())
    result = check(read_table(write(tmp_path, md("Layer | Params", "conv | 2", "mismatch | 24"))), net, (1, 5, 5))
    lines = messages(result)
    assert lines[0].startswith("mismatch: this layer cannot exist: Sequential cannot run on input 1x5x5 (at layer '1')")
    assert lines[-1] == "1 of 2 cells right" and result.cannot == "1"


def test_a_layer_named_in_full_is_taken_with_what_follows_it_in_mind(tmp_path: Path, vgg16: ModelSummary) -> None:
    # VGG16's features: 0 conv, 1 relu, 2 conv, 3 relu, 4 pool, ...; a relu row under features.2 is features.3
    result = graded(tmp_path, vgg16, "Layer | Output shape", "features.2 | 64x224x224", "relu | 64x224x224")
    assert result.ok and [c.layer for c in result.cells] == ["features.2", "features.3"]
    # the conv named in full is not taken again: twelve conv rows take the other twelve, a thirteenth has none
    result = graded(tmp_path, vgg16, "Layer | Params", "features.0 | 1,792", *["conv | "] * 12, "conv | 1")
    assert messages(result)[0] == (
        "conv: no layer in the model to match (it has 13 conv layers, all matched by earlier rows)"
    )


def test_a_flatten_row_below_a_module_flattens_it_or_takes_the_dense_input(tmp_path: Path) -> None:
    # the naive inception module has no dense layer: a flatten row below it flattens its 672x32x32 output
    inception = summarize(str(NETS / "inception-naive.toml"))
    result = graded(tmp_path, inception, "Layer | Size", "inception | 688128", "flatten | 1")
    assert messages(result)[0] == (
        "flatten activation size: 1 is wrong; right: 688,128 = 672*32*32 = 688,128 (the output above, flattened)"
    )
    # GoogLeNet pools inception5b's 1024x7x7 to 1024x1x1 before its fc layer, so a flatten row right under
    # inception(5b) takes the fc layer's input, not 1024*7*7
    googlenet = summarize("googlenet", (3, 224, 224))
    result = graded(tmp_path, googlenet, "Layer | Size", "inception(5b) | 50176", "flatten | 1")
    assert (
        messages(result)[0]
        == "flatten activation size: 1 is wrong; right: 1,024 = 1,024, the input of the next dense layer (fc)"
    )


def test_long_sums_are_named_not_listed(tmp_path: Path, vgg16: ModelSummary) -> None:
    # VGG16's 13 convs and 3 dense layers: 16 parts are too many to list
    result = graded(tmp_path, vgg16, "Layer | MACs", "total | 1")
    assert messages(result)[0] == (
        "total MACs: 1 is wrong; right: 15,470,264,320 = sum over all layers = 15,470,264,320"
    )
    # inception3a (on 192x28x28) has six convs without biases and six batch norms: 12,288 + 18,432 + 110,592 +
    # 3,072 + 4,608 + 6,144 = 155,136 weights and 2*(64 + 96 + 128 + 16 + 32 + 32) = 736 batch-norm parameters,
    # twelve parts; MACs only from the convs, 28*28 = 784 times their weights
    googlenet = summarize("googlenet", (3, 224, 224))
    result = graded(tmp_path, googlenet, "Layer | Params | MACs", "inception(3a) | 1 | 1")
    assert messages(result)[:2] == [
        "inception(3a) parameters: 1 is wrong; right: 155,872 = sum over its layers = 155,872",
        "inception(3a) MACs: 1 is wrong; right: 121,626,624 = 9,633,792 + 14,450,688 + 86,704,128 + 2,408,448 + "
        "3,612,672 + 4,816,896 = 121,626,624",
    ]
    # the paper's Table 1 names that column "ops": 128M there (its convs with biases), 121.6M here
    result = graded(tmp_path, googlenet, "type | ops", "inception (3a) | 128M", "inception (3b) | 266M")
    assert messages(result) == [
        "inception (3a) MACs: 128M is wrong; right: 121,626,624 (≈ 122M) = 9,633,792 + 14,450,688 + 86,704,128 + "
        "2,408,448 + 3,612,672 + 4,816,896 = 121,626,624",
        "1 of 2 cells right",
    ]


def test_a_weightless_softmax_over_a_feature_map(tmp_path: Path) -> None:
    # a fully convolutional net: conv 3x3 with 2 filters on 1x5x5 gives 2x3x3 = 18 values, which a softmax row
    # (the net has no softmax or dense layer of its own) keeps
    net = write_toml(tmp_path / "fcn.toml", SMALL_CONV)
    result = graded(tmp_path, summarize(net), "Layer | Size", "conv | 18", "softmax | 1")
    assert messages(result)[0] == "softmax activation size: 1 is wrong; right: 18 = 2*3*3 = 18"


def test_a_block_named_in_full_sums_every_layer_inside_it(tmp_path: Path) -> None:
    # resnet18's layer1.0 is a BasicBlock whose first part is a leaf: conv1 3*3*64*64 = 36,864 (no bias), bn1
    # 2*64 = 128, conv2 36,864, bn2 128
    result = graded(tmp_path, summarize("resnet18"), "Layer | Params", "layer1.0 | 1")
    assert messages(result)[0] == (
        "layer1.0 parameters: 1 is wrong; right: 73,984 = 36,864 + 128 + 36,864 + 128 = 73,984"
    )


def test_the_channel_order_is_voted_by_the_rows_that_tell(tmp_path: Path, lenet: ModelSummary) -> None:
    # conv1 (8x28x28) written channels-last decides the order; a row with no shape before it, vectors, and a
    # total row (which has no shape of its own) do not stop or sway the vote, so conv2's right shape is shown HWC
    result = graded(
        tmp_path,
        lenet,
        "Layer | Output shape",
        "input | ",
        "total | 5",
        "conv1 | 28x28x8",
        "fc1 | 120",
        "fc2 | 84",
        "conv2 | 1x1x1",
    )
    assert "conv2 shape: 1x1x1 is wrong; right: 10x10x16" in messages(result)[0]
    # written channels-first, with more vectors than maps, the order stays CHW
    result = graded(tmp_path, lenet, "Layer | Output shape", "conv1 | 8x28x28", "fc1 | 120", "fc2 | 84", "conv2 | abc")
    assert messages(result)[0].startswith("conv2 shape: abc is not a shape; right: 16x10x10")


def test_module_labels_in_capitals_stay_whole(tmp_path: Path) -> None:
    googlenet = summarize("googlenet", (3, 224, 224))
    result = graded(tmp_path, googlenet, "Layer | Params", "INCEPTION(3A) | 1")
    assert messages(result)[0].startswith("INCEPTION(3A) parameters: 1 is wrong; right: 155,872")


def test_grade_of_a_failure_without_a_layer_names_the_model(tmp_path: Path, lenet: ModelSummary) -> None:
    table = read_table(write(tmp_path, md("Layer | Params", "conv1 | 608")))
    result = grade(table, lenet, failure=ShapeError("lenet-like cannot run on input 3x4x4"))
    assert result.cannot == lenet.model_name
    assert messages(result)[-2:] == ["the model cannot run: lenet-like cannot run on input 3x4x4", "1 of 1 cells right"]


def test_check_grades_in_keras_convention_when_asked(tmp_path: Path) -> None:
    # conv 3x3 with 2 filters on 1x5x5: (9 + 1)*2 = 20 parameters; batch norm 2*2 = 4 in PyTorch, 4*2 = 8 in Keras
    net = write_toml(tmp_path / "cbn.toml", SMALL_CONV + '\n[[layers]]\ntype = "batchnorm"\n')
    table = read_table(write(tmp_path, md("Layer | Params", "total | 28")))
    assert check(table, net, convention="keras").ok
    assert not check(table, net).ok


def test_the_layer_that_cannot_exist_named_in_full_or_reached_after_a_named_row(tmp_path: Path) -> None:
    # cnnlab's AlexNet on 3x32x32: features.0 (11x11/4) gives 96x6x6, features.3 (max-pool 3x3/2) 96x2x2,
    # features.4 (5x5, padding 2) 256x2x2, and features.7 (max-pool 3x3/2) cannot run on 2x2
    def alexnet(*rows: str) -> list[str]:
        path = write(tmp_path, md("Layer | Output shape", *rows))
        return messages(check(read_table(path), "alexnet", input_shape=(3, 32, 32)))

    # named in full, it is the layer that cannot exist (not the next layer with weights), and rows after it,
    # named in full or not, are not graded
    lines = alexnet("features.7 | 1", "features.0 | 96x6x6")
    assert lines[0].startswith("features.7: this layer cannot exist: layer 'features.7' (MaxPool2d 3x3, padding 0)")
    assert lines[1:] == ["not graded, after the layer that cannot exist: features.0", "0 of 1 cells right"]
    # after a row named in full, pool rows take features.3 and then the layer that cannot exist
    lines = alexnet("features.0 | 96x6x6", "pool | 1", "pool | 1", "fc | 1")
    assert lines[0].startswith("pool shape: 1 is wrong; right: 96x2x2")
    assert lines[1].startswith("pool: this layer cannot exist: layer 'features.7'")
    # features.4, a conv the table leaves out between them, is noted as it is for rows matched by kind
    assert lines[2:] == [
        "not in the table: features.4 (Conv2d)",
        "not graded, after the layer that cannot exist: fc",
        "1 of 3 cells right",
    ]


# ---------------------------------------------------------------------------------------------- a summary's own table


def zoo_and_nets() -> list[str]:
    """Every zoo model and shipped net but dilated-chain, whose sixth layer cannot exist (its own test)."""
    nets = [f"net:{p.stem}" for p in sorted(NETS.glob("*.toml")) if p.stem != "dilated-chain"]
    return [*cnnlab.list_models(), *nets]


@pytest.mark.parametrize("model", zoo_and_nets())
def test_a_summary_grades_its_own_table_right(tmp_path: Path, model: str) -> None:
    # `cnnlab summary MODEL --format markdown|csv` pasted as a table is all right under both conventions: every
    # row names its layer (a module called twice has a row per call, 'layer1.0.relu (call 2)'), so identities,
    # local response norms, scales and shortcuts meet their own layers rather than the next of a kind
    summary = summarize(model)
    for fmt, name in (("markdown", "t.md"), ("csv", "t.csv")):
        for convention in ("torch", "keras"):
            table = read_table(write(tmp_path, summary.render(fmt, convention=convention), name))
            result = grade(table, summary, convention=convention)
            assert result.ok, (fmt, convention, [c.message() for c in result.cells if not c.ok][:3])
            assert len(result.cells) >= len(summary.rows)


@pytest.mark.parametrize("label", ["norm1", "LRN", "Local response normalization", "response-norm 2"])
def test_local_response_norm_rows(label: str) -> None:
    assert label_kind(label, []) == "lrn"
    assert label_kind("batch norm 1", []) == "batchnorm"


def test_an_alexnet_table_with_its_normalisation_rows(tmp_path: Path) -> None:
    # cnnlab's AlexNet (Krizhevsky et al. 2012): conv1 96x55x55, its local response norm, pool1 96x27x27, conv2
    # 256x27x27, norm2, pool2 256x13x13; the norm rows meet the model's LocalResponseNorm layers in order
    alexnet = summarize("alexnet")
    rows = ["conv1 | 96x55x55", "norm1 | 96x55x55", "pool1 | 96x27x27", "conv2 | 256x27x27", "LRN | 256x27x27"]
    result = graded(tmp_path, alexnet, "Layer | Output shape", *rows, "pool2 | 256x13x13")
    assert result.ok and [c.layer for c in result.cells] == [f"features.{i}" for i in (0, 2, 3, 4, 6, 7)]


@pytest.mark.parametrize("convs, listed", [(9, True), (10, False)])
def test_layers_left_out_are_named_up_to_eight_of_a_kind_then_counted(tmp_path: Path, convs: int, listed: bool) -> None:
    conv = '[[layers]]\ntype = "conv"\nfilters = 2\nkernel = 1\n'
    net = write_toml(tmp_path / "convs.toml", "input = [1, 4, 4]\n" + conv * convs)
    result = graded(tmp_path, summarize(net), "Layer | Params", "conv | 4")
    names = [f"conv{i}" for i in range(2, convs + 1)]
    if listed:
        assert result.notes == [f"not in the table: {n} (Conv2d)" for n in names]
    else:
        assert result.notes == ["not in the table: 9 conv layers (Conv2d): conv2, conv3, conv4, ..."]


# ---------------------------------------------------------------------------------------------- mutation run of 2026-12-06


@pytest.mark.parametrize("header", ["Feature map", "Maps", "Channels"])
def test_each_word_of_a_feature_map_header_names_the_maps_column(header: str) -> None:
    """'Feature map' (singular), 'Maps' or 'Channels' beside a size column are the LeNet-5 paper's maps."""
    assert _header_role(header) == "maps"


def test_the_papers_op_header_counts_multiply_adds() -> None:
    """GoogLeNet's Table 1 says 'ops'; a student writing 'Op' means the same column."""
    assert _header_role("Op") == "macs"


def test_a_maps_column_without_a_size_column_is_not_graded(tmp_path: Path) -> None:
    """Maps alone (6) are not a shape: the column is listed as ignored rather than graded as the shape '6'."""
    table = read_table(write(tmp_path, md("Layer | Feature maps | Params", "C1 | 6 | 156")))
    assert table.columns == {"params": "Params"} and table.ignored == ["Feature maps"]
    assert table.rows[0].cells == {"params": "156"}


def test_maps_and_size_columns_are_named_together_and_a_full_size_is_kept(tmp_path: Path) -> None:
    """The two columns grade as one shape named by both headers; a size already written in full (6x28x28), or a
    size without its maps (28x28), is graded as written, not prefixed with the maps."""
    text = md("Layer | Feature maps | Size", "C1 | 6 | 6x28x28", "S2 | | 14x14", "C3 | 16 | 10x10")
    table = read_table(write(tmp_path, text))
    assert table.columns == {"shape": "Feature maps x Size"} and table.ignored == []
    assert [r.cells["shape"] for r in table.rows] == ["6x28x28", "14x14", "16x10x10"]
    result = grade(table, summarize("lenet5"))
    assert [(c.layer, c.given, c.ok) for c in result.cells] == [
        ("c1", "6x28x28", True),
        ("s2", "14x14", False),
        ("c3", "16x10x10", True),
    ]


def test_digit_and_exponent_bounds_of_a_number() -> None:
    """30 digits, a 4-character exponent and 10^24 are read; one digit, exponent character or power more is a slip."""
    assert parse_number("1" + "0" * 29) is not None and parse_number("1" + "0" * 30) is None
    assert parse_number("2e0006") is not None and parse_number("2e00006") is None
    assert parse_number("1e24") is not None and parse_number("1e25") is None


def test_digit_bound_of_a_shape() -> None:
    """A dimension of 30 digits is still a shape (graded wrong, not unreadable); 31 digits is a slip."""
    assert parse_shape("(" + "1" * 30 + ", 2)") == (int("1" * 30), 2)
    assert parse_shape("(" + "1" * 31 + ", 2)") is None


def test_only_commas_semicolons_and_tabs_separate_sniffed_cells(tmp_path: Path) -> None:
    """Notes in capitals with the same number of X's on every line are not a table split at the X's."""
    path = write(tmp_path, "MAX POOL 2X\nMAX POOL 3X\n", "notes.txt")
    with pytest.raises(CnnlabError) as e:
        read_table(path)
    assert str(e.value) == f"no table found in {path}; give a markdown pipe table or a CSV file"


def test_a_csv_file_is_sniffed_on_its_first_4096_characters(tmp_path: Path) -> None:
    """The sniffer reads a sample: a header whose first ';' is the 4,097th character is not seen as split by ';'."""
    header = "layer;params\n"
    path = write(tmp_path, "\n" * (4096 - header.index(";")) + header + "conv1;608\nconv2;3216\n", "t.csv")
    with pytest.raises(CnnlabError, match="with a header row"):
        read_table(path)
    path.write_text("\n" * (4095 - header.index(";")) + header + "conv1;608\nconv2;3216\n", encoding="utf-8")
    assert read_table(path).columns == {"params": "params"}


def test_the_input_row_has_a_receptive_field_of_one(tmp_path: Path, lenet: ModelSummary) -> None:
    """An input pixel sees itself: 1 is right, 2 is wrong with the reason."""
    result = graded(tmp_path, lenet, "Layer | RF", "input | 1")
    assert result.ok and len(result.cells) == 1
    result = graded(tmp_path, lenet, "Layer | RF", "input | 2")
    assert messages(result)[0] == "input receptive field: 2 is wrong; right: 1 = 1 (an input pixel sees itself)"


def test_a_blocks_receptive_field_has_no_formula(tmp_path: Path) -> None:
    """A block's field is its last layer's: the right size is shown alone, with no formula of its own."""
    result = graded(tmp_path, summarize("resnet50"), "Layer | RF", "layer3 (Sequential) | 1")
    assert messages(result)[0] == "layer3 receptive field: 1 is wrong; right: 19"


class _Scale(nn.Module):
    """A made-up layer a student's model might hold: counted as a conv, with no kernel (no window)."""

    analysis_kind = "conv"

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(2, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight


class _Squash(nn.Module):
    """A made-up pool with no window: its connections are not counted."""

    analysis_kind = "pool"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, ::2, ::2]


def test_connections_of_window_less_conv_and_pool_layers(tmp_path: Path) -> None:
    """A conv without a kernel has its parameters at each output position (2*4*4 = 32); a pool without one has
    none, so the total is the conv's."""
    model = nn.Sequential(_Scale(), _Squash())
    result = graded(tmp_path, summarize(model, (2, 4, 4)), "Layer | Connections", "0 | 1", "total | 32")
    assert messages(result)[0] == (
        "layer 0 connections: 1 is wrong; right: 32 = parameters*H_out*W_out (every output position has the layer's own "
        "weights and biases) = 2*4*4 = 32"
    )
    assert result.cells[1].ok


# ---------------------------------------------------------------------------------------------- 2026-12-06 survivors


def test_a_receptive_field_cell_keeps_its_layer_line_and_formula(tmp_path: Path, lenet: ModelSummary) -> None:
    """A right RF cell records what it was graded against: the layer, the table line, the formula, a readable
    right value (conv1: 1 + (5-1)*1 = 5), as every other column's cell does."""
    cell = graded(tmp_path, lenet, "Layer | RF", "input | ", "conv1 | 5").cells[0]
    assert (cell.ok, cell.layer, cell.line, cell.readable, cell.value_ok) == (True, "conv1", 4, True, True)
    assert cell.formula == "r_in + (k-1)*j_in = 1 + (5-1)*1 = 5"


def test_an_unreadable_macs_cell_is_not_counted_as_flops(tmp_path: Path, lenet: ModelSummary) -> None:
    """An unreadable MACs cell has no number to compare with 2 x MACs: it is said to be no number, no more."""
    result = graded(tmp_path, lenet, "Layer | MACs", "conv1 | abc", "conv2 | 320,000")
    assert messages(result)[0].startswith("conv1 MACs: abc is not a number; right: 470,400 = ")
    assert not any("2 x MACs" in line for line in messages(result))


def test_two_macs_cells_holding_flops_are_counted_in_the_plural(tmp_path: Path, lenet: ModelSummary) -> None:
    """conv1 940,800 = 2*470,400 and conv2 640,000 = 2*320,000: the note counts two cells, in the plural."""
    result = graded(tmp_path, lenet, "Layer | MACs", "conv1 | 940,800", "conv2 | 640,000")
    assert "2 MACs cells hold 2 x MACs, the FLOPs (a multiply-accumulate" in result.render()


@pytest.mark.parametrize(
    ("label", "given", "right"),
    [
        ("conv1", "28x28", "8x28x28"),  # 2-D for 3-D: no channel-order vote, so CHW as the true shape is
        ("fc3", "1x5x10", "10"),  # a 2-D map for a vector is not a vector padded with ones
        ("fc2", "1x1x1", "84x1x1"),  # all ones: the vector's length goes first
    ],
)
def test_the_right_shape_of_a_cell_of_another_rank(
    tmp_path: Path, lenet: ModelSummary, label: str, given: str, right: str
) -> None:
    """A shape of another rank than the true one is answered with the true shape, a vector padded only where the
    student's shape is one padded with ones."""
    result = graded(tmp_path, lenet, "Layer | Output shape", f"{label} | {given}")
    assert messages(result)[0].startswith(f"{label} shape: {given} is wrong; right: {right} (")


def test_labels_are_shortened_by_their_parenthesis_and_colon_only(tmp_path: Path, lenet: ModelSummary) -> None:
    """'conv1:' loses its colon, a number label is 'layer 3', and a label ending in X keeps it."""
    lines = messages(graded(tmp_path, lenet, "Layer | Params", "conv1: | 1", "3 | 1", "FC3X | 1"))
    assert [line.split(":")[0] for line in lines[:3]] == ["conv1 parameters", "layer 3", "FC3X parameters"]


def test_grade_given_a_model_name_says_to_use_check(tmp_path: Path) -> None:
    """grade wants a summary; given the model's name it says what it got and what to call instead."""
    table = read_table(write(tmp_path, md("Layer | Params", "conv1 | 608")))
    with pytest.raises(CnnlabError) as e:
        grade(table, LENET)  # type: ignore[arg-type]
    assert str(e.value) == (
        "grade takes a model summary (cnnlab.summarize(model, input_shape)), got str; "
        "to grade against a model by name or file, use check(table, model)"
    )
