"""Data-parallel training (#16) with real gloo processes started by torchrun (`cnnlab train --nproc 2`): two ranks
train the weights one process trains on the same global batch, a rank killed mid-epoch leaves a run that resumes
to the uninterrupted weights, a run resumes with another number of ranks, and launch mistakes are one-line errors.

The net has no batch norm and no dropout (as the issue asks), the data is the 8x8 digits with flip augmentation
(random flips) and a cosine schedule; 1,617 training images in global batches of 50 end each epoch with an uneven batch of 17
(9 + 8 images), so the per-rank loss weighting is exercised too. Ranks run one thread each."""

from __future__ import annotations

import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from cnnlab.cli import main
from cnnlab.rundir import RunConfig, RunDir, open_run
from cnnlab.train import train
from tests.conftest import DIGITS_NET, SHARED, snapshot, write_toml

EPOCHS = 2
BATCHES = 33  # global batches an epoch: 1,617 training images in batches of 50


def settings(net: str) -> dict:
    return {
        "model": net,
        "data": "digits",
        "epochs": EPOCHS,
        "batch_size": 50,
        "augment": ["flip"],
        "schedule": "cosine",
        "lr": 0.003,
    }


def flags(values: dict) -> list[str]:
    out = []
    for key, value in values.items():
        out += ["--" + key.replace("_", "-"), ",".join(value) if isinstance(value, list) else str(value)]
    return out


def cnnlab(args: list[str], failpoint: str | None = None, tmp: Path | None = None) -> subprocess.CompletedProcess:
    """`cnnlab ARGS` in a process of its own, one thread a rank; `tmp` is its temporary folder (TMPDIR)."""
    env = {k: v for k, v in os.environ.items() if k != "CNNLAB_FAILPOINT"}
    env = {**env, "OMP_NUM_THREADS": "1", **({"CNNLAB_FAILPOINT": failpoint} if failpoint else {})}
    env.update({"TMPDIR": str(tmp)} if tmp else {})
    return subprocess.run([sys.executable, "-m", "cnnlab", *args], capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def net(tmp_path_factory) -> str:
    return write_toml(tmp_path_factory.mktemp("net") / "digits.toml", DIGITS_NET)


def train_here(out: Path, net: str, resume: bool = False) -> None:
    """Train in this process, on one thread as each rank does."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(RunConfig(**settings(net)), out, resume=resume, log=lambda _: None, progress=False)
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def single(tmp_path_factory, net) -> Path:
    """The run one process trains."""
    out = tmp_path_factory.mktemp("single") / "run"
    train_here(out, net)
    return out


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory, net) -> Path:
    """The same run trained by two gloo ranks."""
    out = tmp_path_factory.mktemp("ddp") / "run"
    r = cnnlab(ranks_command(net, out))
    assert r.returncode == 0, r.stderr
    assert [line for line in r.stdout.splitlines() if line.startswith("run: ")] == [f"run: {out}"], (
        r.stdout
    )  # rank 0 alone reports
    return out


def assert_close_weights(got: Path, want: Path, exact: bool = False) -> None:
    a, b = open_run(got, "last"), open_run(want, "last")
    assert a.checkpoint.epoch == b.checkpoint.epoch == EPOCHS
    assert a.weights.keys() == b.weights.keys()
    for key in b.weights:
        if exact:
            assert torch.equal(a.weights[key], b.weights[key]), key
        else:
            torch.testing.assert_close(a.weights[key], b.weights[key], rtol=0, atol=1e-5, msg=key)


def test_two_ranks_train_the_weights_one_process_trains(two_ranks, single):
    assert_close_weights(two_ranks, single)
    got, want = RunDir(two_ranks).metrics(), RunDir(single).metrics()
    for g, w in zip(got, want, strict=True):  # training loss and accuracy are summed over both ranks' slices
        for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
            assert g[key] == pytest.approx(w[key], abs=1e-5), key
    files = sorted(p.relative_to(two_ranks).as_posix() for p in two_ranks.rglob("*") if p.is_file())
    assert "summary.json" in files and "config.toml" in files
    assert not [f for f in files if ".tmp-" in f]
    assert RunDir(two_ranks).config().sync_bn is False


@pytest.fixture(scope="module")
def killed(tmp_path_factory, net) -> Path:
    """The two-rank run with rank 1 SIGKILLed at batch 10 of epoch 2: torchrun stops rank 0 too."""
    out = tmp_path_factory.mktemp("killed") / "run"
    tmp = tmp_path_factory.mktemp("tmpdir")
    r = cnnlab(ranks_command(net, out), failpoint=f"batch:{BATCHES + 10}@1", tmp=tmp)
    assert r.returncode == 2, r.stderr
    left = [p.name for p in tmp.iterdir() if p.name.startswith(("torchelastic_", "cnnlab-ranks-"))]
    assert left == []  # torchrun's error files went with it (it used to leave a tree every launch)
    errors = [line for line in r.stderr.splitlines() if "error" in line.lower()]  # after epoch 1's line
    assert len(errors) == 1 and errors[0].startswith("cnnlab: error: rank 1 was killed by SIGKILL"), r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    assert not RunDir(out).finished() and open_run(out, "last").checkpoint.epoch == 1
    return out


def ranks_command(net: str, out: Path) -> list[str]:
    return ["train", *flags(settings(net)), "--out", str(out), "--no-progress", "--nproc", "2", "--resume"]


def test_a_rank_killed_mid_epoch_2_resumes_to_the_uninterrupted_weights(tmp_path, net, killed, two_ranks):
    out = tmp_path / "run"
    shutil.copytree(killed, out)
    again = cnnlab(ranks_command(net, out))
    assert again.returncode == 0, again.stderr
    assert_close_weights(out, two_ranks, exact=True)
    assert RunDir(out).summary()["test_accuracy"] == RunDir(two_ranks).summary()["test_accuracy"]
    assert not [p for p in out.rglob("*") if ".tmp-" in p.name]


def test_two_ranks_with_dropout_resume_their_random_streams(tmp_path):
    """Dropout draws its masks from each rank's torch RNG, which a resume must give back: without it the resumed
    run drew other masks, and nothing noticed (the net above has no dropout, so its kill-and-resume test passed
    with the RNG not restored at all). Killed mid epoch 2 and resumed: equal to the bit."""
    net = write_toml(tmp_path / "dropout.toml", DIGITS_NET.replace('[[layers]]\ntype = "dense"',
                     '[[layers]]\ntype = "dropout"\nrate = 0.5\n[[layers]]\ntype = "dense"'))  # fmt: skip
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert cnnlab(ranks_command(net, whole)).returncode == 0
    assert cnnlab(ranks_command(net, cut), failpoint=f"batch:{BATCHES + 10}@1").returncode == 2
    assert open_run(cut, "last").checkpoint.epoch == 1
    again = cnnlab(ranks_command(net, cut))
    assert again.returncode == 0, again.stderr
    assert_close_weights(cut, whole, exact=True)


def test_a_killed_run_of_two_ranks_resumes_with_one_process(tmp_path, net, killed, single):
    out = tmp_path / "run"
    shutil.copytree(killed, out)
    train_here(out, net, resume=True)
    assert_close_weights(out, single)


def test_two_ranks_whose_loss_goes_non_finite_stop_together(tmp_path, net):
    """At lr 1e6 the first updates blow up: both ranks see the same non-finite gradient norm after the all-reduce,
    skip the update together and end the run as one process would, without a hang, with nothing kept."""
    out = tmp_path / "run"
    r = cnnlab([*ranks_command(net, out), "--lr", "1e6", "--optimizer", "sgd"])
    assert r.returncode == 0, r.stderr
    summary = RunDir(out).summary()
    assert summary["stopped"] == "non-finite loss" and summary["epochs_run"] == 0, summary
    assert summary["test_accuracy"] is None
    finding = summary["diagnosis"][0]
    assert finding.startswith("loss became nan at lr ") and "no epoch had ended, so no weights were kept" in finding
    assert "Traceback" not in r.stderr
    assert [line for line in r.stdout.splitlines() if line.startswith("run: ")] == [f"run: {out}"], r.stdout


# Softmax regression on the digits: the gradient of a cross-entropy loss is bounded by the inputs whatever the
# weights, so at a huge lr the loss overflows to inf (the mean's sum passes 3.4e38) while the gradients stay finite.
LINEAR_NET = """
input = [1, 8, 8]
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
units = "num_classes"
"""


def test_two_ranks_stop_on_an_infinite_loss_whose_gradients_are_finite_as_one_process_does(tmp_path):
    """At lr 1e37 the first two updates leave weights whose loss is inf on both ranks (one process's, on the whole
    batch, one update earlier) with gradients of norm ~3: averaged, those trained on, and the run went on through
    inf losses until the weights themselves overflowed ("loss became nan", batches later). Now any rank's
    non-finite loss stops every rank at that batch, as one process stops at its own, and nothing after is kept."""
    net = write_toml(tmp_path / "linear.toml", LINEAR_NET)
    args = ["--lr", "1e37", "--schedule", "constant", "--optimizer", "sgd", "--log-every", "1"]
    r = cnnlab([*ranks_command(net, tmp_path / "ranks"), *args])
    assert r.returncode == 0, r.stderr
    one = cnnlab(["train", *flags(settings(net)), "--out", str(tmp_path / "one"), "--no-progress", *args])
    assert one.returncode == 0, one.stderr
    for run in ("ranks", "one"):
        summary = RunDir(tmp_path / run).summary()
        assert summary["stopped"] == "non-finite loss", (run, summary)
        assert summary["diagnosis"][0].startswith("loss became inf at lr 1e+37"), (run, summary["diagnosis"])
        rows = RunDir(tmp_path / run).batches()
        assert rows and all(math.isfinite(row["loss"]) for row in rows), (run, rows)  # nothing trained past it


# The digits net without its ReLU: a product of two linear maps, whose gradients grow with the weights as its loss
# does, but by one weight's factor less.
LINEAR_CONV_NET = DIGITS_NET.replace('activation = "relu"', 'activation = "identity"')


def test_two_ranks_whose_gradient_norm_overflows_under_finite_losses_say_so(tmp_path):
    """Adam's first update moves every weight by its lr, 1e17: four updates on, both ranks' losses are ~2e36,
    finite, and the gradients' norm overflows to inf, which stops both ranks. The diagnosis said "loss became
    2.0834081637491494e+36", a finite loss; it says what went bad, and every rank's loss."""
    net = write_toml(tmp_path / "net.toml", LINEAR_CONV_NET)
    out = tmp_path / "run"
    args = ["--model", net, "--data", "digits", "--batch-size", "50", "--epochs", "1", "--lr", "1e17"]
    r = cnnlab(["train", *args, "--optimizer", "adam", "--out", str(out), "--no-progress", "--nproc", "2"])
    assert r.returncode == 0, r.stderr
    summary = RunDir(out).summary()
    assert summary["stopped"] == "non-finite loss" and summary["epochs_run"] == 0, summary
    finding = summary["diagnosis"][0]
    said = "the gradient norm became inf at lr 1e+17 while the loss stayed finite on every rank ("
    assert finding.startswith(said) and "no epoch had ended, so no weights were kept" in finding, finding
    losses = finding[len(said) :].split(")")[0].split(", ")
    assert [loss.split(" on ")[1] for loss in losses] == ["rank 0", "rank 1"], finding
    assert all(math.isfinite(float(loss.split(" on ")[0])) for loss in losses), finding


# Loaded by every rank (sitecustomize on PYTHONPATH): the CPU's bf16 probe answers by rank, as two probes timed on
# shared cores can, and each rank writes the precision its setup chose for it.
PROBES_DISAGREE = """
import os
import cnnlab.train.engine as engine
import cnnlab.train.precision as precision

rank = os.environ.get("RANK", "0")
precision.resolve = lambda asked, device: ("bf16", "rank 1's probe") if rank == "1" else ("fp32", "rank 0's probe")
setup = engine.setup

def recorded(config, **kwargs):
    s = setup(config, **kwargs)
    with open(os.path.join(os.environ["PRECISIONS"], "rank" + rank), "w") as f:
        f.write(s.precision)
    return s

engine.setup = recorded
"""


def test_ranks_train_in_the_precision_rank_0_chose(tmp_path, net):
    """--precision auto probes the CPU once, on rank 0, for every rank: two probes on the same busy cores can come
    out either side of the margin, and then half of each batch would train in bf16 under a run that says fp32."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(PROBES_DISAGREE)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hook), os.environ.get("PYTHONPATH", "")])}
    out, precisions = tmp_path / "run", tmp_path / "precisions"
    precisions.mkdir()
    args = [*ranks_command(net, out), "--precision", "auto", "--epochs", "1"]
    r = subprocess.run(
        [sys.executable, "-m", "cnnlab", *args],
        capture_output=True,
        text=True,
        env={**env, "OMP_NUM_THREADS": "1", "PRECISIONS": str(precisions)},
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    assert {p.name: p.read_text() for p in precisions.iterdir()} == {"rank0": "fp32", "rank1": "fp32"}
    assert open_run(out).meta["precision"] == {"used": "fp32", "why": "rank 0's probe"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    ("launch", "message"),
    [
        (["--nproc", "0"], "--nproc must be a positive number, got 0"),
        (["--nproc", "2", "--nnodes", "2"], "--nnodes above 1 needs --rdzv-endpoint"),
        (["--nproc", "2", "--sync-bn"], "--sync-bn needs GPUs"),
        (["--nproc", "2", "--batch-size", "0"], "--batch-size must be a positive integer"),
        (["--nproc", "2", "--batch-size", "1"], "--batch-size 1 is the global batch, shared by 2 processes: it must"),
        (
            ["--nproc", "2", "--rdzv-timeout", "1e10"],
            "--rdzv-timeout must be a positive number of seconds up to 604800",
        ),
    ],
)
def test_launch_mistakes_are_one_line_errors_before_any_process_starts(tmp_path, capsys, net, launch, message):
    out = tmp_path / "run"
    assert main(["train", "--model", net, "--data", "digits", "--out", str(out), *launch]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cnnlab: error: ") and message in err and err.count("\n") == 1, err
    assert not out.exists()


def test_machines_that_never_meet_fail_after_the_timeout_with_one_line(tmp_path, net, two_ranks):
    before = snapshot(two_ranks)
    endpoint = f"127.0.0.1:{free_port()}"
    r = cnnlab(
        ["train", "--model", net, "--data", "digits", "--out", str(two_ranks), "--resume", "--nproc", "1"]
        + ["--nnodes", "2", "--rdzv-endpoint", endpoint, "--rdzv-timeout", "2"]
    )
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("cnnlab: error: the 2 machines did not meet at " + endpoint), r.stderr
    assert r.stderr.count("\n") == 1, r.stderr
    assert snapshot(two_ranks) == before  # the finished run it named is untouched


@pytest.mark.parametrize("timeout", ["2", "1e300"])
def test_a_rank_whose_master_is_unreachable_fails_after_the_timeout_with_one_line(tmp_path, net, timeout):
    """A rank started by hand (or by torchrun on another machine) that cannot reach MASTER_ADDR:MASTER_PORT; a
    timeout past a week is refused first (1e300 s gave an OverflowError traceback in torch.distributed, 1e10 s a
    timeout at once that said it had waited 1e10 s)."""
    out = tmp_path / "run"
    port = free_port()
    env = {**os.environ, "RANK": "1", "LOCAL_RANK": "1", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1"}
    env = {**env, "MASTER_PORT": str(port)}
    r = subprocess.run(
        [sys.executable, "-m", "cnnlab", "train", "--model", net, "--data", "digits", "--out", str(out)]
        + ["--rdzv-timeout", timeout],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    said = (
        f"rank 1 of 2 could not join the others at 127.0.0.1:{port}"
        if timeout == "2"
        else "--rdzv-timeout must be a positive number of seconds up to 604800 (a week), got 1e+300"
    )
    assert r.returncode == 2 and r.stderr.startswith(f"cnnlab: error: {said}"), r.stderr
    assert r.stderr.count("\n") == 1 and not out.exists()


def bad_folder(root: Path) -> Path:
    """Two real digits and a labels file that names a third, absent: data every rank's loading refuses."""
    from PIL import Image
    from sklearn.datasets import load_digits

    (root / "img").mkdir(parents=True)
    for i, image in enumerate(load_digits().images[:2]):
        Image.fromarray((image * 16).clip(0, 255).astype("uint8"), "L").save(root / "img" / f"{i}.png")
    (root / "labels.csv").write_text("img/0.png,0\nimg/1.png,1\nimg/2.png,2\n")
    return root


def test_a_rank_0_error_in_a_shared_step_stops_every_rank_with_one_line(tmp_path, net):
    """Rank 0 loads the data first, in a shared step, and hands its error to the others. A labels file naming an
    absent image failed on every rank and each printed it: two lines for two ranks. Started as two plain processes
    (gloo; no torchrun to stop rank 1 for it), rank 0 says it in one line and rank 1 stops silently, both with
    status 2, neither hanging; through `--nproc 2`, one line and status 2. Nothing is written."""
    folder = bad_folder(tmp_path / "bad")
    said = (
        f"cnnlab: error: {folder}: labels.csv names 1 image(s) not in the folder, the first 'img/2.png' (line 3): "
        "add the images or remove their lines\n"
    )
    out = tmp_path / "run"
    args = ["train", "--model", net, "--data", f"folder:{folder}", "--out", str(out), "--no-progress"]
    ranks = plain_ranks(args)
    said_by = ended(ranks)
    assert [proc.returncode for proc in ranks] == [2, 2], said_by
    assert said_by == [said, ""]
    assert not out.exists()
    r = cnnlab([*args, "--nproc", "2"])
    assert r.returncode == 2 and r.stderr == said, r.stderr
    assert r.stdout == "" and not out.exists()


def test_a_warning_while_loading_the_data_is_said_once_by_two_ranks(tmp_path, net):
    """Rank 0 loads the data first, then rank 1 does: a warning on the way (an image the labels file does not
    list, so not used) was printed by each, two lines for two ranks; rank 0 alone says it now."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits, folder = load_digits(), tmp_path / "unlisted"
    (folder / "img").mkdir(parents=True)
    for i, image in enumerate(digits.images[:41]):
        Image.fromarray((image * 16).clip(0, 255).astype("uint8"), "L").save(folder / "img" / f"{i}.png")
    (folder / "labels.csv").write_text("".join(f"img/{i}.png,{digits.target[i]}\n" for i in range(40)))
    args = ["train", "--model", net, "--data", f"folder:{folder}", "--epochs", "1", "--out", str(tmp_path / "run")]
    r = cnnlab([*args, "--no-progress", "--nproc", "2"])
    warned = f"warning: 1 image(s) in {folder} not listed in labels.csv are not used: img/40.png"
    assert r.returncode == 0 and [line for line in r.stderr.splitlines() if "warning" in line] == [warned], r.stderr


def plain_ranks(
    args: list[str],
    rank0: dict[str, str] | None = None,
    timeout: float | None = None,
    env: dict[str, str] | None = None,
) -> list[subprocess.Popen]:
    """`cnnlab ARGS` as ranks 0 and 1 of two plain gloo processes (no torchrun to stop one when the other ends);
    `rank0`: more environment for rank 0 alone (a failpoint); `timeout`: the training collectives' timeout in
    seconds, for a test to outlast in seconds what takes 30 minutes; `env`: more environment for both."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CNNLAB_FAILPOINT")}, **(env or {})}
    env.update(OMP_NUM_THREADS="1", WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()))
    command = ["-m", "cnnlab"]
    if timeout is not None:
        command = ["-c", SHORT_TIMEOUT.format(seconds=timeout)]
    return [
        subprocess.Popen(
            [sys.executable, *command, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**env, "RANK": str(rank), "LOCAL_RANK": str(rank), **((rank0 or {}) if rank == 0 else {})},
        )
        for rank in (0, 1)
    ]


# `cnnlab ARGS` with the training collectives' timeout (30 minutes) set to a few seconds before the ranks join
SHORT_TIMEOUT = (
    "import datetime, sys; import cnnlab.train.distributed as d; "
    "d.TRAINING_TIMEOUT = datetime.timedelta(seconds={seconds}); "
    "from cnnlab.cli import main; sys.exit(main(sys.argv[1:]))"
)


def ended(ranks: list[subprocess.Popen]) -> list[str]:
    """What each rank said on stderr, once all have ended (killed after 120 s: a test fails rather than hangs)."""
    try:
        return [proc.communicate(timeout=120)[1] for proc in ranks]
    finally:
        for proc in ranks:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


def paused(pid: int) -> None:
    """Wait until process `pid` has stopped itself at its failpoint (CNNLAB_FAILPOINT_SIGNAL=SIGSTOP)."""
    deadline = time.monotonic() + 120
    while Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "T":  # gone: no such file
        assert time.monotonic() < deadline, f"process {pid} never reached its failpoint"
        time.sleep(0.05)


def pause_at(name: str) -> dict[str, str]:
    """Rank 0's environment to stop at failpoint `name` (its first pass), for the test to act there."""
    return {"CNNLAB_FAILPOINT": f"{name}:1@0", "CNNLAB_FAILPOINT_SIGNAL": "SIGSTOP"}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads a process's state from /proc")
def test_a_rank_0_error_after_the_other_rank_died_is_still_said(tmp_path, net):
    """Rank 0 paused in the shared step that loads the data (a SIGSTOP failpoint) while rank 1, waiting for its
    result, is killed; let go, rank 0 reaches its own error (--init-from a run that does not exist). Handing it to
    rank 1 fails, as rank 1 is gone, and that failure replaced the error: rank 0 ended with status 2 and said
    nothing. It now says its own line, as a single process does."""
    out = tmp_path / "run"
    args = ["train", "--model", net, "--data", "digits", "--init-from", str(tmp_path / "nowhere"), "--out", str(out)]
    alone = cnnlab([*args, "--no-progress"])
    assert alone.returncode == 2 and alone.stderr.startswith("cnnlab: error: ") and alone.stderr.count("\n") == 1
    ranks = plain_ranks([*args, "--no-progress"], pause_at("data-loaded"))
    try:
        paused(ranks[0].pid)
        ranks[1].kill()
        ranks[1].wait()
        ranks[0].send_signal(signal.SIGCONT)
    finally:
        said_by = ended(ranks)
    assert ranks[0].returncode == 2 and said_by[0] == alone.stderr, said_by


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads a process's state from /proc")
def test_ctrl_c_on_rank_0_in_a_shared_step_interrupts_every_rank(tmp_path, net):
    """A real SIGINT to rank 0 while it tests the finished run, a shared step whose result rank 1 waits for: rank 1
    got it as an error and ended with status 2. Every rank now ends as interrupted, status 130, no traceback, and
    the run keeps its checkpoint to resume; through `--nproc 2` the launcher says `cnnlab: interrupted` once and
    ends with 130, where it said rank 0 exited with status 130."""
    out = tmp_path / "run"
    args = ["train", "--model", net, "--data", "digits", "--epochs", "1", "--out", str(out), "--no-progress"]
    ranks = plain_ranks(args, pause_at("final-test"))
    try:
        paused(ranks[0].pid)
        ranks[0].send_signal(signal.SIGINT)  # pending while it is stopped: it takes it where it stands
        ranks[0].send_signal(signal.SIGCONT)
    finally:
        said_by = ended(ranks)
    assert [proc.returncode for proc in ranks] == [130, 130], said_by
    assert not any("Traceback" in said for said in said_by), said_by
    assert RunDir(out).has_checkpoint() and not RunDir(out).finished()
    out = tmp_path / "launched"
    launcher = subprocess.Popen(
        [sys.executable, "-m", "cnnlab", *args[:-2], str(out), "--no-progress", "--nproc", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**{k: v for k, v in os.environ.items() if k != "CNNLAB_FAILPOINT"}, **pause_at("final-test")},
    )
    try:
        rank0 = rank_0_of(launcher.pid)
        paused(rank0)
        os.kill(rank0, signal.SIGINT)
        os.kill(rank0, signal.SIGCONT)
    finally:
        [err] = ended([launcher])
    assert launcher.returncode == 130 and err.count("cnnlab: interrupted") == 1, err
    assert err.rstrip().endswith("cnnlab: interrupted") and "Traceback" not in err and "status 130" not in err, err


def mnist(net: str, out: Path) -> list[str]:
    """`train` on 200 MNIST images per split, one epoch, into `out`."""
    args = ["train", "--model", net, "--data", "mnist", "--data-dir", str(SHARED / "datasets"), "--limit", "200"]
    return [*args, "--input", "1,8,8", "--epochs", "1", "--out", str(out), "--no-progress"]


def mnist_ranks(tmp_path: Path, net: str, rank0: dict[str, str]) -> tuple[list[subprocess.Popen], Path]:
    """Two plain ranks training on MNIST with a data cache of their own (so rank 0 decodes MNIST first and rank 1
    reads what it published), their training collectives timing out after 5 s."""
    out = tmp_path / "run"
    return plain_ranks(mnist(net, out), rank0, timeout=5, env={"XDG_CACHE_HOME": str(tmp_path / "cache")}), out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads a process's state from /proc")
def test_the_other_ranks_wait_for_rank_0s_first_decode_past_the_training_timeout(tmp_path, net):
    """Rank 0 decodes the data first while the others wait for it. They waited in a broadcast of the training
    process group, whose collectives time out after 30 minutes: a first decode of a large image folder that took
    longer failed the run on every rank. With that timeout at 5 s and rank 0 held in its data step for 12 s (a
    SIGSTOP failpoint), rank 1 failed (gloo: 'Timed out waiting 5000ms'); it now waits as long as rank 0 decodes,
    on a process group of its own with a week's timeout, and the run trains; so it does through `--nproc 2`."""
    ranks, out = mnist_ranks(tmp_path, net, pause_at("data-loaded"))
    try:
        paused(ranks[0].pid)
        time.sleep(12)
        ranks[0].send_signal(signal.SIGCONT)
    finally:
        said_by = ended(ranks)
    assert [proc.returncode for proc in ranks] == [0, 0], said_by
    assert RunDir(out).finished() and not any("Traceback" in said for said in said_by), said_by
    launched = tmp_path / "launched"
    r = cnnlab([*mnist(net, launched), "--nproc", "2"])
    assert r.returncode == 0 and RunDir(launched).finished(), r.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads a process's state from /proc")
@pytest.mark.parametrize("how", ["interrupted", "killed"])
def test_rank_0_interrupted_or_killed_in_a_long_first_decode_ends_every_rank(tmp_path, net, how):
    """The wait for rank 0's data has no 30-minute timeout, and ends with rank 0 all the same: Ctrl-C there, past
    the training timeout, ends both ranks as interrupted (status 130; rank 1 had timed out); rank 0 killed ends
    rank 1 at once (status 2, its peer gone; torchrun says which rank died), not after a timeout."""
    ranks, out = mnist_ranks(tmp_path, net, pause_at("data-loaded"))
    try:
        paused(ranks[0].pid)
        time.sleep(8)
        if how == "interrupted":
            ranks[0].send_signal(signal.SIGINT)  # pending while it is stopped: it takes it where it stands
            ranks[0].send_signal(signal.SIGCONT)
        else:
            ranks[0].kill()
        started = time.monotonic()
    finally:
        said_by = ended(ranks)
    codes = [130, 130] if how == "interrupted" else [-signal.SIGKILL, 2]
    assert [proc.returncode for proc in ranks] == codes, said_by
    assert time.monotonic() - started < 60 and not any("Traceback" in said for said in said_by), said_by
    assert not RunDir(out).has_checkpoint()


@pytest.mark.parametrize("how", ["refused", "killed"])
def test_rank_1_failing_in_its_own_data_step_ends_rank_0_waiting_for_it_at_once(tmp_path, net, how):
    """Rank 0 has its data and waits, on the week-long `waiting` group, for the others to have theirs; rank 1 then
    fails in its own data step: its data root (here $CNNLAB_DATA, read through --data folder:{data_dir}/imgs) has
    no such folder, or it is killed there. Rank 0 must not wait out the week: it ends at once with status 2 and
    no error of its own, rank 1 says its one line (or torchrun says which rank died), and no run is left."""
    from tests.test_data_inputs import image_folder

    image_folder(tmp_path / "mine" / "imgs", {"a": 6, "b": 6})
    (tmp_path / "empty").mkdir()
    out = tmp_path / "run"
    args = ["train", "--model", net, "--data", "folder:{data_dir}/imgs", "--epochs", "1"]
    env = {"CNNLAB_DATA": str(tmp_path / ("empty" if how == "refused" else "mine"))}
    if how == "killed":
        env["CNNLAB_FAILPOINT"] = "data-loaded:1@1"  # rank 1's only pass: its own data step
    ranks = plain_ranks([*args, "--out", str(out), "--no-progress"], {"CNNLAB_DATA": str(tmp_path / "mine")}, env=env)
    started = time.monotonic()
    said_by = ended(ranks)
    codes = [2, 2] if how == "refused" else [2, -signal.SIGKILL]
    assert [proc.returncode for proc in ranks] == codes and time.monotonic() - started < 60, said_by
    missing = f"cnnlab: error: folder dataset {tmp_path / 'empty' / 'imgs'} does not exist"
    assert "error" not in said_by[0] and "Traceback" not in said_by[0], said_by  # its data's note, at most
    assert said_by[1].startswith(missing) if how == "refused" else said_by[1] == "", said_by
    assert not out.exists()


def rank_0_of(launcher: int) -> int:
    """The pid of a launcher's rank 0, once it runs (its RANK in /proc's copy of its environment; a child that
    ended meanwhile, such as a helper the imports ran, is passed over)."""
    deadline = time.monotonic() + 120
    while True:
        for pid in ranks_of(launcher):
            try:
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"RANK=0" in environ:
                return pid
        assert time.monotonic() < deadline, "rank 0 did not start"
        time.sleep(0.05)


def test_the_ranks_arguments_are_theirs_not_torchruns(capsys, net):
    """torchrun's parser took cnnlab's --monitor for an abbreviation of its --monitor-interval (and stopped with its
    usage): the ranks' arguments are set after torchrun's own are parsed."""
    from cnnlab.train.launch import Launch, parsed_torchrun_args

    argv = ["--model", "lenet5", "--monitor", "val_loss", "--max-restarts", "3", "--out", "r"]
    args = parsed_torchrun_args(Launch(2), argv)
    assert args.training_script == "cnnlab" and args.module and args.training_script_args == ["train", *argv]
    assert args.nproc_per_node == "2" and args.max_restarts == 0 and args.standalone
    machines = parsed_torchrun_args(Launch(1, 2, "10.0.0.1:29400", 30), argv)  # its --rdzv-id is "cnnlab" too
    assert machines.training_script == "cnnlab" and machines.training_script_args == ["train", *argv]
    assert (machines.nnodes, machines.rdzv_endpoint, machines.rdzv_id) == ("2", "10.0.0.1:29400", "cnnlab")
    with pytest.raises(SystemExit) as e:  # no abbreviations in `train`: the ranks re-read its arguments as given
        main(["train", "--model", net, "--data", "digits", "--npr", "2"])
    assert e.value.code == 2 and "unrecognized arguments: --npr" in capsys.readouterr().err


def start_ranks(net: str, out: Path, epochs: int, tmp: Path | None = None) -> subprocess.Popen:
    """`cnnlab train --nproc 2 --resume` in its own session (`tmp`: its TMPDIR), returned once both ranks train."""
    command = ["train", *flags({**settings(net), "epochs": epochs}), "--out", str(out), "--nproc", "2", "--resume"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **({"TMPDIR": str(tmp)} if tmp else {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnnlab", *command, "--no-progress"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while len(ranks_of(proc.pid)) < 2 or not RunDir(out).exists():  # rank 0 has set the run up
        assert time.monotonic() < deadline and proc.poll() is None, "the ranks did not start"
        time.sleep(0.05)
    time.sleep(2.0)  # into the epochs
    return proc


def ranks_of(launcher: int) -> list[int]:
    """The rank processes a launcher started (its children running python), from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == launcher:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG and /proc are Linux's")
def test_ranks_die_with_a_launcher_killed_outright_and_ctrl_c_is_one_line(tmp_path, net):
    """kill -9 of `cnnlab train --nproc 2` used to leave both ranks training on as orphans, holding the run's lock;
    now they die with it, and the run resumes. Ctrl-C (SIGINT to the launcher) ends with one `cnnlab: interrupted`
    line and status 130, where torchrun's SignalException gave a traceback and status 1. The killed launcher's
    folder of error files (its cleanup never ran) is removed by the next launch."""
    out, tmp = tmp_path / "run", tmp_path / "tmp"
    tmp.mkdir()
    launcher = start_ranks(net, out, epochs=5000, tmp=tmp)  # minutes of epochs: they would still train when checked
    ranks = ranks_of(launcher.pid)
    assert len(ranks) == 2, ranks
    launcher.kill()
    launcher.wait(timeout=30)
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{r}").exists() and "Z" not in Path(f"/proc/{r}/stat").read_text().split()[2] for r in ranks):
        assert time.monotonic() < deadline, f"ranks {ranks} outlived their launcher"
        time.sleep(0.1)
    launcher.stderr.close()
    assert [p.name.split("-")[2] for p in tmp.glob("cnnlab-ranks-*")] == [str(launcher.pid)]
    interrupted = start_ranks(net, out, epochs=5000, tmp=tmp)  # the lock is free: the same command takes the run on
    interrupted.send_signal(signal.SIGINT)
    _, err = interrupted.communicate(timeout=120)
    assert interrupted.returncode == 130, err
    assert "Traceback" not in err and err.count("cnnlab: interrupted") == 1, err
    assert err.rstrip().endswith("cnnlab: interrupted") and "death signal" not in err, err
    assert list(tmp.glob("cnnlab-ranks-*")) == []


def test_sync_bn_with_one_process_on_the_cpu_trains_as_a_plain_run(tmp_path, capsys, net):
    """--sync-bn is refused on the CPU only for several processes: one process has nothing to synchronise, so its
    run (here on the CPU, also through the launcher with --nproc 1's check) trains and records the setting."""
    from cnnlab.train.distributed import check_sync_bn

    check_sync_bn(True, 1, torch.device("cpu"))  # --nproc 1 --sync-bn passes the launcher's check
    out = tmp_path / "run"
    argv = ["train", "--model", net, "--data", "digits", "--epochs", "1", "--out", str(out), "--no-progress"]
    assert main([*argv, "--sync-bn"]) == 0, capsys.readouterr().err
    assert RunDir(out).finished() and RunDir(out).config().sync_bn is True
