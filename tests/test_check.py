"""Grading hand-made layer tables (cnnlab.analysis.grade) against real model summaries."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnlab.analysis import ModelSummary, summarize
from cnnlab.analysis.grade import Grade, grade, parse_number, parse_shape, read_table, shapes_match
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
