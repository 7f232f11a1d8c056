"""The command line: real subprocesses for exit codes and stderr (a fresh interpreter each, seconds of importing
PyTorch), in-process calls for output formats and the many one-line errors."""

from __future__ import annotations

import argparse
import csv
import io
import json
import subprocess
import sys
import warnings

import pytest

from cnnlab.cli import build_parser, main
from tests.conftest import EXAMPLES, cli_as_terminal

NETS = EXAMPLES / "nets"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnnlab.cli", *args], capture_output=True, text=True, timeout=120)


def test_models_lists_name_family_input_params(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "lenet5 " in out and "60,000" in out
    line = next(l for l in out.splitlines() if l.startswith("vgg16 "))
    assert "vgg" in line and "3x224x224" in line and "138,357,544" in line


def test_summary_json_schema(capsys):
    assert main(["summary", str(NETS / "lenet-like.toml"), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc["totals"]) >= {"params", "trainable_params", "macs", "activations"}
    row = doc["layers"][0]
    assert set(row) >= {
        "name",
        "type",
        "output_shape",
        "activations",
        "params",
        "trainable_params",
        "macs",
        "receptive_field",
    }
    assert set(row["receptive_field"]) == {"size", "jump", "start"}
    assert row["output_shape"] == [8, 28, 28] and row["params"] == 608
    assert doc["totals"]["params"] == 62_958


def test_summary_keras_convention_shows_nhwc_and_differences(capsys):
    assert (
        main(
            [
                "summary",
                str(NETS / "dilated-chain.toml"),
                "--input",
                "3,1024,1024",
                "--convention",
                "keras",
                "--format",
                "json",
            ]
        )
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    assert doc["layers"][0]["output_shape"] == [1024, 1024, 64]
    refusals = [n for n in doc["notes"] if "refuses strides=2" in n]
    assert [n.split(":")[0] for n in refusals] == ["conv2", "conv4", "conv6"]


def test_summary_markdown_and_csv(capsys):
    assert main(["summary", "tutorial-net", "--format", "markdown"]) == 0
    md = capsys.readouterr().out
    assert md.startswith("| Layer |") and "| conv1 | Conv2d | 6x28x28 | 4,704 | 456 |" in md
    assert main(["summary", "tutorial-net", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows[0]["name"] == "conv1" and rows[0]["macs"] == str(28 * 28 * 6 * 3 * 25)


def test_summary_input_changes_channels(capsys):
    assert main(["summary", "resnet18-cifar", "--input", "1,28,28", "--num-classes", "4", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["input_shape"] == [1, 28, 28] and doc["output_shape"] == [4]


def test_empty_layer_output_is_one_line_exit_2():
    r = run("summary", str(NETS / "dilated-chain.toml"))
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "conv6" in r.stderr and "11x11" in r.stderr and "33x33" in r.stderr
    assert "124x124" in r.stdout  # the rows before the failing layer are still shown


def test_a_reader_that_stops_early_ends_the_command_quietly():
    """`cnnlab models | head -1`: the pipe's reader has gone before the listing is written. The command ends with
    the shell's status for SIGPIPE (141) and says nothing, as Unix tools do, instead of a one-line error."""
    proc = subprocess.Popen(  # the LeNets only: the listing is built on the meta device, some seconds for the zoo
        [sys.executable, "-m", "cnnlab", "models", "lenet*"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    proc.stdout.close()  # the reader goes away before the command writes
    err = proc.stderr.read()
    assert (proc.wait(timeout=120), err) == (141, "")


@pytest.mark.parametrize(
    "args, text",
    [
        (["summary", "resnet-18"], "unknown model 'resnet-18'"),
        (["summary", "vgg16", "--input", "3,32"], "--input must be C,H,W"),
        (["summary", "vgg16", "--input", "3,16,16"], "features.30"),
        (["summary", "missing.toml"], "not found"),
        (["summary", "mnist-cnn", "--num-classes", "0"], "--num-classes must be a positive integer below 2**31, got 0"),
        (["check", "no-table.md", "--model", "tutorial-net"], "no-table.md"),
        # argparse's own errors are one line too, without the usage block
        (["trian"], "invalid choice: 'trian'"),
        (["tune", "space.toml", "--budget", "abc"], "--budget takes an integer, got 'abc' (see cnnlab tune --help)"),
        (["train", "--lr", "abc"], "--lr takes a number"),
    ],
)
def test_bad_input_one_line_exit_2(args, text, capsys):
    code, _, err = cli_as_terminal(args, capsys)  # in-process: the real processes above print alike
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and text in err, err


TABLES = EXAMPLES / "tables"


# By hand for lenet-like on 3x32x32: conv (k*k*C_in + 1)*C_out = (5*5*3 + 1)*8 = 608 and (5*5*8 + 1)*16 = 3,216,
# dense (in + 1)*out = 401*120 = 48,120, 121*84 = 10,164, 85*10 = 850. The published table has 8 rows of 3 graded
# cells, its shapes and sizes right and its 5 non-zero parameter counts wrong (input and pools have 0, as it says).
PUBLISHED_WRONG = [
    "CONV1 parameters: 208 is wrong; right: 608 = (k_h*k_w*C_in + 1)*C_out = (5*5*3 + 1)*8 = 608",
    "CONV2 parameters: 416 is wrong; right: 3,216 = (k_h*k_w*C_in + 1)*C_out = (5*5*8 + 1)*16 = 3,216",
    "FC3 parameters: 48,001 is wrong; right: 48,120 = (in + 1)*out = (400 + 1)*120 = 48,120",
    "FC4 parameters: 10,081 is wrong; right: 10,164 = (in + 1)*out = (120 + 1)*84 = 10,164",
    "Softmax parameters: 841 is wrong; right: 850 = (in + 1)*out = (84 + 1)*10 = 850",
]


@pytest.mark.parametrize(
    "table, code, printed",
    [
        ("lenet-like-published.md", 1, [*PUBLISHED_WRONG, "19 of 24 cells right"]),
        ("lenet-like-correct.md", 0, ["24 of 24 cells right"]),
    ],
)
def test_check_exit_codes(table, code, printed):
    r = run("check", str(TABLES / table), "--model", str(NETS / "lenet-like.toml"), "--input", "3,32,32")
    assert r.returncode == code, r.stderr
    assert r.stderr == ""
    assert [line for line in r.stdout.splitlines() if line.strip()] == printed


def test_check_unreadable_table_exit_2(tmp_path):
    bad = tmp_path / "notes.md"
    bad.write_text("no table here, only prose\n")
    r = run("check", str(bad), "--model", "tutorial-net")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == (
        f"cnnlab: error: no table found in {bad}; give a markdown pipe table or a CSV file with a header row\n"
    )


def test_every_argument_of_every_command_says_what_it_is_in_help():
    """`cnnlab CMD --help` is the reference a user reads first: no bare `run` or `--top TOP` without a word."""
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    bare = [
        f"{name} {'/'.join(a.option_strings) or a.dest}"
        for name, command in commands.items()
        for a in command._actions
        if not a.help and not isinstance(a, argparse._HelpAction)
    ]
    assert len(commands) >= 20 and bare == []


def test_an_option_flag_adds_to_the_experiment_files_options_and_wins_over_the_same_key(tmp_path):
    from cnnlab.cli.common import given_settings

    exp = tmp_path / "exp.toml"
    exp.write_text('model = "airbench-cifar-s"\ndata = "digits"\n[options]\nwidth = 8\ndepth = 2\n')
    args = build_parser().parse_args(["train", str(exp), "--option", "width=16"])
    assert given_settings(args)["options"] == {"width": 16, "depth": 2}


def test_a_warning_is_one_line_and_a_collected_objects_resource_warning_is_not_said(capsys) -> None:
    """A command's warnings are `warning:` lines; a ResourceWarning (an event loop some test or library left open,
    collected while a command ran) is not about the command: it made a bad-input test's one-line error two lines."""
    import asyncio
    import gc

    from cnnlab.cli import _warning_line

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = _warning_line
        warnings.warn("the data folder\n  is large", UserWarning, stacklevel=1)
        asyncio.new_event_loop()  # unclosed, and collected at once
        gc.collect()
    assert capsys.readouterr().err == "warning: the data folder is large\n"
