"""cnnlab tune: the space file, trials as run directories, pruning, summaries and plots, a worker killed
mid-trial, and two workers sharing one study on a real PostgreSQL server."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import optuna
import psycopg
import pytest
from optuna.trial import TrialState

from cnnlab.cli import main
from cnnlab.errors import CnnlabError
from cnnlab.train import RunDir
from cnnlab.tune import epochs_trained, load_space, open_study, retrain_best, study_plots, tune
from cnnlab.tune.algorithms import SAMPLERS, hyperband_brackets, make_pruner, make_sampler
from cnnlab.tune.objective import run_trial
from cnnlab.tune.storage import open_storage, worker_lock
from tests.conftest import EXAMPLES, SHARED, write_toml

DATA = str(SHARED / "datasets")

SPACE = """
[train]
data = "mnist"
epochs = {epochs}
batch_size = 100
limit = 1000

[params.conv_layers]
type = "int"
low = 1
high = 2

[params.filters]
type = "int"
low = 4
high = 8
step = 4
for_each = "conv_layers"

[params.lr]
type = "float"
low = 1e-3
high = 3e-3
log = true

[network]
input = [1, 28, 28]

[[network.layers]]
repeat = "$conv_layers"
layers = [
    {{ type = "conv", filters = "$filters_{{i}}", kernel = 3, padding = "same", activation = "relu" }},
    {{ type = "maxpool", size = 2 }},
]

[[network.layers]]
type = "flatten"

[[network.layers]]
type = "dense"
units = "num_classes"
"""


@pytest.fixture
def space(tmp_path: Path) -> str:
    return write_toml(tmp_path / "space.toml", SPACE.format(epochs=1))


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "cnnlab.cli", "tune", *args]


def trials_by_state(study_dir: Path) -> dict[TrialState, list[int]]:
    study, _, _ = open_study(study_dir)
    out: dict[TrialState, list[int]] = {s: [] for s in TrialState}
    for t in study.get_trials():
        out[t.state].append(t.number)
    return out


# --- the space file ---------------------------------------------------------------------------------------------


def test_example_space_samples_per_layer_parameters_only_for_sampled_layers() -> None:
    space = load_space(EXAMPLES / "spaces" / "mnist-cnn.toml")
    fixed = {
        "conv_layers": 2,
        "filters_0": 32,
        "filters_1": 256,
        "dropout": 0.25,
        "dense_layers": 1,
        "units_0": 64,
        "lr": 3e-4,
    }
    values = space.sample(optuna.trial.FixedTrial(fixed))
    assert values == fixed  # filters_2.. and units_1.. are never asked for
    spec = space.network_spec(values)
    assert [l["type"] for l in spec["layers"]] == [
        "conv",
        "maxpool",
        "conv",
        "maxpool",
        "flatten",
        "dropout",
        "dense",
        "dense",
    ]
    assert [l.get("filters") for l in spec["layers"][:3:2]] == [32, 256]
    config = space.run_config(values, "net.toml")
    assert (config.lr, config.epochs, config.monitor, config.data) == (3e-4, 5, "val_accuracy", "mnist")


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_every_sampler_samples_the_conditional_space(sampler: str) -> None:
    space = load_space(EXAMPLES / "spaces" / "mnist-cnn.toml")
    study = optuna.create_study(direction="maximize", sampler=make_sampler(sampler, seed=0, trials=6))
    for _ in range(4):
        trial = study.ask()
        values = space.sample(trial)
        assert sum(k.startswith("filters_") for k in values) == values["conv_layers"]
        study.tell(trial, values["lr"] * 1000)


def test_hyperband_runs_one_bracket_for_small_searches() -> None:
    assert hyperband_brackets(epochs=5, trials=6) == (6, 1)  # too few trials for TPE to learn in two brackets
    assert hyperband_brackets(epochs=5, trials=20) == (3, 2)
    assert hyperband_brackets(epochs=27, trials=100) == (3, 4)
    assert hyperband_brackets(epochs=1, trials=3) == (2, 1)
    # One bracket: successive halving at epoch 1, where only the best so far goes on (with fewer than 6 there).
    study = optuna.create_study(direction="maximize", pruner=make_pruner("hyperband", epochs=5, trials=6))
    for value, pruned in ((0.5, False), (0.4, True), (0.6, False), (0.55, True)):
        trial = study.ask()
        trial.report(value, 1)
        assert trial.should_prune() is pruned, value
        study.tell(trial, state=TrialState.PRUNED) if pruned else study.tell(trial, value)


def test_median_pruner_stops_a_trial_below_the_median_after_its_warm_up_epoch() -> None:
    study = optuna.create_study(direction="maximize", pruner=make_pruner("median", epochs=5))
    for values, pruned in (((0.5, 0.6), False), ((0.5, 0.7), False), ((0.2, 0.3), True)):
        trial = study.ask()
        for step, value in enumerate(values, start=1):
            trial.report(value, step)
        assert bool(trial.should_prune()) is pruned  # epoch 1 is warm-up; at epoch 2, best 0.3 < median 0.65
        study.tell(trial, state=TrialState.PRUNED) if pruned else study.tell(trial, max(values))


def test_template_that_pools_to_nothing_is_refused_when_loaded(tmp_path: Path) -> None:
    text = (EXAMPLES / "spaces" / "mnist-cnn.toml").read_text().replace("input = [1, 32, 32]", "input = [1, 28, 28]")
    with pytest.raises(CnnlabError, match="fails for conv_layers=5.*empty"):
        load_space(write_toml(tmp_path / "s.toml", text))


BAD_SPACES = [
    ('[params.x]\ntype = "complex"\n', "unknown type 'complex'"),
    ('[params.x]\ntype = "int"\nlow = 5\nhigh = 1\n', "low 5 is greater than high 1"),
    ('[params.x]\ntype = "float"\nhigh = 1.0\n', "params.x: missing low"),
    ('[params.x]\ntype = "categorical"\n', "missing choices"),
    ('[params.x]\ntype = "float"\nlow = 0.0\nhigh = 1.0\nlog = true\n', "log scale needs low > 0"),
    ('[params.x]\ntype = "int"\nlow = 1\nhigh = 4\nfor_each = "n"\n', "for_each = 'n' must name"),
    (
        '[params.n]\ntype = "int"\nlow = -1\nhigh = 2\n[params.x]\ntype = "int"\nlow = 1\nhigh = 4\nfor_each = "n"\n',
        "for_each = 'n' must name a non-negative int parameter",
    ),
    ('[params.x]\ntype = "int"\nlow = 1\nhigh = 4\nstride = 2\n', "unknown key(s) stride"),
    # values of the wrong kind: TypeError / ValueError tracebacks before ("'int' object is not iterable",
    # "unhashable type: 'list'"), and train = "" or [] was taken for no settings
    ('train = 5\n[params.x]\ntype = "int"\nlow = 1\nhigh = 4\n', "train must be a table of settings ([train] above"),
    ('train = ""\n[params.x]\ntype = "int"\nlow = 1\nhigh = 4\n', "train must be a table of settings"),
    (
        '[params.n]\ntype = "int"\nlow = 1\nhigh = 2\n[params.x]\ntype = "int"\nlow = 1\nhigh = 4\nfor_each = ["n"]\n',
        "params.x: for_each must name an int parameter declared above it, got ['n']",
    ),
    (  # a count of 2**63 - 1 made 2**63 names for the template check: the process ran out of memory
        '[params.n]\ntype = "int"\nlow = 1\nhigh = 9223372036854775807\n[params.x]\ntype = "int"\nlow = 1\nhigh = 4\n'
        'for_each = "n"\n',
        "params.x: for_each = 'n' counts up to 9223372036854775807, but a per-layer parameter stands for at most 1000",
    ),
    ("", "missing [params]"),
    # values a trial could sample and training would refuse, refused when the file is read
    (
        '[params.optimizer]\ntype = "categorical"\nchoices = ["sgd", "nadam"]\n',
        "[params.optimizer] can sample 'nadam', which training refuses: --optimizer 'nadam' is not one of sgd, adam",
    ),
    ('[params.lr]\ntype = "float"\nlow = 0.0\nhigh = 0.1\n', "[params.lr] can sample 0.0, which training refuses"),
]


@pytest.mark.parametrize("params,message", BAD_SPACES)
def test_bad_space_file_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture, params: str, message: str
) -> None:
    network = (
        '[network]\ninput = [1, 28, 28]\n[[network.layers]]\ntype = "flatten"\n[[network.layers]]\ntype = "dense"\n'
    )
    path = write_toml(tmp_path / "bad.toml", params + network)
    assert main(["tune", path, "--out", str(tmp_path / "study")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_a_repeat_count_too_large_to_build_is_one_line(tmp_path: Path) -> None:
    """A repeat entry of 2**63 - 1 copies (a literal or a parameter's high corner) would stamp out layers until memory
    ran out; it is refused at 1,000."""
    layers = '[[network.layers]]\nrepeat = REPEAT\nlayers = [{type = "relu"}]\n[[network.layers]]\ntype = "flatten"\n'
    for repeat, params in (
        ("9223372036854775807", '[params.m]\ntype = "int"\nlow = 1\nhigh = 2\n'),
        ('"$n"', '[params.n]\ntype = "int"\nlow = 1\nhigh = 1001\n'),
    ):
        text = params + "[network]\ninput = [1, 8, 8]\n" + layers.replace("REPEAT", repeat)
        with pytest.raises(
            CnnlabError, match=r"repeat must be an integer from 0 to 1000, got (9223372036854775807|1001)"
        ):
            load_space(write_toml(tmp_path / "r.toml", text))


def test_undefined_template_parameter_and_missing_network(tmp_path: Path) -> None:
    with pytest.raises(CnnlabError, match=r"'\$width' names no parameter"):
        load_space(write_toml(tmp_path / "a.toml", SPACE.format(epochs=1).replace('"num_classes"', '"$width"')))
    with pytest.raises(CnnlabError, match=r"missing \[network\]"):
        load_space(write_toml(tmp_path / "b.toml", SPACE.format(epochs=1).split("[network]")[0]))


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--sampler", "grid"], "--sampler 'grid' is not one of random, tpe, gp, cmaes"),
        (["--pruner", "asha"], "--pruner 'asha' is not one of hyperband, median, none"),
        (["--budget", "0"], "--budget must be at least 1 epoch, got 0"),
        (["--storage", "mysql://u@localhost/db"], "use sqlite:///PATH or postgresql://"),
        (
            ["--storage", "postgresql://u:secret@127.0.0.1:{port}/db"],
            "cannot open storage postgresql://u:***@127.0.0.1",
        ),
    ],
)
def test_bad_flags_and_unreachable_storage_are_one_line_exit_2(
    tmp_path: Path, space: str, flags: list[str], message: str, capsys: pytest.CaptureFixture
) -> None:
    flags = [f.format(port=free_port()) for f in flags]
    assert main(["tune", space, "--out", str(tmp_path / "study"), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err and "secret" not in err


# --- trials, pruning, summary ----------------------------------------------------------------------------------


class PruneAlways(optuna.pruners.BasePruner):
    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return True


def test_trial_reports_each_epoch_and_a_pruned_trial_stops_after_one(tmp_path: Path) -> None:
    space = load_space(write_toml(tmp_path / "s.toml", SPACE.format(epochs=3)), data_dir=DATA)
    study = optuna.create_study(direction="maximize", pruner=PruneAlways())
    trial = study.ask()
    with pytest.raises(optuna.TrialPruned):
        run_trial(trial, space, tmp_path / "t", log=lambda s: None)
    assert list(study.get_trials()[0].intermediate_values) == [1]
    assert len(RunDir(tmp_path / "t").metrics()) == 1 and (tmp_path / "t" / "net.toml").is_file()


def test_tune_writes_run_directories_summary_plots_and_retrains_best(
    tmp_path: Path, space: str, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "study"
    assert (
        main(
            [
                "tune",
                space,
                "--trials",
                "3",
                "--sampler",
                "random",
                "--pruner",
                "none",
                "--out",
                str(out),
                "--data-dir",
                DATA,
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "3 trials, 3 complete, 0 pruned, 0 failed" in printed and "rank  trial  val_accuracy" in printed
    study, _, _ = open_study(out)
    best = max(study.get_trials(), key=lambda t: t.value)
    for t in study.get_trials():
        run = RunDir(out / "trials" / f"{t.number:04d}")
        assert run.summary()["val_accuracy"] == pytest.approx(t.value)
        assert run.config().model == str((run.path / "net.toml").resolve())
    assert printed.splitlines()[4].split()[:3] == ["1", str(best.number), f"{best.value:.4f}"]

    plots = study_plots(out)
    assert set(plots) == {"history", "importance"}  # three distinct results: importances are defined
    assert all(png.startswith(b"\x89PNG") for png in plots.values())
    assert (out / "history.png").read_bytes().startswith(b"\x89PNG")

    # A rerun with the same budget continues the study: nothing left to do. Without --sampler and --pruner it
    # takes the study's; repeating the space file's own epochs changes nothing.
    assert main(["tune", space, "--trials", "3", "--out", str(out), "--data-dir", DATA, "--epochs", "1"]) == 0
    assert len(open_study(out)[0].get_trials()) == 3
    assert "3 trials in all, random sampler, none pruner" in capsys.readouterr().err
    with pytest.raises(CnnlabError, match=r"was started with `pruner='none'` and this call gives `pruner='median'`; "
                       r"give the same \(or neither: a worker takes the study's\), or use another study_name / out$"):  # fmt: skip
        tune(space, out, trials=4, data_dir=DATA, pruner="median", sampler="random")
    assert main(["tune", space, "--trials", "4", "--out", str(out), "--data-dir", DATA, "--pruner", "median"]) == 2
    assert "was started with `--pruner none` and this command gives `--pruner median`; give the same (or neither: " \
        "a worker takes the study's), or use another --study / --out" in capsys.readouterr().err  # fmt: skip
    # ... but not with another space.
    other = write_toml(tmp_path / "space.toml", SPACE.format(epochs=2))
    with pytest.raises(CnnlabError, match="was started with another space file"):
        tune(other, out, trials=4, data_dir=DATA)
    with pytest.raises(CnnlabError, match=r"was started with neither limit nor epochs and this call gives "
                       r"`epochs=3`; give the same"):  # fmt: skip
        tune(write_toml(tmp_path / "same.toml", open_study(out)[1].text), out, trials=4, data_dir=DATA, epochs=3)

    assert main(["tune", "--summary", str(out), "--top", "1", "--retrain-best"]) == 0
    printed = capsys.readouterr().out
    assert "best 1 of 3 complete trials" in printed and "test_accuracy:" in printed
    summary = RunDir(out / "best").summary()
    assert summary["val_size"] == 0 and summary["train_size"] == 1000 and summary["test_accuracy"] > 0.5
    assert RunDir(out / "best").config().lr == best.params["lr"]
    # A search on 1,000 images finds the settings; the model to keep is retrained on more (--limit, --epochs), which
    # were silently passed over with --summary.
    assert main(["tune", "--summary", str(out), "--limit", "1500"]) == 2
    assert "--limit and --epochs set what --retrain-best trains" in capsys.readouterr().err
    assert main(["tune", "--summary", str(out), "--retrain-best", "--limit", "1500", "--epochs", "2"]) == 2
    assert "holds an earlier best configuration (or other images or epochs); remove it" in capsys.readouterr().err
    shutil.rmtree(out / "best")
    assert main(["tune", "--summary", str(out), "--retrain-best", "--limit", "1_500", "--epochs", "2"]) == 0
    more = RunDir(out / "best").summary()
    assert (more["train_size"], more["val_size"], more["epochs_run"]) == (1500, 0, 2), more
    assert RunDir(out / "best").config().lr == best.params["lr"] and open_study(out)[1].train["limit"] == 1000
    with pytest.raises(CnnlabError, match="holds an earlier best"):
        retrain_best(out, limit="all")  # every image is another training than 1,500 of them
    with pytest.raises(CnnlabError, match=r"^limit must be a number of images or 'all', got 'some'$"):
        retrain_best(out, limit="some")
    capsys.readouterr()

    # The report takes the study: trials in the table, the study's plots, a full section for the retrained best.
    from cnnlab.report import write_report

    html = write_report([out], tmp_path / "report.html", gradcam=0).read_text()
    assert "optimisation history of study" in html and "best (retrained)" in html and "trial 0000" in html


def test_epoch_budget_ends_the_running_trial_and_starts_no_more(tmp_path: Path) -> None:
    space, out, lines = write_toml(tmp_path / "space.toml", SPACE.format(epochs=3)), tmp_path / "study", []
    study, _ = tune(space, out, trials=10, sampler="random", pruner="none", data_dir=DATA, budget=4, log=lines.append)
    trials = study.get_trials()
    assert [(t.state, len(t.intermediate_values)) for t in trials] == [
        (TrialState.COMPLETE, 3),
        (TrialState.COMPLETE, 1),
    ]
    assert epochs_trained(study) == 4 and trials[1].value == trials[1].intermediate_values[1]
    last = RunDir(out / "trials" / "0001").summary()
    assert last["stopped"] == "stopped: the study's budget of 4 epochs is spent" and last["test_accuracy"] > 0.3
    assert "the study's budget of 4 epochs is spent; rerun with a larger --budget to go on" in lines
    # The budget counts the whole study: rerunning with the same one trains nothing more, a larger one goes on.
    assert epochs_trained(tune(space, out, trials=10, data_dir=DATA, budget=4, log=lines.append)[0]) == 4
    assert epochs_trained(tune(space, out, trials=10, data_dir=DATA, budget=5, log=lines.append)[0]) == 5


def test_a_rerun_with_other_trials_keeps_the_hyperband_brackets_the_study_started_with(tmp_path: Path) -> None:
    """Hyperband's shape follows the trials expected (two brackets for 20 trials of 3 epochs, one for 4): a rerun
    with another --trials or --budget regrouped the brackets under the trials already pruned by the first rule."""
    space, out, lines = write_toml(tmp_path / "space.toml", SPACE.format(epochs=3)), tmp_path / "study", []
    for trials in (20, 4):
        study, _ = tune(space, out, trials=trials, timeout=1e-9, data_dir=DATA, log=lines.append)
        assert study.pruner._reduction_factor == 3
    said = [line.split(" sampler, ")[-1] for line in lines if line.startswith("study ")]
    assert said == ["hyperband (2 brackets, reduction factor 3, for 20 trials) pruner"] * 2
    fresh, _ = tune(space, tmp_path / "small", trials=4, timeout=1e-9, data_dir=DATA, log=lines.append)
    assert fresh.pruner._reduction_factor == 4 and "(1 bracket, reduction factor 4, for 4 trials)" in lines[-2]


def test_timeout_starts_no_new_trial_after_it(tmp_path: Path, space: str) -> None:
    """Also: tune() from Python (a notebook) emits none of Optuna's INFO lines, which Jupyter shows in red, and puts
    the caller's Optuna verbosity back."""
    import logging

    lines: list[str] = []
    emitted: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: emitted.append(record.getMessage())  # type: ignore[method-assign]
    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.INFO)
    logging.getLogger("optuna").addHandler(handler)
    try:
        study, _ = tune(
            space, tmp_path / "study", trials=10, timeout=0.2, pruner="none", data_dir=DATA, log=lines.append
        )
        assert optuna.logging.get_verbosity() == optuna.logging.INFO
        optuna.create_study()  # the caller's own Optuna speaks as before
    finally:
        logging.getLogger("optuna").removeHandler(handler)
        optuna.logging.set_verbosity(before)
    assert len(study.get_trials()) == 1 and lines[-1] == "--timeout reached; rerun the command to go on"
    assert len(emitted) == 1 and emitted[0].startswith("A new study created in memory"), emitted


# --- workers ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("storage", ["sqlite", "postgresql"])
def test_worker_killed_mid_trial_leaves_the_study_usable(
    tmp_path: Path, storage: str, request: pytest.FixtureRequest
) -> None:
    """On either storage, a SIGKILLed worker's running trial is found orphaned by the next worker (its process is
    gone), marked failed, and the study goes on."""
    space = write_toml(tmp_path / "space.toml", SPACE.format(epochs=2))
    out = tmp_path / "study"
    where = [] if storage == "sqlite" else ["--storage", request.getfixturevalue("postgres"), "--study", "killed"]
    args = cli(space, "--trials", "1", "--pruner", "none", "--out", str(out), "--data-dir", DATA, *where)
    worker = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (out / "trials" / "0000" / "config.toml").exists():  # data loaded, model built, 2 epochs to go
            assert worker.poll() is None and time.monotonic() < deadline, "the worker never got into its first trial"
            time.sleep(0.05)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    assert trials_by_state(out)[TrialState.RUNNING] == [0]

    rerun = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert "trial 0: its worker is gone; marked failed" in rerun.stderr
    states = trials_by_state(out)
    assert states[TrialState.FAIL] == [0] and states[TrialState.COMPLETE] == [1] and not states[TrialState.RUNNING]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    restart: Callable[[], None]  # pg_ctl restart -m fast: every connection dropped, the server back at once


@pytest.fixture
def postgres(postgres_server: Server) -> str:
    return postgres_server.url


@pytest.fixture
def postgres_server() -> Iterator[Server]:
    """A throwaway PostgreSQL server on a free localhost port (as the postgres user when run as root)."""
    found = shutil.which("initdb") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))[-1:]), None)
    assert found, "PostgreSQL server binaries not found: run scripts/ensure-os-packages.sh (make test does)"
    bindir = Path(found).parent
    home = Path(tempfile.mkdtemp(prefix="cnnlab-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(home, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = home / "data", free_port()
    subprocess.run(
        [*as_user, bindir / "initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {home} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [*as_user, bindir / "pg_ctl", "-D", data, "-o", options, "-l", home / "log", "-w", "start"],
        check=True,
        capture_output=True,
    )

    def restart() -> None:
        subprocess.run(
            [*as_user, bindir / "pg_ctl", "-D", data, "-o", options, "-l", home / "log", "-m", "fast", "-w", "restart"],
            check=True,
            capture_output=True,
        )

    try:
        yield Server(f"postgresql://postgres@127.0.0.1:{port}/postgres", restart)
    finally:
        subprocess.run(
            [*as_user, bindir / "pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True, check=False
        )
        shutil.rmtree(home, ignore_errors=True)


def test_two_workers_on_postgresql_run_exactly_the_requested_trials(tmp_path: Path, space: str, postgres: str) -> None:
    out = tmp_path / "study"
    args = cli(
        space, "--trials", "4", "--storage", postgres, "--study", "mnist-two", "--out", str(out), "--data-dir", DATA
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # two workers, two cores
    # While this process holds the study's worker lock, both workers must queue on it without creating the study.
    with worker_lock(open_storage(postgres), "mnist-two"), psycopg.connect(postgres, autocommit=True) as db:
        workers = [
            subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)
        ]
        waiting, deadline = 0, time.monotonic() + 120
        while waiting < 2 and time.monotonic() < deadline and all(w.poll() is None for w in workers):
            time.sleep(0.2)
            query = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            waiting = db.execute(query).fetchone()[0]
        assert waiting == 2, [w.communicate() for w in workers if w.poll() is not None]
        assert "mnist-two" not in optuna.get_all_study_names(postgres)
    results = [w.communicate(timeout=180) for w in workers]
    for w, (_, err) in zip(workers, results):
        assert w.returncode == 0, err
    study = optuna.load_study(study_name="mnist-two", storage=postgres)
    trials = study.get_trials()
    assert sorted(t.number for t in trials) == [0, 1, 2, 3]
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    assert sorted(p.name for p in (out / "trials").iterdir()) == ["0000", "0001", "0002", "0003"]
    assert len({t.user_attrs["pid"] for t in trials}) == 2  # both workers took trials


def start_worker(args: list[str], out: Path) -> subprocess.Popen:
    """A `cnnlab tune` worker, returned once it is training trial 0."""
    worker = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (out / "trials" / "0000" / "config.toml").exists():  # data loaded, model built, epochs to go
        assert worker.poll() is None and time.monotonic() < deadline, "the worker never got into its first trial"
        time.sleep(0.05)
    return worker


def test_a_worker_paused_while_another_fails_its_trial_says_so_and_goes_on(tmp_path: Path) -> None:
    """A worker stopped (Ctrl-Z, a laptop asleep) past the grace period has its trial failed by another worker, as
    Optuna's stale-heartbeat check does; going on, it died on its next epoch's report with two tracebacks
    (UpdateFinishedTrialError, then "Cannot tell a FAIL trial"). Here the failing is done as that worker would."""
    space = write_toml(tmp_path / "space.toml", SPACE.format(epochs=3))
    out = tmp_path / "study"
    worker = start_worker(cli(space, "--trials", "2", "--pruner", "none", "--out", str(out), "--data-dir", DATA), out)
    worker.send_signal(signal.SIGSTOP)
    try:
        study, _, _ = open_study(out)
        study.tell(0, state=TrialState.FAIL)
    finally:
        worker.send_signal(signal.SIGCONT)
    _, err = worker.communicate(timeout=300)
    assert worker.returncode == 0 and "Traceback" not in err, err
    assert (
        "trial 0: another worker failed it while this one was silent for over 90 s (paused, asleep or cut off)" in err
    )
    states = trials_by_state(out)
    assert states[TrialState.FAIL] == [0] and states[TrialState.COMPLETE] == [1, 2], states


def test_a_postgresql_restart_under_a_worker_does_not_end_it(tmp_path: Path, postgres_server: Server) -> None:
    """`pg_ctl restart` mid-trial drops every connection: the worker died with a 264-line traceback saying
    "e.g. exceeding max length" and left its trial RUNNING. Connections are now checked before use and replaced."""
    space = write_toml(tmp_path / "space.toml", SPACE.format(epochs=3))
    out = tmp_path / "study"
    where = ["--storage", postgres_server.url, "--study", "restarted"]
    worker = start_worker(
        cli(space, "--trials", "1", "--pruner", "none", "--out", str(out), "--data-dir", DATA, *where), out
    )
    postgres_server.restart()
    _, err = worker.communicate(timeout=300)
    assert worker.returncode == 0 and "Traceback" not in err, err
    assert trials_by_state(out)[TrialState.COMPLETE] == [0]


def test_a_database_user_without_rights_on_the_tables_is_one_line(postgres_server: Server) -> None:
    """Optuna's tables made by one user, opened by another with no rights on them: a 94-line traceback ending in
    StorageInternalError's "e.g. exceeding max length", the cause (permission denied) buried in it."""
    open_storage(postgres_server.url)  # creates Optuna's tables
    with psycopg.connect(postgres_server.url, autocommit=True) as db:
        db.execute("CREATE ROLE reader LOGIN")
    with pytest.raises(CnnlabError) as e:
        open_storage(postgres_server.url.replace("postgres@", "reader@"))
    message = str(e.value)
    assert "\n" not in message and "permission denied for table" in message, message
    assert message.startswith("the storage postgresql://reader@127.0.0.1:") and "rerun the command" in message


def test_a_relative_sqlite_storage_names_one_file_from_any_directory(
    tmp_path: Path, space: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sqlite:///rel.db was recorded as given: `--summary` from another directory then created an empty rel.db
    there and found no study in it."""
    (tmp_path / "a").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    tune(
        space,
        tmp_path / "study",
        trials=1,
        pruner="none",
        storage="sqlite:///rel.db",
        data_dir=DATA,
        log=lambda _: None,
    )
    monkeypatch.chdir(tmp_path)
    study, _, _ = open_study(tmp_path / "study")
    assert len(study.get_trials()) == 1 and not (tmp_path / "rel.db").exists()


def test_a_parameter_whose_low_equals_its_high_is_a_constant_and_loads(tmp_path: Path) -> None:
    space = SPACE.format(epochs=1).replace("low = 4\nhigh = 8\nstep = 4", "low = 8\nhigh = 8\nstep = 4")
    assert "low = 8\nhigh = 8" in space
    filters = next(p for p in load_space(write_toml(tmp_path / "space.toml", space)).params if p.name == "filters")
    assert (filters.low, filters.high) == (8, 8)


def test_a_collected_postgres_storage_closes_its_connections(postgres: str) -> None:
    """Optuna leaves a storage's pooled connections to the garbage collector, and psycopg warned of each one then
    (`... was deleted while still open`): ten such lines reached a later command's stderr in a test process, as
    they would a notebook's. A collected storage closes them now."""
    import gc
    import warnings

    from cnnlab.tune.storage import open_storage

    gc.collect()  # what earlier tests left to the collector is not this storage's
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        storage = open_storage(postgres)
        optuna.create_study(storage=storage, study_name="collected").enqueue_trial({})
        del storage
        gc.collect()
    assert not [w for w in caught if "deleted while still open" in str(w.message)]
