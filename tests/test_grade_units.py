"""The rules of cnnlab.analysis.grade one by one (#18): number and shape notations, column roles, label kinds, the
table readers (markdown, CSV, Keras 3 boxes, Keras 2 text) and their line numbers, how rows meet model layers, the
FLOPs and Keras parameter conventions, and the exact text of the messages and formulas a student reads.

Every expected value is worked out by hand in a comment; the models are real ones (lenet-like.toml, inception-naive.toml,
torchvision's VGG16 and GoogLeNet) or small TOML networks written here.
"""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import pytest

from cnnlab.analysis import ModelSummary, summarize
from cnnlab.analysis.grade import (
    CellResult,
    Grade,
    _branch_spec,
    _header_role,
    _stated_window,
    check,
    grade,
    label_kind,
    parse_number,
    parse_shape,
    read_table,
)
from cnnlab.errors import CnnlabError

ROOT = Path(__file__).resolve().parents[1]
NETS = ROOT / "examples" / "nets"

# A small network with batch norm, dropout and a softmax activation on its last layer, on a 3x8x8 input:
#   conv1 3x3, 4 filters: (3*3*3 + 1)*4 = 112 parameters, output 4x6x6 (8 - 3 + 1 = 6), MACs 6*6*4*3*3*3 = 3,888
#   relu1; bn1: 2*4 = 8 parameters (PyTorch), 4*4 = 16 in Keras' count (moving mean and variance, 2*4 = 8 of them)
#   pool1 2x2: 4x3x3; flatten1: 36; drop1; fc1: (36 + 1)*5 = 185 parameters, 36*5 = 180 MACs; softmax1
# Totals: 112 + 8 + 185 = 305 parameters (313 in Keras' count), 3,888 + 180 = 4,068 MACs.
TINY = """\
name = "tiny"
input = [3, 8, 8]
num_classes = 5

[[layers]]
type = "conv"
filters = 4
kernel = 3
activation = "relu"

[[layers]]
type = "batchnorm"

[[layers]]
type = "maxpool"
size = 2

[[layers]]
type = "flatten"

[[layers]]
type = "dropout"

[[layers]]
type = "linear"
units = "num_classes"
activation = "softmax"
"""


@pytest.fixture(scope="module")
def lenet() -> ModelSummary:
    return summarize(str(NETS / "lenet-like.toml"))


@pytest.fixture(scope="module")
def inception() -> ModelSummary:
    return summarize(str(NETS / "inception-naive.toml"))


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("nets") / "tiny.toml"
    path.write_text(TINY, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tiny(tiny_path: Path) -> ModelSummary:
    return summarize(str(tiny_path))


def write(tmp_path: Path, text: str, name: str = "table.md") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def md(header: str, *rows: str) -> str:
    """A markdown table: 'Layer | Params' and rows 'conv1 | 608'."""
    n = header.count("|") + 1
    return "\n".join([f"| {header} |", "|" + "---|" * n, *(f"| {r} |" for r in rows)]) + "\n"


def graded(tmp_path: Path, summary: ModelSummary, header: str, *rows: str, **kw: str) -> Grade:
    return grade(read_table(write(tmp_path, md(header, *rows))), summary, **kw)


# ---------------------------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    "text, value, step, unit, decimals",
    [
        # plain integers are exact, whatever the thousands separator
        ("6,272", 6272, None, "", 0),
        ("6 272", 6272, None, "", 0),
        ("6'272", 6272, None, "", 0),
        ("6_272", 6272, None, "", 0),
        ("6\u202f272", 6272, None, "", 0),
        ("6\u00a0272", 6272, None, "", 0),
        ("1,234,567", 1234567, None, "", 0),
        ("~6,272", 6272, None, "", 0),
        ("≈ 6,272", 6272, None, "", 0),
        ("**608**", 608, None, "", 0),
        ("`608`", 608, None, "", 0),
        ("608.", 608, None, "", 0),
        ("608 params", 608, None, "", 0),
        ("608 parameters", 608, None, "", 0),
        ("608 weights", 608, None, "", 0),
        ("940,800 FLOPs", 940800, None, "", 0),
        ("470,400 mult-adds", 470400, None, "", 0),
        ("470,400 multiply-adds", 470400, None, "", 0),
        ("1.5", Fraction(3, 2), None, "", 0),
        # a unit makes a rounded number: the step is the unit of its last digit
        ("48k", 48_000, 1_000, "k", 0),
        ("48K", 48_000, 1_000, "K", 0),
        ("33.6M", 33_600_000, 100_000, "M", 1),
        ("1.2 billion", 1_200_000_000, 100_000_000, " billion", 1),
        ("1.25 Bn", 1_250_000_000, 10_000_000, " Bn", 2),
        ("2 mil", 2_000_000, 1_000_000, " mil", 0),
        ("2 mio", 2_000_000, 1_000_000, " mio", 0),
        ("2 mn", 2_000_000, 1_000_000, " mn", 0),
        ("3 mega", 3_000_000, 1_000_000, " mega", 0),
        ("4 thousand", 4_000, 1_000, " thousand", 0),
        ("7 kilo", 7_000, 1_000, " kilo", 0),
        ("2 giga", 2 * 10**9, 10**9, " giga", 0),
        ("2 G", 2 * 10**9, 10**9, " G", 0),
        ("3 b", 3 * 10**9, 10**9, " b", 0),
        ("1 tera", 10**12, 10**12, " tera", 0),
        ("1 trillion", 10**12, 10**12, " trillion", 0),
        ("1.5T", 15 * 10**11, 10**11, "T", 1),
        (".5k", 500, 100, "k", 1),
        ("1.1 GMACs", 1_100_000_000, 100_000_000, " G", 1),
        # powers of ten: the suffix says which
        ("1.2e6", 1_200_000, 100_000, "e6", 1),
        ("1.2E6", 1_200_000, 100_000, "e6", 1),
        ("5e-1", Fraction(1, 2), Fraction(1, 10), "e-1", 0),
        ("3 x 10^6", 3_000_000, 1_000_000, "e6", 0),
        ("3 × 10 ^ 6", 3_000_000, 1_000_000, "e6", 0),
        ("3*10^6", 3_000_000, 1_000_000, "e6", 0),
        ("2.5e3k", 2_500_000, 100_000, "k", 1),  # 2.5e3 thousand: 10^(3 + 3), last digit 10^(6 - 1)
    ],
)
def test_parse_number_reads_the_value_and_its_rounding(
    text: str, value: Fraction | int, step: int | Fraction | None, unit: str, decimals: int
) -> None:
    number = parse_number(text)
    assert number is not None
    assert (number.value, number.step, number.unit, number.decimals) == (value, step, unit, decimals)


@pytest.mark.parametrize("text", ["-", "--", "—", "–", "n/a", "N/A", "none", "None", " - "])
def test_dashes_read_as_an_exact_zero(text: str) -> None:
    number = parse_number(text)
    assert number is not None and number.value == 0 and number.step is None


@pytest.mark.parametrize("text", ["1,2345", "12,34", "e6", "k", "M params", "1.2.3", "3 apples", "x", "1 KB", "1e"])
def test_parse_number_refuses_what_is_not_a_count(text: str) -> None:
    assert parse_number(text) is None


@pytest.mark.parametrize(
    "text, n, ok",
    [
        # 48k covers [47,500, 48,500); 33.6M covers [33,550,000, 33,650,000)
        ("48k", 47_500, True),
        ("48k", 47_499, False),
        ("48k", 48_499, True),
        ("48k", 48_500, False),
        ("33.6M", 33_554_432, True),
        ("33.6M", 33_549_999, False),
        ("33.6M", 33_650_000, False),
        ("1.5", 1, False),
        ("1.5", 2, False),
        ("1,500", 1500, True),
        ("1,500", 1501, False),
    ],
)
def test_a_rounded_number_covers_half_a_step_either_side(text: str, n: int, ok: bool) -> None:
    number = parse_number(text)
    assert number is not None and number.covers(n) is ok


@pytest.mark.parametrize(
    "text, n, like",
    [
        ("33.6M", 33_554_432, "33.6M"),  # 33,554,432 / 10^6 = 33.55 -> 33.6
        ("3.3M", 3_216_000, "3.2M"),
        ("48k", 48_120, "48k"),
        ("1.2 billion", 1_115_684_864, "1.1 billion"),
        ("1.25 Bn", 1_115_684_864, "1.12 Bn"),
        ("1.2e6", 1_216_000, "1.2e6"),
        ("3 x 10^6", 3_216_000, "3e6"),
        (".5k", 470, "0.5k"),
    ],
)
def test_the_right_value_is_shown_in_the_students_notation(text: str, n: int, like: str) -> None:
    number = parse_number(text)
    assert number is not None and number.like(n) == like


# ---------------------------------------------------------------------------------------------- shapes


@pytest.mark.parametrize(
    "text, dims",
    [
        ("(5,5,16)", (5, 5, 16)),
        ("28x28x64", (28, 28, 64)),
        ("28X28X64", (28, 28, 64)),
        ("14 × 14 × 8", (14, 14, 8)),
        ("28*28*8", (28, 28, 8)),
        ("5 by 5 by 16", (5, 5, 16)),
        ("{5, 5, 16}", (5, 5, 16)),
        ("(120,)", (120,)),
        ("(None, 120)", (120,)),
        ("[(None, 224, 224, 3)]", (224, 224, 3)),
        ("**(5,5,16)**", (5, 5, 16)),
        ("`28x28x8`", (28, 28, 8)),
        ("16@10x10", (16, 10, 10)),
    ],
)
def test_parse_shape_notations(text: str, dims: tuple[int, ...]) -> None:
    assert parse_shape(text) == dims


@pytest.mark.parametrize("text", ["", "abc", "28x28x", "x28", "28 - 28", "(5,5,16) channels", "28x28x8 = 6,272"])
def test_parse_shape_refuses_what_is_not_a_shape(text: str) -> None:
    assert parse_shape(text) is None


# ---------------------------------------------------------------------------------------------- labels and headers


@pytest.mark.parametrize(
    "label, kind",
    [
        ("Input:", "input"),
        ("the inputs", "input"),
        ("Total", "total"),
        ("sum", "total"),
        ("Overall", "total"),
        ("Non-trainable params", "nontrainable"),
        ("non trainable", "nontrainable"),
        ("Trainable params", "trainable"),
        ("Softmax", "softmax"),
        ("output layer", "softmax"),
        ("logits", "softmax"),
        ("fc output", "softmax"),  # softmax is tried before dense
        ("BN1", "batchnorm"),
        ("bn", "batchnorm"),
        ("Batch norm", "batchnorm"),
        ("bn conv", "batchnorm"),  # batch norm is tried before conv
        ("max pool", "pool"),
        ("subsampling", "pool"),
        ("S2", "pool"),
        ("conv pool", "pool"),  # pool is tried before conv
        ("CONV1 (f=5, s=1)", "conv"),  # 's=1' is not a pool's 'S1'
        ("C3", "conv"),
        ("FC3", "dense"),
        ("Dense", "dense"),
        ("linear", "dense"),
        ("F6", "dense"),
        ("fully connected", "dense"),
        ("affine", "dense"),
        ("Flatten", "flatten"),
        ("dropout 0.5", "dropout"),
        ("ReLU", "activation"),
        ("tanh", "activation"),
        ("sigmoid", "activation"),
        ("GELU", "activation"),
        ("ELU", "activation"),
        ("swish", "activation"),
        ("Activation", "activation"),
        ("residual", "block"),
        ("stage 2", "block"),
        ("a module", "block"),
        ("foo", None),
        ("summary", None),  # 'sum' only as a word
        ("all trainable", None),  # 'trainable' only at the start
        ("cs2", None),
    ],
)
def test_label_kind(label: str, kind: str | None) -> None:
    assert label_kind(label, []) == kind


def test_label_kind_prefers_the_longest_block_type_and_keeps_the_fixed_kinds_first() -> None:
    assert label_kind("BasicBlock 1", ["block", "basicblock"]) == "block:basicblock"
    assert label_kind("BasicBlock 1", ["basicblock", "block"]) == "block:basicblock"
    assert label_kind("my block", ["block", "basicblock"]) == "block:block"
    assert label_kind("Inception (3a)", ["inception"]) == "block:inception"
    assert label_kind("Input of inception", ["inception"]) == "input"
    assert label_kind("Total of inception", ["inception"]) == "total"


@pytest.mark.parametrize(
    "header, role",
    [
        ("Output shape", "shape"),
        ("Param shape", "shape"),  # shape is tried first
        ("# parameters", "params"),
        ("**Params**", "params"),
        ("Weights", "params"),
        ("Layer params", "params"),  # params before the label words
        ("Connections", "connections"),
        ("FLOPs", "flops"),
        ("FLOPs (mult-adds)", "flops"),  # FLOPs before MACs
        ("Computation", "flops"),
        ("MACs", "macs"),
        ("Mult-adds", "macs"),
        ("Activation size", "size?"),
        ("Memory", "size?"),
        ("Output", "size?"),
        ("Layer output", "size?"),  # 'output' before 'layer'
        ("Dimension", "size?"),
        ("Layer", "label"),
        ("Name", "label"),
        ("Type", "label"),
        ("Kind", "label"),
        ("", "label"),
        ("Input shape", None),
        ("Filter size", None),
        ("Kernel", None),
        ("Stride", None),
        ("Padding", None),
        ("Receptive field", None),
        ("Notes", None),
    ],
)
def test_header_roles(header: str, role: str | None) -> None:
    assert _header_role(header) == role


@pytest.mark.parametrize(
    "label, window",
    [
        ("3x3 conv", (3, 3)),
        ("max pool 3x3/2", (3, 3)),
        ("conv 1×7", (1, 7)),
        ("conv 7 x 1", (7, 1)),
        ("conv", None),
        ("28x28x8", None),  # a shape, not a kernel
        ("1.5x2", None),
        ("123x4", None),
    ],
)
def test_the_kernel_a_label_states(label: str, window: tuple[int, int] | None) -> None:
    assert _stated_window(label) == window


@pytest.mark.parametrize(
    "text, spec",
    [
        ("branch1", (1, -1, "branch1")),
        ("branch2 reduce", (2, 0, "branch2 first layer")),
        ("branch2 1x1", (2, 0, "branch2 first layer")),
        ("branch2 3x3", (2, -1, "branch2")),
        ("branch3 reduce", (3, 0, "branch3 first layer")),
        ("branch3 5x5", (3, -1, "branch3")),
        ("branch 3", (3, -1, "branch3")),
        ("branch_4 pool", (4, 0, "branch4 first layer")),
        ("branch4 pool proj", (4, -1, "branch4")),
        ("branch4", (4, -1, "branch4")),
        ("branch1 reduce", (1, -1, "branch1")),  # only branches 2 and 3 have a reduce
        ("pool proj", (4, -1, "pool proj branch")),
        ("max pool", (4, 0, "pool branch")),
        ("#3x3 reduce", (2, 0, "3x3 reduce branch")),
        ("3x3 red", (2, 0, "3x3 reduce branch")),
        ("#3x3", (2, -1, "3x3 branch")),
        ("#5x5 reduce", (3, 0, "5x5 reduce branch")),
        ("#5x5", (3, -1, "5x5 branch")),
        ("#1x1", (1, -1, "1x1 branch")),
        ("#7x7", None),
        ("conv", None),
    ],
)
def test_inception_branch_names(text: str, spec: tuple[int, int, str] | None) -> None:
    assert _branch_spec(text) == spec


# ---------------------------------------------------------------------------------------------- messages


def test_cell_messages() -> None:
    wrong = CellResult("conv1", "params", "208", 608, False, "f", "608 = f")
    assert wrong.message() == "conv1 parameters: 208 is wrong; right: 608 = f"
    shape = CellResult("pool1", "shape", "abc", (8, 14, 14), False, "", "14x14x8", readable=False)
    assert shape.message() == "pool1 shape: abc is not a shape; right: 14x14x8"
    number = CellResult("fc1", "macs", "lots", 48000, False, "", "48,000", readable=False)
    assert number.message() == "fc1 MACs: lots is not a number; right: 48,000"
    working = CellResult("fc1", "flops", "2*3 = 5", 5, False, "", "5", value_ok=True, working="2*3 = 6")
    assert working.message() == "fc1 FLOPs: 2*3 = 5 has working that does not give its value: 2*3 = 6; right: 5"
    both = CellResult("fc1", "size", "2*3 = 5", 7, False, "", "7", working="2*3 = 6")
    assert both.message() == (
        "fc1 activation size: 2*3 = 5 is wrong, and its working does not give its value either: 2*3 = 6; right: 7"
    )
    assert CellResult("x", "connections", "1", None, False, "why").message() == "x: why"


def test_grade_counts_renders_and_shows_in_jupyter() -> None:
    right = CellResult("conv1", "params", "608", 608, True)
    wrong = CellResult("fc1", "params", "1", 48120, False, "", "48,120")
    unmatched = [CellResult("FC9", c, "1", None, False, "no layer") for c in ("params", "shape")]
    result = Grade([right, wrong, *unmatched], ["a note"])
    assert (result.right, result.ok, result.exit_code) == (1, False, 1)
    assert result.wrong == [wrong, *unmatched]
    assert result.messages() == ["fc1 parameters: 1 is wrong; right: 48,120", "FC9: no layer"]  # one per row
    assert result.score() == "1 of 4 cells right"
    assert result.render() == "fc1 parameters: 1 is wrong; right: 48,120\nFC9: no layer\na note\n1 of 4 cells right\n"
    html = result._repr_html_()
    assert html.index("1 of 4 cells right") < html.index("fc1 parameters") < html.index("a note")
    assert Grade([right]).ok and Grade([right]).exit_code == 0
    assert not Grade([right], cannot="conv6").ok and Grade([right], cannot="conv6").exit_code == 1
    assert Grade([]).ok and Grade([]).score() == "0 of 0 cells right"


# ---------------------------------------------------------------------------------------------- reading tables


def test_markdown_table_after_prose_with_escaped_pipes_and_aligned_separator(tmp_path: Path) -> None:
    text = (
        "Some prose | with a pipe.\n\n"
        "| Layer | Params |\n| :--- | ---: |\n| conv \\| a | 608 |\n|fc1|48,120|\n\n| after | 1 |\n"
    )
    table = read_table(write(tmp_path, text))
    assert [(r.label, r.cells, r.line) for r in table.rows] == [
        ("conv | a", {"params": "608"}, 5),
        ("fc1", {"params": "48,120"}, 6),
    ]
    assert table.columns == {"params": "Params"} and table.ignored == []


def test_label_columns_are_joined_and_other_columns_named(tmp_path: Path) -> None:
    table = read_table(write(tmp_path, md("# | Name | Type | Params | Weights | ", "1 | conv1 | Conv2d | 608 | x | y")))
    # '#' is no role and not a label; a blank header is a label too; the second parameter column is ignored
    assert table.rows[0].label == "conv1 Conv2d y"
    assert table.columns == {"params": "Params"}
    assert table.ignored == ["#", "Weights"]


def test_without_a_label_header_the_first_column_labels_the_rows(tmp_path: Path, lenet: ModelSummary) -> None:
    table = read_table(write(tmp_path, md("Notes | Params", "conv1 | 608")))
    assert table.rows[0].label == "conv1" and table.ignored == []
    # a first column that is graded labels nothing: the row is called by its line
    table = read_table(write(tmp_path, md("Params | Notes", "608 | conv1"), "b.md"))
    assert table.rows[0].label == "" and table.ignored == ["Notes"]
    result = grade(table, lenet)
    # a row without a label meets the next layer with weights or a new size: conv1, (5*5*3 + 1)*8 = 608
    assert result.ok and (result.cells[0].row, result.cells[0].layer) == ("line 3", "conv1")


def test_memory_and_size_columns_are_told_by_their_cells(tmp_path: Path, lenet: ModelSummary) -> None:
    # conv1's output is 8x28x28 = 6,272 values; a memory column in KB is not graded
    counts = read_table(write(tmp_path, md("Layer | Memory", "conv1 | 6,272", "pool1 | 28*28*2 = 1,568")))
    assert counts.columns == {"size": "Memory"}
    assert grade(counts, lenet).ok
    kb = read_table(write(tmp_path, md("Layer | Memory | Params", "conv1 | 24.5 KB | 608"), "kb.md"))
    assert kb.columns == {"params": "Params"} and kb.ignored == ["Memory"]
    empty = read_table(write(tmp_path, md("Layer | Memory | Params", "conv1 |  | 608"), "e.md"))
    assert empty.ignored == ["Memory"]
    shapes = read_table(write(tmp_path, md("Layer | Output", "conv1 | 28x28x8", "fc1 | 120"), "s.md"))
    assert shapes.columns == {"shape": "Output"}
    sizes = read_table(write(tmp_path, md("Layer | Output", "conv1 | 6,272", "fc1 | 120"), "n.md"))
    assert sizes.columns == {"size": "Output"}


def test_unreadable_table_messages(tmp_path: Path) -> None:
    path = write(tmp_path, md("a | b", "x | y"))
    with pytest.raises(CnnlabError) as e:
        read_table(path)
    assert str(e.value) == (
        f"no recognisable columns in {path} (header: a | b); name them like 'shape', 'activation size', "
        "'parameters', 'connections', 'MACs' or 'FLOPs'"
    )
    prose = write(tmp_path, "No table here\nonly words.\n", "prose.md")  # no delimiter to sniff
    with pytest.raises(CnnlabError) as e:
        read_table(prose)
    assert str(e.value) == f"no table found in {prose}; give a markdown pipe table or a CSV file"
    comma = write(tmp_path, "No table here, only words.\n", "comma.md")  # sniffs as CSV, one row
    with pytest.raises(CnnlabError) as e:
        read_table(comma)
    assert str(e.value).endswith("give a markdown pipe table or a CSV file with a header row")
    one = write(tmp_path, "layer\nconv1\n", "one.csv")
    with pytest.raises(CnnlabError) as e:
        read_table(one)
    assert str(e.value) == f"no table found in {one}; give a markdown pipe table or a CSV file with a header row"
    latin = tmp_path / "latin.md"
    latin.write_bytes("| Layer | Größe |\n".encode("latin-1"))
    with pytest.raises(CnnlabError, match=r"cannot read table file .*latin.md: .*; give a UTF-8 markdown or CSV file"):
        read_table(latin)


def test_csv_with_semicolons_a_byte_order_mark_and_blank_lines(tmp_path: Path, lenet: ModelSummary) -> None:
    path = tmp_path / "t.csv"
    path.write_text("\ufeffLayer;Params\n\nconv1;608\n;\nfc1;48 120\n", encoding="utf-8")
    table = read_table(path)
    assert table.columns == {"params": "Params"}
    assert [(r.label, r.cells["params"], r.line) for r in table.rows] == [("conv1", "608", 3), ("fc1", "48 120", 5)]
    assert grade(table, lenet).ok


BOX = """\
Model: "lenet"
┏━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━┳━━━━━━━━━┓
┃ Layer (type)     ┃ Output Shape    ┃ Param # ┃
┡━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━╇━━━━━━━━━┩
│ conv2d (Conv2D)  │ (None, 28, 28,  │     608 │
│                  │ 8)              │         │
├──────────────────┼─────────────────┼─────────┤
│ max_pooling2d    │ (None, 14, 14,  │       0 │
│ (MaxPooling2D)   │ 8)              │         │
└──────────────────┴─────────────────┴─────────┘
 Total params: 62,958 (245.93 KB)
"""


def test_keras3_box_rows_keep_the_line_of_their_first_text(tmp_path: Path, lenet: ModelSummary) -> None:
    table = read_table(write(tmp_path, BOX, "s.txt"))
    assert [(r.label, r.cells["shape"], r.line) for r in table.rows] == [
        ("conv2d (Conv2D)", "(None, 28, 28, 8)", 5),
        ("max_pooling2d (MaxPooling2D)", "(None, 14, 14, 8)", 8),
        ("Total params", "", 11),
    ]
    result = grade(table, lenet)
    assert result.ok and [c.line for c in result.cells] == [5, 5, 8, 8, 11]


def test_keras3_box_without_a_parameter_column_joins_lines_with_one_filled_cell(tmp_path: Path) -> None:
    text = """\
┏━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━┓
┃ Layer (type)     ┃ Output Shape    ┃ Connected to ┃
┡━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━┩
│ conv2d           │ (None, 28, 28,  │ input[0][0]  │
│ (Conv2D)         │                 │              │
│ flatten          │ (None, 6272)    │ conv2d[0][0] │
└──────────────────┴─────────────────┴──────────────┘
"""
    table = read_table(write(tmp_path, text, "s.txt"))
    assert [(r.label, r.cells["shape"], r.line) for r in table.rows] == [
        ("conv2d (Conv2D)", "(None, 28, 28,", 4),
        ("flatten", "(None, 6272)", 6),
    ]
    assert table.ignored == ["Connected to"]


def keras2(rows: list[tuple[str, str, str]], footer: str) -> str:
    """A Keras 2 summary: columns at 1, 29 and 55 as Keras prints them."""
    head = " " + "Layer (type)".ljust(28) + "Output Shape".ljust(26) + "Param #"
    body = "\n".join(" " + a.ljust(28) + b.ljust(26) + c for a, b, c in rows)
    return f'Model: "m"\n{"_" * 65}\n{head}\n{"=" * 65}\n{body}\n{"=" * 65}\n{footer}'


def test_keras2_wrapped_rows_keep_the_line_of_their_first_text(tmp_path: Path, lenet: ModelSummary) -> None:
    text = keras2(
        [
            ("conv2d (Conv2D)", "(None, 28, 28, 8)", "608"),
            ("", "", ""),
            ("max_pooling2d (MaxPooling2D", "(None, 14, 14, 8)", "0"),
            (")", "", ""),
        ],
        "Total params: 62,958\n",
    )
    table = read_table(write(tmp_path, text, "s.txt"))
    # lines: 1 Model, 2 rule, 3 header, 4 ====, 5 conv2d, 6 blank, 7-8 max_pooling2d, 9 ====, 10 Total
    assert [(r.label, r.line) for r in table.rows] == [
        ("conv2d (Conv2D)", 5),
        ("max_pooling2d (MaxPooling2D )", 7),
        ("Total params", 10),
    ]
    assert grade(table, lenet).ok


def test_keras2_footer_a_few_lines_below_the_rule_is_read(tmp_path: Path) -> None:
    text = keras2(
        [("conv2d (Conv2D)", "(None, 28, 28, 8)", "608")],
        "\n\n\nTotal params: 608\nTrainable params: 608\nNon-trainable params: 0\n",
    )
    table = read_table(write(tmp_path, text, "s.txt"))
    assert [(r.label, r.cells["params"], r.line) for r in table.rows] == [
        ("conv2d (Conv2D)", "608", 5),
        ("Total params", "608", 10),
        ("Trainable params", "608", 11),
        ("Non-trainable params", "0", 12),
    ]
