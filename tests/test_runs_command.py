"""`cnnlab runs` and cnnlab.rundir.runs_below: every run below a folder and where it stands, from real runs that
finished, were killed (SIGKILL at a failpoint, and from outside while training) or are still being written, and
one that was damaged; listing reads the runs without changing a byte, and the command it prints resumes them."""

from __future__ import annotations

import html
import os
import re
import shlex
import signal
import time
from pathlib import Path

import pytest

from cnnlab.rundir import Runs, RunState, runs_below
from tests.conftest import cli_as_terminal, snapshot
from tests.crashkit import cnnlab, private_cache, start

TRAIN = ["train", "--model", "mlp", "--data", "digits", "--input", "1,8,8", "--seed", "0"]


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    return {**private_cache(tmp_path_factory), "OMP_NUM_THREADS": "1"}


def by_name(runs: Runs, top: Path) -> dict[str, RunState]:
    return {str(r.path.relative_to(top)): r for r in runs}


def test_finished_killed_running_and_damaged_runs_each_show_where_they_stand(tmp_path, env, capsys) -> None:
    top = tmp_path / "runs"
    assert cnnlab([*TRAIN, "--epochs", "2", "--out", top / "done"], env).returncode == 0
    killed = cnnlab([*TRAIN, "--epochs", "4", "--out", top / "study" / "runs" / "killed"], env, "manifest:2")
    assert killed.returncode == -signal.SIGKILL
    early = cnnlab([*TRAIN, "--epochs", "4", "--out", top / "early"], env, "checkpoint-file:1")
    assert early.returncode == -signal.SIGKILL
    assert cnnlab([*TRAIN, "--epochs", "1", "--out", top / "broken"], env).returncode == 0
    (top / "broken" / "config.toml").write_text("model = [unclosed\n")
    assert cnnlab([*TRAIN, "--epochs", "1", "--out", top / ".hidden" / "r"], env).returncode == 0
    assert cnnlab([*TRAIN, "--epochs", "1", "--out", top / "a" / "b" / "c" / "d" / "deep"], env).returncode == 0
    before = snapshot(top)
    runs = by_name(runs_below(top), top)
    assert snapshot(top) == before  # not a byte changed, no lock taken
    assert sorted(runs) == ["broken", "done", "early", "study/runs/killed"]  # hidden and 5 levels down: not looked at
    done, kill, first = runs["done"], runs["study/runs/killed"], runs["early"]
    assert (done.state, done.done, done.epochs, done.model, done.data) == ("completed", 2, 2, "mlp", "digits")
    assert 0.5 < done.val_accuracy <= 1 and 0.5 < done.test_accuracy <= 1 and not done.resumable
    assert (kill.state, kill.done, kill.epochs, kill.test_accuracy, kill.resumable) == ("interrupted", 2, 4, None, True)
    said = re.findall(r"val_acc (\d+\.\d+)%", killed.stdout + killed.stderr)  # what the killed run printed
    assert len(said) == 2 and kill.val_accuracy == pytest.approx(max(map(float, said)) / 100, abs=5e-5)
    assert (first.state, first.done, first.val_accuracy) == ("no epoch finished", 0, None)
    assert runs["broken"].state.startswith("damaged: ") and "config.toml: not valid TOML" in runs["broken"].state
    code, out, err = cli_as_terminal(["runs", str(top)], capsys)
    assert code == 0 and err == ""
    head, *rows, footer = out.splitlines()
    assert head.split() == ["run", "model", "data", "epochs", "val", "test", "state"]
    assert rows[1].split() == ["done", "mlp", "digits", "2/2", f"{done.val_accuracy:.2%}", f"{done.test_accuracy:.2%}",
                               "completed"]  # fmt: skip
    assert rows[3].split()[3:] == ["2/4", f"{kill.val_accuracy:.2%}", "-", "interrupted"]
    hint = f"`cnnlab train --out {top / 'early'} --resume` goes on"
    assert footer == f"4 runs in {top}; 2 stopped before the end: {hint}"
    # The command it prints goes on from the last epoch, with nothing else given.
    assert cnnlab(["train", "--out", top / "study" / "runs" / "killed", "--resume"], env).returncode == 0
    again = by_name(runs_below(top), top)["study/runs/killed"]
    assert (again.state, again.done, again.resumable) == ("completed", 4, False) and again.test_accuracy > 0.5
    python = f"train(config, out={str(top / 'early')!r}, resume=True) goes on"  # from a notebook, Python's words
    assert str(runs_below(top)).splitlines()[-1] == f"4 runs in {top}; 1 stopped before the end: {python}"
    assert "<table>" in runs_below(top)._repr_html_() and html.escape(python) in runs_below(top)._repr_html_()


def test_a_run_being_written_shows_its_process_and_once_killed_is_interrupted(tmp_path, env) -> None:
    run = tmp_path / "long"
    child = start([*TRAIN, "--epochs", "2000", "--out", run], env)
    try:
        deadline = time.monotonic() + 120
        while not (run / "checkpoints" / "manifest.json").exists():
            assert time.monotonic() < deadline, "no checkpoint in 120 s"
            time.sleep(0.2)
        [live] = runs_below(tmp_path)
        assert live.state == f"running (process {child.pid})" and live.done >= 1 and not live.resumable
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    [dead] = runs_below(tmp_path)
    assert dead.state == "interrupted" and dead.resumable and 1 <= dead.done < 2000


def test_bad_folders_are_one_line_and_an_empty_one_says_so(tmp_path, capsys) -> None:
    (tmp_path / "file").write_text("x")
    for bad in (tmp_path / "file", tmp_path / "none"):
        code, out, err = cli_as_terminal(["runs", str(bad)], capsys)
        assert code == 2 and err.strip().splitlines() == [
            f"cnnlab: error: {bad} is not a folder; give a folder that holds run directories"
        ]
    code, out, err = cli_as_terminal(["runs", str(tmp_path)], capsys)
    assert (code, out) == (0, f"no run directories in {tmp_path}\n")


def test_damaged_runs_are_listed_as_such_and_the_resume_command_quotes_its_path(tmp_path, env) -> None:
    """An emptied config.toml listed as a finished mnist-cnn run (the defaults); a run whose config.toml is gone
    was not listed at all, though a resume names it; a path with a space gave a command that split it in two."""
    top = tmp_path / "runs"
    for name in ("emptied", "no config", "kill me"):
        failpoint = "manifest:1" if name == "kill me" else None
        cnnlab([*TRAIN, "--epochs", "2", "--out", top / name], env, failpoint)
    (top / "emptied" / "config.toml").write_text("")
    (top / "no config" / "config.toml").unlink()
    runs = by_name(runs_below(top), top)
    assert (
        runs["emptied"].state.startswith("damaged: ")
        and "names no model, as every run's config does" in runs["emptied"].state
    )
    assert runs["no config"].state == "damaged: it has checkpoints but no config.toml; restore it from a copy"
    assert runs["kill me"].state == "interrupted"
    assert str(runs_below(top)).count("\n") == 4  # header, three runs, footer
    code = cnnlab(["runs", top], env)
    said = f"`cnnlab train --out '{top / 'kill me'}' --resume` goes on"
    assert code.returncode == 0 and code.stdout.splitlines()[-1].endswith(said), code.stdout
    assert cnnlab(shlex.split(said.strip("`").split("`")[0])[1:], env).returncode == 0  # pasted as printed
    assert by_name(runs_below(top), top)["kill me"].state == "completed"


@pytest.mark.parametrize(
    "key, value, said",
    [
        ("test_accuracy", "x", 'test_accuracy is "x", not a number'),
        ("epochs_run", "2", 'epochs_run is "2", not a whole number'),
        ("stopped", 5, "stopped is 5, not text"),
        ("diagnosis", [1], "diagnosis is [1], not a list of findings (text)"),
    ],
)
def test_a_summary_value_of_the_wrong_kind_is_a_damaged_run_not_a_traceback(
    tmp_path, env, capsys, key: str, value: object, said: str
) -> None:
    """A hand-edited summary.json ("test_accuracy": "x") was formatted as a number by `runs` and `report`: a
    ValueError, TypeError or AttributeError traceback. It is listed as damaged, and `report` refuses it in one line."""
    import json

    from cnnlab.cli import main

    run = tmp_path / "runs" / "r"
    assert cnnlab([*TRAIN, "--epochs", "1", "--out", run], env).returncode == 0
    summary = json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(json.dumps({**summary, key: value}))
    before = snapshot(run)
    state = by_name(runs_below(tmp_path / "runs"), tmp_path / "runs")["r"].state
    assert state.startswith("damaged: ") and said in state
    assert main(["runs", str(tmp_path / "runs")]) == 0
    assert main(["report", str(run), "--out", str(tmp_path / "report")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"summary.json is damaged: {said}; resume the run with --resume" in err
    assert snapshot(run) == before and not (tmp_path / "report").exists()


def test_a_run_config_value_of_the_wrong_kind_is_one_line_for_every_reader(tmp_path, env, capsys) -> None:
    """A run's config.toml with `tta = 5` was used unvalidated by eval, predict, export and report: a TypeError
    traceback (only --resume checked it). Each refuses it in one line naming the file and key."""
    from cnnlab.cli import main

    run = tmp_path / "r"
    assert cnnlab([*TRAIN, "--epochs", "1", "--out", run], env).returncode == 0
    config = run / "config.toml"
    config.write_text(config.read_text().replace('tta = "none"', "tta = 5"))
    before = snapshot(run)
    for argv in (["eval", str(run)], ["export", str(run), "--out", str(tmp_path / "m.onnx")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err == f"cnnlab: error: {config}: tta must be text, got 5\n"
    assert snapshot(run) == before and not (tmp_path / "m.onnx").exists()
