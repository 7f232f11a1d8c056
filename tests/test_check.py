"""Grading hand-made layer tables (cnnlab.analysis.grade) against real model summaries."""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import pytest

from cnnlab.analysis import ModelSummary, summarize
from cnnlab.analysis.grade import Grade, check, grade, parse_number, parse_shape, read_table, shapes_match
from cnnlab.analysis.render import render
from cnnlab.analysis.working import WorkingError, evaluate
from cnnlab.cli import main
from cnnlab.errors import CnnlabError

ROOT = Path(__file__).resolve().parents[1]
TABLES = ROOT / "examples" / "tables"
NETS = ROOT / "examples" / "nets"


@pytest.fixture(scope="module")
def lenet() -> ModelSummary:
    return summarize(str(NETS / "lenet-like.toml"))


@pytest.fixture(scope="module")
def inception() -> ModelSummary:
    return summarize(str(NETS / "inception-naive.toml"))


def write(tmp_path: Path, text: str, name: str = "table.md") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def wrong(result: Grade) -> list[tuple[str, str, str, object]]:
    return [(c.row, c.column, c.given, c.expected) for c in result.cells if not c.ok]


def test_published_table_flags_exactly_the_five_parameter_counts(lenet: ModelSummary) -> None:
    result = grade(read_table(TABLES / "lenet-like-published.md"), lenet)
    assert wrong(result) == [
        ("CONV1", "params", "208", 608),
        ("CONV2", "params", "416", 3216),
        ("FC3", "params", "48,001", 48120),
        ("FC4", "params", "10,081", 10164),
        ("Softmax", "params", "841", 850),
    ]
    lines = result.render().splitlines()
    assert lines[0] == "CONV1 parameters: 208 is wrong; right: 608 = (k_h*k_w*C_in + 1)*C_out = (5*5*3 + 1)*8 = 608"
    assert lines[2] == "FC3 parameters: 48,001 is wrong; right: 48,120 = (in + 1)*out = (400 + 1)*120 = 48,120"
    assert lines[-1] == "19 of 24 cells right"
    assert len(lines) == 6 and result.exit_code == 1


def test_corrected_table_passes(lenet: ModelSummary) -> None:
    result = grade(read_table(TABLES / "lenet-like-correct.md"), lenet)
    assert result.ok and result.exit_code == 0
    assert result.render() == "24 of 24 cells right\n"
    assert [c.layer for c in result.cells if c.column == "params"] == [
        "input",
        "conv1",
        "pool1",
        "conv2",
        "pool2",
        "fc1",
        "fc2",
        "fc3",
    ]


def test_csv_with_macs_column(lenet: ModelSummary) -> None:
    table = read_table(TABLES / "lenet-like-macs.csv")
    assert set(table.columns) == {"shape", "size", "params", "macs"}
    result = grade(table, lenet)
    macs = {c.row: (c.given, c.ok) for c in result.cells if c.column == "macs"}
    assert macs["CONV1"] == ("470,400", True) and macs["CONV2"] == ("320,000", True)
    assert macs["FC3"] == ("48k", True) and macs["POOL1"] == ("-", True)
    assert wrong(result) == [("FC4", "macs", "10,164", 10080)]
    assert "FC4 MACs: 10,164 is wrong; right: 10,080 = in*out = 120*84 = 10,080" in result.render()


def test_csv_is_sniffed_without_the_extension(tmp_path: Path, lenet: ModelSummary) -> None:
    path = write(tmp_path, "layer;params;FLOPs\nconv1;608;940,800\nfc1;48120;96k\n", "table.txt")
    result = grade(read_table(path), lenet)
    assert result.ok and len(result.cells) == 4


@pytest.mark.parametrize(
    "text, true, ok",
    [
        ("3.2M", 3_216_000, True),
        ("3.2 M", 3_216_000, True),
        ("3.3M", 3_216_000, False),
        ("3.2M", 3_150_000, True),
        ("3.2M", 3_250_000, False),
        ("3.2M", 3_149_999, False),
        ("1.1 billion", 1_115_684_864, True),
        ("1.1 G", 1_115_684_864, True),
        ("1.2 billion", 1_115_684_864, False),
        ("1.2e6", 1_216_000, True),
        ("48k", 48_000, True),
        ("2.5 million", 2_540_000, True),
        ("6,272", 6272, True),
        ("6272", 6272, True),
        ("6 272", 6272, True),
        ("6,272", 6273, False),
        ("6,000", 6272, False),
        ("0", 0, True),
        ("-", 0, True),
        ("—", 0, True),
        ("1.1 GMACs", 1_100_000_000, True),
    ],
)
def test_number_notations(text: str, true: int, ok: bool) -> None:
    number = parse_number(text)
    assert number is not None and number.covers(true) is ok


@pytest.mark.parametrize("text", ["abc", "6,27", "3.2 X", ""])
def test_unreadable_numbers(text: str) -> None:
    assert parse_number(text) is None


@pytest.mark.parametrize(
    "text, dims",
    [
        ("(28,28,8)", (28, 28, 8)),
        ("28x28x8", (28, 28, 8)),
        ("28 × 28 × 8", (28, 28, 8)),
        ("[8, 28, 28]", (8, 28, 28)),
        ("(120,1)", (120, 1)),
        ("120", (120,)),
        ("6@28x28", (6, 28, 28)),
        ("(None, 28, 28, 8)", (28, 28, 8)),
    ],
)
def test_shape_notations(text: str, dims: tuple[int, ...]) -> None:
    assert parse_shape(text) == dims


def test_shapes_match_chw_hwc_and_vectors() -> None:
    assert shapes_match((8, 28, 28), (8, 28, 28)) and shapes_match((28, 28, 8), (8, 28, 28))
    assert shapes_match((120, 1), (120,)) and shapes_match((1, 120), (120,)) and shapes_match((120,), (120,))
    assert not shapes_match((28, 8, 28), (8, 28, 28)) and not shapes_match((12, 1), (120,))


def test_chw_and_hwc_shapes_are_both_accepted_and_errors_use_the_students_order(
    tmp_path: Path, lenet: ModelSummary
) -> None:
    path = write(
        tmp_path,
        """Shapes written both ways.

| Layer | Output shape |
|---|---|
| conv1 | [8, 28, 28] |
| pool1 | 14 × 14 × 8 |
| conv2 | 16x10x10 |
| pool2 | (5,5,17) |
| fc1 | 120 |
""",
    )
    result = grade(read_table(path), lenet)
    assert [c.ok for c in result.cells] == [True, True, True, False, True]
    assert result.wrong[0].message().startswith("pool2 shape: (5,5,17) is wrong; right: (5,5,16) (floor(")


def test_rounded_macs_of_the_naive_inception_module(tmp_path: Path, inception: ModelSummary) -> None:
    path = write(
        tmp_path,
        """| Layer | Output | Params | MACs |
|---|---|---|---|
| Input | 32x32x256 | 0 | 0 |
| 1x1 conv | 32x32x128 | 32,896 | 33.6M |
| 3x3 conv | 32x32x192 | 442,560 | 453 M |
| 5x5 conv | 32x32x96 | 614,496 | 629.1 million |
| 3x3 max pool | 32x32x256 | 0 | 0 |
| Inception module | 32x32x672 | 1.09M | 1.1 billion |
| Total | | 1,089,952 | 1.2 billion |
""",
    )
    result = grade(read_table(path), inception)
    assert wrong(result) == [("Total", "macs", "1.2 billion", 1_115_684_864)]
    assert result.wrong[0].message() == (
        "Total MACs: 1.2 billion is wrong; right: 1,115,684,864 (≈ 1.1 billion) = "
        "33,554,432 + 452,984,832 + 629,145,600 = 1,115,684,864"
    )


def test_rows_beyond_the_model_are_reported(tmp_path: Path, lenet: ModelSummary) -> None:
    text = (TABLES / "lenet-like-correct.md").read_text(encoding="utf-8")
    path = write(
        tmp_path, text.rstrip("\n") + "\n| FC5              | (10,1)           | 10              | 850          |\n"
    )
    result = grade(read_table(path), lenet)
    assert result.exit_code == 1 and result.right == 24 and len(result.cells) == 27
    assert "FC5: no layer in the model to match (it has 3 dense layers, all matched by earlier rows)" in result.render()


def test_uninformative_labels_match_layers_with_weights_or_a_new_size(tmp_path: Path, lenet: ModelSummary) -> None:
    rows = [
        ("1", "28x28x8", "608"),
        ("2", "14x14x8", "0"),
        ("3", "10x10x16", "3216"),
        ("4", "5x5x16", "0"),
        ("5", "120", "48120"),
        ("6", "84", "10164"),
        ("7", "10", "851"),
    ]
    path = write(
        tmp_path, "| # | Output | Params |\n|---|---|---|\n" + "".join(f"| {a} | {b} | {c} |\n" for a, b, c in rows)
    )
    result = grade(read_table(path), lenet)
    assert wrong(result) == [("layer 7", "params", "851", 850)]


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("missing.md", None, "does not exist"),
        ("prose.md", "No table here, only words.\n", "no table found"),
        ("columns.md", "| a | b |\n|---|---|\n| x | y |\n", "no recognisable columns"),
        ("ragged.md", "| layer | params |\n|---|---|\n| conv1 | 608 | 3 |\n", "line 3 has 3 cells"),
        ("ragged.csv", "layer,params\nconv1,608,3\n", "line 2 has 3 cells"),
        ("empty.md", "| layer | params |\n|---|---|\n", "no rows"),
    ],
)
def test_unreadable_tables_raise(tmp_path: Path, name: str, text: str | None, message: str) -> None:
    path = tmp_path / name if text is None else write(tmp_path, text, name)
    with pytest.raises(CnnlabError, match=message):
        read_table(path)


# ---------------------------------------------------------------------------------------------- working in cells


@pytest.mark.parametrize(
    "expr, value",
    [
        ("(3*3*3)*64", 1728),
        ("(3*3*3+1)*64", 1792),
        ("5*5*6+6", 156),
        ("5 x 5 x 6 + 6", 156),
        ("(5×5+1)×6×28×28", 122_304),
        ("1,516*100", 151_600),
        ("-(2)*3 + 10", 4),
        ("(62 + 2*0 - (4*(5-1)+1))/2", Fraction(45, 2)),
    ],
)
def test_working_evaluates_plain_arithmetic(expr: str, value: Fraction) -> None:
    assert evaluate(expr) == value


@pytest.mark.parametrize(
    "expr, why",
    [
        ("(k*k*3+1)*8", "'k' is not a number"),
        ("__import__('os').getcwd()", "'__import__' is not a number"),
        ("2**10", "'**' (a power) is not one of"),
        ("1_0*2", "'_0' is not a number"),  # Python's int() reads 1_0 as 10
        ("(1+2", "a bracket is not closed"),
        ("4/(2-2)", "divides by zero"),
        ("2(3+4)", "unexpected '('"),
        ("(" * 300 + "1" + ")" * 300, "longer than 400"),
        ("9" * 5000 + "+1", "has over 30 digits"),  # int() refuses 4,300 digits: a traceback before
        ("*".join(["9" * 30] * 150), "its value has over 30 digits"),  # printing it would raise the same
    ],
)
def test_working_that_is_not_arithmetic_is_refused(expr: str, why: str) -> None:
    with pytest.raises(WorkingError, match=re.escape(why)):
        evaluate(expr)


def test_cells_with_working_are_graded_by_their_value_and_working(tmp_path: Path, lenet: ModelSummary) -> None:
    path = write(
        tmp_path,
        """| Layer | # parameters |
|---|---|
| conv1 | (5*5*3+1)*8 = 608 |
| pool1 | 0 |
| conv2 | 5 x 5 x 8 x 16 + 16 = 3,216 |
| fc1 | 400*120 = 48,120 |
| fc2 | (120+1)*84 = 10,000 |
| fc3 | 84*10 + 10 = 840 + 10 = 850 |
""",
    )
    result = grade(read_table(path), lenet)
    # (5*5*3+1)*8 = 608, 5*5*8*16+16 = 3,216 and 84*10+10 = 850 are right, working and all; 400*120 = 48,000 is
    # not the 48,120 written after it (which is right); (120+1)*84 = 10,164 is right but 10,000 is not.
    assert wrong(result) == [
        ("fc1", "params", "400*120 = 48,120", 48120),
        ("fc2", "params", "(120+1)*84 = 10,000", 10164),
    ]
    lines = result.render().splitlines()
    assert lines[0] == (
        "fc1 parameters: 400*120 = 48,120 has working that does not give its value: 400*120 = 48,000; "
        "right: 48,120 = (in + 1)*out = (400 + 1)*120 = 48,120"
    )
    assert lines[1] == (
        "fc2 parameters: (120+1)*84 = 10,000 is wrong, and its working does not give its value either: "
        "(120+1)*84 = 10,164; right: 10,164 = (in + 1)*out = (120 + 1)*84 = 10,164"
    )
    assert lines[-1] == "4 of 6 cells right"


def test_unreadable_working_is_a_one_line_error(tmp_path: Path, lenet: ModelSummary, capsys) -> None:
    path = write(tmp_path, "| Layer | Params |\n|---|---|\n| conv1 | 608 |\n| conv2 | (k*k*8+1)*16 = 3216 |\n")
    with pytest.raises(CnnlabError, match=r"line 4: cannot read the working '\(k\*k\*8\+1\)\*16' in the 'Params' cell"):
        grade(read_table(path), lenet)
    assert main(["check", str(path), "--model", str(NETS / "lenet-like.toml")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "'k' is not a number" in err and "Traceback" not in err


LONG = "9" * 5000  # a 5,000-digit cell: its one line repeated all of it


@pytest.mark.parametrize(
    "cell",
    [
        LONG,  # not a number (over 30 digits): a wrong cell
        f"{LONG} = 608",  # working that is not arithmetic: an error
        f"{'a' * 5000}*8 = 608",
        "+".join(["1"] * 2500) + " = 608",  # longer than 400 numbers and signs
        "+".join(["1"] * 150) + " = 608",  # readable, but does not give 608
    ],
)
def test_a_long_cell_is_shortened_where_it_is_echoed(tmp_path: Path, cell: str, capsys) -> None:
    """A cell of thousands of characters is shown by its start and its length, not whole, in the one line an
    unreadable cell gives and in the line grading it."""
    path = write(tmp_path, f"| Layer | # parameters |\n|---|---|\n| conv1 | {cell} |\n")
    code = main(["check", str(path), "--model", str(NETS / "lenet-like.toml")])
    out, err = capsys.readouterr()
    line = next(line for line in (out + err).splitlines() if "conv1" in line or "error" in line)
    assert code in (1, 2) and len(line) < 600, line[:600]
    assert re.search(rf"\.\.\.'? \({len(cell):,} characters\)", line), line[:600]  # quoted in an error line


@pytest.mark.parametrize(
    "table",
    [
        f"| Layer | # parameters |\n|---|---|\n| conv1 | 608 |\n| conv{LONG} | 5 |\n",  # a row's label
        f"| Layer | Notes{'x' * 5000} | # parameters |\n|---|---|---|\n| conv1 | a | 608 |\n",  # a column's header
        f"| Layer | # parameters {'x' * 5000} |\n|---|---|\n| conv1 | k*3 = 608 |\n",  # the header of bad working
    ],
)
def test_a_long_label_or_header_is_shortened_where_it_is_echoed(tmp_path: Path, table: str, capsys) -> None:
    """A table's row labels and column headers are its cells too: a 5,000-character one made the grading line of
    its row, the `not graded:` note or the error about its working 5,000 characters long, as a long value did."""
    code = main(["check", str(write(tmp_path, table)), "--model", str(NETS / "lenet-like.toml")])
    out, err = capsys.readouterr()
    assert code in (0, 1, 2) and max(map(len, (out + err).splitlines())) < 600, (out + err)[:600]
    assert re.search(r"\.\.\.'? \(5,0\d\d characters\)", out + err), (out + err)[:600]


def test_a_power_in_working_is_refused_not_read_as_bold(tmp_path: Path, lenet: ModelSummary) -> None:
    """`5**2` is Python's power, not markdown bold around 2: read as `52*3*8+8` it was graded as working that
    gives 1,256; bold around a whole cell (`**608**`) is still only emphasis."""
    path = write(
        tmp_path, "| Layer | # parameters |\n|---|---|\n| **conv1** | **608** |\n| conv2 | 5**2*3*8+8 = 608 |\n"
    )
    with pytest.raises(CnnlabError, match=r"line 4: cannot read the working '5\*\*2\*3\*8\+8'.*'\*\*' \(a power\)"):
        grade(read_table(path), lenet)
    bold = write(tmp_path, "| Layer | # parameters |\n|---|---|\n| **conv1** | **(5*5*3+1)*8 = 608** |\n")
    assert grade(read_table(bold), lenet).wrong == []


# ---------------------------------------------------------------------------------------------- columns


def test_columns_that_are_not_graded_are_named(tmp_path: Path, lenet: ModelSummary) -> None:
    path = write(
        tmp_path,
        "| Layer | Params | Notes | Kernel | Remarks |\n|---|---|---|---|---|\n"
        "| conv1 | 608 | relu | 5x5 | ok |\n| fc1 | 48,120 | | | |\n",
    )
    table = read_table(path)
    assert table.ignored == ["Notes", "Kernel", "Remarks"]
    result = grade(table, lenet)
    assert result.ok and result.render().splitlines()[-2:] == [
        "not graded: Notes, Kernel, Remarks",
        "2 of 2 cells right",
    ]


LECUN_TABLE = """LeNet-5 as LeCun et al. 1998 count it (section II.B).

| Layer | Trainable parameters | Connections |
|---|---|---|
| C1 | 156 | 122,304 |
| S2 | 12 | 5,880 |
| C3 | 1,516 | 151,600 |
| S4 | 32 | 2,000 |
| C5 | 48,120 | 48,120 |
| F6 | 10,164 | 10,164 |
"""


def test_lenet5_connections_are_the_papers(tmp_path: Path) -> None:
    # The paper's numbers, by hand: C1 (5*5*1 + 1)*6*28*28 = 26*4,704 = 122,304; S2 (2*2 + 1)*6*14*14 = 5*1,176
    # = 5,880; C3 1,516*10*10 = 151,600 (partial connections: params*positions); S4 (2*2 + 1)*16*5*5 = 2,000;
    # C5 (5*5*16 + 1)*120*1*1 = 48,120; F6 (120 + 1)*84 = 10,164 (a dense layer's connections are its weights).
    table = read_table(write(tmp_path, LECUN_TABLE))
    assert set(table.columns) == {"params", "connections"}
    result = grade(table, summarize("lenet5"))
    assert result.ok and len(result.cells) == 12
    assert [c.layer for c in result.cells if c.column == "connections"] == ["c1", "s2", "c3", "s4", "c5", "f6"]


def test_wrong_connections_show_the_formula(tmp_path: Path) -> None:
    # 117,600 = 5*5*6*28*28 leaves out the bias; 150,000 = C3's 1,500 weights*10*10, bias left out too.
    text = LECUN_TABLE.replace("122,304", "117,600").replace("151,600", "150,000")
    result = grade(read_table(write(tmp_path, text)), summarize("lenet5"))
    assert wrong(result) == [("C1", "connections", "117,600", 122_304), ("C3", "connections", "150,000", 151_600)]
    lines = result.render().splitlines()
    assert lines[0] == (
        "C1 connections: 117,600 is wrong; right: 122,304 = "
        "(k_h*k_w*C_in + 1)*C_out*H_out*W_out = (5*5*1 + 1)*6*28*28 = 122,304"
    )
    assert lines[1] == (
        "C3 connections: 150,000 is wrong; right: 151,600 = parameters*H_out*W_out "
        "(every output position has the layer's own weights and biases) = 1,516*10*10 = 151,600"
    )


def test_connections_of_pools_dense_layers_and_activations(tmp_path: Path, lenet: ModelSummary) -> None:
    path = write(
        tmp_path,
        """| Layer | Connections |
|---|---|
| input | 0 |
| conv1 | 476,672 |
| relu | 6,272 |
| pool1 | 6,272 |
| fc1 | 48,120 |
""",
    )
    # conv1: (5*5*3 + 1)*8*28*28 = 76*6,272 = 476,672; pool1 (max, no weights): 2*2*8*14*14 = 6,272;
    # fc1: (400 + 1)*120 = 48,120. An activation's connections are not counted.
    result = grade(read_table(path), lenet)
    assert result.ok and len(result.cells) == 4
    assert "not graded: the connections of relu (connections are counted for conv, pool and dense layers)" in (
        result.render()
    )


LENET_MACS = {"conv1": 470_400, "conv2": 320_000, "fc1": 48_000, "fc2": 10_080}  # 28*28*8*3*5*5, 10*10*16*8*5*5,
# 400*120, 120*84


def flops_table(tmp_path: Path, values: list[str], header: str = "FLOPs") -> Path:
    rows = "".join(f"| {name} | {v} |\n" for name, v in zip(LENET_MACS, values))
    return write(tmp_path, f"| Layer | {header} |\n|---|---|\n| pool1 | 0 |\n{rows}")


def test_flops_convention_is_detected_from_the_values(tmp_path: Path, lenet: ModelSummary) -> None:
    as_macs = grade(read_table(flops_table(tmp_path, ["470,400", "320,000", "48k", "10,080"])), lenet)
    assert as_macs.ok and as_macs.flops == "macs"
    assert (
        "FLOPs column graded as MACs: 4 of its values fit MACs and none fit 2 x MACs "
        "(--flops 2macs grades it as 2 x MACs)" in as_macs.render()
    )
    doubled = ["940,800", "640,000", "96k", "20,161"]
    as_flops = grade(read_table(flops_table(tmp_path, doubled, "Forward computation")), lenet)
    assert as_flops.flops == "2macs" and wrong(as_flops) == [("fc2", "flops", "20,161", 20_160)]
    assert "Forward computation column graded as 2 x MACs: 3 of its values fit" in as_flops.render()


def test_flops_convention_mixed_or_chosen(tmp_path: Path, lenet: ModelSummary) -> None:
    mixed = read_table(flops_table(tmp_path, ["470,400", "640,000", "48,000", "20,160"]))
    result = grade(mixed, lenet)
    assert result.flops == "2macs" and [c.row for c in result.wrong] == ["conv1", "fc1"]
    assert "graded as 2 x MACs, the usual convention: its values fit neither convention throughout " in (
        result.render()
    )
    chosen = grade(mixed, lenet, flops="macs")
    assert chosen.flops == "macs" and [c.row for c in chosen.wrong] == ["conv2", "fc2"]
    assert "FLOPs column graded as MACs (--flops macs)" in chosen.render()
    assert chosen.wrong[0].message() == (
        "conv2 FLOPs: 640,000 is wrong; right: 320,000 = FLOPs counted as MACs: "
        "H_out*W_out*C_out*C_in*k_h*k_w = 10*10*16*8*5*5 = 320,000"
    )
    with pytest.raises(CnnlabError, match="unknown FLOPs convention 'mac'"):
        grade(mixed, lenet, flops="mac")


# ---------------------------------------------------------------------------------------------- a model that cannot run

DILATED_TABLE = """| Layer | Output shape | Params | Remarks |
|---|---|---|---|
| input | 256x256x3 | 0 | |
| conv1 | 256x256x64 | 1,792 | same |
| conv2 | 124x124x32 | 51,232 | d=2 |
| pool1 | 62x62x32 | 0 | |
| conv3 | 62x62x128 | 36,992 | |
| conv4 | 23x23x64 | 204,864 | d=4 |
| pool2 | 11x11x64 | 0 | |
| conv5 | 11x11x256 | 147,712 | |
| conv6 | 1x1x128 | 819,328 | d=8 |
| pool3 | 1x1x128 | 0 | |
| Total | | 1,261,920 | |
"""


def test_a_model_that_cannot_run_is_graded_up_to_the_layer_that_cannot_exist(tmp_path: Path, capsys) -> None:
    # By hand: conv2 floor((256 - (2*(5-1)+1))/2) + 1 = 124, conv4 floor((62 - 17)/2) + 1 = 23; params
    # (3*3*3+1)*64 = 1,792, (5*5*64+1)*32 = 51,232, (3*3*32+1)*128 = 36,992, (5*5*128+1)*64 = 204,864,
    # (3*3*64+1)*256 = 147,712. conv6's effective kernel 8*(5-1)+1 = 33 is larger than its 11x11 input.
    path = write(tmp_path, DILATED_TABLE)
    result = check(read_table(path), str(NETS / "dilated-chain.toml"))
    assert result.cannot == "conv6" and not result.ok and result.exit_code == 1
    graded = [c for c in result.cells if c.expected is not None]
    assert len(graded) == 16 and all(c.ok for c in graded)
    assert [(c.row, c.column) for c in result.wrong] == [("conv6", "shape"), ("conv6", "params")]
    lines = result.render().splitlines()
    assert lines[0].startswith("conv6: this layer cannot exist: layer 'conv6' (Conv2d 5x5, dilation 8, padding 0)")
    assert "(H_out = floor((11 + 2*0 - (8*(5-1)+1))/2) + 1 = -10)" in lines[0]
    assert lines[1:] == [
        "not graded: Remarks",
        "not graded, after the layer that cannot exist: pool3, Total",
        "16 of 18 cells right",
    ]
    assert main(["check", str(path), "--model", str(NETS / "dilated-chain.toml")]) == 1
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[0] == lines[0] and printed[1:] == [
        "not graded: Remarks",
        "not graded, after the layer that cannot exist: pool3, Total",
        "16 of 18 cells right",
    ]


def test_a_table_that_stops_before_the_impossible_layer_still_fails(tmp_path: Path) -> None:
    path = write(tmp_path, "\n".join(DILATED_TABLE.splitlines()[:5]) + "\n")
    result = check(read_table(path), str(NETS / "dilated-chain.toml"))
    assert result.right == len(result.cells) == 6 and not result.ok
    assert result.notes[-1].startswith("the model cannot run: layer 'conv6'")


def test_activation_sizes_with_working_are_counts_not_shapes(tmp_path: Path, lenet: ModelSummary) -> None:
    # 28*28*8 = 6,272 and 14*14*8 = 1,568; 10*10*16 is 1,600, not 1,000
    path = write(
        tmp_path,
        "| Layer | Activation size |\n|---|---|\n| conv1 | 28*28*8 = 6,272 |\n| pool1 | 14*14*8 = 1,568 |\n"
        "| conv2 | 10*10*16 = 1,000 |\n",
    )
    table = read_table(path)
    assert table.columns == {"size": "Activation size"}
    result = grade(table, lenet)
    assert wrong(result) == [("conv2", "size", "10*10*16 = 1,000", 1600)]
    assert result.wrong[0].message() == (
        "conv2 activation size: 10*10*16 = 1,000 is wrong, and its working does not give its value either: "
        "10*10*16 = 1,600; right: 1,600 = 16*10*10 = 1,600"
    )


@pytest.fixture(scope="module")
def googlenet() -> ModelSummary:
    return summarize("googlenet", (3, 224, 224))


# inception3a of googlenet at 224x224, worked by hand. Input 28x28x192. torchvision's BasicConv2d is a conv
# without bias + batch norm (gamma and beta: 2*C parameters), so a branch layer has k*k*C_in*C_out + 2*C_out:
#   1x1:        1*1*192*64  = 12,288 + 2*64  = 12,416   MACs 12,288*28*28 = 9,633,792
#   3x3 reduce: 1*1*192*96  = 18,432 + 2*96  = 18,624
#   3x3:        3*3*96*128  = 110,592 + 2*128 = 110,848
#   5x5 reduce: 1*1*192*16  = 3,072 + 2*16   = 3,104
#   "5x5":      3*3*16*32   = 4,608 + 2*32   = 4,672    (torchvision builds it 3x3; --option kernel5=5 for 5x5)
#   pool proj:  1*1*192*32  = 6,144 + 2*32   = 6,208    (the 3x3 max pool before it has none)
#   module:     12,416 + 18,624 + 110,848 + 3,104 + 4,672 + 6,208 = 155,872; output 28x28x(64+128+32+32) = 256
# The pool proj row's 6,000 is the deliberately wrong cell.
INCEPTION_3A = """\
| Layer | Output | Params | MACs |
|---|---|---|---|
| inception(3a) #1x1 | 28x28x64 | 192*64 + 2*64 = 12,416 | 9,633,792 |
| #3x3 reduce | 28x28x96 | 18,624 | |
| #3x3 | 28x28x128 | 3*3*96*128 + 2*128 = 110,848 | |
| 3a branch3 reduce | 28x28x16 | 3,104 | |
| 3a/5x5 | 28x28x32 | 4,672 | |
| pool proj | 28x28x32 | 6,000 | |
| inception(3a) | 28x28x256 | 155,872 | 121,626,624 |
| max pool 3x3/2 | 14x14x480 | 0 | |
"""


def test_inception_branch_rows_match_their_branches(tmp_path: Path, googlenet: ModelSummary) -> None:
    result = grade(read_table(write(tmp_path, INCEPTION_3A)), googlenet)
    assert wrong(result) == [("pool proj", "params", "6,000", 6208)]
    layers = {c.row: c.layer for c in result.cells}
    assert layers["inception(3a) #1x1"] == "inception3a.branch1"
    assert layers["#3x3 reduce"] == "inception3a.branch2.0"
    assert layers["#3x3"] == "inception3a.branch2.1"
    assert layers["3a branch3 reduce"] == "inception3a.branch3.0"
    assert layers["3a/5x5"] == "inception3a.branch3.1"
    assert layers["pool proj"] == "inception3a.branch4.1"
    assert layers["inception(3a)"] == "inception3a"
    assert layers["max pool 3x3/2"] == "maxpool3"  # the next pool after the module, not a branch's pool
    assert result.render().splitlines()[-1] == f"{len(result.cells) - 1} of {len(result.cells)} cells right"


def test_inception_rows_in_any_order_and_module_totals(tmp_path: Path, googlenet: ModelSummary) -> None:
    text = """\
| Layer | Output | Params |
|---|---|---|
| inception(4e) | 14x14x832 | 1 |
| 3b pool proj | 28x28x64 | 256*64 + 2*64 = 16,512 |
| inception3b 1x1 | 28x28x128 | 33,024 |
"""
    result = grade(read_table(write(tmp_path, text)), googlenet)
    e4 = next(r for r in googlenet.rows if r.name == "inception4e")
    assert wrong(result) == [("inception(4e)", "params", "1", e4.params)]
    assert [c.layer for c in result.cells] == ["inception4e"] * 2 + ["inception3b.branch4.1"] * 2 + [
        "inception3b.branch1"
    ] * 2


def test_inception_row_naming_a_missing_branch_or_module_is_reported(tmp_path: Path, googlenet: ModelSummary) -> None:
    text = """\
| Layer | Output | Params |
|---|---|---|
| inception(3b) branch5 | 28x28x32 | 1 |
| inception(9z) | 28x28x32 | 1 |
| inception(3b) #1x1 | 28x28x128 | 33,024 |
"""
    result = grade(read_table(write(tmp_path, text)), googlenet)
    lines = result.render().splitlines()
    assert (
        lines[0]
        == "inception(3b) branch5: inception3b has no branch5 (its branches: branch1, branch2, branch3, branch4)"
    )
    assert lines[1].startswith("inception(9z): no inception module 9z in the model (its inception modules: inception3a")
    assert [c.ok for c in result.cells] == [False] * 4 + [True] * 2
    assert result.cells[-1].layer == "inception3b.branch1"


def test_row_for_a_branch_the_module_leaves_out_is_reported_not_matched_elsewhere(tmp_path: Path) -> None:
    net = write(
        tmp_path,
        'name = "three-tower"\ninput = [192, 28, 28]\n\n[[layers]]\ntype = "inception"\nname = "inception3a"\n'
        "ch1x1 = 64\nch3x3red = 96\nch3x3 = 128\nch5x5red = 16\nch5x5 = 0\npool_proj = 32\n",
        "net.toml",
    )
    text = """\
| Layer | Output | Params |
|---|---|---|
| inception(3a) #5x5 | 28x28x32 | 4,640 |
| #pool proj | 28x28x32 | 192*32 + 32 = 6,176 |
"""
    result = check(read_table(write(tmp_path, text)), str(net))
    lines = result.render().splitlines()
    assert lines[0] == "inception(3a) #5x5: inception3a has no 5x5 branch (its branches: branch1, branch2, branch4)"
    assert [(c.layer, c.ok) for c in result.cells] == [("", False)] * 2 + [("inception3a.branch4.1", True)] * 2


def test_rows_that_state_a_kernel_meet_the_layer_with_that_window(tmp_path: Path, inception: ModelSummary) -> None:
    """The naive module's branches written in another order than the model's: each row meets its own layer by the
    kernel its label states (1x1: 256*128 + 128, 3x3: 9*256*192 + 192, 5x5: 25*256*96 + 96 parameters)."""
    text = """\
| Layer | Output | Params |
|---|---|---|
| 5x5 conv | 32x32x96 | 614,496 |
| 3x3 max pool | 32x32x256 | 0 |
| 1x1 conv | 32x32x128 | 32,896 |
| 3x3 conv | 32x32x192 | 442,560 |
"""
    result = grade(read_table(write(tmp_path, text)), inception)
    assert result.ok, result.render()
    by_row = {c.row: c.layer for c in result.cells}
    assert [inception.rows[[r.name for r in inception.rows].index(by_row[k])].window for k in by_row] == [
        (5, 5),
        (3, 3),
        (1, 1),
        (3, 3),
    ]
    # a factorised 7x7 listed 7x1 first: each row still meets its own conv, (1*7*192 + 1)*192 = 258,240 both
    text = "| Layer | Output | Params |\n|---|---|---|\n| 7x1 conv | 17x17x192 | 258,240 |\n| 1x7 conv | 17x17x192 | 258,240 |\n"
    result = grade(read_table(write(tmp_path, text, "f.md")), summarize(str(NETS / "factorised-7x7.toml")))
    assert result.ok and [c.layer for c in result.cells][::2] == ["conv2", "conv1"]


def test_the_googlenet_papers_stem_rows_skip_the_1x1_reduce_they_leave_out(
    tmp_path: Path, googlenet: ModelSummary
) -> None:
    """Szegedy et al. 2014, Table 1 lists 'convolution 3x3/1' (56x56x192) with its 1x1 reduce in another column:
    the row meets conv3's convolution (3*3*64*192 = 110,592; a conv row is the Conv2d, its batch norm is a row of its
    own), not conv2's 1x1, which is named as left out."""
    text = """\
| type | output size | params |
|---|---|---|
| convolution 7x7/2 | 112x112x64 | 7*7*3*64 = 9,408 |
| max pool 3x3/2 | 56x56x64 | 0 |
| convolution 3x3/1 | 56x56x192 | 110,592 |
| max pool 3x3/2 | 28x28x192 | 0 |
"""
    result = grade(read_table(write(tmp_path, text)), googlenet)
    assert result.ok, result.render()
    assert [c.layer for c in result.cells][::2] == ["conv1.conv", "maxpool1", "conv3.conv", "maxpool2"]
    # conv2's 1x1 leads the convs left out, counted in one line with the inception modules' 54 (a table of five
    # rows would otherwise be followed by a hundred lines); dense layers are noted though the table lists none (a
    # table that forgets the classifier is told so)
    assert result.notes == [
        "not in the table: 55 conv layers (Conv2d): conv2.conv, inception3a.branch1.conv, inception3a.branch2.0.conv, ...",
        "not in the table: fc (Linear)",
        "not in the table: 12 pool layers (AdaptiveAvgPool2d, MaxPool2d): inception3a.branch4.0, inception3b.branch4.0, "
        "maxpool3, ...",
    ]


def test_a_row_named_as_summary_prints_it_meets_that_layer(tmp_path: Path, googlenet: ModelSummary) -> None:
    text = """\
| Layer | Output | Params |
|---|---|---|
| inception3a.branch3.1 | 28x28x32 | 3*3*16*32 + 2*32 = 4,672 |
| inception3a.branch2.0 | 28x28x96 | 18,624 |
"""
    result = grade(read_table(write(tmp_path, text)), googlenet)
    assert result.ok and [c.layer for c in result.cells][::2] == ["inception3a.branch3.1", "inception3a.branch2.0"]


def test_a_table_of_convs_that_forgets_the_classifier_is_told_which_layers_it_left_out(tmp_path: Path) -> None:
    """Convs and dense layers are noted even where the table lists none of their kind: a table of VGG's first conv
    graded right with nothing said of the dense head let a student who forgot it pass without a word. Notes do not
    fail the check."""
    result = grade(read_table(write(tmp_path, "layer,params\nconv1,1792\n", "one.csv")), summarize("vgg11_bn-cifar"))
    assert result.ok
    left = [n.removeprefix("not in the table: ") for n in result.notes]
    assert "classifier.0 (Linear)" in left and "classifier.3 (Linear)" in left and "features.4 (Conv2d)" in left
    assert not any("MaxPool" in n or "BatchNorm" in n for n in left)  # kinds the table does not list


LENET5_PAPER = """\
| Layer | Feature maps | Size | Trainable parameters | Connections |
|---|---|---|---|---|
| C1 | 6 | 28x28 | 156 | 122,304 |
| S2 | 6 | 14x14 | 12 | 5,880 |
| C3 | 16 | 10x10 | 1,516 | 151,600 |
| S4 | 16 | 5x5 | 32 | 2,000 |
| C5 | 120 | 1x1 | 48,120 | 48,120 |
| F6 | 84 | | 10,164 | 10,164 |
| Output | 10 | | 0 | 840 |
| Total | | | 60,000 | 340,908 |
"""


def test_the_lenet5_papers_layout_of_maps_beside_their_size_grades_as_one_shape(tmp_path: Path) -> None:
    """LeCun et al. 1998 give a layer's feature maps (6) and their size (28x28) in two columns: C1 to C5 were marked
    wrong (`28x28 is wrong; right: 6x28x28`) and the maps column went ungraded. Now both make one shape."""
    result = grade(read_table(write(tmp_path, LENET5_PAPER)), summarize("lenet5"))
    assert result.ok and len(result.cells) == 23, result.render()
    wrong = grade(
        read_table(write(tmp_path, LENET5_PAPER.replace("| 16 | 10x10 |", "| 6 | 10x10 |"))), summarize("lenet5")
    )
    assert [(c.layer, c.given) for c in wrong.cells if not c.ok] == [("c3", "6x10x10")], wrong.render()


# `model.summary()` of the material's cats-vs-dogs network in Keras 3.15 (VGG16(include_top=False) + Flatten +
# Dense(256) + Dropout + Dense(1, sigmoid)), as Keras printed it
KERAS_CATS_DOGS = """\
Model: "sequential"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ vgg16 (Functional)              │ (None, 7, 7, 512)      │    14,714,688 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ flatten (Flatten)               │ (None, 25088)          │             0 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dense (Dense)                   │ (None, 256)            │     6,422,784 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dropout (Dropout)               │ (None, 256)            │             0 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dense_1 (Dense)                 │ (None, 1)              │           257 │
└─────────────────────────────────┴────────────────────────┴───────────────┘
 Total params: 21,137,729 (80.63 MB)
 Trainable params: 21,137,729 (80.63 MB)
 Non-trainable params: 0 (0.00 B)

"""


def test_a_keras_summary_names_its_nested_base_model_functional_and_it_is_the_base_block(tmp_path: Path) -> None:
    """Keras shows a pretrained base as one row, `vgg16 (Functional)`: it was `cannot tell which layer this is`
    (11 of 13 right); now it is the model's top-level block, and the layers inside it are not left out."""
    for convention in ("torch", "keras"):
        result = grade(
            read_table(write(tmp_path, KERAS_CATS_DOGS, "summary.txt")),
            summarize("net:vgg16-cats-dogs"),
            convention=convention,
        )
        assert result.ok and len(result.cells) == 13 and not result.notes, result.render()


RF_TABLE = """| Layer | Shape | Receptive field |
|---|---|---|
| conv1 | 8x28x28 | 5 |
| pool1 | 8x14x14 | 6 x 6 |
| conv2 | 16x10x10 | 14×14 |
| pool2 | 16x5x5 | {pool2} |
| flatten | 400 | - |
| fc1 | 120 | 32 |
"""


def test_a_receptive_field_column_is_graded(tmp_path: Path, capsys) -> None:
    """A receptive-field cell holds the field's size (16, 16x16); a wrong one names the right size and the
    recurrence that gives it, r_in + (k-1)*j_in; a dash where nothing is asked is not graded."""
    model = str(NETS / "lenet-like.toml")
    assert main(["check", str(write(tmp_path, RF_TABLE.format(pool2="16"))), "--model", model]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().splitlines()[-1] == "11 of 11 cells right" and "not graded" not in out
    assert main(["check", str(write(tmp_path, RF_TABLE.format(pool2="20"))), "--model", model]) == 1
    assert capsys.readouterr().out.splitlines()[0] == (
        "pool2 receptive field: 20 is wrong; right: 16 = r_in + (k-1)*j_in = 14 + (2-1)*2 = 16"
    )


def test_the_summarys_own_tables_grade_right_receptive_field_column_included(tmp_path: Path) -> None:
    """`cnnlab summary`'s markdown and CSV, given back to `check`, are right to the last cell: the RF size/jump/start
    column (fractional starts, 1x7 fields, adaptive pools in Inception v3) and the CSV's rf_size were `not graded`.
    A lone jump or start column still is not graded."""
    for model in ("lenet5", "inception_v3", str(NETS / "factorised-7x7.toml")):  # the last: 9x7/2x1/1.5x0.5
        summary = summarize(model)
        result = check(read_table(write(tmp_path, render(summary, "markdown"))), model)
        assert result.ok and not [n for n in result.notes if n.startswith("not graded")], result.notes
        assert sum(c.column == "rf" for c in result.cells) == len(summary.rows)
    result = check(read_table(write(tmp_path, render(summarize("lenet5"), "csv"), "summary.csv")), "lenet5")
    assert result.ok and "not graded: depth, block, trainable_params, rf_jump, rf_start" in result.notes, result.notes
    assert sum(c.column == "rf" for c in result.cells) == len(summarize("lenet5").rows)


def test_a_receptive_field_as_size_jump_start_or_with_working_grades_each_part(tmp_path: Path) -> None:
    """Copied from the summary, `16/4/8` grades the size, the jump and the start; working before the size must give
    it, as in the number columns; a cell of two parts is not read."""
    table = "| Layer | RF |\n|---|---|\n| s4 | {} |\n"
    right = ("16/4/8", "16x16/4x4/8x8", "16 / 4 / 8.0", "14 + (2-1)*2 = 16", "14 + (2-1)*2 = 16/4/8", "16")
    for cell in right:
        assert check(read_table(write(tmp_path, table.format(cell))), "lenet5").ok, cell
    for cell in ("16/4/7", "16/2/8", "20/4/8"):
        result = check(read_table(write(tmp_path, table.format(cell))), "lenet5")
        assert result.messages()[0] == (
            f"s4 receptive field: {cell} is wrong; right: 16/4/8 (size/jump/start; size 16 = r_in + (k-1)*j_in = "
            "14 + (2-1)*2 = 16)"
        )
    for cell in ("16/4", "16/4/x", "16/4/8/1"):
        messages = check(read_table(write(tmp_path, table.format(cell))), "lenet5").messages()
        assert messages[0].startswith(f"s4 receptive field: {cell} is not a receptive field size (or size/jump/start)")
    messages = check(read_table(write(tmp_path, table.format("14 + (2-1)*3 = 17 + 1 = 16"))), "lenet5").messages()
    assert messages[0].startswith(
        "s4 receptive field: 14 + (2-1)*3 = 17 + 1 = 16 has working that does not give its value: "
        "14 + (2-1)*3 = 17; 17 + 1 = 18; right: 16 = "
    )
    fields = "| Layer | RF |\n|---|---|\n| pool1 | {} |\n"
    factorised = str(NETS / "factorised-7x7.toml")
    assert check(read_table(write(tmp_path, fields.format("9x7/2x1/1.5x0.5"))), factorised).ok
    working = check(read_table(write(tmp_path, fields.format("4*2+1 = 9x7/2x1/1.5x0.5"))), factorised).messages()
    assert working[0].startswith(
        "pool1 receptive field: 4*2+1 = 9x7/2x1/1.5x0.5 has working that does not give its "
        "value: 4*2+1 = 9; right: 9x7/2x1/1.5x0.5"
    )  # one number is no 9x7 field
    for cell in ("9x7/2/1.5x0.5", "9x7/2x1/1.5", "9x7/1x2/1.5x0.5"):
        assert not check(read_table(write(tmp_path, fields.format(cell))), factorised).ok, cell
    with pytest.raises(CnnlabError, match=r"cannot read the working 'r_in \+ \(k-1\)\*j_in' in the 'RF' cell"):
        check(read_table(write(tmp_path, table.format("r_in + (k-1)*j_in = 16"))), "lenet5")


def test_a_receptive_field_taller_than_wide_is_read_as_height_by_width(tmp_path: Path) -> None:
    """A field whose height and width differ is written HxW, as `cnnlab summary` prints it (factorised 1x7)."""
    table = "| Layer | RF |\n|---|---|\n| conv1 | {} |\n| conv2 | 7 |\n| pool1 | 9x7 |\n"
    model = str(NETS / "factorised-7x7.toml")
    assert check(read_table(write(tmp_path, table.format("1x7"))), model).ok
    result = check(read_table(write(tmp_path, table.format("7x1"))), model)
    assert wrong(result) == [("conv1", "rf", "7x1", (1, 7))]
    assert result.messages() == [
        "conv1 receptive field: 7x1 is wrong; right: 1x7 = r_in + (k-1)*j_in = 1 + (1-1)*1 = 1 (height), "
        "1 + (7-1)*1 = 7 (width)"
    ]
