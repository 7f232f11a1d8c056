"""Transfer learning on real data: torchvision-format weights built locally (no network), run-to-run transfer,
freeze policies, head replacement, separate head learning rate, preprocessing carried with the weights."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import pytest
import torch
import torchvision

from cnnlab.errors import CnnlabError
from cnnlab.rundir import open_run
from cnnlab.train import RunConfig, train
from cnnlab.transfer import freeze, parameter_groups, resolve_source
from cnnlab.zoo import create_model

IMAGENET_MEAN = [0.485, 0.456, 0.406]


def quiet(_: str) -> None:
    pass


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """A torch hub cache holding a torchvision-format resnet18 checkpoint under its canonical file name."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("CNNLAB_OFFLINE", "1")
    resolve_source.cache_clear()
    torch.manual_seed(7)
    state = torchvision.models.resnet18().state_dict()
    for k, v in state.items():  # non-trivial BN statistics, so freezing them is observable
        if k.endswith("running_var"):
            v.uniform_(0.5, 2.0)
    path = tmp_path / "torch" / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    yield state
    resolve_source.cache_clear()


def test_torchvision_weights_feature_extraction(tmp_path, torch_home):
    logs: list[str] = []
    s = train(
        RunConfig(
            model="resnet18",
            data="digits",
            init_from="torchvision:ResNet18_Weights.IMAGENET1K_V1",
            freeze="features",
            input=[3, 32, 32],
            limit=300,
            epochs=1,
            batch_size=32,
        ),
        tmp_path / "tv",
        log=logs.append,
    )
    assert s["transfer"]["replaced"] == ["fc.bias", "fc.weight"] and s["transfer"]["loaded"] == len(torch_home) - 2
    assert s["trainable_params"] == 512 * 10 + 10 and s["frozen_params"] == s["params"] - 5130
    last = open_run(tmp_path / "tv", "last")
    weights = last.weights
    for k in ("conv1.weight", "layer4.1.conv2.weight", "layer1.0.bn1.running_var", "layer1.0.bn1.running_mean"):
        assert torch.equal(weights[k], torch_home[k]), k  # frozen layers and their BN statistics are untouched
    meta = last.meta
    assert meta["mean"] == IMAGENET_MEAN and meta["input_shape"] == [3, 32, 32]  # ImageNet statistics travel along
    assert any("head re-initialised (fc.bias, fc.weight)" in line for line in logs)


def test_imagenet_weights_default_to_224_and_warn_about_raw_pixels(tmp_path, torch_home):
    from cnnlab.train.setup import prepare

    data, model, _ = prepare(
        RunConfig(model="resnet18", data="digits", limit=10, init_from="torchvision:ResNet18_Weights.IMAGENET1K_V1")
    )
    assert tuple(data.input_shape) == (3, 224, 224)
    source = resolve_source("torchvision:ResNet18_Weights.IMAGENET1K_V1")
    warnings = source.mismatches("raw", False, "auto")
    assert len(warnings) == 2 and "expect pixels in 0..1 but this run feeds raw 0-255" in warnings[0]
    assert source.mismatches("raw", True, "auto") == []  # standardised with ImageNet's statistics: the same inputs


def test_offline_without_cached_weights_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    monkeypatch.setenv("CNNLAB_OFFLINE", "1")
    resolve_source.cache_clear()
    with pytest.raises(CnnlabError) as e:
        train(
            RunConfig(model="vgg16", data="digits", init_from="torchvision:VGG16_Weights.IMAGENET1K_V1"),
            tmp_path / "run",
            log=quiet,
        )
    text = str(e.value)
    assert "vgg16-397923af.pth" in text and str(tmp_path / "empty") in text and "\n" not in text
    assert not (tmp_path / "run").exists()
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "cnnlab.cli",
            "train",
            "--model",
            "resnet18",
            "--init-from",
            "torchvision:ResNet18_Weights.NOPE",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and "unknown torchvision weights" in r.stderr and "Traceback" not in r.stderr


def test_run_to_run_transfer_digits_to_parity_three_ways(tmp_path):
    base = {"data": "digits:parity", "epochs": 2, "seed": 1}
    source = train(RunConfig(model="mnist-cnn", data="digits", epochs=3, seed=1), tmp_path / "digits", log=quiet)
    scratch = train(RunConfig(model="mnist-cnn", **base), tmp_path / "scratch", log=quiet)
    frozen = train(
        RunConfig(model="mnist-cnn", init_from=str(tmp_path / "digits"), freeze="features", **base),
        tmp_path / "frozen",
        log=quiet,
    )
    tuned = train(
        RunConfig(model="mnist-cnn", init_from=str(tmp_path / "digits"), head_lr=3e-3, **base),
        tmp_path / "tuned",
        log=quiet,
    )
    assert frozen["transfer"]["replaced"] == ["fc2.bias", "fc2.weight"] and frozen["classes"] == ["even", "odd"]
    src = open_run(tmp_path / "digits").weights
    got = open_run(tmp_path / "frozen", "last").weights
    assert torch.equal(src["conv3.weight"], got["conv3.weight"]) and not torch.equal(
        src["fc1.weight"], got["fc1.weight"]
    )
    assert frozen["trainable_params"] == 1152 * 128 + 128 + 128 * 2 + 2
    assert tuned["frozen_params"] == 0 and source["test_accuracy"] > 0.8
    # transferred features beat the same two epochs from scratch on the new task
    assert max(frozen["test_accuracy"], tuned["test_accuracy"]) > scratch["test_accuracy"]


def test_freeze_policies_and_head_learning_rate():
    model = create_model("vgg11_bn-cifar")
    freeze(model, "features")
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith("classifier") for n in trainable)
    freeze(model, "all-but-last:2")
    assert len([p for p in model.parameters() if p.requires_grad]) == 4  # two layers, weight + bias each
    freeze(model, "none")
    groups = parameter_groups(model, head_lr=0.1)
    assert len(groups) == 2 and groups[1]["lr"] == 0.1
    assert sum(p.numel() for g in groups for p in g["params"]) == sum(p.numel() for p in model.parameters())
    for bad in ("some", "all-but-last:0", "all-but-last:x"):
        with pytest.raises(CnnlabError, match="^freeze"):
            freeze(model, bad)
    # a model of dense layers only has no features: freezing them would freeze nothing, silently
    with pytest.raises(CnnlabError, match=r"^freeze features: every layer with parameters is dense, so there are no"):
        freeze(create_model("mlp"), "features")


def test_wrong_architecture_is_refused(tmp_path, torch_home):
    with pytest.raises(CnnlabError, match="only .* tensors match"):
        train(
            RunConfig(
                model="mnist-cnn",
                data="digits",
                init_from="torchvision:ResNet18_Weights.IMAGENET1K_V1",
                input=[1, 28, 28],
            ),
            tmp_path / "bad",
            log=quiet,
        )
    assert not (tmp_path / "bad").exists()  # a run that could not start leaves no directory behind


def test_a_hostile_cached_weights_file_is_one_line_and_runs_nothing(tmp_path):
    """A pickle in the hub cache under torchvision's file name that would run a command: refused in exactly one
    line by a real process (torch's own warnings reach its stderr, where pytest's capture would hide them)."""
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    cache = tmp_path / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    (cache / "resnet18-f37072fd.pth").write_bytes(pickle.dumps({"fc.weight": Evil()}))
    r = subprocess.run(
        [sys.executable, "-m", "cnnlab.cli", "train", "--model", "resnet18", "--data", "digits"]
        + ["--init-from", "torchvision:ResNet18_Weights.IMAGENET1K_V1", "--out", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TORCH_HOME": str(tmp_path / "torch"), "CNNLAB_OFFLINE": "1"},
    )
    lines = [line for line in r.stderr.strip().splitlines() if not line.startswith("data: ")]  # how digits fit
    assert r.returncode == 2 and len(lines) == 1 and "is not a readable checkpoint" in lines[0], r.stderr
    assert not marker.exists() and not (tmp_path / "run").exists()


def test_safetensors_file_source_and_a_corrupt_one(tmp_path):
    from safetensors.torch import save_file

    train(RunConfig(model="mnist-cnn", data="digits", epochs=1), tmp_path / "src", log=quiet)
    save_file(open_run(tmp_path / "src").weights, str(tmp_path / "w.safetensors"))
    s = train(
        RunConfig(model="mnist-cnn", data="digits:parity", epochs=1, init_from=str(tmp_path / "w.safetensors")),
        tmp_path / "from-file",
        log=quiet,
    )
    assert s["transfer"]["replaced"] == ["fc2.bias", "fc2.weight"] and s["transfer"]["loaded"] == 8
    # The finished run stands alone: eval (a new process, no cached source) works with the source file gone.
    (tmp_path / "w.safetensors").unlink()
    r = subprocess.run(
        [sys.executable, "-m", "cnnlab.cli", "eval", str(tmp_path / "from-file")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0 and f"test accuracy: {s['test_accuracy']:.4f}" in r.stdout, r.stderr
    (tmp_path / "bad.safetensors").write_bytes(b"garbage")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "cnnlab.cli",
            "train",
            "--model",
            "mnist-cnn",
            "--data",
            "digits",
            "--init-from",
            str(tmp_path / "bad.safetensors"),
            "--out",
            str(tmp_path / "bad"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr and "is not a readable checkpoint" in r.stderr
    assert not (tmp_path / "bad").exists()  # a run that could not start leaves no directory behind


def test_torchvision_weights_download_over_http_is_checked_against_the_hash_in_their_name(tmp_path, monkeypatch):
    """The real download code against a real HTTP server on 127.0.0.1 ($CNNLAB_DOWNLOAD_MIRROR): a file served as
    resnet18-f37072fd.pth whose sha256 does not start with f37072fd is refused in one line and never reaches the
    hub cache; with the server gone the error says which file to put where."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    served = tmp_path / "mirror"
    served.mkdir()
    torch.save(torchvision.models.resnet18().state_dict(), served / "resnet18-f37072fd.pth")
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(served))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("CNNLAB_DOWNLOAD_MIRROR", f"http://127.0.0.1:{server.server_address[1]}/")
    monkeypatch.delenv("CNNLAB_OFFLINE", raising=False)
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    try:
        resolve_source.cache_clear()
        with pytest.raises(CnnlabError, match="checksum mismatch for http://127.0.0.1:") as e:
            resolve_source("torchvision:ResNet18_Weights.IMAGENET1K_V1")
        assert "\n" not in str(e.value) and f"copy it to {cache / 'resnet18-f37072fd.pth'}" in str(e.value)
        assert not cache.exists() or not any(cache.iterdir())  # nothing half-written, nothing unverified
    finally:
        server.shutdown()
        server.server_close()
        resolve_source.cache_clear()


def test_training_mode_keeps_a_frozen_backbones_batch_norm_in_eval_and_the_head_training() -> None:
    """Keras' frozen BatchNormalization: its running statistics must not move while the head trains."""
    from torch import nn

    from cnnlab.transfer.apply import train_mode

    model = create_model("vgg11_bn-cifar")
    freeze(model, "features")
    model.eval()
    train_mode(model, freeze_bn=False)
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and not any(m.training for m in norms) and model.classifier.training
