"""The run directory (cnnlab.rundir): one writer at a time, readers while it trains, resume that refuses what it
cannot honour, damaged or hostile files refused in one line, full and read-only disks, and every build option
recorded so any finished run can be rebuilt."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cnnlab.rundir import RunConfig, RunDir, open_run
from tests.conftest import DIGITS_NET, EXAMPLES, cli_as_terminal, shared_dataset, snapshot, write_toml

NET = DIGITS_NET


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    return cli_as_terminal(list(args), capsys)


def one_line_error(code: int, err: str, *fragments: str, after_epochs: bool = False) -> None:
    """Exit 2 with one error line (`after_epochs`: the epochs trained before it may be logged above it)."""
    lines = err.strip().splitlines()
    if after_epochs:
        lines = [line for line in lines if not line.startswith("epoch ")]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("cnnlab: error:"), err
    assert "Traceback" not in err
    for f in fragments:
        assert f in lines[0], (f, lines[0])


# a size-specific model trained at the digits' own 8x8
MLP_8X8 = ["train", "--model", "mlp", "--data", "digits", "--input", "1,8,8", "--epochs", "1", "--no-progress"]


def resume_args(net: str, run: Path) -> list[str]:
    """The command that resumes `partial_run` with its own settings (3 epochs, seed 1)."""
    return ["train", "--model", net, "--data", "digits", "--epochs", "3", "--seed", "1", "--out", str(run), "--resume"]


@pytest.fixture
def partial_run(tmp_path, capsys) -> Path:
    """A digits run stopped after epoch 1 of 3 (resumable), trained through the library."""
    from cnnlab.rundir import RunConfig
    from cnnlab.train import train

    net = write_toml(tmp_path / "net.toml", NET)
    out = tmp_path / "run"
    train(RunConfig(model=net, data="digits", epochs=3, seed=1), out, log=lambda s: None, stop_after=1)
    return out


def hold_another_flock(path: Path) -> subprocess.Popen:
    """A process holding an flock on a file of no run, returned once it holds it."""
    code = "import fcntl, sys, time; f = open(sys.argv[1], 'w'); fcntl.flock(f, fcntl.LOCK_EX); print(1, flush=True)"
    proc = subprocess.Popen([sys.executable, "-c", code + "; time.sleep(600)", str(path)], stdout=subprocess.PIPE)
    assert proc.stdout.readline() == b"1\n"
    return proc


def test_a_second_writer_is_refused_naming_the_first_and_readers_work_meanwhile(tmp_path):
    # The first writer must still hold the run when the checks end: 1,000 digits epochs (0.05-0.1 s each) ended
    # first on a slow, busy machine, where each check's fresh interpreter took tens of seconds. Once it has
    # published an epoch it is paused (SIGSTOP: a stopped process keeps its lock), so that the checks do not share
    # the cores with its training; it is resumed and interrupted below.
    epochs = "1000000"
    net = write_toml(tmp_path / "net.toml", NET)
    out = tmp_path / "run"
    cli = [sys.executable, "-m", "cnnlab"]
    train = ["train", "--model", net, "--data", "digits", "--epochs", epochs, "--out", str(out)]
    decoys = [hold_another_flock(tmp_path / "decoy-before")]  # /proc/locks lists other locks: the holder is by inode
    first = subprocess.Popen(
        [*cli, *train, "--no-progress"],  # interruptible wherever pytest runs (tests/conftest.py)
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 120
        while not RunDir(out).has_checkpoint():  # wait for the first published epoch
            assert time.time() < deadline and first.poll() is None, first.communicate()
            time.sleep(0.2)
        first.send_signal(signal.SIGSTOP)
        decoys.append(hold_another_flock(tmp_path / "decoy-after"))
        second = subprocess.run([*cli, *train, "--seed", "1", "--resume"], capture_output=True, text=True, timeout=120)
        assert second.returncode == 2 and "Traceback" not in second.stderr
        assert f"is being written by process {first.pid}" in second.stderr, second.stderr
        reader = subprocess.run([*cli, "eval", str(out)], capture_output=True, text=True, timeout=120)
        assert reader.returncode == 0 and "test accuracy:" in reader.stdout, reader.stderr
    finally:
        first.send_signal(signal.SIGINT)  # delivered on SIGCONT
        first.send_signal(signal.SIGCONT)
        out_, err = first.communicate(timeout=300)
        for decoy in decoys:
            decoy.kill()
            decoy.wait()
    assert first.returncode == 130 and "cnnlab: interrupted" in err, err
    assert RunDir(out).config().seed == 0 and RunDir(out).has_checkpoint()  # the refused writer left no mark


def test_a_killed_writer_does_not_lock_the_run_out(tmp_path, partial_run, capsys):
    """The lock is the kernel's: a SIGKILLed holder releases it (its lock file stays, empty)."""
    net = str(tmp_path / "net.toml")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cnnlab",
            "train",
            "--model",
            net,
            "--data",
            "digits",
            "--epochs",
            "400",
            "--seed",
            "1",
            "--out",
            str(partial_run),
            "--resume",
            "--no-progress",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while RunDir(partial_run).checkpoints.load("last", weights=False).epoch < 2:
        assert time.time() < deadline and proc.poll() is None
        time.sleep(0.2)
    proc.kill()
    proc.wait()
    done = RunDir(partial_run).checkpoints.load("last", weights=False).epoch  # 2, or more on a fast machine
    args = [a if a != "3" else str(max(3, done)) for a in resume_args(net, partial_run)]  # fewer would be refused
    code, out, err = run_cli(capsys, *args, "--no-progress")
    assert code == 0, err


def test_resume_compares_every_setting_given(partial_run, capsys, tmp_path):
    net = str(tmp_path / "net.toml")
    before = snapshot(partial_run)
    code, _, err = run_cli(
        capsys,
        "train",
        "--model",
        net,
        "--data",
        "digits",
        "--out",
        str(partial_run),
        "--resume",
        "--epochs",
        "3",
        "--lr",
        "0.5",
        "--batch-size",
        "16",
    )
    one_line_error(code, err, "--lr is 0.5 but the run used 0.001", "--batch-size is 16 but the run used 64")
    exp = write_toml(tmp_path / "exp.toml", 'optimizer = "sgd"\n')
    code, _, err = run_cli(capsys, "train", exp, "--out", str(partial_run), "--resume")
    one_line_error(code, err, "--optimizer is 'sgd' but the run used 'adam'")
    code, _, err = run_cli(capsys, "train", "--out", str(partial_run), "--resume", "--ema", "0.9")
    one_line_error(code, err, "--ema is 0.9 but the run left it unset")  # not Python's None
    assert snapshot(partial_run) == before
    code, _, err = run_cli(capsys, "train", "--out", str(partial_run), "--resume", "--epochs", "2", "--seed", "1")
    assert code == 0, err  # epochs may change; the run's other settings come from its config
    assert RunDir(partial_run).summary()["epochs_run"] == 2 and RunDir(partial_run).config().epochs == 2


def test_messages_name_python_arguments_to_python_callers_and_flags_on_the_command_line(partial_run, capsys, tmp_path):
    """A notebook calling train() has no --resume or --out: the same refusals name its arguments there."""
    from cnnlab.errors import CnnlabError
    from cnnlab.rundir import RunConfig
    from cnnlab.train import train

    config = RunConfig(model=str(tmp_path / "net.toml"), data="digits", epochs=3, seed=1)
    with pytest.raises(CnnlabError, match=r"\(trained to epoch 1\); use resume=True to continue it or another out$"):
        train(config, partial_run)
    with pytest.raises(CnnlabError, match=r"^resume=True: lr is 0.5 but the run used 0.001; resume with the run's"):
        train(RunConfig(model=config.model, data="digits", epochs=3, seed=1, lr=0.5), partial_run, resume=True)
    with pytest.raises(CnnlabError, match=r"\(only epochs, patience, gl_alpha, data_dir, device, log_every may"):
        train(RunConfig(model=config.model, data="digits", epochs=3, seed=1, lr=0.5), partial_run, resume=True)
    code, _, err = run_cli(capsys, *resume_args(config.model, partial_run)[:-1])
    one_line_error(code, err, "(trained to epoch 1); use --resume to continue it or another --out")
    code, _, err = run_cli(capsys, *resume_args(config.model, partial_run), "--lr", "0.5")
    one_line_error(code, err, "--resume: --lr is 0.5 but the run used 0.001")
    assert "(only --epochs, --patience, --gl-alpha, --data-dir, --device, --log-every may change)" in err


def test_a_python_callers_bad_settings_are_named_by_their_arguments_not_by_flags(partial_run, capsys, tmp_path):
    """A notebook gives RunConfig(limit=0), init_from=..., freeze=..., tune(trials=0), load_study overrides, out= of
    train and write_report: the refusals name those arguments, where they named flags it never typed (`--limit must be ...`); the CLI's still
    name its flags."""
    from cnnlab.errors import CnnlabError
    from cnnlab.explain.api import features, filters
    from cnnlab.report import write_report
    from cnnlab.study import load_study
    from cnnlab.train import train
    from cnnlab.tune import tune

    cases = [
        (lambda: train(RunConfig(model="mlp", data="digits", limit=0), tmp_path / "a"), r"^limit must be a positive"),
        (
            lambda: RunConfig(normalize=False, mean=[0.5], std=[0.5]).validate(),
            r"^mean/std standardise the inputs, which normalize=False turns off",
        ),
        (
            lambda: train(RunConfig(model="mlp", data="digits", init_from=str(tmp_path / "nope")), tmp_path / "b"),
            r"^init_from .*nope: no such run directory or file",
        ),
        (
            lambda: train(RunConfig(model="mlp", data="digits", freeze="features"), tmp_path / "c"),
            r"^freeze features: every layer with parameters is dense",
        ),
        (lambda: features(partial_run, np.zeros((1, 8, 8), np.uint8), layer="nope"), r"^layer 'nope' is not a layer"),
        (lambda: tune("space:mnist-cnn", tmp_path / "t", trials=0), r"^trials must be at least 1, got 0$"),
        (lambda: load_study("study:init", {"limit": 0}), r"^limit, given for every run of .*init.toml: must be a pos"),
        (lambda: write_report([partial_run], tmp_path), r"^out .* is a directory; give the path of the .html file"),
        (lambda: write_report([partial_run], tmp_path / "r.html", gradcam=-1), r"^gradcam must be 0 or more images"),
        (lambda: train(RunConfig(model="mlp", data="digits"), tmp_path / "net.toml"), r"^out .* is a file, not a run"),
        (lambda: filters(partial_run, channels="all"), r"^channels 'all' is not one of"),
        (
            lambda: train(RunConfig(model="mlp", data="digits", mean=[0.5] * 3, std=[1] * 3), tmp_path / "e"),
            r"^mean has 3 values but the model's inputs have 1 channel",
        ),
    ]
    for call, message in cases:
        with pytest.raises(CnnlabError, match=message) as err:
            call()
        assert "--" not in str(err.value), err.value
    code, _, err = run_cli(capsys, *MLP_8X8, "--out", str(tmp_path / "d"), "--limit", "0")
    one_line_error(code, err, "--limit must be a positive integer, got 0")
    code, _, err = run_cli(capsys, "compare", "study:init", "--limit", "0", "--dry-run")
    one_line_error(code, err, "--limit, given for every run of")


def test_reading_what_is_not_a_run_is_one_line_naming_it(partial_run, tmp_path):
    """A typo'd folder or a file given to RunDir: an error, not an empty history or advice to delete it."""
    from cnnlab.errors import CnnlabError

    (tmp_path / "report.html").write_text("<html></html>")
    (tmp_path / "empty").mkdir()
    for path in (tmp_path / "typo", tmp_path / "report.html", tmp_path / "empty"):
        for read in (RunDir(path).metrics, RunDir(path).batches, RunDir(path).config):
            with pytest.raises(CnnlabError, match=rf"^{path} is not a cnnlab run directory \(no config.toml\); train"):
                read()
    assert [row["epoch"] for row in RunDir(partial_run).metrics()] == [1] and RunDir(partial_run).batches() == []
    for holder in (partial_run.parent, tmp_path / "study"):  # a folder of runs, a study's STUDY/runs/NAME
        if holder.name == "study":
            (holder / "runs").mkdir(parents=True)
            (partial_run.parent / "run").rename(holder / "runs" / "run")
        with pytest.raises(CnnlabError, match=rf"^{holder} is not a cnnlab run directory but holds runs, such as "):
            RunDir(holder).config()


def test_an_interrupted_training_says_the_run_keeps_its_checkpoint(partial_run, tmp_path):
    """Ctrl-C (or a notebook's interrupt; here at epoch 2's end): the KeyboardInterrupt goes on, after a line saying
    the run can be continued; the run directory stays resumable."""
    from cnnlab.rundir import RunConfig
    from cnnlab.train import Callback, train

    class CtrlC(Callback):
        def on_epoch_end(self, row):
            raise KeyboardInterrupt

    lines: list[str] = []
    config = RunConfig(model=str(tmp_path / "net.toml"), data="digits", epochs=3, seed=1)
    with pytest.raises(KeyboardInterrupt):
        train(config, partial_run, resume=True, log=lines.append, progress=False, callbacks=[CtrlC()])
    assert lines[-1] == f"interrupted: {partial_run} keeps its last checkpoint; continue it with resume=True"
    assert RunDir(partial_run).checkpoints.manifest()["last"]["epoch"] == 2


def test_a_run_with_no_complete_checkpoint_restarts_and_stale_temporaries_go(tmp_path, capsys):
    net = write_toml(tmp_path / "net.toml", NET)
    out = tmp_path / "run"
    args = ["train", "--model", net, "--data", "digits", "--epochs", "1", "--out", str(out)]
    (out / "checkpoints").mkdir(parents=True)
    killed = RunConfig(
        model=net, data="digits", epochs=1
    ).validate()  # as a run killed during its first checkpoint leaves it
    (out / "config.toml").write_text(killed.to_toml())
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = [out / f".metrics.csv.tmp-{dead.stdout.strip()}-abc", out / "checkpoints" / ".epoch-0001.tmp-1-x"]
    stale[0].write_text("half")
    stale[1].mkdir()
    for resume in ([], ["--resume"]):
        code, _, err = run_cli(capsys, *args, *resume)
        assert code == 0, err
        assert not any(p.exists() for p in stale)
        assert RunDir(out).summary()["epochs_run"] == 1
        for name in ("summary.json", "metrics.csv", "checkpoints/manifest.json"):  # back to "no checkpoint yet"
            (out / name).unlink()


def test_a_run_without_its_checkpoints_is_not_started_over_as_another_or_over_what_it_trained(tmp_path, capsys):
    """A run directory with no complete checkpoint starts over only as the run it holds: `--resume` with other
    settings once rewrote its config and trained another model in it, and a finished run whose manifest was lost
    was trained again over its weights, metrics and summary."""
    net = write_toml(tmp_path / "net.toml", NET)
    out = tmp_path / "run"
    args = ["train", "--model", net, "--data", "digits", "--epochs", "1", "--limit", "200", "--out", str(out)]
    assert run_cli(capsys, *args)[0] == 0
    (out / "checkpoints" / "manifest.json").unlink()
    before = snapshot(out)
    for extra in ([], ["--resume"], ["--model", "mlp", "--resume"]):
        code, _, err = run_cli(capsys, *args, *extra)
        one_line_error(code, err, f"{out} has trained (it has summary.json and metrics.csv) but holds no complete")
        assert "manifest.json is missing; restore the run from a copy, or train into another --out" in err
        assert snapshot(out) == before
    for name in ("summary.json", "metrics.csv"):  # now as a run killed before its first checkpoint leaves it
        (out / name).unlink()
    before = snapshot(out)
    code, _, err = run_cli(capsys, *args[:-2], "--limit", "100", "--out", str(out), "--resume")
    one_line_error(code, err, "holds a run that never finished an epoch, with other settings: --limit is 100 but the")
    assert snapshot(out) == before
    assert run_cli(capsys, *args)[0] == 0 and RunDir(out).summary()["epochs_run"] == 1  # its own settings: over


def test_damaged_and_hostile_checkpoints_are_refused_in_one_line(partial_run, capsys, tmp_path):
    net = str(tmp_path / "net.toml")
    resume = resume_args(net, partial_run)
    manifest_path = partial_run / "checkpoints" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    folder = partial_run / "checkpoints" / manifest["last"]["dir"]
    state = folder / "state.pt"
    good = state.read_bytes()

    state.write_bytes(good[: len(good) // 2])  # truncated
    before = snapshot(partial_run)
    code, _, err = run_cli(capsys, *resume)
    one_line_error(code, err, "state.pt is damaged")
    assert snapshot(partial_run) == before

    # A hostile pickle whose digest was forged into the manifest: weights_only loading refuses it, no code runs.
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    evil = pickle.dumps({"optimizer": Evil()})
    state.write_bytes(evil)
    manifest["last"]["files"]["state.pt"] = {"size": len(evil), "sha256": hashlib.sha256(evil).hexdigest()}
    manifest["best"] = manifest["last"]
    manifest_path.write_text(json.dumps(manifest))
    before = snapshot(partial_run)
    code, _, err = run_cli(capsys, *resume)
    one_line_error(code, err, "is not a plain tensor file", "refusing to load it")
    assert not marker.exists() and snapshot(partial_run) == before
    # and from a real process, whose stderr also gets what torch warns (pytest's capture keeps that from run_cli)
    r = subprocess.run([sys.executable, "-m", "cnnlab", *resume], capture_output=True, text=True, timeout=300)
    one_line_error(r.returncode, r.stderr, "it would build objects other than tensors")
    assert not marker.exists() and snapshot(partial_run) == before

    for garbage in (b"\x00garbage{", b'{"format": 1, "last": "x"}', b"[]"):
        manifest_path.write_bytes(garbage)
        before = snapshot(partial_run)
        for args in (resume, ["eval", str(partial_run)], ["summary", str(partial_run)]):
            code, _, err = run_cli(capsys, *args)
            one_line_error(code, err, "manifest.json")
        assert snapshot(partial_run) == before

    manifest_path.write_text(json.dumps(manifest))
    (folder / "meta.json").write_text("{not json")
    code, _, err = run_cli(capsys, "eval", str(partial_run))
    one_line_error(code, err, "meta.json is damaged")  # its digest no longer matches the manifest


def test_build_options_are_recorded_so_every_command_rebuilds_the_run(tmp_path, capsys):
    """An mlp (a size-specific model) trained at 8x8: eval and summary rebuild it at 8x8, not its default 28x28."""
    out = tmp_path / "r1"
    code, _, err = run_cli(capsys, *MLP_8X8, "--out", str(out))
    assert code == 0, err
    assert open_run(out).meta["build"] == {"num_classes": 10, "in_channels": 1, "options": {"image_size": 8}}
    code, text, err = run_cli(capsys, "eval", str(out))
    assert code == 0 and "test accuracy:" in text, err
    code, text, err = run_cli(capsys, "summary", str(out))
    fc1 = next(line for line in text.splitlines() if line.startswith("fc1 "))
    assert code == 0 and "16,640" in fc1, text  # 8*8 inputs: 64 * 256 + 256 parameters (28x28 would give 200,960)


def tmpfs(mount: Path, size: int) -> Path:
    """A real tmpfs of `size` bytes at `mount` (unmounted at the end of the test by the fixture)."""
    mount.mkdir(exist_ok=True)
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip()}); this test needs root")
    return mount


@pytest.fixture
def mounts(tmp_path):
    yield tmp_path
    for m in (tmp_path / "disk", tmp_path / "ro"):
        subprocess.run(["umount", "-l", str(m)], capture_output=True, check=False)


def test_a_full_disk_during_a_checkpoint_is_one_line_and_keeps_the_last_good_set(mounts, capsys):
    args = ["train", "--model", "mnist-cnn", "--data", "digits", "--epochs", "3", "--no-progress"]
    code, _, err = run_cli(capsys, *args, "--epochs", "1", "--out", str(mounts / "one"))
    assert code == 0, err
    one_set = sum(p.stat().st_size for p in (mounts / "one").rglob("*") if p.is_file())
    disk = tmpfs(mounts / "disk", int(one_set * 1.6))  # room for one epoch's checkpoint set, not for two
    out = disk / "run"
    code, _, err = run_cli(capsys, *args, "--out", str(out))
    one_line_error(
        code,
        err,
        "cannot write epoch 2's checkpoint",
        "No space left on device",
        "epoch 1's checkpoint is kept",
        after_epochs=True,
    )
    last = open_run(out, "last")  # the last complete set is intact and verifies
    assert last.checkpoint.epoch == 1 and not [p for p in out.rglob("*") if ".tmp-" in p.name]


def test_a_read_only_directory_is_one_line(mounts, capsys):
    disk = tmpfs(mounts / "ro", 1 << 20)
    (disk / "inside").mkdir()
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    code, _, err = run_cli(capsys, *MLP_8X8, "--out", str(disk / "inside" / "run"))
    one_line_error(code, err, "Read-only file system")


def test_report_opens_each_run_once(tmp_path, capsys, monkeypatch):
    """Table row, curves, evaluation, Grad-CAM and layer summary all come from one read of the run's weights."""
    from cnnlab.report import write_report
    from cnnlab.rundir import checkpoint

    net = write_toml(tmp_path / "net.toml", NET)
    for name in ("a", "b"):
        code, _, err = run_cli(
            capsys,
            "train",
            "--model",
            net,
            "--data",
            "digits",
            "--epochs",
            "2",
            "--out",
            str(tmp_path / name),
            "--no-progress",
        )
        assert code == 0, err
    reads: list[str] = []
    real = checkpoint._tensors
    monkeypatch.setattr(checkpoint, "_tensors", lambda path: reads.append(path.parent.parent.parent.name) or real(path))
    html = write_report([tmp_path / "a", tmp_path / "b"], tmp_path / "report.html", gradcam=2).read_text()
    assert sorted(reads) == ["a", "b"] and "Grad-CAM" in html and "layer summary" in html


def test_a_run_that_stopped_for_good_refuses_new_settings_and_keeps_its_config(tmp_path, capsys):
    """A run ended by a stop other than early stopping's (here a callback's, as a tuner's pruning ends one) is
    finished: a resume with more epochs or another patience would train nothing, so it is refused in one line and the
    config keeps saying what the run did; the same settings still finish it (its summary again)."""
    from cnnlab.rundir import RunConfig
    from cnnlab.train import train

    net = write_toml(tmp_path / "net.toml", NET)
    out = tmp_path / "run"
    train(RunConfig(model=net, data="digits", epochs=3), out, log=lambda s: None, on_epoch=lambda row: "pruned")
    before = snapshot(out)
    code, _, err = run_cli(capsys, "train", "--out", str(out), "--resume", "--epochs", "5", "--patience", "3")
    one_line_error(code, err, f"--resume: {out} stopped for good after epoch 1 (pruned), so new settings would change "
                   f"nothing; to train on, start a new run from its weights (--init-from {out} --out NEW)")  # fmt: skip
    assert snapshot(out) == before
    code, out_text, err = run_cli(capsys, "train", "--out", str(out), "--resume")
    assert code == 0 and "stopped: pruned" in out_text, err


def test_a_run_early_stopping_ended_is_refused_settings_that_would_end_it_there_again(tmp_path, capsys):
    """A run a stop rule ended goes on when resumed with a rule that lets it (tests/test_train.py); settings with
    which it would stop at the same epoch again (a lower or the same patience beside another change) or train no
    epoch are refused in one line, changing no byte; the same settings show its summary. A non-finite loss would
    come back, so that stop stays one a resume does not undo."""
    from cnnlab.train import train
    from cnnlab.train.callbacks import Callback

    out = tmp_path / "run"
    base = RunConfig(model="mlp", data="digits", init="zeros", optimizer="sgd", lr=0.01, epochs=8, patience=2)
    stop = train(base, out, log=lambda s: None)["stopped"]
    assert stop == "early stop: val_accuracy did not improve for 2 epochs" and RunDir(out).summary()["epochs_run"] == 4
    before = snapshot(out)
    end = "so new settings would change nothing; to train on, give more --epochs than 4 and switch the rule off"
    for args, said in [
        (["--patience", "1"], "--patience 1 would stop it there again"),
        (["--log-every", "5"], "--patience 2 would stop it there again"),
        (["--patience", "1", "--gl-alpha", "0.5"], "--patience 1, --gl-alpha 0.5 would stop it there again"),
        (["--patience", "off", "--epochs", "4"], "--epochs 4 leaves it no epoch to train"),
    ]:
        code, _, err = run_cli(capsys, "train", "--out", str(out), "--resume", *args)
        one_line_error(code, err, f"--resume: {out} stopped after epoch 4 ({stop}), and {said}, {end}")
        assert snapshot(out) == before, args
    code, text, err = run_cli(capsys, "train", "--out", str(out), "--resume", "--patience", "2")
    assert code == 0 and f"stopped: {stop}" in text and RunDir(out).checkpoints.stopped() == stop, err

    class RaiseLrAfterEpoch1(Callback):  # epoch 2's loss goes non-finite: the run ends on epoch 1's checkpoint
        def on_setup(self, setup) -> None:
            self.setup = setup

        def on_epoch_end(self, row) -> None:
            self.setup.scheduler.base_lrs = [1e9] * len(self.setup.scheduler.base_lrs)
            for group in self.setup.optimizer.param_groups:
                group["lr"] = 1e9

    nan = tmp_path / "nan"
    diverging = replace(base, init="default", patience=None)
    assert train(diverging, nan, log=lambda s: None, callbacks=[RaiseLrAfterEpoch1()])["stopped"] == "non-finite loss"
    before = snapshot(nan)
    code, _, err = run_cli(capsys, "train", "--out", str(nan), "--resume", "--epochs", "12")
    one_line_error(code, err, f"--resume: {nan} stopped for good after epoch 1 (non-finite loss), so new settings")
    assert snapshot(nan) == before


def test_a_config_that_is_a_folder_is_named_as_such(tmp_path):
    """`RUN/config.toml/` (a folder): it was 'not a cnnlab run directory (no config.toml)', which it has."""
    from cnnlab.errors import CnnlabError

    (tmp_path / "run" / "config.toml").mkdir(parents=True)
    with pytest.raises(CnnlabError, match=r"run/config.toml is not a file, so .*run is no run directory; restore"):
        RunDir(tmp_path / "run").require()


def test_a_new_run_is_not_written_into_a_folder_of_runs(tmp_path, capsys):
    """`train --out STUDY` (a compare study's folder) wrote a run's files among the study's: refused now."""
    study = tmp_path / "study"
    (study / "runs" / "a").mkdir(parents=True)
    (study / "runs" / "a" / "config.toml").write_text(RunConfig(model="mlp", data="digits").validate().to_toml())
    (study / "table.md").write_text("| run | test |\n")
    before = snapshot(study)
    code, _, err = run_cli(capsys, "train", "--model", "mlp", "--data", "digits", "--epochs", "1", "--out", str(study))
    one_line_error(code, err, f"--out {study} is not a run directory but holds runs, such as {study}/runs/a")
    assert snapshot(study) == before


def test_a_file_beside_a_runs_own_is_the_owners_business(partial_run) -> None:
    """run_owning claims the run's own files and folders (so nothing is written over them), not a file beside
    them: `export RUN --out RUN/model.onnx` is where a user keeps the run's model."""
    from cnnlab.rundir.layout import run_owning

    assert run_owning(partial_run / "model.onnx") is None
    assert run_owning(partial_run / "config.toml") == partial_run.resolve()
    assert run_owning(partial_run / "checkpoints" / "x.onnx") == partial_run.resolve()


# --- what a resume trusts: the checkpoint's own record of the run --------------------------------------------------


def test_a_run_whose_config_toml_is_gone_is_refused_not_wiped(partial_run, capsys, tmp_path) -> None:
    """The folder was taken for a new run (only config.toml told a run from none): its checkpoints, metrics and
    events were deleted and another model trained there, exit 0."""
    (partial_run / "config.toml").unlink()
    before = snapshot(partial_run)
    for args in (resume_args(str(tmp_path / "net.toml"), partial_run), [*MLP_8X8, "--out", str(partial_run)]):
        code, _, err = run_cli(capsys, *args)
        one_line_error(code, err, f"{partial_run} holds a run's checkpoints/manifest.json and metrics.csv but no "
                       "config.toml; restore config.toml from a copy, or train into another --out")  # fmt: skip
        assert snapshot(partial_run) == before


def test_a_refused_resume_changes_no_byte_even_when_it_asked_for_more_epochs(partial_run, capsys, tmp_path) -> None:
    """A damaged checkpoint with --epochs 5: the error came after config.toml had been rewritten to 5 epochs, so
    the run, restored as told, trained two epochs more than it was meant to."""
    state = next((partial_run / "checkpoints").glob("epoch-*/state.pt"))
    state.write_bytes(state.read_bytes()[:1000])
    before = snapshot(partial_run)
    code, _, err = run_cli(capsys, *resume_args(str(tmp_path / "net.toml"), partial_run)[:-3], "--epochs", "5",
                           "--out", str(partial_run), "--resume")  # fmt: skip
    one_line_error(code, err, "state.pt")
    assert snapshot(partial_run) == before


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("summary.json", "file"),
        ("metrics.csv", "file"),
        ("batches.csv", "file"),
        ("tensorboard", "folder"),
        ("tensorboard/batches", "folder"),
    ],
)
def test_a_run_file_replaced_by_the_other_kind_is_refused_before_anything_is_written(
    partial_run, capsys, tmp_path, name, kind
):
    """summary.json replaced by a folder (or metrics.csv, batches.csv by folders, tensorboard/ by a file) and resumed
    with --epochs 5: the write that met it failed in one line, but after config.toml had been rewritten to 5 epochs
    (and, for the event and batch files, after an epoch had trained). Each is now refused before any write."""
    path = partial_run / name
    shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    path.write_text("not a folder") if kind == "folder" else path.mkdir()
    resume = [*resume_args(str(tmp_path / "net.toml"), partial_run)[:-3], "--epochs", "5", "--log-every", "2",
              "--no-progress", "--out", str(partial_run), "--resume"]  # fmt: skip
    before = snapshot(partial_run)
    code, _, err = run_cli(capsys, *resume)
    assert snapshot(partial_run) == before, err
    one_line_error(code, err, f"{path} is not a {kind}, as the run's {name} is; move it out of {partial_run}")


def test_a_config_toml_folder_is_refused_before_the_leftovers_of_a_run_are_removed(tmp_path, capsys):
    """No run yet, but RUN/config.toml a folder: the new run removed RUN/tensorboard and the rest, then failed to
    write its config in one line."""
    config = tmp_path / "new" / "config.toml"
    config.mkdir(parents=True)
    (tmp_path / "new" / "tensorboard").mkdir()
    (tmp_path / "new" / ".lock").touch()  # as every run holds it
    before = snapshot(tmp_path / "new")
    code, _, err = run_cli(capsys, *MLP_8X8, "--out", str(tmp_path / "new"))
    assert snapshot(tmp_path / "new") == before, err
    one_line_error(code, err, f"{config} is not a file, so {tmp_path / 'new'} holds no run's settings; restore")


def test_a_refused_resume_leaves_even_a_dead_writers_temporaries(tmp_path, capsys):
    """A finished run resumed with new settings that would train nothing: the refusal came after the writer had
    removed what a killed writer left (its temporaries, stray epoch folders), so a refused command changed the run."""
    out = tmp_path / "run"
    assert run_cli(capsys, *MLP_8X8, "--out", str(out))[0] == 0
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (out / f".metrics.csv.tmp-{dead.stdout.strip()}-abc").write_text("half")
    (out / "checkpoints" / "epoch-0009").mkdir()
    before = snapshot(out)
    code, _, err = run_cli(capsys, *MLP_8X8, "--out", str(out), "--resume", "--patience", "2")
    assert snapshot(out) == before, err
    one_line_error(code, err, f"--resume: {out} has finished its 1 epochs, so new settings would change nothing")


def test_a_hand_edited_config_is_checked_against_what_the_checkpoint_trained_with(partial_run, capsys) -> None:
    """config.toml edited to lr 0.01 (or another seed, or augmentation) and resumed with no flags: the lr was
    ignored (the optimiser's saved state kept 0.001) while the file said 0.01, and a new seed drew another
    train/validation split from epoch 2 on. The checkpoint records the settings; an edit of them is refused."""
    config = partial_run / "config.toml"
    text = config.read_text()
    for edit in (text.replace("lr = 0.001", "lr = 0.01"), text.replace("seed = 1", "seed = 7"),
                 text + 'augment = ["crop"]\n', ""):  # fmt: skip
        config.write_text(edit)
        before = snapshot(partial_run)
        code, _, err = run_cli(capsys, "train", "--out", str(partial_run), "--resume")
        if edit:
            one_line_error(code, err, f"{config} was changed since epoch 1 was checkpointed: ", "put back the")
        else:  # emptied: the defaults were read as the run's and the resume blamed the flags
            one_line_error(code, err, f"{config} names no model, as every run's config does")
        assert snapshot(partial_run) == before
    config.write_text(text.replace("lr = 0.001", "lr = 0.01"))
    assert "lr is 0.01 there but the run trained with 0.001;" in run_cli(capsys, "train", "--out", str(partial_run),
                                                                         "--resume")[2]  # fmt: skip
    config.write_text(text.replace("epochs = 3", "epochs = 2"))  # a setting a resume may change: taken
    code, _, err = run_cli(capsys, "train", "--out", str(partial_run), "--resume")
    assert code == 0 and RunDir(partial_run).summary()["epochs_run"] == 2, err


def test_a_finished_run_refuses_settings_that_would_train_nothing(tmp_path, capsys) -> None:
    """A run that ran all its epochs, resumed with --patience 2 (or --log-every): config.toml was rewritten to
    settings no epoch trained with, and nothing trained. An early-stopped run refused this already."""
    out = tmp_path / "run"
    assert run_cli(capsys, *MLP_8X8, "--out", str(out))[0] == 0
    before = snapshot(out)
    for change in (["--patience", "2"], ["--log-every", "5"]):
        code, _, err = run_cli(capsys, *MLP_8X8, "--out", str(out), "--resume", *change)
        one_line_error(code, err, f"--resume: {out} has finished its 1 epochs, so new settings would change nothing")
        assert snapshot(out) == before
    assert run_cli(capsys, *MLP_8X8, "--out", str(out), "--resume")[0] == 0 and snapshot(out) == before
    more = [a if a != "1" else "2" for a in MLP_8X8]  # --epochs 2
    code, _, err = run_cli(capsys, *more, "--out", str(out), "--resume", "--patience", "2")
    assert code == 0 and RunDir(out).summary()["epochs_run"] == 2, err


def test_a_resume_on_other_data_under_the_same_name_is_refused(tmp_path, capsys) -> None:
    """--data-dir may change on resume (the data moved), but it pointed at another MNIST whose training files were
    the test set's: epochs 2-3 trained on the test images, and the test score meant nothing."""
    from tests.conftest import shared_dataset

    other = tmp_path / "other" / "mnist"
    other.mkdir(parents=True)
    for kind in ("images-idx3", "labels-idx1"):
        for split in ("train", "t10k"):
            (other / f"{split}-{kind}-ubyte.gz").write_bytes(
                (shared_dataset("mnist") / f"t10k-{kind}-ubyte.gz").read_bytes()
            )
    args = ["train", "--model", "mlp", "--data", "mnist", "--limit", "300", "--epochs", "2", "--no-progress"]
    out = tmp_path / "run"
    from cnnlab.rundir import RunConfig
    from cnnlab.train import train

    config = RunConfig(model="mlp", data="mnist", limit=300, epochs=2, data_dir=str(shared_dataset(".")))
    train(config, out, log=lambda _: None, stop_after=1)
    before = snapshot(out)
    code, _, err = run_cli(capsys, *args, "--data-dir", str(other.parent), "--out", str(out), "--resume")
    one_line_error(code, err, "cannot resume: the data found is not what the run trained on (the same sizes but "
                   "other labels); point --data-dir (or $CNNLAB_DATA) at the data it used, or train a new run")  # fmt: skip
    assert snapshot(out) == before
    mirrored = tmp_path / "mirrored" / "mnist"  # the same labels, every image mirrored: the same mean, too
    mirrored.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz"):
        raw = bytearray(gzip.decompress((shared_dataset("mnist") / name).read_bytes()))
        pixels = np.frombuffer(bytes(raw[16:]), np.uint8).reshape(-1, 28, 28)[:, :, ::-1]
        (mirrored / name).write_bytes(gzip.compress(bytes(raw[:16]) + pixels.tobytes(), compresslevel=1))
    for name in ("train-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (mirrored / name).write_bytes((shared_dataset("mnist") / name).read_bytes())
    code, _, err = run_cli(capsys, *args, "--data-dir", str(mirrored.parent), "--out", str(out), "--resume")
    one_line_error(code, err, "not what the run trained on (other train images: their mean image moved by 0.")
    assert snapshot(out) == before
    code, _, err = run_cli(capsys, *args, "--data-dir", str(shared_dataset(".")), "--out", str(out), "--resume")
    assert code == 0 and RunDir(out).summary()["epochs_run"] == 2, err


def test_a_checkpoint_from_a_newer_cnnlab_is_one_line_not_a_traceback(partial_run, capsys) -> None:
    """A newer version's loop state (a field this one lacks) gave `TypeError: State.__init__() got an unexpected
    keyword argument` on resume. The checkpoint is written here through the store as that version would."""
    from cnnlab.rundir.checkpoint import CheckpointStore

    store = CheckpointStore(partial_run / "checkpoints", str(partial_run))
    last = store.load("last")
    state = last.train_state()
    state["engine"] = {**state["engine"], "from_the_future": 1}
    store.publish(last.epoch, last.weights, state, last.meta, last.metrics, best=True)
    (partial_run / "metrics.csv").unlink()  # a resume that goes on writes it again: this one must not
    before = snapshot(partial_run)
    code, _, err = run_cli(capsys, "train", "--out", str(partial_run), "--resume")
    one_line_error(code, err, "checkpoint was written by a newer cnnlab (its loop state holds from_the_future); "
                   "resume it with that version", after_epochs=True)  # fmt: skip
    assert snapshot(partial_run) == before


def test_a_checkpoint_from_before_the_record_resumes_as_before(partial_run, capsys) -> None:
    """Checkpoints written before 2026-12-05 hold no "config" or "data" in meta.json: nothing to compare, so the
    resume goes on (as written through the store here, without them)."""
    from cnnlab.rundir.checkpoint import CheckpointStore

    store = CheckpointStore(partial_run / "checkpoints", str(partial_run))
    last = store.load("last")
    meta = {k: v for k, v in last.meta.items() if k not in ("config", "data")}
    store.publish(last.epoch, last.weights, last.train_state(), meta, last.metrics, best=True)
    code, _, err = run_cli(capsys, "train", "--out", str(partial_run), "--resume")
    assert code == 0 and RunDir(partial_run).summary()["epochs_run"] == 3, err


def test_a_run_that_kept_no_weights_says_so_on_resume_and_changes_nothing(tmp_path, capsys) -> None:
    """A loss that went non-finite in epoch 1 leaves a summary and no checkpoint. `--resume` (or the same command
    again) said the run "has trained ... but holds no complete checkpoint: manifest.json is missing; restore the run
    from a copy", as if it were damaged; it now says what `eval` and `cnnlab runs` say: it kept no weights."""
    from cnnlab.errors import CnnlabError
    from cnnlab.train import train

    out = tmp_path / "nan"
    args = [*MLP_8X8, "--lr", "1e6", "--optimizer", "sgd", "--out", str(out)]
    code, _, err = run_cli(capsys, *args)
    assert code == 0 and RunDir(out).summary()["stopped"] == "non-finite loss", err
    before = snapshot(out)
    said = (
        f"{out} kept no weights: it stopped (non-finite loss) before any epoch ended with weights fit to keep, so "
        "there is nothing to resume; train it again with other settings (its summary.json says why, e.g. a lower --lr) "
        "into another --out"
    )
    for extra in (["--resume"], [], ["--resume", "--epochs", "3"]):
        code, _, err = run_cli(capsys, *args, *extra)
        one_line_error(code, err)
        assert err.strip() == f"cnnlab: error: {said}"
        assert snapshot(out) == before
    code, _, err = run_cli(capsys, "eval", str(out))
    one_line_error(code, err, f"{out} kept no weights: it stopped (non-finite loss) before any epoch ended with")
    config = RunConfig(model="mlp", data="digits", input=[1, 8, 8], epochs=1, lr=1e6, optimizer="sgd")
    with pytest.raises(CnnlabError) as e:
        train(config, out, resume=True, log=lambda _: None)
    assert str(e.value) == said.replace("--lr", "lr").replace("--out", "out")
    assert snapshot(out) == before


def test_the_same_data_named_by_another_path_resumes_and_another_folder_is_refused(tmp_path, capsys, monkeypatch):
    """A run trained on `--data folder:big` resumed with `folder:/abs/.../big` (the same folder) was refused as
    another setting, and a finished run resumed with `--data-dir` spelt otherwise was refused as new settings that
    would train nothing. The same folder is accepted and config.toml keeps the run's spelling; another is refused."""
    from cnnlab.train import train
    from tests.conftest import shared_dataset
    from tests.test_data_inputs import image_folder

    monkeypatch.chdir(tmp_path)
    for split in ("train", "test"):
        image_folder(tmp_path / "big", {"a": 6, "b": 6}, split)
    (tmp_path / "copy").symlink_to(tmp_path / "big")  # a link to it: the same folder too
    other = image_folder(tmp_path / "other", {"a": 6, "b": 6}, "train")
    image_folder(other, {"a": 6, "b": 6}, "test")
    args = ["train", "--model", "mlp", "--input", "3,8,8", "--epochs", "2", "--no-progress", "--out", "run"]
    train(RunConfig(model="mlp", data="folder:big", input=[3, 8, 8], epochs=2), "run", log=lambda _: None, stop_after=1)
    config = (tmp_path / "run" / "config.toml").read_text()
    before = snapshot(tmp_path / "run")
    code, _, err = run_cli(capsys, *args, "--data", f"folder:{other}", "--resume")
    one_line_error(code, err, f"--resume: --data is 'folder:{other}' but the run used 'folder:big'")
    assert snapshot(tmp_path / "run") == before
    code, _, err = run_cli(capsys, *args, "--data", f"folder:{tmp_path / 'big'}/", "--resume")
    assert code == 0 and RunDir("run").summary()["epochs_run"] == 2, err
    assert (tmp_path / "run" / "config.toml").read_text() == config
    before = snapshot(tmp_path / "run")
    for spelt in ("folder:./big", "folder:copy", "folder:big"):  # finished: each shows its summary, changing nothing
        code, out, err = run_cli(capsys, *args, "--data", spelt, "--resume")
        assert code == 0 and "stopped: completed" in out, err
        assert snapshot(tmp_path / "run") == before

    data = shared_dataset(".")
    mnist = ["train", "--model", "mlp", "--data", "mnist", "--limit", "300", "--epochs", "1", "--out", "m"]
    assert run_cli(capsys, *mnist, "--data-dir", os.path.relpath(data))[0] == 0
    before = snapshot(tmp_path / "m")
    code, out, err = run_cli(capsys, *mnist, "--data-dir", str(data.resolve()), "--resume")
    assert code == 0 and "stopped: completed" in out, err
    assert snapshot(tmp_path / "m") == before
    code, _, err = run_cli(capsys, *mnist, "--data-dir", str(tmp_path), "--resume")  # another folder: as before
    one_line_error(code, err)
    assert snapshot(tmp_path / "m") == before


def test_a_relative_data_folder_is_the_one_the_run_started_from_wherever_it_is_resumed(tmp_path, capsys, monkeypatch):
    """A run trained on `--data folder:imgs` in one folder and resumed (or evaluated) from another failed there
    (`folder dataset imgs does not exist`), and `--data folder:../start/imgs`, the same folder spelt from there, was
    refused as another. Each checkpoint records the folder it read, so the run reads its own data from anywhere and
    config.toml keeps its spelling; another folder is refused, and a folder gone from both places is one line."""
    from cnnlab.train import train
    from tests.test_data_inputs import image_folder

    start, elsewhere = tmp_path / "start", tmp_path / "elsewhere"
    for split in ("train", "test"):
        image_folder(start / "imgs", {"a": 6, "b": 6}, split)
        image_folder(elsewhere / "other", {"a": 5, "b": 5}, split)
    monkeypatch.chdir(start)
    train(
        RunConfig(model="mlp", data="folder:imgs", input=[3, 8, 8], epochs=2), "run", log=lambda _: None, stop_after=1
    )
    config = (start / "run" / "config.toml").read_text()
    monkeypatch.chdir(elsewhere)
    args = ["train", "--out", "../start/run", "--resume", "--no-progress"]
    code, _, err = run_cli(capsys, *args)
    assert code == 0 and RunDir(start / "run").summary()["epochs_run"] == 2, err
    assert (start / "run" / "config.toml").read_text() == config
    before = snapshot(start / "run")
    for spelt in ("folder:../start/imgs", f"folder:{start / 'imgs'}", "folder:imgs"):  # finished: its summary
        code, text, err = run_cli(capsys, *args, "--data", spelt)
        assert code == 0 and "stopped: completed" in text, err
        assert snapshot(start / "run") == before
    code, _, err = run_cli(capsys, *args, "--data", "folder:other")
    one_line_error(code, err, "--resume: --data is 'folder:other' but the run used 'folder:imgs'")
    code, text, err = run_cli(capsys, "eval", "../start/run")
    assert code == 0 and "(12 images" in text, err  # the run's own 12 test images
    image_folder(elsewhere / "imgs", {"a": 5, "b": 5}, "test")  # a folder of that name here is not the run's
    image_folder(elsewhere / "imgs", {"a": 5, "b": 5}, "train")
    code, text, err = run_cli(capsys, "eval", "../start/run")
    assert code == 0 and "(12 images" in text, err  # not these 10
    (start / "imgs").rename(start / "moved")
    shutil.rmtree(elsewhere / "imgs")
    for command in (args, ["eval", "../start/run"]):
        code, _, err = run_cli(capsys, *command)
        one_line_error(code, err, f"folder:imgs is neither at {start / 'imgs'}, where the run read it, nor at "
                       f"{elsewhere / 'imgs'}; put the folder back at {start / 'imgs'}")  # fmt: skip
        assert snapshot(start / "run") == before


def test_an_input_equal_to_the_one_the_run_resolved_resumes_and_another_is_refused(tmp_path, capsys) -> None:
    """A run that left --input unset trained at its model's input (mlp: 1,28,28, the digits resized to it);
    `--resume --input 1,28,28` was refused as a change (`--input is [1, 28, 28] but the run left it unset`)."""
    from cnnlab.train import train

    out = tmp_path / "run"
    train(RunConfig(model="mlp", data="digits", limit=300, epochs=2), out, log=lambda _: None, stop_after=1)
    config = (out / "config.toml").read_text()
    args = ["train", "--model", "mlp", "--data", "digits", "--limit", "300", "--epochs", "2", "--out", str(out)]
    before = snapshot(out)
    code, _, err = run_cli(capsys, *args, "--input", "1,8,8", "--resume")
    one_line_error(code, err, "--resume: --input is [1, 8, 8] but the run left it unset")
    assert snapshot(out) == before
    code, _, err = run_cli(capsys, *args, "--input", "1,28,28", "--resume")
    assert code == 0 and RunDir(out).summary()["epochs_run"] == 2, err
    assert (out / "config.toml").read_text() == config
    before = snapshot(out)
    code, text, err = run_cli(capsys, *args, "--input", "1x28x28", "--resume")  # finished: its summary, unchanged
    assert code == 0 and "stopped: completed" in text and snapshot(out) == before, err


def test_lrs_and_statistics_equal_in_effect_to_the_runs_resume_and_other_values_are_refused(tmp_path, capsys) -> None:
    """A run that left --head-lr and --bias-lr unset trained them at its --lr, and one that left --mean/--std unset
    normalised with its data's statistics (recorded in each checkpoint); giving those values on resume was refused
    as a change (`--head-lr is 0.001 but the run left it unset`). They are the run's own now, and nothing is
    rewritten; other values are refused as before."""
    from cnnlab.train import train

    out = tmp_path / "run"
    train(RunConfig(model="mlp", data="digits", input=[1, 8, 8], epochs=2), out, log=lambda _: None, stop_after=1)
    meta = open_run(out, "last").meta
    mean, std = (",".join(map(repr, meta[k])) for k in ("mean", "std"))
    config = (out / "config.toml").read_text()
    args = ["train", "--model", "mlp", "--data", "digits", "--input", "1,8,8", "--epochs", "2", "--out", str(out)]
    before = snapshot(out)
    for other, said in (
        (["--head-lr", "0.01"], "--head-lr is 0.01 but the run left it unset"),
        (["--bias-lr", "0.01"], "--bias-lr is 0.01 but the run left it unset"),
        (["--mean", f"{meta['mean'][0] + 1e-3!r}", "--std", std], "--mean is ["),
        (["--mean", mean, "--std", "1"], "--std is [1.0] but the run left it unset"),
    ):
        code, _, err = run_cli(capsys, *args, *other, "--resume")
        one_line_error(code, err, said)
        assert snapshot(out) == before
    same = ["--lr", "0.001", "--head-lr", "0.001", "--bias-lr", "1e-3", "--mean", mean, "--std", std]
    code, _, err = run_cli(capsys, *args, *same, "--no-progress", "--resume")
    assert code == 0 and RunDir(out).summary()["epochs_run"] == 2, err
    assert (out / "config.toml").read_text() == config
    before = snapshot(out)
    code, text, err = run_cli(capsys, *args, *same, "--resume")  # finished: its summary, unchanged
    assert code == 0 and "stopped: completed" in text and snapshot(out) == before, err


def test_a_bad_value_from_a_file_is_named_with_its_file_and_key(partial_run, capsys, tmp_path) -> None:
    """A bad lr hand-written into a run's config.toml (or an experiment file) was reported as `--lr must be ...`,
    a flag the user never typed; it is now `FILE: lr must be ...`. A flag given over the file keeps the flag's
    voice, and so does every setting the user typed."""
    config = partial_run / "config.toml"
    config.write_text(config.read_text().replace("lr = 0.001", "lr = -1"))
    before = snapshot(partial_run)
    code, _, err = run_cli(capsys, "train", "--out", str(partial_run), "--resume")
    one_line_error(code, err)
    assert err.strip() == f"cnnlab: error: {config}: lr must be a positive number, got -1"
    code, _, err = run_cli(capsys, "train", "--out", str(partial_run), "--resume", "--lr", "0")
    one_line_error(code, err)
    assert err.strip() == "cnnlab: error: --lr must be a positive number, got 0.0"
    assert snapshot(partial_run) == before
    exp = write_toml(tmp_path / "exp.toml", 'model = "mlp"\ndata = "digits"\nlookahead = true\nlr = -1\n')
    out = str(tmp_path / "new")
    for extra, said in (
        ([], f"{exp}: lr must be a positive number, got -1"),
        (["--lr", "0.1"], f"{exp}: lookahead needs ema DECAY: the decay of the average it writes back, e.g. 0.987"),
        (["--lr", "0.1", "--no-lookahead", "--ema", "2"], "--ema must be a decay between 0 and 1 (exclusive)"),
    ):
        code, _, err = run_cli(capsys, "train", exp, "--out", out, *extra)
        one_line_error(code, err)
        assert err.strip().startswith(f"cnnlab: error: {said}"), err
    assert not (tmp_path / "new").exists()


def test_log_every_0_turns_the_batch_rows_off_also_on_resume(tmp_path, capsys) -> None:
    """--log-every may change on resume, but a run started with it could not turn it off: leaving the flag out
    keeps the run's value, and `--log-every 0` was refused. 0 now means off, recorded as unset."""
    from cnnlab.train import train

    out = tmp_path / "run"
    config = RunConfig(model="mlp", data="digits", input=[1, 8, 8], epochs=3, log_every=5)
    train(config, out, log=lambda _: None, stop_after=1)
    rows = RunDir(out).batches()
    assert rows and {r["epoch"] for r in rows} == {1}
    code, _, err = run_cli(capsys, "train", "--out", str(out), "--resume", "--log-every", "0", "--no-progress")
    assert code == 0 and RunDir(out).summary()["epochs_run"] == 3, err
    assert RunDir(out).batches() == rows and "batch" not in err  # no rows, nor lines, for epochs 2 and 3
    assert RunDir(out).config().log_every is None and "log_every" not in (out / "config.toml").read_text()
    code, _, err = run_cli(capsys, *MLP_8X8, "--log-every", "0", "--out", str(tmp_path / "new"))
    assert code == 0 and not (tmp_path / "new" / "batches.csv").exists(), err


def test_the_command_line_validates_a_runs_settings_once(tmp_path, capsys, monkeypatch) -> None:
    """`cnnlab train` validated the settings in run_config (a copy, for the unused-setting lines) and again in
    train() (and a third time with --nproc). Counted here by wrapping the real check, which still runs: once, for a
    new run and a resume; a setting changed after validation is validated again, and a bad one still refused."""
    calls = []
    check = RunConfig._validate
    monkeypatch.setattr(RunConfig, "_validate", lambda self: calls.append(1) or check(self))
    out = tmp_path / "run"
    for extra in ([], ["--resume", "--epochs", "2"]):
        calls.clear()
        code, _, err = run_cli(capsys, *MLP_8X8, "--out", str(out), "--momentum", "0.5", *extra)
        assert code == 0 and len(calls) == 1, (err, len(calls))
        assert "--momentum does nothing with --optimizer adam" in err  # the unused-setting line, as before
    config = RunConfig(model="mlp", lr=0.1).validate()
    config.lr = -1
    with pytest.raises(Exception, match="^lr must be a positive number, got -1"):
        config.validate()


def test_a_resume_reads_the_last_checkpoints_state_once(partial_run, capsys, monkeypatch) -> None:
    """The check for a newer cnnlab's loop state read state.pt, then the resume read it again. Counted by wrapping
    the real reader: one read of it per resume now, and a newer loop state is still refused before anything is
    written (test_a_checkpoint_from_a_newer_cnnlab_is_one_line_not_a_traceback)."""
    from cnnlab.rundir import checkpoint

    reads = []
    real = checkpoint.load_tensors
    monkeypatch.setattr(checkpoint, "load_tensors", lambda path: reads.append(path.name) or real(path))
    code, _, err = run_cli(capsys, "train", "--out", str(partial_run), "--resume")
    assert code == 0 and RunDir(partial_run).summary()["epochs_run"] == 3, err
    assert reads == ["state.pt"]


def mnist_300(**settings) -> RunConfig:
    """At most 300 MNIST digits a split, seed 1: the runs of the network-file and --init-from tests below."""
    return RunConfig(data="mnist", data_dir=str(shared_dataset("")), limit=300, seed=1, **settings)


@pytest.fixture
def network_run(tmp_path, monkeypatch) -> Path:
    """A run of lenet-like.toml (net:lenet-like, copied into start/) named by its path from there, as a user names
    the file beside them, stopped after epoch 1 of 2; the test goes on in start/."""
    from cnnlab.train import train

    start = tmp_path / "start"
    start.mkdir()
    (tmp_path / "elsewhere").mkdir()
    shutil.copy(EXAMPLES / "nets" / "lenet-like.toml", start)
    monkeypatch.chdir(start)
    train(mnist_300(model="lenet-like.toml", epochs=2), "runs/a", log=lambda _: None, stop_after=1)
    return start / "runs" / "a"


def test_a_network_files_run_is_rebuilt_from_its_own_copy_wherever_the_file_is_and_whatever_it_says(
    network_run, tmp_path, capsys, monkeypatch
) -> None:
    """A run recorded only the path it was given (`model = "lenet-like.toml"`), so a resume or `eval` from another
    folder failed (`network file 'lenet-like.toml' not found`), and after an edit of the file `eval` failed (16 -> 20
    filters: `does not fit the model`) or, where the shapes stayed (relu -> tanh), evaluated another network
    without a word. Each checkpoint keeps the file's text, and every command rebuilds the run from it."""
    import torch
    from PIL import Image

    from cnnlab.train import train
    from cnnlab.train.inference import evaluate_run, load_run

    start, elsewhere, run = tmp_path / "start", tmp_path / "elsewhere", str(network_run)
    original = (start / "lenet-like.toml").read_text()
    monkeypatch.chdir(elsewhere)
    code, _, err = run_cli(capsys, "train", "--out", run, "--resume", "--no-progress")
    assert code == 0 and RunDir(network_run).summary()["epochs_run"] == 2, err
    twin = tmp_path / "twin"  # the run uninterrupted, in a folder of its own
    twin.mkdir()
    (twin / "lenet-like.toml").write_text(original)
    monkeypatch.chdir(twin)
    train(mnist_300(model="lenet-like.toml", epochs=2), "run", log=lambda _: None)
    a, b = open_run(network_run, "last").weights, open_run(twin / "run", "last").weights
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    monkeypatch.chdir(start)
    code, expected, err = run_cli(capsys, "eval", "runs/a")
    assert code == 0, err
    monkeypatch.chdir(elsewhere)
    Image.fromarray(np.full((28, 28), 255, np.uint8)).save("digit.png")
    for command in (
        ["eval", run],
        ["predict", run, "digit.png"],
        ["gradcam", run, "digit.png", "--out", "cams"],
        ["export", run, "--out", "a.onnx"],
        ["summary", run],
        ["report", run, "--out", "report"],
    ):
        code, text, err = run_cli(capsys, *command)
        assert code == 0, (command, err)
        assert command[0] != "eval" or text == expected
    for edit in (("filters = 16", "filters = 20"), ('"relu"', '"tanh"')):  # another shape; the same shapes
        (start / "lenet-like.toml").write_text(original.replace(*edit))
        for where in (start, elsewhere):
            monkeypatch.chdir(where)
            code, text, err = run_cli(capsys, "eval", run)
            assert code == 0 and text == expected, err
        model = open_run(run).model  # the notebooks' way in, and load_run's (predict, explain, export, report)
        assert model.conv2.out_channels == 16 and isinstance(model.relu1, torch.nn.ReLU)
        assert f"loss {evaluate_run(load_run(run))['test_loss']:.4f}" in expected


def test_a_resume_refuses_a_network_file_changed_since_and_takes_the_same_network_however_named(
    network_run, tmp_path, capsys, monkeypatch
) -> None:
    """A resume built the network the file declared then: an edit to another number of filters failed on loading
    the checkpoint, and one that kept the shapes (relu -> tanh) trained the rest of the run on another network
    without a word. Now the run goes on with its own network, and a file that declares another is refused in one
    line that changes no byte of the run; the same network (comments aside) named from another folder resumes,
    config.toml keeping the run's spelling, where it was refused as another --model."""
    net = Path("lenet-like.toml")
    original = net.read_text()
    before = snapshot(network_run)
    for edit in (("filters = 16", "filters = 20"), ('"relu"', '"tanh"')):  # another shape; the same shapes
        net.write_text(original.replace(*edit))
        for given in ([], ["--model", "lenet-like.toml"], ["--model", str(net.resolve())]):
            code, _, err = run_cli(capsys, "train", "--out", "runs/a", "--resume", "--no-progress", *given)
            one_line_error(code, err, f"--resume: the network file {given[-1] if given else net} now declares "
                           "another network than the one runs/a trained", "restore the file", "--init-from runs/a")  # fmt: skip
            assert snapshot(network_run) == before
    config = (network_run / "config.toml").read_text()
    net.write_text("# the same network, said again\n" + original.replace("kernel = 5", "kernel   =   5"))
    monkeypatch.chdir(tmp_path / "elsewhere")
    args = ["train", "--model", "../start/lenet-like.toml", "--out", "../start/runs/a", "--resume", "--no-progress"]
    code, _, err = run_cli(capsys, *args)
    assert code == 0 and RunDir(network_run).summary()["epochs_run"] == 2, err
    assert (network_run / "config.toml").read_text() == config


def republished(run: Path, build: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """The run's last checkpoint published again through the store with its build record changed by `build`, as a
    checkpoint of another version would hold it (a manifest that verifies)."""
    from cnnlab.rundir.checkpoint import CheckpointStore

    store = CheckpointStore(run / "checkpoints", str(run))
    last = store.load("last")
    meta = {**last.meta, "build": build(last.meta["build"])}
    store.publish(last.epoch, last.weights, last.train_state(), meta, last.metrics, best=True)


def test_a_network_files_run_checkpointed_without_its_copy_reads_the_file_as_before(network_run, capsys) -> None:
    """Checkpoints written before 2026-12-05 keep no copy of the network file: such a run is evaluated and resumed
    from the file its config names, as before, and its checkpoints keep the text from then on."""
    republished(network_run, lambda build: {k: v for k, v in build.items() if k != "network"})
    code, text, err = run_cli(capsys, "eval", "runs/a")
    assert code == 0 and "test accuracy" in text, err
    code, _, err = run_cli(capsys, "train", "--out", "runs/a", "--resume", "--no-progress")
    assert code == 0 and RunDir(network_run).summary()["epochs_run"] == 2, err
    assert open_run(network_run).meta["build"]["network"] == Path("lenet-like.toml").read_text()


def test_a_shipped_networks_run_keeps_the_version_it_trained(tmp_path, capsys, monkeypatch) -> None:
    """`--model net:NAME` names a file that a newer cnnlab may ship changed. The run keeps the text it trained, and
    eval and a resume build that one, without a refusal (the user changed nothing). Here the run's copy is made to
    differ from what ships by republishing its checkpoint with relu -> tanh, as an upgrade to relu would leave it."""
    from cnnlab.train import train

    monkeypatch.chdir(tmp_path)
    train(mnist_300(model="net:lenet-like", epochs=2), "run", log=lambda _: None, stop_after=1)
    shipped = (EXAMPLES / "nets" / "lenet-like.toml").read_text()
    assert open_run("run").meta["build"]["network"] == shipped
    republished(tmp_path / "run", lambda build: {**build, "network": shipped.replace('"relu"', '"tanh"')})
    model = open_run("run").model
    assert type(model.tanh1).__name__ == "Tanh" and not hasattr(model, "relu1")
    code, _, err = run_cli(capsys, "train", "--out", "run", "--resume", "--no-progress")
    assert code == 0 and RunDir("run").summary()["epochs_run"] == 2, err
    assert type(open_run("run").model.tanh1).__name__ == "Tanh"  # trained on as the run's copy says


def test_a_relative_init_from_run_resumes_from_another_folder_and_without_its_source(
    tmp_path, capsys, monkeypatch
) -> None:
    """`--init-from runs/src`, a path from the folder the run started in, was resolved again on every resume, for
    the input shape and the statistics it gave the run: from another folder, or once the source had moved, the
    resume failed (`--init-from runs/src: no such run directory or file`), even of a finished run. The weights only
    matter at the start: a resume takes the shape and statistics its checkpoint recorded, and ends on the
    uninterrupted run's weights to the bit; `eval` needs no source either. The same source spelt from the other
    folder resumes too (each checkpoint records the path the run started from); another source is refused."""
    import torch

    from cnnlab.train import train

    start, elsewhere = tmp_path / "start", tmp_path / "elsewhere"
    start.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(start)
    train(mnist_300(model="mnist-cnn", epochs=1), "runs/src", log=lambda _: None)
    for name, stop in (("whole", None), ("a", 1)):
        config = mnist_300(model="mnist-cnn", epochs=2, init_from="runs/src")
        train(config, f"runs/{name}", log=lambda _: None, stop_after=stop)
    run = str(start / "runs" / "a")
    cli = [sys.executable, "-m", "cnnlab"]  # a process of its own: this one has the source cached
    resume = [*cli, "train", "--out", run, "--resume"]
    other = subprocess.run(
        [*resume, "--init-from", "../start/runs/whole"], cwd=elsewhere, capture_output=True, text=True
    )
    assert other.returncode == 2 and "--init-from is '../start/runs/whole' but the run used 'runs/src'" in other.stderr
    # the same source spelt from here (it was refused as another --init-from before the run recorded its path)
    spelt = [*resume, "--init-from", "../start/runs/src"]
    done = subprocess.run(spelt, cwd=elsewhere, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and RunDir(run).summary()["epochs_run"] == 2, done.stderr
    a, b = open_run(run, "last").weights, open_run(start / "runs" / "whole", "last").weights
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert open_run(run).meta["mean"] == open_run(start / "runs" / "src").meta["mean"]  # the source's statistics
    shutil.rmtree(start / "runs" / "src")
    for command, said in ((resume, "stopped: completed"), ([*cli, "eval", run], "test accuracy")):
        done = subprocess.run(command, cwd=start, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0 and said in done.stdout, done.stderr
