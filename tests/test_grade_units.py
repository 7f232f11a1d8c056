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
from cnnlab.analysis.grade import CellResult, Grade, check, grade
from cnnlab.analysis.match import _branch_spec, _stated_window, label_kind
from cnnlab.analysis.table import _header_role, parse_number, parse_shape, read_table
from cnnlab.analysis.working import WorkingError, evaluate
from cnnlab.errors import CnnlabError
from tests.gradekit import graded, md, messages, write

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


@pytest.mark.parametrize(
    "text",
    [
        *["1,2345", "12,34", "e6", "k", "M params", "1.2.3", "3 apples", "x", "1 KB", "1e", "1e400", "2e-30"],
        *["9" * 5000, "1." + "1" * 5000, "1e" + "0" * 5000 + "5", "1" + "0" * 31],  # past int()'s 4,300 digits
        *["1_0", "62_72", "6_2_7_2", "1.2_5k", "1e1_0"],  # '_' groups thousands only (6_272), not as Python's int()
    ],
)
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


@pytest.mark.parametrize(
    "text",
    ["", "abc", "28x28x", "x28", "28 - 28", "(5,5,16) channels", "28x28x8 = 6,272", "(" + "9" * 5000 + ",28,8)"],
)
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
        ("Receptive field", "rf"),
        ("RF", "rf"),
        ("RF jump", None),  # the field's jump and start are not graded alone, only its size
        ("Receptive field start", None),
        ("RF size/jump/start", "rf"),  # the summary's column: size/jump/start cells, each part graded
        ("rf_size", "rf"),  # the summary's CSV
        ("rf_jump", None),
        ("Surface", None),
        ("Surf", None),
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
    printed: list[str] = []  # IPython's terminal display calls _repr_pretty_
    result._repr_pretty_(type("P", (), {"text": lambda self, t: printed.append(t)})(), False)
    assert printed == [result.render()]
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
        "'parameters', 'connections', 'MACs', 'FLOPs' or 'receptive field'"
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


# ---------------------------------------------------------------------------------------------- rows and layers


def test_rows_meet_layers_kind_by_kind(tmp_path: Path, tiny: ModelSummary) -> None:
    result = graded(
        tmp_path,
        tiny,
        "Layer | Output",
        "conv | 6x6x4",
        "relu | 6x6x4",
        "bn | 6x6x4",
        "pool | 3x3x4",
        "flatten | 36",
        "dropout | 36",
        "fc | 5",
        "softmax | 5",
    )
    assert result.ok, result.render()
    # the softmax activation of the last layer is no Softmax module, and fc1 is taken: a weightless softmax row
    assert [c.layer for c in result.cells] == ["conv1", "relu1", "bn1", "pool1", "flatten1", "drop1", "fc1", "softmax"]


SMX = """\
name = "smx"
input = [3, 8, 8]

[[layers]]
type = "flatten"

[[layers]]
type = "linear"
units = 6
activation = "softmax"

[[layers]]
type = "linear"
units = 5
"""


def test_a_softmax_row_meets_the_models_softmax_module(tmp_path: Path) -> None:
    # fc1 (3*8*8 + 1)*6 = 1,158 parameters, its softmax, fc2 (6 + 1)*5 = 35
    net = write(tmp_path, SMX, "smx.toml")
    result = check(read_table(write(tmp_path, md("Layer | Params", "fc | 1,158", "softmax | 0", "fc | 35"))), str(net))
    assert result.ok and [c.layer for c in result.cells] == ["fc1", "softmax1", "fc2"]


def test_a_softmax_row_without_a_softmax_module_meets_the_last_dense_layer(tmp_path: Path, lenet: ModelSummary) -> None:
    # fc3: (84 + 1)*10 = 850
    result = graded(tmp_path, lenet, "Layer | Params", "output | 850")
    assert result.ok and result.cells[0].layer == "fc3"


def test_rows_beyond_the_layers_of_a_kind(tmp_path: Path, lenet: ModelSummary, tiny: ModelSummary) -> None:
    result = graded(tmp_path, lenet, "Layer | Params", "pool | 0", "pool | 0", "pool | 0", "bn | 0")
    assert messages(result)[:2] == [
        "pool: no layer in the model to match (it has 2 pool layers, all matched by earlier rows)",
        "bn: no layer in the model to match (it has no batchnorm layer)",
    ]
    result = graded(tmp_path, tiny, "Layer | Params", "conv | 112", "conv | 112")
    assert (
        messages(result)[0] == "conv: no layer in the model to match (it has 1 conv layer, all matched by earlier rows)"
    )


def test_a_second_module_row_and_block_types_in_labels(tmp_path: Path, inception: ModelSummary) -> None:
    # the naive module's 1x1 tower is a ConvReLU block: 256*128 + 128 = 32,896 parameters
    result = graded(tmp_path, inception, "Layer | Params", "ConvReLU | 32,896", "Inception | 1", "Inception 2 | 1")
    assert [c.layer for c in result.cells] == ["inception1.branch1", "inception1", ""]
    # a module row's formula sums its layers: 32,896 + (9*256 + 1)*192 = 442,560 + (25*256 + 1)*96 = 614,496
    assert messages(result)[:2] == [
        "Inception parameters: 1 is wrong; right: 1,089,952 = 32,896 + 442,560 + 614,496 = 1,089,952",
        "Inception 2: no layer in the model to match (it has 1 inception block layer, all matched by earlier rows)",
    ]


def test_uninformative_and_unreadable_labels(tmp_path: Path, lenet: ModelSummary) -> None:
    # only numbers and an input row: rows meet the layers with weights or a new size in order
    result = graded(tmp_path, lenet, "Layer | Output", "Input | 32x32x3", "1 | 28x28x8", "2 | 14x14x8")
    assert result.ok and [c.layer for c in result.cells] == ["input", "conv1", "pool1"]
    # where other rows name their layers, a label that names none is reported
    result = graded(tmp_path, lenet, "Layer | Output", "conv1 | 28x28x8", "foo | 14x14x8")
    assert messages(result)[0] == (
        "foo: cannot tell which layer this is from its label; name it input, conv, pool, fc, flatten, relu, bn, lrn or softmax"
    )
    rows = [f"{i} | 1" for i in range(1, 9)]
    result = graded(tmp_path, lenet, "Layer | Params", *rows)
    # conv1, pool1, conv2, pool2, fc1, fc2, fc3 change the size or have weights (flatten1 and the ReLUs do not)
    assert "layer 8: no layer in the model to match (all 7 layers with weights or a new size are matched)" in (
        messages(result)
    )


def test_short_labels_in_messages(tmp_path: Path, lenet: ModelSummary) -> None:
    result = graded(tmp_path, lenet, "Layer | Params", "conv1: (f=5) | 1", "(conv) | 1", "3 | 1")
    assert [c.row for c in result.cells] == ["conv1", "(conv)", "layer 3"]


def test_the_input_row(tmp_path: Path, lenet: ModelSummary) -> None:
    result = graded(
        tmp_path,
        lenet,
        "Layer | Output | Size | Params | MACs | FLOPs | Connections",
        "Input: | 32x32x3 | 3,072 | 0 | 0 | 0 | 0",
        "input again | 32x32x3 | 3,072 | 0 | 0 | 0 | 0",
    )
    assert [c.ok for c in result.cells] == [True] * 6 + [False] * 6
    assert (
        messages(result)[0]
        == "input again: no layer in the model to match (it has one input, matched by an earlier row)"
    )
    result = graded(tmp_path, lenet, "Layer | Output | Params | MACs | FLOPs", "input | 3x32x30 | 1 | 2 | 3")
    assert messages(result)[:4] == [
        "input shape: 3x32x30 is wrong; right: 3x32x32 (the network's input)",
        "input parameters: 1 is wrong; right: 0 = 0 (the input has no weights)",
        "input MACs: 2 is wrong; right: 0 = 0 (the input computes nothing)",
        "input FLOPs: 3 is wrong; right: 0 = 0 (the input computes nothing)",
    ]


def test_total_trainable_and_skipped_cells(tmp_path: Path, lenet: ModelSummary) -> None:
    result = graded(
        tmp_path,
        lenet,
        "Layer | Output | Size | Params | MACs | FLOPs | Connections",
        "conv1 | 28x28x8 | 6,272 | | | | ",
        "pool1 | 14x14x8 | 1,568 | | | | ",
        "Total | x | 1 | 1 | 1 | 1 | 1",
        "Trainable params | | | 1 | 1 | | ",
    )
    # by hand: sizes 6,272 + 1,568 = 7,840; parameters 608 + 3,216 + 48,120 + 10,164 + 850 = 62,958;
    # MACs 470,400 + 320,000 + 48,000 + 10,080 + 840 = 849,320; connections 476,672 (conv1) + 6,272 (pool1)
    # + 321,600 ((5*5*8 + 1)*16*10*10) + 1,600 (2*2*16*5*5) + 48,120 + 10,164 + 850 = 865,278
    assert messages(result) == [
        "Total activation size: 1 is wrong; right: 7,840 = 6,272 + 1,568 = 7,840",
        "Total parameters: 1 is wrong; right: 62,958 = 608 + 3,216 + 48,120 + 10,164 + 850 = 62,958",
        "Total MACs: 1 is wrong; right: 849,320 = 470,400 + 320,000 + 48,000 + 10,080 + 840 = 849,320",
        "Total FLOPs: 1 is wrong; right: 1,698,640 = 2*MACs = 2*849,320 = 1,698,640",
        "Total connections: 1 is wrong; right: 865,278 = 476,672 + 6,272 + 321,600 + 1,600 + 48,120 + 10,164 + 850 = "
        "865,278",
        "Trainable params: 1 is wrong; right: 62,958 = parameters that train = 62,958",
        "not in the table: conv2 (Conv2d)",
        "not in the table: fc1 (Linear)",  # convs and dense layers are noted whatever kinds the table lists
        "not in the table: fc2 (Linear)",
        "not in the table: fc3 (Linear)",
        "not in the table: pool2 (MaxPool2d)",
        "not graded: the shape of Total (it has no shape)",
        "not graded: the MACs of Trainable params (not defined for these rows)",
        "FLOPs column graded as 2 x MACs, the usual convention: its values fit neither convention throughout "
        "(0 fit MACs, 0 fit 2 x MACs; --flops macs grades it as MACs)",
        "4 of 10 cells right",
    ]


def test_a_dash_in_a_shape_cell_is_not_graded(tmp_path: Path, lenet: ModelSummary) -> None:
    result = graded(tmp_path, lenet, "Layer | Output shape | Params", "Total | - | 62,958", "conv1 | n/a | 608")
    assert result.ok and [c.column for c in result.cells] == ["params", "params"]


def test_flops_messages_and_notes(tmp_path: Path, lenet: ModelSummary) -> None:
    table = read_table(write(tmp_path, md("Layer | FLOPs", "pool1 | 5", "conv1 | 470,400", "conv2 | 640,000")))
    result = grade(table, lenet)
    # conv1's 470,400 fits MACs (28*28*8*3*5*5), conv2's 640,000 fits 2 x MACs (2*10*10*16*8*5*5): neither throughout
    assert messages(result) == [
        "pool1 FLOPs: 5 is wrong; right: 0 = 2*MACs = 2*0 = 0",
        "conv1 FLOPs: 470,400 is wrong; right: 940,800 = 2*MACs = 2*470,400 = 940,800 "
        "(MACs: H_out*W_out*C_out*C_in*k_h*k_w = 28*28*8*3*5*5 = 470,400)",
        "not in the table: fc1 (Linear)",
        "not in the table: fc2 (Linear)",
        "not in the table: fc3 (Linear)",
        "not in the table: pool2 (MaxPool2d)",
        "FLOPs column graded as 2 x MACs, the usual convention: its values fit neither convention throughout "
        "(1 fit MACs, 1 fit 2 x MACs; --flops macs grades it as MACs)",
        "1 of 3 cells right",
    ]
    forced = grade(table, lenet, flops="2macs")
    assert forced.flops == "2macs" and forced.notes[-1] == "FLOPs column graded as 2 x MACs (--flops 2macs)"
    as_macs = grade(table, lenet, flops="macs")
    assert as_macs.wrong[0].message() == (
        "pool1 FLOPs: 5 is wrong; right: 0 = FLOPs counted as MACs: 0 (only conv and linear layers multiply-accumulate)"
    )
    assert grade(read_table(write(tmp_path, md("Layer | Params", "conv1 | 608"), "p.md")), lenet).flops == ""
    with pytest.raises(CnnlabError, match="unknown convention 'tf'; use torch or keras"):
        grade(table, lenet, convention="tf")


def test_connections_formulas_of_pools_and_weightless_dense_layers(tmp_path: Path, lenet: ModelSummary) -> None:
    result = graded(tmp_path, lenet, "Layer | Connections", "pool1 | 1")
    assert messages(result)[0] == (
        "pool1 connections: 1 is wrong; right: 6,272 = k_h*k_w*C*H_out*W_out (window inputs) = 2*2*8*14*14 = 6,272"
    )
    lenet5 = summarize("lenet5")
    result = graded(tmp_path, lenet5, "Layer | Connections", "S2 | 1", "output | 1")
    # S2 has a weight and a bias per map: (2*2 + 1)*6*14*14 = 5,880; the RBF output has no weights: 84*10 = 840
    assert messages(result)[0] == (
        "S2 connections: 1 is wrong; right: 5,880 = (k_h*k_w + 1)*C*H_out*W_out (window inputs and a bias) = "
        "(2*2 + 1)*6*14*14 = 5,880"
    )
    assert messages(result)[1].startswith(
        "output connections: 1 is wrong; right: 840 = inputs*outputs (no weights to learn) = "
    )


# ---------------------------------------------------------------------------------------------- shapes in messages


def test_the_right_shape_is_written_in_the_students_order(tmp_path: Path, lenet: ModelSummary) -> None:
    pool1 = "(floor((H + 2p - k)/s) + 1 = floor((28 + 2*0 - 2)/2) + 1 = 14)"
    chw = graded(tmp_path, lenet, "Layer | Output", "conv1 | [8, 28, 28]", "pool1 | [1, 2, 3]")
    assert chw.wrong[0].message() == f"pool1 shape: [1, 2, 3] is wrong; right: [8, 14, 14] {pool1}"
    hwc = graded(tmp_path, lenet, "Layer | Output", "conv1 | 28x28x8", "pool1 | 1x2x3")
    assert hwc.wrong[0].message() == f"pool1 shape: 1x2x3 is wrong; right: 14x14x8 {pool1}"
    alone = graded(tmp_path, lenet, "Layer | Output", "pool1 | 1x2x3")
    assert alone.wrong[0].message() == f"pool1 shape: 1x2x3 is wrong; right: 8x14x14 {pool1}"
    short = graded(tmp_path, lenet, "Layer | Output", "conv1 | 28x28x8", "pool1 | 14x14")
    assert short.wrong[0].message() == f"pool1 shape: 14x14 is wrong; right: 14x14x8 {pool1}"


def test_the_right_vector_shape_keeps_the_students_ones(tmp_path: Path, lenet: ModelSummary) -> None:
    result = graded(tmp_path, lenet, "Layer | Output", "fc1 | (12,1)", "fc2 | (1,8)", "fc3 | abc")
    assert messages(result)[:3] == [
        "fc1 shape: (12,1) is wrong; right: (120,1) (out_features = 120)",
        "fc2 shape: (1,8) is wrong; right: (1,84) (out_features = 84)",
        "fc3 shape: abc is not a shape; right: 10 (out_features = 10)",
    ]


# ---------------------------------------------------------------------------------------------- flatten in forward code


def test_a_flatten_row_where_the_model_flattens_in_its_forward_code(tmp_path: Path) -> None:
    vgg16 = summarize("vgg16")
    result = graded(tmp_path, vgg16, "Layer | Output shape | Params | MACs", "flatten | 25000 | 0 | 5")
    # the first row: nothing above it, so the input of the first dense layer, 512*7*7 = 25,088
    assert result.cells[0].layer == "flatten (in the model's forward code)"
    assert messages(result)[:2] == [
        "flatten shape: 25000 is wrong; right: 25088 (25,088, the input of the next dense layer (classifier.0))",
        "flatten MACs: 5 is wrong; right: 0 = 0 (flattening computes nothing)",
    ]
    # below the first dense layer, a flatten row flattens its 4,096 outputs, which the next dense layer takes
    result = graded(tmp_path, vgg16, "Layer | Output shape | MACs", "fc | 4096 | ", "flatten | 4096 | 0")
    assert result.ok and result.cells[1].expected_text == "4096 (4096 = 4,096 (the output above, flattened))"


def test_a_flatten_row_in_a_model_with_nothing_to_flatten(tmp_path: Path, inception: ModelSummary) -> None:
    result = graded(tmp_path, inception, "Layer | Output", "flatten | 5")
    assert messages(result)[0] == (
        "flatten: no layer in the model to match (it has no flatten layer and no dense layer after this row)"
    )


# ---------------------------------------------------------------------------------------------- Keras' parameter count


def test_keras_counts_under_the_torch_convention(tmp_path: Path, tiny: ModelSummary) -> None:
    rows = ["conv1 | 112", "bn1 | 16", "fc1 | 185", "Total | 313", "Trainable params | 305", "Non-trainable params | 8"]
    result = graded(tmp_path, tiny, "Layer | Params", *rows)
    assert messages(result) == [
        "bn1 parameters: 16 is wrong; right: 8 = 2*C (scale and shift; running mean/var are buffers) = 2*4 = 8",
        "Total parameters: 313 is wrong; right: 305 = 112 + 8 + 185 = 305",
        "Non-trainable params: 8 is wrong; right: 0 = frozen parameters = 0 (batch norm's 8 moving means "
        "and variances are buffers, not parameters, in PyTorch; --convention keras counts them as Keras does)",
        "3 parameter cells hold Keras' count, with batch norm's moving mean and variance as non-trainable parameters "
        "(4C per layer); grade with --convention keras to count them as Keras does",
        "3 of 6 cells right",
    ]
    assert graded(tmp_path, tiny, "Layer | Params", *rows, convention="keras").ok
    one = graded(tmp_path, tiny, "Layer | Params", "bn1 | 16")
    assert one.notes == [
        "not in the table: conv1 (Conv2d)",
        "not in the table: fc1 (Linear)",
        "1 parameter cell holds Keras' count, with batch norm's moving mean and variance as non-trainable parameters "
        "(4C per layer); grade with --convention keras to count them as Keras does",
    ]
    # a wrong size that happens to be Keras' parameter count (bn1's output is 4*6*6 = 144) is no parameter cell
    size = graded(tmp_path, tiny, "Layer | Size | Params", "bn1 | 16 | 8")
    assert [c.column for c in size.wrong] == ["size"] and not [n for n in size.notes if "Keras" in n]


def test_keras_convention_formulas(tmp_path: Path, tiny: ModelSummary) -> None:
    result = graded(
        tmp_path,
        tiny,
        "Layer | Params",
        "conv1 | 1",
        "bn1 | 8",
        "Total | 305",
        "Non-trainable params | 0",
        convention="keras",
    )
    assert messages(result) == [
        "conv1 parameters: 1 is wrong; right: 112 = (k_h*k_w*C_in + 1)*C_out = (3*3*3 + 1)*4 = 112",
        "bn1 parameters: 8 is wrong; right: 16 = 4*C (gamma, beta, moving mean and moving variance; Keras counts the "
        "moving two as non-trainable parameters, PyTorch as buffers) = 4*4 = 16",
        "Total parameters: 305 is wrong; right: 313 = 112 + 16 + 185 = 313 (Keras' count: 305 parameters + 8 moving "
        "means and variances of batch norm)",
        "Non-trainable params: 0 is wrong; right: 8 = frozen parameters + batch norm's moving means and "
        "variances (2*C per layer) = 0 + 8 = 8",
        "not in the table: fc1 (Linear)",
        "0 of 4 cells right",
    ]


# ---------------------------------------------------------------------------------------------- check


def test_check_builds_the_model_with_its_number_of_classes(tmp_path: Path) -> None:
    # the last layer for 7 classes: (84 + 1)*7 = 595
    table = read_table(write(tmp_path, md("Layer | Params", "output | 595")))
    assert check(table, str(NETS / "lenet-like.toml"), num_classes=7).ok


FAILS = """\
name = "fails"
input = [3, 8, 8]

[[layers]]
type = "conv"
filters = 4
kernel = 3

[[layers]]
type = "batchnorm"

[[layers]]
type = "conv"
filters = 4
kernel = 7
"""


def test_check_of_a_model_that_cannot_run_keeps_the_conventions(tmp_path: Path) -> None:
    # conv1 (3*3*3 + 1)*4 = 112 parameters, 6*6*4*3*3*3 = 3,888 MACs; bn1 16 in Keras' count; conv2's 7x7 kernel
    # does not fit its 6x6 input
    net = write(tmp_path, FAILS, "fails.toml")
    table = read_table(
        write(tmp_path, md("Layer | Params | FLOPs", "conv1 | 112 | 3,888", "bn1 | 16 |", "conv2 | 1 |"))
    )
    result = check(table, str(net), flops="2macs", convention="keras")
    assert result.cannot == "conv2" and result.flops == "2macs"
    assert [(c.row, c.column, c.ok) for c in result.cells] == [
        ("conv1", "params", True),
        ("conv1", "flops", False),  # 3,888 is MACs; graded as 2 x MACs: 7,776
        ("bn1", "params", True),
        ("conv2", "params", False),
    ]


def test_check_of_a_model_whose_first_layer_cannot_exist(tmp_path: Path) -> None:
    net = write(tmp_path, 'name = "first"\ninput = [3, 4, 4]\n\n[[layers]]\ntype = "conv"\nfilters = 4\nkernel = 7\n')
    table = read_table(write(tmp_path, md("Layer | Output | Params", "input | 4x4x3 | 0", "conv1 | 1x1x4 | 1"), "t.md"))
    result = check(table, str(net))
    assert result.cannot == "conv1" and [c.ok for c in result.cells] == [True, True, False, False]
    assert messages(result)[0].startswith("conv1: this layer cannot exist: ")


# ---------------------------------------------------------------------------------------------- inception


@pytest.fixture(scope="module")
def googlenet() -> ModelSummary:
    return summarize("googlenet", (3, 224, 224))


def test_inception_connections_and_module_names(tmp_path: Path, googlenet: ModelSummary) -> None:
    result = graded(tmp_path, googlenet, "Layer | Connections", "inception(3a) | 1", "Total | 1", "inception(9z) | 1")
    lines = messages(result)
    # inception3a's convolutions have no bias: params*28*28 each, 9,633,792 (1x1), 14,450,688 (3x3 reduce),
    # 86,704,128 (3x3), 2,408,448 (5x5 reduce), 3,612,672 ("5x5", built 3x3), 4,816,896 (pool proj); its 3x3 max pool
    # 3*3*192*28*28 = 1,354,752: 122,981,376 in all
    assert lines[0] == (
        "inception(3a) connections: 1 is wrong; right: 122,981,376 = 9,633,792 + 14,450,688 + 86,704,128 + "
        "2,408,448 + 3,612,672 + 1,354,752 + 4,816,896 = 122,981,376"
    )
    assert re.fullmatch(r"Total connections: 1 is wrong; right: ([\d,]+) = sum over all layers = \1", lines[1])
    assert lines[2] == (
        "inception(9z): no inception module 9z in the model (its inception modules: inception3a, inception3b, "
        "inception4a, inception4b, inception4c, inception4d, inception4e, inception5a, inception5b)"
    )


def test_a_weightless_softmax_row(tmp_path: Path, lenet: ModelSummary) -> None:
    # fc3 (84 + 1)*10 = 850 is taken by the row above: the softmax rows are the model's 10 outputs, with no weights
    result = graded(
        tmp_path,
        lenet,
        "Layer | Output shape | Size | Params | MACs | FLOPs",
        "output | 10 | 10 | 850 | 840 | 1,680",
        "softmax | 10 | 10 | 0 | 0 | 0",
        "softmax | 9 | 9 | 1 | 1 | 1",
    )
    assert [c.layer for c in result.cells] == ["fc3"] * 5 + ["softmax"] * 10
    assert messages(result)[:5] == [
        "softmax shape: 9 is wrong; right: 10 (same as the last layer's output)",
        "softmax activation size: 9 is wrong; right: 10",
        "softmax parameters: 1 is wrong; right: 0 = 0 (no weights)",
        "softmax MACs: 1 is wrong; right: 0 = 0 (no multiply-accumulates)",
        "softmax FLOPs: 1 is wrong; right: 0 = 0 (counted as no FLOPs)",
    ]


def test_jupyter_shows_the_score_in_bold() -> None:
    html = Grade([CellResult("fc1", "params", "1", 48120, False, "", "48,120")], ["a note"])._repr_html_()
    assert html.startswith('<p style="margin:2px 0"><b>0 of 1 cells right</b></p><ul><li>fc1 parameters: 1 is wrong')


# ---------------------------------------------------------------------------------------------- more table shapes


def test_a_markdown_table_ends_at_the_first_line_without_a_pipe_or_blank(tmp_path: Path) -> None:
    text = "| Layer | Params |\n|---|---|\n| conv1 | 608 |\ntext after\n| fc1 | 48,120 |\n"
    assert [r.label for r in read_table(write(tmp_path, text)).rows] == ["conv1"]
    text = "Layer | Params\n--- | ---\nconv1 | 608\n   \nfc1 | 48,120\n"  # pipe tables without outer pipes
    assert [(r.label, r.cells) for r in read_table(write(tmp_path, text, "b.md")).rows] == [
        ("conv1", {"params": "608"})
    ]
    # a header without a separator line under it is no table
    with pytest.raises(CnnlabError, match="no table found"):
        read_table(write(tmp_path, "| Layer | Params |\n| conv1 | 608 |\n", "c.md"))


def test_a_keras3_box_with_a_wrapped_header_and_heavy_rules(tmp_path: Path) -> None:
    text = """\
┏━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━┳━━━━━━━━━┓
┃ Layer            ┃ Output          ┃   Param ┃
┃ (type)           ┃ Shape           ┃       # ┃
┡━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━╇━━━━━━━━━┩
│ conv2d (Conv2D)  │ (None, 28, 28,  │     608 │
│                  │ 8)              │         │
┣━━━━━━━━━━━━━━━━━━╋━━━━━━━━━━━━━━━━━╋━━━━━━━━━┫
│ flatten          │ (None, 6272)    │       0 │
┗━━━━━━━━━━━━━━━━━━┻━━━━━━━━━━━━━━━━━┻━━━━━━━━━┛
│ after            │ (None, 1)       │       0 │
"""
    table = read_table(write(tmp_path, text, "s.txt"))
    assert table.columns == {"shape": "Output Shape", "params": "Param #"}
    assert [(r.label, r.cells["shape"], r.line) for r in table.rows] == [
        ("conv2d (Conv2D)", "(None, 28, 28, 8)", 5),
        ("flatten", "(None, 6272)", 8),
    ]


def test_a_keras3_box_cut_short_ends_at_the_first_other_line(tmp_path: Path) -> None:
    text = """\
┃ Layer (type)     ┃ Output Shape    ┃ Param # ┃
│ conv2d (Conv2D)  │ (None, 28, 28,  │     608 │
│ flatten          │ (None, 6272)    │       0 │
and then some words
│ dense            │ (None, 10)      │  62,730 │
Total params: 608
"""
    table = read_table(write(tmp_path, text, "s.txt"))
    # without row rules a line with the parameter column filled starts a row; the box stops at the words, and the
    # 'Total params' line a few lines under it is still its footer
    assert [(r.label, r.line) for r in table.rows] == [("conv2d (Conv2D)", 2), ("flatten", 3), ("Total params", 6)]


def test_a_keras2_summary_skips_underscore_rules_and_stops_at_the_footer(tmp_path: Path) -> None:
    text = keras2(
        [
            ("conv2d (Conv2D)", "(None, 28, 28, 8)", "608"),
            ("_" * 60, "", ""),
            ("flatten (Flatten)", "(None, 6272)", "0"),
        ],
        "",
    ).replace("=" * 65 + "\n", "", 2)
    text = text.replace(" " + "Layer (type)", " Layer (type)", 1) + "Total params: 608\nTrainable params: 608\n"
    table = read_table(write(tmp_path, text, "s.txt"))
    # lines: 1 Model, 2 rule, 3 header, 4 conv2d, 5 underscores, 6 flatten, 7 Total, 8 Trainable
    assert [(r.label, r.cells["params"], r.line) for r in table.rows] == [
        ("conv2d (Conv2D)", "608", 4),
        ("flatten (Flatten)", "0", 6),
        ("Total params", "608", 7),
        ("Trainable params", "608", 8),
    ]


def test_a_csv_file_that_does_not_sniff_is_read_as_excel_csv(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("Layer,Params\nconv1,608\n", encoding="utf-8")
    assert [(r.label, r.cells) for r in read_table(path).rows] == [("conv1", {"params": "608"})]
    path.write_text("Params\n608\n", encoding="utf-8")  # one column: a CSV file needs two
    with pytest.raises(CnnlabError, match="with a header row"):
        read_table(path)


def test_working_that_gives_a_fraction_is_shown_with_its_decimals(tmp_path: Path, lenet: ModelSummary) -> None:
    # pool1's size is 8*14*14 = 1,568 = 3,136/2; 3,135/2 = 1,567.5 is not it
    result = graded(tmp_path, lenet, "Layer | Size", "pool1 | 3136/2 = 1,568", "conv1 | 12545/2 = 6,272")
    assert messages(result)[0] == (
        "conv1 activation size: 12545/2 = 6,272 has working that does not give its value: 12545/2 = 6,272.5; "
        "right: 6,272 = 8*28*28 = 6,272"
    )


def test_keras_formulas_of_a_module_sum_its_layers(tmp_path: Path, googlenet: ModelSummary) -> None:
    # inception3a's layers in Keras' count: each conv k*k*C_in*C_out and its batch norm 4*C_out:
    # 12,288 + 256, 18,432 + 384, 110,592 + 512, 3,072 + 64, 4,608 + 128, 6,144 + 128 = 156,608; twelve parts are
    # more than the ten a formula lists
    result = graded(tmp_path, googlenet, "Layer | Params", "inception(3a) | 1", convention="keras")
    assert messages(result)[0] == (
        "inception(3a) parameters: 1 is wrong; right: 156,608 = sum over its layers = 156,608"
    )


def test_rows_after_the_layer_that_cannot_exist(tmp_path: Path) -> None:
    net = write(tmp_path, FAILS, "fails.toml")
    table = read_table(
        write(tmp_path, md("Layer | Params", "conv1 | 112", "conv2 | 1", "fc | 1", "relu | ", "pool | 0"))
    )
    result = check(table, str(net))
    lines = messages(result)
    assert lines[0].startswith("conv2: this layer cannot exist: layer 'conv2'")
    # rows below it are not graded; those with nothing filled in are not named
    assert lines[1:] == ["not graded, after the layer that cannot exist: fc, pool", "1 of 2 cells right"]
    # a table that stops before it: the model's failure is a note, and the impossible layer is not 'left out'
    result = check(read_table(write(tmp_path, md("Layer | Params", "conv1 | 112"), "short.md")), str(net))
    assert not result.ok and result.cannot == "conv2" and len(result.notes) == 1
    assert result.notes[0].startswith("the model cannot run: layer 'conv2'")


def test_connections_formulas_of_convolutions_and_dense_layers(tmp_path: Path, lenet: ModelSummary) -> None:
    result = graded(tmp_path, lenet, "Layer | Connections", "conv1 | 1", "fc1 | 1")
    assert messages(result)[:2] == [
        # (5*5*3 + 1)*8*28*28 = 76*6,272 = 476,672
        "conv1 connections: 1 is wrong; right: 476,672 = (k_h*k_w*C_in + 1)*C_out*H_out*W_out = (5*5*3 + 1)*8*28*28 "
        "= 476,672",
        "fc1 connections: 1 is wrong; right: 48,120 = parameters (one connection per weight and bias) = "
        "(in + 1)*out = (400 + 1)*120 = 48,120",
    ]
    result = graded(tmp_path, summarize("lenet5"), "Layer | Connections", "output | 1")
    assert messages(result)[0] == (
        "output connections: 1 is wrong; right: 840 = inputs*outputs (no weights to learn) = classes*inputs = 10*84 = 840"
    )


def test_connections_of_a_convolution_without_bias_and_a_top_level_block(
    tmp_path: Path, googlenet: ModelSummary
) -> None:
    # inception3a's 1x1 conv has no bias: 1*1*192*64*28*28 = 9,633,792; the stem's conv1 block (BasicConv2d) has
    # 7*7*3*64 = 9,408 conv weights and 2*64 = 128 in its batch norm: 9,536
    result = graded(
        tmp_path, googlenet, "Layer | Params | Connections", "stage 1 | 9,536 |", "inception3a.branch1.conv | | 1"
    )
    assert messages(result)[0] == (
        "inception3a.branch1.conv connections: 1 is wrong; right: 9,633,792 = (k_h*k_w*C_in)*C_out*H_out*W_out = "
        "(1*1*192)*64*28*28 = 9,633,792"
    )
    assert [(c.layer, c.ok) for c in result.cells] == [("conv1", True), ("inception3a.branch1.conv", False)]


def test_the_footer_of_a_keras3_box_and_where_the_box_ends(tmp_path: Path) -> None:
    box = BOX.split(" Total params")[0]
    # the footer is read up to six lines under the box's bottom line
    table = read_table(write(tmp_path, box + "\n" * 5 + "Total params: 62,958\n", "a.txt"))
    assert [r.label for r in table.rows][-1] == "Total params" and table.rows[-1].line == 16
    table = read_table(write(tmp_path, box + "\n" * 6 + "Total params: 62,958\n", "b.txt"))
    assert [r.label for r in table.rows][-1] != "Total params"
    # a box cut off at the end of the file
    cut = "\n".join(box.splitlines()[:-1]) + "\n"
    assert [r.label for r in read_table(write(tmp_path, cut, "c.txt")).rows] == [
        "conv2d (Conv2D)",
        "max_pooling2d (MaxPooling2D)",
    ]
    # a blank line under the header ends the box: a header with no rows
    header_only = "┃ Layer (type) ┃ Output Shape ┃ Param # ┃\n\n│ conv2d │ (None, 28, 28, 8) │ 608 │\n"
    with pytest.raises(CnnlabError, match="has a header but no rows"):
        read_table(write(tmp_path, header_only, "d.txt"))


# the same net with a 2x2 max pool before its 7x7 conv
FAILS_AFTER_A_POOL = FAILS.replace('name = "fails"', 'name = "fails-after-a-pool"').replace(
    '[[layers]]\ntype = "conv"\nfilters = 4\nkernel = 7',
    '[[layers]]\ntype = "maxpool"\nsize = 2\n\n[[layers]]\ntype = "conv"\nfilters = 4\nkernel = 7',
)


def test_totals_of_a_model_that_cannot_run_count_the_layers_before_it(tmp_path: Path) -> None:
    # conv1 (3*3*3 + 1)*4 = 112, bn1 2*4 = 8 (4*4 = 16 in Keras' count), pool1 2x2: 4x3x3; conv2's 7x7 does not fit
    # the 3x3 left: the model so far has 112 + 8 = 120 parameters (128 in Keras' count) and ends in a 4x3x3 output
    net = write(tmp_path, FAILS_AFTER_A_POOL, "net.toml")
    rows = [
        "input | 8x8x3 | 0",
        "Total | | 128",
        "Trainable params | | 120",
        "Non-trainable params | | 8",
        "softmax | 3x3x4 | 0",
        "conv1 | 6x6x4 | 112",
        "conv2 | 1x1x4 | 1",
    ]
    table = read_table(write(tmp_path, md("Layer | Output shape | Params", *rows)))
    keras = check(table, str(net), convention="keras")
    assert keras.cannot == "conv2" and [c.row for c in keras.wrong] == ["conv2", "conv2"]
    torch = check(table, str(net))
    assert [(c.row, c.expected) for c in torch.wrong] == [
        ("Total", 120),
        ("Non-trainable params", 0),
        ("conv2", None),
        ("conv2", None),
    ]


def test_check_builds_the_model_for_its_input_and_options(tmp_path: Path) -> None:
    # lenet-like on 36x36: conv1 gives 36 - 5 + 1 = 32 (and fc1, built for 5*5*16 = 400 inputs, cannot take 6*6*16)
    table = read_table(write(tmp_path, md("Layer | Output shape", "conv1 | 32x32x8")))
    result = check(table, str(NETS / "lenet-like.toml"), input_shape=(3, 36, 36))
    assert result.cells[0].ok and result.cannot == "fc1"
    # googlenet with a true 5x5 in its third tower: 5*5*16*32 + 2*32 = 12,864 parameters
    table = read_table(write(tmp_path, md("Layer | Params", "inception3a.branch3.1 | 12,864"), "g.md"))
    assert check(table, "googlenet", input_shape=(3, 224, 224), options={"kernel5": 5}).ok


def test_more_formula_texts(tmp_path: Path, lenet: ModelSummary, googlenet: ModelSummary) -> None:
    rows = ["conv", "relu", "pool", "conv", "relu", "pool", "flatten", "fc", "relu", "fc", "relu"]
    result = graded(tmp_path, lenet, "Layer | Size | Connections", *(f"{r} | | " for r in rows), "Total | 1 |")
    # 11 sizes, more than a formula lists: 6,272*2 + 1,568 + 1,600*2 + 400*2 + 120*2 + 84*2 = 18,520
    assert messages(result)[0] == "Total activation size: 1 is wrong; right: 18,520 = sum over the rows above = 18,520"
    assert result.cells[0].layer == "total"
    # a flatten layer's shape has no formula; working with two wrong steps names both
    result = graded(tmp_path, lenet, "Layer | Output shape | Params", "flatten | 4 |", "conv1 | | 1+1 = 2+2 = 608")
    assert messages(result)[:2] == [
        "flatten shape: 4 is wrong; right: 400",
        "conv1 parameters: 1+1 = 2+2 = 608 has working that does not give its value: 1+1 = 2; 2+2 = 4; right: 608 = "
        "(k_h*k_w*C_in + 1)*C_out = (5*5*3 + 1)*8 = 608",
    ]
    result = graded(tmp_path, lenet, "Layer | Connections", "relu | 0", "relu | 0")
    assert result.notes[-1] == (
        "not graded: the connections of relu, relu (connections are counted for conv, pool and dense layers)"
    )
    # googlenet's total: more parameters than a formula lists; a module's shape has no formula
    result = graded(tmp_path, googlenet, "Layer | Output shape | Params", "inception(3a) | 1x1x1 |", "Total | | 1")
    lines = messages(result)
    assert lines[0] == "inception(3a) shape: 1x1x1 is wrong; right: 256x28x28"  # no shape tells the order: CHW
    assert re.fullmatch(r"Total parameters: 1 is wrong; right: ([\d,]+) = sum over all layers = \1", lines[1])


def test_cells_keep_their_row_line_layer_and_verdict(tmp_path: Path, lenet: ModelSummary) -> None:
    result = graded(
        tmp_path, lenet, "Layer | Output shape | Params", "conv1 | 28x28x8 | 608", "fc9 | 1 | 2", "bn | | 3"
    )
    assert result.cannot == "" and result.flops == ""
    right = result.cells[0]
    assert (right.layer, right.line, right.ok, right.value_ok, right.readable) == ("conv1", 3, True, True, True)
    assert [(c.row, c.given, c.layer, c.line, c.expected) for c in result.cells[2:]] == [
        ("fc9", "1", "fc1", 4, (120,)),
        ("fc9", "2", "fc1", 4, 48120),
        ("bn", "3", "", 5, None),
    ]


def test_the_layer_that_cannot_exist_keeps_its_name_and_numbers_meet_it(tmp_path: Path) -> None:
    net = write(tmp_path, FAILS, "fails.toml")
    # rows labelled by number meet conv1 (112 parameters), bn1 (8) and then the layer that cannot exist
    table = read_table(write(tmp_path, md("Layer | Params", "1 | 112", "2 | 8", "3 | 1")))
    result = check(table, str(net))
    assert [(c.row, c.layer, c.given, c.line, c.ok) for c in result.cells] == [
        ("layer 1", "conv1", "112", 3, True),
        ("layer 2", "bn1", "8", 4, True),
        ("layer 3", "conv2", "1", 5, False),
    ]


@pytest.mark.parametrize("footer", ["Total", "Trainable params", "Non-trainable params"])
def test_footer_rows_do_not_make_number_labels_informative(tmp_path: Path, lenet: ModelSummary, footer: str) -> None:
    result = graded(tmp_path, lenet, "Layer | Params", "1 | 608", f"{footer} | ")
    assert result.ok and result.cells[0].layer == "conv1"


def test_rows_below_a_named_module_take_the_layers_after_it(tmp_path: Path, googlenet: ModelSummary) -> None:
    result = graded(tmp_path, googlenet, "Layer | Params", "inception(3b) | ", "max pool 3x3/2 | 0", "max pool | 0")
    assert [c.layer for c in result.cells] == ["maxpool3", "maxpool4"]


def test_keras_notes_on_a_model_keras_builds_otherwise(tmp_path: Path) -> None:
    resnet50 = summarize("resnet50")
    keras = graded(tmp_path, resnet50, "Layer | Params", "conv | 9,408", convention="keras")
    assert any(n.startswith("resnet50: Keras' ") for n in keras.notes)
    assert keras.notes[0].startswith("not in the table: ")  # the notes before it are kept
    torch = graded(tmp_path, resnet50, "Layer | Params", "conv | 9,408")
    assert not any(n.startswith("resnet50:") for n in torch.notes)


def test_a_macs_column_holding_flops_is_told_so(tmp_path: Path, lenet: ModelSummary) -> None:
    """A MACs column whose cells are 2 x MACs (the FLOPs) was marked wrong without a word on why; a FLOPs column's
    convention was already detected. conv1: 28*28*8*3*5*5 = 470,400 MACs, written 940,800."""
    result = graded(tmp_path, lenet, "Layer | MACs", "conv1 | 940,800", "conv2 | 320,000", "fc1 | 1")
    assert [c.row for c in result.wrong] == ["conv1", "fc1"]
    assert result.notes[-1] == (
        "1 MACs cell holds 2 x MACs, the FLOPs (a multiply-accumulate counts once as a MAC, twice as FLOPs); if FLOPs "
        "were meant, name the column FLOPs"
    )
    assert not any("2 x MACs" in n for n in graded(tmp_path, lenet, "Layer | MACs", "conv1 | 1").notes)


@pytest.mark.parametrize(
    "expr, value",
    [
        ("1+2  ", 3),  # spaces after the working
        ("+3", 3),  # a unary plus is no minus
        ("-3+5", 2),
        (".5*4", 2),  # a number may start at its point
        ("6 − 2", 4),  # the typographic minus sign
        ("2 x 3 × 4 · 5", 120),
        ("-1" + "+1" * 199, 198),  # 400 numbers and signs: the most read
        ("9" * 30, int("9" * 30)),  # 30 digits: the longest number
    ],
)
def test_working_reads_signs_points_and_its_limits(expr: str, value: int) -> None:
    assert evaluate(expr) == value


@pytest.mark.parametrize(
    "expr, message",
    [
        ("5*", "it ends where a number should be"),
        ("(2+3", "a bracket is not closed"),
        ("2+)", "unexpected ')'"),
        ("4/0", "it divides by zero"),
        ("", "it is empty"),
        ("2**3", "'**' (a power) is not one of + - * / ( ); write the product out, 5*5 for 5**2"),
        ("2 @", "'@' is not a number or one of + - * / ( )"),
        ("1" + "+1" * 200, "it is longer than 400 numbers and signs"),
        ("1000000000000000*1000000000000000", "its value has over 30 digits"),  # exactly 10**30
    ],
)
def test_working_that_cannot_be_read_says_why_whole(expr: str, message: str) -> None:
    with pytest.raises(WorkingError) as e:
        evaluate(expr)
    assert str(e.value) == message
