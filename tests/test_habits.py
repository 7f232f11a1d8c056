"""Keras habits that silently hurt (#15), on real data (scikit-learn's digits) and real training: time decay per
update as Keras' `decay` does it, custom --mean/--std, per-batch rows (--log-every) that survive a resume, and a
`train --help` that describes every flag."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from dataclasses import fields

import numpy as np
import pytest
import torch
from PIL import Image

from cnnlab.cli import main
from cnnlab.cli.common import flag_help
from cnnlab.data import DeviceLoader
from cnnlab.data.dataset import mirror_safe
from cnnlab.rundir import RunConfig, RunDir, open_run
from cnnlab.rundir.config import GROUPS
from cnnlab.train import train
from cnnlab.train.inference import evaluate_run
from cnnlab.train.setup import custom_statistics, flip_warning, preprocessing, setup
from tests.conftest import DIGITS_NET, write_toml

LR, DECAY = 0.1, 0.05


def quiet(_: str) -> None:
    pass


@pytest.fixture
def net(tmp_path) -> str:
    return write_toml(tmp_path / "net.toml", DIGITS_NET)


def config(net: str, **kw) -> RunConfig:
    """SGD without momentum under Keras' time decay: 450 training digits, 8 updates an epoch."""
    base = dict(
        model=net,
        data="digits",
        limit=500,
        epochs=2,
        batch_size=64,
        optimizer="sgd",
        momentum=0.0,
        lr=LR,
        schedule="time",
        decay=DECAY,
        seed=1,
    )
    return RunConfig(**{**base, **kw})


def keras_lr(iterations: int) -> float:
    """Keras 2's SGD with `decay` (and InverseTimeDecay(decay_steps=1)): the lr of the update after `iterations`."""
    return LR * (1.0 / (1.0 + DECAY * iterations))


def test_every_train_flag_has_help_a_group_and_its_default(capsys):
    for f in fields(RunConfig):
        assert f.metadata.get("help") and f.metadata.get("group") in GROUPS, f"RunConfig.{f.name}: use setting()"
        assert "default" in flag_help(f), f.name
        assert all(c in flag_help(f) for c in f.metadata["choices"]), f.name
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    titles = {title + ":": name for name, title in GROUPS.items()}
    section, found = None, {}
    for line in out.splitlines():
        section = titles.get(line, section if line.startswith(" ") else None)
        if m := re.match(r"  (--[a-z-]+)", line):
            found[m.group(1)] = section
    assert {"--" + f.name.replace("_", "-"): f.metadata["group"] for f in fields(RunConfig)}.items() <= {
        "--options" if k == "--option" else k: v for k, v in found.items()
    }.items()
    text = " ".join(out.split())  # argparse wraps lines
    assert "--decay-per DECAY_PER time: t counts updates (Keras' decay) or epochs {step, epoch} (default: step)" in text
    assert "--out OUT the run directory" in text[text.index(GROUPS["output"]) :]
    assert "--input C,H,W " in text and "--augment A,B " in text


def test_time_decay_per_update_trains_as_keras_does(tmp_path, net):
    """Per update, lr0 / (1 + decay * iterations): the weights equal a plain loop setting Keras' lr before every
    update, bit for bit; metrics.csv's lr_first/lr_last and every batch row show the lr each update used."""
    cfg = config(net, log_every=1)
    train(cfg, tmp_path / "run", log=quiet)
    s = setup(cfg, log=quiet)  # the same data order, initial weights and optimiser, stepped by hand
    iterations = 0
    for _ in range(cfg.epochs):
        s.model.train()
        for x, y in s.train_loader:
            for g in s.optimizer.param_groups:
                g["lr"] = keras_lr(iterations)
            s.optimizer.zero_grad(set_to_none=True)
            s.loss_fn(s.model(x), y).backward()
            s.optimizer.step()
            iterations += 1
    got = open_run(tmp_path / "run", "last").weights
    assert all(torch.equal(got[k], v) for k, v in s.model.state_dict().items())

    per_epoch = len(s.train_loader)
    assert per_epoch == 8 and iterations == 16
    rows = RunDir(tmp_path / "run").metrics()
    assert [(r["lr_first"], r["lr_last"]) for r in rows] == [
        (keras_lr(0), keras_lr(7)),
        (keras_lr(8), keras_lr(15)),
    ]
    batches = RunDir(tmp_path / "run").batches()
    assert [b["step"] for b in batches] == list(range(1, 17))
    assert [b["lr"] for b in batches] == [keras_lr(step - 1) for step in range(1, 17)]


def test_time_decay_per_epoch_counts_fractional_epochs_and_decay_0_warns(tmp_path, net, capsys):
    train(config(net, decay_per="epoch"), tmp_path / "epoch", log=quiet)
    rows = RunDir(tmp_path / "epoch").metrics()
    for r in rows:  # t = epochs done by the end of the update: 1/8 for the first
        e = r["epoch"] - 1
        assert r["lr_first"] == pytest.approx(LR / (1 + DECAY * (e + 1 / 8)), rel=1e-12)
        assert r["lr_last"] == pytest.approx(LR / (1 + DECAY * (e + 1)), rel=1e-12)
    argv = ["train", "--model", net, "--data", "digits", "--limit", "200", "--epochs", "1", "--no-progress"]
    assert main([*argv, "--schedule", "time", "--out", str(tmp_path / "no-decay")]) == 0
    err = capsys.readouterr().err
    assert err.count("warning: --schedule time with --decay 0 keeps the learning rate constant") == 1
    assert main([*argv, "--schedule", "time", "--decay", "0.01", "--out", str(tmp_path / "decay")]) == 0
    assert "warning" not in capsys.readouterr().err
    # a warm-up longer than the run never reaches the lr it was given
    assert main([*argv, "--warmup-epochs", "2", "--lr", "0.01", "--out", str(tmp_path / "warm")]) == 0
    warned = (
        "warning: --warmup-epochs 2 is longer than the run's 1 epoch(s), so the learning rate never reaches --lr "
        "0.01; give fewer warm-up epochs or more epochs"
    )
    assert warned in capsys.readouterr().err


def test_a_run_from_before_decay_per_resumes_with_per_epoch_decay(tmp_path, net):
    """config.toml written before --decay-per existed: the run trained with per-epoch decay and resumes with it
    (an experiment file without the key gets today's default, per update)."""
    full = train(config(net, decay_per="epoch"), tmp_path / "full", log=quiet)
    assert train(config(net, decay_per="epoch"), tmp_path / "old", log=quiet, stop_after=1) is None
    toml = tmp_path / "old" / "config.toml"
    toml.write_text("".join(line for line in toml.read_text().splitlines(True) if not line.startswith("decay_per")))
    assert RunDir(tmp_path / "old").config().decay_per == "epoch"
    assert main(["train", "--out", str(tmp_path / "old"), "--resume", "--no-progress"]) == 0
    a, b = open_run(tmp_path / "full", "last").weights, open_run(tmp_path / "old", "last").weights
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert RunDir(tmp_path / "old").summary()["test_accuracy"] == full["test_accuracy"]
    assert RunConfig.from_toml(write_toml(tmp_path / "exp.toml", 'schedule = "time"\n')).decay_per == "step"
    (tmp_path / "constant").mkdir()  # with another schedule an old run's config equals today's
    write_toml(tmp_path / "constant" / "config.toml", 'model = "mlp"\nschedule = "step"\n')
    assert RunDir(tmp_path / "constant").config() == RunConfig(model="mlp", schedule="step")


def test_batch_rows_survive_stop_and_resume_without_duplicates(tmp_path, net):
    """--log-every 3 with per-update decay: stopped after epoch 1 and resumed, the weights, metrics.csv, the batch
    CSV and the TensorBoard batch curves equal an uninterrupted run's."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    lines: list[str] = []
    cfg = config(net, log_every=3, epochs=3)
    train(cfg, tmp_path / "full", log=lines.append)
    assert train(cfg, tmp_path / "split", log=quiet, stop_after=1) is None
    train(cfg, tmp_path / "split", log=quiet, resume=True)
    a, b = open_run(tmp_path / "full", "last").weights, open_run(tmp_path / "split", "last").weights
    assert all(torch.equal(a[k], b[k]) for k in a)
    full, split = RunDir(tmp_path / "full"), RunDir(tmp_path / "split")
    assert [{**r, "seconds": 0} for r in full.metrics()] == [{**r, "seconds": 0} for r in split.metrics()]
    assert (tmp_path / "full" / "batches.csv").read_text() == (tmp_path / "split" / "batches.csv").read_text()
    rows = split.batches()
    assert [(r["epoch"], r["batch"], r["step"]) for r in rows] == [
        (e, k, 8 * (e - 1) + k) for e in (1, 2, 3) for k in (3, 6)
    ]
    assert all(0 <= r["accuracy"] <= 1 and r["loss"] > 0 for r in rows)
    assert rows[-1]["loss"] < rows[0]["loss"]  # the digits are being learnt
    assert "epoch 2 batch 6/8: loss" in "\n".join(lines)  # no progress bar: the batch rows are printed too
    events = EventAccumulator(str(tmp_path / "split" / "tensorboard" / "batches"))
    events.Reload()
    assert [(e.step, round(e.value, 5)) for e in events.Scalars("batch/loss")] == [
        (r["step"], round(r["loss"], 5)) for r in rows
    ]


def test_custom_mean_and_std_standardise_inputs_and_travel_with_the_run(tmp_path, net):
    cfg = config(net, schedule="constant", mean=[0.3], std=[0.4], epochs=1)
    s = setup(cfg, log=quiet)
    kwargs = preprocessing(cfg, s.data)
    x = next(iter(DeviceLoader(s.data.test_x, s.data.test_y, batch_size=32, shuffle=False, **kwargs)))[0]
    want = (s.data.test_x[:32].float() / 255 - 0.3) / 0.4
    assert torch.allclose(x, want, atol=1e-6)
    summary = train(cfg, tmp_path / "run", log=quiet)
    run = open_run(tmp_path / "run")
    assert (run.meta["mean"], run.meta["std"]) == ([0.3], [0.4]) and run.config.mean == [0.3]
    assert evaluate_run(tmp_path / "run")["test_accuracy"] == pytest.approx(summary["test_accuracy"])
    assert custom_statistics([0.5], [0.2, 0.3, 0.4], 3) == {"mean": [0.5] * 3, "std": [0.2, 0.3, 0.4]}


def test_flips_on_digits_get_one_warning_naming_them(tmp_path, net, capsys):
    """A CIFAR recipe's flips on MNIST cost half a point silently (README); the run says so once, up front."""
    lines: list[str] = []
    flipped = RunConfig(
        model=net, data="digits", limit=200, epochs=1, augment=["crop", "altflip"], tta="flip,translate"
    )
    train(flipped, tmp_path / "flipped", log=lines.append)
    warned = [line for line in lines if "mirrored digit" in line]
    assert len(warned) == 1 and warned[0].startswith("warning: digits: ")
    assert (
        "--augment altflip and --tta flip,translate" in warned[0] and "--augment crop and --tta translate" in warned[0]
    )
    lines.clear()
    train(
        RunConfig(model=net, data="digits", limit=200, epochs=1, augment=["crop"], tta="translate"),
        tmp_path / "ok",
        log=lines.append,
    )
    assert lines and not [line for line in lines if "mirror" in line]
    # eval and predict say it for the views they test with, on stderr: their stdout stays the results alone
    digit = tmp_path / "digit.png"
    Image.fromarray(np.full((8, 8), 128, dtype=np.uint8)).save(digit)
    for command in (["eval", str(tmp_path / "ok")], ["predict", str(tmp_path / "ok"), str(digit)]):
        for views, warns in (("flip", True), ("translate", False), (None, False)):
            assert main([*command, *(["--tta", views] if views else [])]) == 0
            out, err = capsys.readouterr()
            assert ("--tta flip the net sees mirrored digits" in err) == warns and "warning" not in out, (command, err)
        assert main([*command[:1], str(tmp_path / "flipped"), *command[2:]]) == 0  # its own flip,translate views
        assert "--tta flip,translate the net sees" in capsys.readouterr().err
    assert "--augment flip and --tta flip" in flip_warning(RunConfig(data="mnist:parity", augment=["flip"], tta="flip"))
    # a task no longer registered (one made in a notebook) is judged by its base dataset, without an error
    assert mirror_safe("mnist:made-in-a-notebook") is False and mirror_safe("digits:parity") is False
    for photographs in ("cifar10", "fashion-mnist", "folder:photos"):  # a mirrored photograph keeps its class
        assert flip_warning(RunConfig(data=photographs, augment=["altflip"], tta="flip,translate")) is None


def test_flags_the_other_settings_leave_unused_get_a_warning_but_a_recipes_do_not(tmp_path, net, capsys):
    """`--momentum 0.5 --optimizer adam` trains without momentum: accepted, but said, naming what would use it;
    a setting an experiment file brings along (its SGD's momentum under an --optimizer adam) is not questioned."""
    recipe = write_toml(
        tmp_path / "sgd.toml",
        'optimizer = "sgd"\nmomentum = 0.8\nnesterov = true\nschedule = "step"\ngamma = 0.5\nlr = 0.05\n',
    )
    common = ["--model", net, "--data", "digits", "--limit", "200", "--epochs", "1", "--out"]
    assert main(["train", recipe, "--optimizer", "adam", "--schedule", "constant", *common, str(tmp_path / "a")]) == 0
    assert "warning" not in capsys.readouterr().err
    given = ["--momentum", "0.5", "--optimizer", "adam", "--gamma", "0.5", "--decay-per", "epoch"]
    assert main(["train", *given, *common, str(tmp_path / "b")]) == 0
    warned = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning: ")]
    assert warned == [
        "warning: --momentum does nothing with --optimizer adam: only --optimizer sgd or muon uses it; drop "
        "--momentum or give --optimizer sgd or muon",
        "warning: --gamma does nothing with --schedule constant: only --schedule step or exponential uses it; drop "
        "--gamma or give --schedule step or exponential",
        "warning: --decay-per does nothing with --schedule constant: only --schedule time uses it; drop --decay-per "
        "or give --schedule time",
    ]
    assert RunDir(tmp_path / "b").config().momentum == 0.5  # recorded as given: the run goes on as asked
    used = RunConfig(optimizer="muon", schedule="exponential", init="normal", nesterov=True)
    assert used.unused(["momentum", "muon_momentum", "nesterov", "gamma", "init_std", "lr", "epochs"]) == []
    assert RunConfig(optimizer="sgd", momentum=0, nesterov=True).unused(["nesterov"]) == [
        "--nesterov does nothing with --momentum 0: Nesterov's look-ahead is a momentum step; give a momentum "
        "(e.g. 0.9) or drop --nesterov"
    ]
    lonely = RunConfig(optimizer="sgd", schedule="step").unused(["muon_momentum", "decay", "init_std", "step_size"])
    assert [line.split(" does nothing")[0] for line in lonely] == ["--muon-momentum", "--decay", "--init-std"]


BUILD_AFTER_TENSORFLOW = """
import importlib.util, sys
{load}
import cnnlab
model = cnnlab.create_model("net:lenet-like")
triton = sys.modules.get("triton", "never imported")
print(type(model).__name__, "hidden" if triton is None else "loaded" if triton != "never imported" else triton)
"""


@pytest.mark.parametrize("real", [True, False], ids=["tensorflow", "a module of that name"])
def test_building_a_network_file_after_tensorflow_was_imported_does_not_abort(real):
    """A notebook that imported Keras, then built a network file (`create_model("net:lenet-like")`, which traces
    the file with torch.func and so loads TorchDynamo): its kernel died in LLVM, as training's did before."""
    if real and importlib.util.find_spec("tensorflow") is None:
        pytest.skip("TensorFlow is not installed (it is with cnnlab[bench])")
    fake = "sys.modules['tensorflow'] = importlib.util.module_from_spec(importlib.util.spec_from_loader('tensorflow', None, origin=importlib.util.__file__))"
    script = BUILD_AFTER_TENSORFLOW.format(load="import tensorflow" if real else fake)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.split()[1] == "hidden", r.stdout


# A notebook that ran Keras first: TensorFlow's LLVM and Triton's clash when Triton loads second (cnnlab.coexist).
AFTER_TENSORFLOW = """
import importlib.util, sys
{load}
from cnnlab.rundir import RunConfig
from cnnlab.train import train
summary = train(RunConfig(model="mlp", data="digits", epochs=1, limit=300), sys.argv[1], progress=False,
                log=lambda _: None)
triton = sys.modules.get("triton", "never imported")
print(summary["epochs_run"], "hidden" if triton is None else "loaded" if triton != "never imported" else triton)
"""


@pytest.mark.parametrize(
    "load, triton",
    [
        ("import tensorflow", "hidden"),  # the real clash: without the guard the process aborts in LLVM
        # the guard's own trigger where TensorFlow is not installed: a loaded module of that name, with a spec as
        # an imported module has (PyTorch's find_spec("tensorflow") checks raise on a module whose __spec__ is None)
        (
            "sys.modules['tensorflow'] = importlib.util.module_from_spec(importlib.util.spec_from_loader('tensorflow', None, origin=importlib.util.__file__))",
            "hidden",
        ),
        ("", "loaded" if importlib.util.find_spec("triton") else "never imported"),  # alone: Triton as usual
    ],
)
def test_training_after_tensorflow_was_imported_does_not_abort(tmp_path, load, triton):
    if load == "import tensorflow" and importlib.util.find_spec("tensorflow") is None:
        pytest.skip("TensorFlow is not installed (it is with cnnlab[bench])")
    script = AFTER_TENSORFLOW.format(load=load)
    r = subprocess.run([sys.executable, "-c", script, str(tmp_path / "run")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.split() == ["1", triton]
