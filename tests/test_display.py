"""Results show themselves in Jupyter with the content the terminal prints: HTML tables built from the same cells
(checked word for word against the text), PNG figures; and plain Python never imports IPython."""

from __future__ import annotations

import base64
import html
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

import cnnlab
from cnnlab.analysis.grade import check, read_table
from cnnlab.display import aligned, in_notebook
from cnnlab.errors import CnnlabError
from cnnlab.report import RunTable, run_table
from cnnlab.rundir import RunSummary, open_run
from cnnlab.rundir.view import summary_text
from cnnlab.train import RunConfig, train
from tests.conftest import DIGITS_NET, EXAMPLES, REPO, html_words, text_words, write_toml


def pngs(fragment: str) -> list[Image.Image]:
    """The PNG images embedded in an HTML fragment."""
    return [
        Image.open(io.BytesIO(base64.b64decode(data)))
        for data in re.findall(r'src="data:image/png;base64,([^"]+)"', fragment)
    ]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two short runs on the 8x8 digits: a TOML net and the zoo's mnist-cnn, both finished."""
    tmp = tmp_path_factory.mktemp("display")
    net = write_toml(tmp / "net.toml", DIGITS_NET)
    out = {}
    for name, model, epochs in (("small", net, 2), ("cnn", "mnist-cnn", 1)):
        out[name] = tmp / name
        summary = train(RunConfig(model=model, data="digits", epochs=epochs, limit=300), out[name], log=lambda _: None)
        assert isinstance(summary, RunSummary) and summary.path == out[name]
    return out


@pytest.mark.parametrize("model,convention", [("lenet5", "torch"), ("vgg11_bn", "keras"), ("googlenet", "torch")])
def test_model_summary_html_holds_the_terminal_table_word_for_word(model: str, convention: str) -> None:
    from cnnlab.analysis.render import render_html

    s = cnnlab.summarize(model)
    text = s.render("table", convention)
    assert html_words(render_html(s, convention)) == text_words(text)
    assert html_words(s._repr_html_()) == text_words(s.render())
    page = render_html(s, convention)
    assert '<th style="text-align:right;white-space:nowrap">MACs</th>' in page  # numbers right-aligned, as in text
    if convention == "keras":  # batch norm's moving statistics: an extra column
        assert '<th style="text-align:right;white-space:nowrap">Non-trainable</th>' in page


def test_grade_html_is_the_score_the_wrong_cells_and_the_notes() -> None:
    result = check(
        read_table(EXAMPLES / "tables" / "lenet-like-published.md"), str(EXAMPLES / "nets" / "lenet-like.toml")
    )
    page = result._repr_html_()
    assert page.count("<li>") == len(result.messages()) == 5
    assert html_words(page)[:5] == ["19", "of", "24", "cells", "right"]
    assert all(f"<li>{html.escape(m)}</li>" in page for m in result.messages())
    assert sorted(html_words(page)) == sorted(result.render().split())
    assert str(result) == result.render()  # print(grade) prints what `cnnlab check` prints


def test_run_table_html_and_text_are_the_same_cells(runs: dict[str, Path]) -> None:
    table = run_table([runs["small"], runs["cnn"]])
    assert isinstance(table, RunTable) and [r["run"] for r in table.rows] == ["small", "cnn"]
    assert html_words(table._repr_html_()) == text_words(str(table))
    assert "params (trainable/total)" in str(table) and "mnist-cnn" in table._repr_html_()
    with pytest.raises(CnnlabError, match=r"^nothing to report: no runs given; name run directories or study"):
        run_table([])
    one = run_table(str(runs["small"]))  # one path as a string: the run, not the string's characters
    assert [r["run"] for r in one.rows] == ["small"] and str(one) == str(run_table(runs["small"]))


def test_a_run_shows_its_summary_lines_and_its_curves(runs: dict[str, Path]) -> None:
    run = open_run(runs["small"])
    text = summary_text(run.path, run.summary)
    page = run._repr_html_()
    first, *rows = text.splitlines()
    assert html_words(page.split("<figure>")[0]) == first.split() + [
        w for line in rows for w in re.sub(r"^ *(\w+): ", r"\1 ", line).split()
    ]
    (curves,) = pngs(page)
    assert curves.format == "PNG" and curves.width > curves.height > 100
    summary = RunSummary(run.summary, run.path)
    assert summary == run.summary and summary._repr_html_() == page
    assert str(run) == text  # print(run) prints the lines, not the weights


def test_cli_train_prints_the_lines_a_run_shows(runs: dict[str, Path], tmp_path: Path) -> None:
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "cnnlab",
            "train",
            "--data",
            "digits",
            "--epochs",
            "1",
            "--limit",
            "200",
            "--out",
            str(tmp_path / "r"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    run = open_run(tmp_path / "r")
    assert r.stdout.strip() == summary_text(tmp_path / "r", run.summary)
    assert r.stdout.startswith(f"run: {tmp_path / 'r'}\n  test_accuracy: 0.")


def test_plain_python_training_imports_nothing_of_jupyter(tmp_path: Path) -> None:
    code = (
        "import sys, cnnlab\n"
        "from cnnlab.train import RunConfig, train\n"
        f"s = train(RunConfig(data='digits', epochs=1, limit=200), {str(tmp_path / 'r')!r}, log=lambda _: None)\n"
        "s._repr_html_(); cnnlab.summarize('lenet5')._repr_html_()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('IPython', 'ipywidgets', 'ipykernel')"
        " or m == 'tqdm.notebook'))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
    assert not in_notebook()


def test_curves_mark_whole_epochs_and_tell_train_from_validation_with_one_epoch() -> None:
    """One epoch gave ticks at 0.96 ... 1.04, and two at 1.5: epochs are whole. With one point a line's style
    does not show, so validation has its own marker."""
    from cnnlab.display.curves import curves_figure

    row = {"train_loss": 1.0, "val_loss": 1.2, "train_accuracy": 0.5, "val_accuracy": 0.4}
    for epochs in (1, 2, 3):
        rows = [{**row, "epoch": e} for e in range(1, epochs + 1)]
        for ax in curves_figure({"run": rows}).axes:
            ax.figure.canvas.draw()
            ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
            assert ticks and all(float(t).is_integer() for t in ticks), (epochs, ticks)
            train, val = ax.get_lines()
            assert (train.get_marker(), val.get_marker()) == ("o", "s")


def test_html_table_cells_are_escaped_and_numeric_columns_right_aligned() -> None:
    from cnnlab.display.html import table

    out = table(["name", "n"], [["<b>x</b>", "1"]], numeric={1})
    assert "&lt;b&gt;x&lt;/b&gt;" in out and "<b>" not in out
    cells = out.split("<td")
    assert "right" in cells[2].split(">")[0] and "right" not in cells[1].split(">")[0]


def test_loss_curves_go_logarithmic_only_for_a_wide_finite_span_and_draw_no_missing_validation() -> None:
    """A diverged run's 3.6e14 flattened every other curve: a span over 100x gets a log axis, labelled so; an
    infinite loss does not count (it cannot be drawn), and a run without validation draws one line per axis."""
    from cnnlab.display.curves import curves_figure

    def rows(train: list[float], val: list[float | None]) -> list[dict]:
        return [
            {"epoch": i + 1, "train_loss": t, "val_loss": v, "train_accuracy": 0.5, "val_accuracy": v and 0.5}
            for i, (t, v) in enumerate(zip(train, val))
        ]

    wide = curves_figure({"a": rows([1.0, 0.8], [1.0, 3.6e14])})
    assert wide.axes[0].get_yscale() == "log" and wide.axes[0].get_ylabel() == "loss (log scale)"
    finite = curves_figure({"a": rows([1.0, 0.8], [1.0, float("inf")])})
    assert finite.axes[0].get_yscale() == "linear" and finite.axes[0].get_ylabel() == "loss"
    no_val = curves_figure({"a": rows([1.0, 0.8], [None, None])})
    assert [len(ax.get_lines()) for ax in no_val.axes] == [1, 1]


def test_a_runs_lines_are_every_key_with_accuracies_to_four_places_and_each_finding() -> None:
    """The lines `cnnlab train` prints at the end, right-aligned keys: the three accuracies to four places (the
    others as they are, one it has not as -, where Python's None was printed), then one line per diagnosis; an
    unfinished run says how to resume it."""
    summary = {
        "test_accuracy": 0.98765,
        "val_accuracy": 0.5,
        "train_accuracy": 1.0,
        "epochs_run": 3,
        "train_seconds": 12.5,
        "params": 1234,
        "stopped": "completed",
        "diagnosis": ["overfitting from epoch 2", "lr too low"],
    }
    assert summary_text("runs/a", summary).splitlines() == [
        "run: runs/a",
        "  test_accuracy: 0.9877",
        "   val_accuracy: 0.5000",
        " train_accuracy: 1.0000",
        "     epochs_run: 3",
        "  train_seconds: 12.5",
        "         params: 1234",
        "        stopped: completed",
        "      diagnosis: overfitting from epoch 2",
        "      diagnosis: lr too low",
    ]
    no_val = {**summary, "val_accuracy": None, "test_accuracy": None, "test_size": 10}  # no val; kept no weights
    assert summary_text("runs/c", no_val).splitlines()[1:3] == ["  test_accuracy: -", "   val_accuracy: -"]
    unfinished = summary_text("runs/b", None).splitlines()
    assert unfinished[0] == "run: runs/b" and len(unfinished) == 2
    assert unfinished[1].startswith("        stopped: not finished: resume it with ")
    assert unfinished[1].endswith("resume=True")  # from Python; the command says --resume


def test_aligned_text_draws_dashes_under_the_headings_or_around_the_table() -> None:
    """The one text table of the run tables, the demo's, `cnnlab models`, the layer table and the study summary:
    numbers right-aligned, no trailing spaces (an empty last cell leaves none), and the two rules they draw."""
    head, body = ["name", "n", "note"], [["a", "10", ""], ["bb", "2", "x"]]
    assert aligned(head, body, (1,)).splitlines() == ["name   n  note", "a     10", "bb     2  x"]
    assert aligned(head, body, (1,), rule="under").splitlines()[:2] == ["name   n  note", "----  --  ----"]
    framed = aligned(head, body, (1,), rule="frame").splitlines()
    assert framed[0] == framed[2] == framed[-1] == "-" * len("name   n  note") and framed[1] == "name   n  note"
    assert framed[3:-1] == ["a     10", "bb     2  x"]
