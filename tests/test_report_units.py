"""The comparison table of `compare` and `report` (cnnlab.report.tables), cell by cell: rows made by hand for the
formatting, and two real runs of a tiny net on the 8x8 digits (trained in a second) for reading a run directory.
Fast enough for mutation testing to run once per mutant (scripts/mutation.py)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from cnnlab.display.html import LEFT, RIGHT
from cnnlab.errors import CnnlabError
from cnnlab.report.tables import (
    COLUMNS,
    CSV_KEYS,
    RunTable,
    cells,
    data_note,
    grid,
    percent,
    render_table,
    run_row,
    run_table,
)
from cnnlab.rundir import RunConfig
from cnnlab.train import train
from tests.conftest import DIGITS_NET, write_toml

HEADS = [heading for _, heading in COLUMNS]


def row(**changes) -> dict:
    """A finished run's row as run_row gives it, with `changes`."""
    base = {"run": "a", "model": "mlp", "data": "digits", "train_size": 1200, "val_size": 150, "test_size": 447,
            "train_accuracy": 0.95, "test_accuracy": 0.9, "best_epoch": 2, "epochs_run": 3, "epochs": 3,
            "train_seconds": 4.26, "trainable_params": 650, "params": 700, "macs": 1_234_567, "stopped": "completed",
            "path": "/runs/a"}  # fmt: skip
    return {**base, **changes}


@pytest.mark.parametrize(
    "value, text",
    [
        (None, "-"),
        (0.0, "0.00%"),
        (0.5, "50.00%"),
        (0.12345, "12.35%"),
        (1.0, "100.00%"),
        (0.99999, "99.99%"),  # 49,999 of 50,000 right is not all of them
        (0.99994, "99.99%"),
        (0.99995, "99.99%"),  # rounds to 100.00% but is short of it
        (0.00004, "0.01%"),  # rounds to 0.00% but some are right
        (0.00005, "0.01%"),
        (0.0001, "0.01%"),
    ],
)
def test_a_percentage_never_rounds_to_all_or_none_of_a_count_that_is_not(value, text) -> None:
    assert percent(value) == text


def test_every_cell_of_a_row_under_its_column() -> None:
    keys = [key for key, _ in COLUMNS]
    assert cells(row(), keys) == [
        "a", "mlp", "digits", "1200/150/447", "95.00%", "90.00%", "2/3", "4.3 s", "650/700", "1.23M", "-",
    ]  # fmt: skip
    assert cells(row(), ["macs", "run"]) == ["1.23M", "a"]  # in the order asked
    assert cells(row(macs=None), ["macs"]) == ["-"]  # a run that kept no weights: nothing was measured
    assert cells(row(macs=999), ["macs"]) == ["999"]
    assert cells(row(train_seconds=0.04), ["train_seconds"]) == ["0.0 s"]
    assert cells(row(trainable_params=0, params=1_000_000), ["params"]) == ["0/1,000,000"]  # all frozen


def test_a_run_stopped_early_says_when_and_why_and_one_that_ended_no_epoch_has_no_best() -> None:
    early = row(stopped="patience: no better val_loss for 2 epochs", epochs_run=5, epochs=20, best_epoch=3)
    assert cells(early, ["best_epoch", "stopped"]) == [
        "3/20",
        "after epoch 5: patience: no better val_loss for 2 epochs",
    ]
    blown = row(stopped="non-finite loss", epochs_run=0, best_epoch=0, train_accuracy=None, test_accuracy=None)
    assert cells(blown, ["best_epoch", "stopped", "test_accuracy"]) == ["-", "in epoch 1: non-finite loss", "-"]
    assert cells(row(), ["stopped"]) == ["-"]


def test_the_data_and_stopped_columns_appear_only_when_they_tell_runs_apart() -> None:
    heads, numeric, body = grid([row(), row(run="b")])
    assert heads == [h for h in HEADS if h not in ("data", "stopped")]
    assert [heads[i] for i in sorted(numeric)] == ["train acc", "test acc", "best epoch", "train time", "params (trainable/total)", "MACs"]  # fmt: skip
    assert [line[0] for line in body] == ["a", "b"] and len(body[0]) == len(heads)
    heads, numeric, body = grid([row(), row(run="b", data="mnist")])
    assert heads[:3] == ["run", "model", "data"] and "stopped" not in heads
    assert [heads[i] for i in sorted(numeric)][0] == "train acc" and body[1][2] == "mnist"
    heads, _, body = grid([row(), row(run="b", stopped="non-finite loss", epochs_run=1)])
    assert heads[-1] == "stopped" and "data" not in heads
    assert [line[-1] for line in body] == ["-", "after epoch 1: non-finite loss"]


def test_the_note_above_a_table_names_each_dataset_once_in_order() -> None:
    assert data_note([row()]) == data_note([row(), row(run="b")]) == data_note([]) == ""
    runs = [row(data="mnist"), row(data="digits"), row(data="mnist")]
    assert data_note(runs) == "the runs use different data (mnist, digits): their accuracies are on different test sets"


def test_the_text_table_aligns_numbers_right_under_dashed_headings() -> None:
    text = render_table([row(), row(run="longer-name", test_accuracy=0.125, train_seconds=123.45)])
    assert text.split("\n") == [
        "run          model  train/val/test  train acc  test acc  best epoch  train time  params (trainable/total)   MACs",
        "-----------  -----  --------------  ---------  --------  ----------  ----------  ------------------------  -----",
        "a            mlp    1200/150/447       95.00%    90.00%         2/3       4.3 s                   650/700  1.23M",
        "longer-name  mlp    1200/150/447       95.00%    12.50%         2/3     123.5 s                   650/700  1.23M",
        "",
    ]
    mixed = render_table([row(), row(run="b", data="mnist")]).split("\n")
    assert mixed[0] == data_note([row(), row(data="mnist")]) and mixed[1].startswith("run  model  data")


def test_the_markdown_table_has_a_row_per_run_and_the_note_above_it() -> None:
    text = render_table([row(), row(run="b", macs=None)], "markdown")
    lines = text.split("\n")
    assert lines[0] == "| " + " | ".join(h for h in HEADS if h not in ("data", "stopped")) + " |"
    assert lines[1] == "|" + "|".join(["---"] * 9) + "|"
    assert lines[2] == "| a | mlp | 1200/150/447 | 95.00% | 90.00% | 2/3 | 4.3 s | 650/700 | 1.23M |"
    assert lines[3].endswith("| 650/700 | - |") and lines[4:] == [""]
    mixed = render_table([row(), row(run="b", data="mnist")], "markdown")
    assert mixed.startswith(data_note([row(), row(data="mnist")]) + "\n\n| run | model | data |")


def test_the_csv_has_every_column_as_a_raw_number_and_no_note() -> None:
    text = render_table([row(), row(run="b", data="mnist", macs=None)], "csv")
    assert text.startswith(",".join(CSV_KEYS) + "\n") and "\r" not in text and "different data" not in text
    first, second = csv.DictReader(io.StringIO(text))
    assert list(first) == CSV_KEYS  # the path is left out
    assert (first["test_accuracy"], first["train_seconds"], first["macs"], first["epochs_run"]) == ("0.9", "4.26", "1234567", "3")  # fmt: skip
    assert (second["data"], second["macs"]) == ("mnist", "")


def test_a_table_names_the_runs_it_leaves_out_under_it_in_text_and_html_but_not_in_csv() -> None:
    table = RunTable([row()], ["b", "c"])
    assert table.left_out() == "not finished, so not in the table: b, c"
    assert table.render().endswith("\nnot finished, so not in the table: b, c\n")
    assert str(table) == table.render() and table.render("markdown").endswith("b, c\n")
    assert table.render("csv") == render_table([row()], "csv")
    page = RunTable([row(), row(run="<b>", data="mnist")], ["x&y"])._repr_html_()
    assert page.startswith('<p class="notes">the runs use different data (digits, mnist)')
    assert page.endswith('<p class="notes">not finished, so not in the table: x&amp;y</p>')
    assert "&lt;b&gt;" in page and "<b>" not in page and 'class="runs"' in page
    alone = RunTable([row()])
    assert alone.left_out() == "" and alone.render() == render_table([row()])
    page = alone._repr_html_()
    assert page.startswith('<table class="runs"') and page.endswith("</table>")  # no notes above or below
    assert f'<th style="{LEFT}">run</th>' in page and f'<th style="{RIGHT}">test acc</th>' in page
    assert f'<td style="{RIGHT}">90.00%</td>' in page and f'<td style="{LEFT}">mlp</td>' in page

    class Printer:
        said = ""

        def text(self, value: str) -> None:
            self.said += value

    printer = Printer()
    table._repr_pretty_(printer, False)
    assert printer.said == table.render()


# DIGITS_NET declared for 16x16 with a global average pool before its dense layer, so it runs at any size
TINY_POOLED = DIGITS_NET.replace("[1, 8, 8]", "[1, 16, 16]").replace(
    '[[layers]]\ntype = "flatten"', '[[layers]]\ntype = "adaptive-avgpool"\n[[layers]]\ntype = "flatten"'
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """Two finished runs on the 8x8 digits, one of a tiny network file (not named .toml, in a folder; declared for
    16x16 and trained at 8x8, which its global pool allows), and one that kept no weights (its lr sends the loss to
    infinity in epoch 1)."""
    root = tmp_path_factory.mktemp("runs")
    (root / "nets").mkdir()
    net = write_toml(root / "nets" / "tiny.net", TINY_POOLED)
    quiet = {"log": lambda s: None, "progress": False}
    train(RunConfig(model=net, data="digits", input=(1, 8, 8), epochs=2, limit=300, seed=1), root / "net", **quiet)
    train(RunConfig(model="mlp", data="digits", input=(1, 8, 8), epochs=1, limit=300), root / "mlp", **quiet)
    train(RunConfig(model="mlp", data="digits", input=(1, 8, 8), lr=1e12, epochs=2, limit=300), root / "blown", **quiet)
    return root


def test_a_runs_row_reads_its_summary_config_and_macs(runs: Path) -> None:
    from cnnlab.analysis import summarize
    from cnnlab.rundir import RunDir
    from cnnlab.train.inference import load_run

    got = run_row(runs / "net")
    summary = RunDir(runs / "net").summary()
    assert got["run"] == "net" and got["model"] == "tiny.net"  # a network file by its name, not its whole path
    assert got["path"] == str(runs / "net") and got["data"] == "digits" and got["epochs"] == 2
    for key in ("train_size", "val_size", "test_size", "train_accuracy", "test_accuracy", "best_epoch", "epochs_run",
                "train_seconds", "trainable_params", "params", "stopped"):  # fmt: skip
        assert got[key] == summary[key], key
    # at the input it trained on (8x8), not the one its file declares (16x16): conv, dense
    assert got["macs"] == 8 * 8 * 4 * 3 * 3 + 4 * 10 == summarize(runs / "net").macs
    assert run_row(load_run(runs / "net")) == got  # a run already loaded is read as it is
    assert run_row(runs / "mlp", "named")["run"] == "named" and run_row(runs / "mlp")["model"] == "mlp"


def test_a_run_that_kept_no_weights_gets_its_row_from_its_summary(runs: Path) -> None:
    got = run_row(runs / "blown")
    assert (got["macs"], got["test_accuracy"], got["epochs_run"]) == (None, None, 0)
    assert got["stopped"].startswith("non-finite") and got["run"] == "blown" and got["params"] > 0
    assert got["path"] == str(runs / "blown") and got["model"] == "mlp"
    assert cells(got, ["best_epoch", "macs"]) == ["-", "-"]


def test_an_unfinished_run_is_refused_by_name_and_left_out_of_a_table_with_its_name(runs: Path, tmp_path) -> None:
    import shutil

    from cnnlab.rundir.layout import SUMMARY

    copy = tmp_path / "copy"
    shutil.copytree(runs / "mlp", copy)
    (copy / SUMMARY).unlink()  # as a run killed before its end leaves it
    with pytest.raises(CnnlabError, match=rf"^{copy} has not finished \(no summary\); resume it with resume=True$"):
        run_row(copy)
    table = run_table([runs / "net", copy])
    assert [r["run"] for r in table.rows] == ["net"] and table.unfinished == [copy.name]


def test_runs_of_one_name_from_two_folders_are_told_apart_by_their_paths(runs: Path, tmp_path) -> None:
    import shutil

    twin = tmp_path / "elsewhere" / "net"
    shutil.copytree(runs / "net", twin)
    table = run_table([runs / "net", twin])
    assert [r["run"] for r in table.rows] == ["net", str(twin)] and table.unfinished == []


def test_an_unknown_table_format_is_refused_naming_the_three() -> None:
    for call in (lambda: render_table([row()], "html"), lambda: RunTable([row()]).render("json")):
        with pytest.raises(CnnlabError) as caught:
            call()
        assert str(caught.value).startswith("unknown table format ") and "give one of table, markdown, csv" in str(caught.value)  # fmt: skip
    assert render_table([row()]) == render_table([row()], "table") == RunTable([row()]).render()
