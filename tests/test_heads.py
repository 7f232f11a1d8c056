"""Custom heads on zoo bases (#15): a network file starting from a zoo model's base, binary sigmoid heads, a final
softmax kept out of training, --freeze first:N and --match order, on real data, offline (torchvision-shaped
checkpoints are made locally)."""

from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import torchvision
from PIL import Image

from cnnlab.cli import main
from cnnlab.rundir import open_run
from cnnlab.train import RunConfig, train
from cnnlab.train.inference import load_run, predict
from cnnlab.train.setup import setup
from cnnlab.transfer import freeze, load_matching, resolve_source
from cnnlab.zoo import create_model
from cnnlab.zoo.base import Base
from cnnlab.zoo.heads import BinaryLogits, FinalActivation
from tests.conftest import DIGITS_NET, EXAMPLES, shared_dataset, write_toml

HEAD = """
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
units = "num_classes"
"""


def quiet(_: str) -> None:
    pass


def classifier_input(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """What a zoo model's final classifier (classifier or fc) receives for `x`."""
    seen = []
    last = model.classifier if hasattr(model, "classifier") else model.fc
    handle = last.register_forward_pre_hook(lambda _, args: seen.append(args[0]))
    model(x)
    handle.remove()
    return seen[0]


@pytest.mark.parametrize(
    "zoo, keep, size",
    [
        ("vgg11-cifar", "features", 32),
        ("resnet18-cifar", "before-classifier", 32),
        ("googlenet", "before-classifier", 32),  # its auxiliary classifiers are left out of the chain
    ],
)
def test_base_computes_what_the_zoo_model_feeds_its_classifier(tmp_path, zoo, keep, size):
    """The cut is the zoo model's own forward up to its classifier, and its weights load by name across `base.`."""
    net_path = write_toml(
        tmp_path / "net.toml", f'base = "{zoo}"\nkeep = "{keep}"\ninput = [3, {size}, {size}]\n' + HEAD
    )
    torch.manual_seed(0)
    model, net = create_model(zoo).eval(), create_model(net_path).eval()
    info = load_matching(net, model.state_dict(), zoo)
    base_tensors = [k for k in net.state_dict() if k.startswith("base.")]
    assert info["loaded"] == len(base_tensors) and isinstance(net.base, Base)
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        assert torch.allclose(net.base(x).flatten(1), classifier_input(model, x), atol=1e-5)
        assert net(x).shape == (2, 10)


def test_binary_head_is_binary_cross_entropy_on_one_logit(tmp_path):
    path = write_toml(
        tmp_path / "b.toml", DIGITS_NET.replace('units = "num_classes"', 'units = 1\nactivation = "sigmoid"')
    )
    torch.manual_seed(0)
    net = create_model(path, num_classes=2)
    assert isinstance(net[-1], BinaryLogits) and list(net.named_children())[-1][0] == "sigmoid1"
    x, y = torch.randn(64, 1, 8, 8), torch.randint(0, 2, (64,))
    z = net[:-1](x).squeeze(1)
    out = net(x)
    assert torch.allclose(F.cross_entropy(out, y), F.binary_cross_entropy_with_logits(z, y.float()), atol=1e-6)
    assert torch.allclose(out.softmax(1)[:, 1], torch.sigmoid(z), atol=1e-6)
    assert torch.equal(out.argmax(1), (z > 0).long())


def test_final_softmax_trains_on_logits_as_a_net_without_it(tmp_path):
    """The issue's trap: with a final softmax kept out of training, a run is the run of the same net without it,
    to the bit; the note is said once and predict reports probabilities."""
    plain = write_toml(tmp_path / "plain.toml", DIGITS_NET)
    soft = write_toml(tmp_path / "soft.toml", DIGITS_NET + 'activation = "softmax"\n')
    logs: list[str] = []
    a = train(RunConfig(model=plain, data="digits", epochs=2, limit=300), tmp_path / "plain", log=quiet)
    b = train(RunConfig(model=soft, data="digits", epochs=2, limit=300), tmp_path / "soft", log=logs.append)
    untimed = lambda run: [{k: v for k, v in row.items() if k != "seconds"} for row in open_run(run).metrics]
    assert untimed(tmp_path / "soft") == untimed(tmp_path / "plain")
    assert a["test_accuracy"] == b["test_accuracy"] > 0.3  # chance: 0.1
    assert len([line for line in logs if "final softmax (softmax1) is left out of training" in line]) == 1
    run = load_run(tmp_path / "soft")
    assert isinstance(run.model.softmax1, FinalActivation)
    probs = run.probabilities(run.data().test_x[:8])
    assert torch.allclose(probs.sum(1), torch.ones(8)) and (probs >= 0).all()


@pytest.fixture(scope="module")
def cats_dogs(tmp_path_factory) -> Path:
    """cats/ and dogs/ of real CIFAR-10 JPEGs resized to mixed sizes, plus a corrupt and a truncated file."""
    root = tmp_path_factory.mktemp("cats-dogs")
    wanted = {"test/cat/": root / "cats", "test/dog/": root / "dogs"}  # near the archive's start
    counts = dict.fromkeys(wanted, 0)
    with tarfile.open(shared_dataset("cifar10-jpg.tar.gz")) as tar:
        for member in tar:
            prefix = next((p for p in wanted if member.name.startswith(p)), None)
            if prefix is None or counts[prefix] >= 24:
                continue
            image = Image.open(io.BytesIO(tar.extractfile(member).read())).convert("RGB")
            side = (32, 48, 64, 40)[counts[prefix] % 4]
            wanted[prefix].mkdir(exist_ok=True)
            image.resize((side, side)).save(wanted[prefix] / Path(member.name).name)
            counts[prefix] += 1
            if min(counts.values()) >= 24:
                break
    (root / "cats" / "broken.jpg").write_bytes(b"not a jpeg at all")
    first = sorted((root / "dogs").iterdir())[0].read_bytes()
    (root / "dogs" / "truncated.jpg").write_bytes(first[:200])
    return root


@pytest.fixture
def vgg16_cache(tmp_path, monkeypatch) -> dict[str, torch.Tensor]:
    """A torch hub cache holding VGG16's ImageNet checkpoint file, made locally: torchvision's VGG16 feature
    tensors under their names and shapes (the classifier, unused by a base, is left out to keep it small)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("CNNLAB_OFFLINE", "1")
    resolve_source.cache_clear()
    torch.manual_seed(3)
    vgg = torchvision.models.vgg
    state = {f"features.{k}": v for k, v in vgg.make_layers(vgg.cfgs["D"]).state_dict().items()}
    path = tmp_path / "torch" / "hub" / "checkpoints" / "vgg16-397923af.pth"
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    yield state
    resolve_source.cache_clear()


def test_cats_vs_dogs_on_a_frozen_vgg16_base_end_to_end(tmp_path, cats_dogs, vgg16_cache, capsys):
    """The material's pipeline through the CLI: VGG16 features with ImageNet-shaped weights, frozen, under
    Flatten, Dense 256 ReLU, Dropout 0.5 and one sigmoid unit, on a folder of mixed-size JPEGs with bad files."""
    out = tmp_path / "run"
    material = (EXAMPLES / "nets" / "vgg16-cats-dogs.toml").read_text()
    net = write_toml(tmp_path / "vgg16-cats-dogs.toml", material.replace("[3, 224, 224]", "[3, 32, 32]"))
    argv = ["train", "--model", net, "--data", f"folder:{cats_dogs}", "--epochs", "1"]
    argv += ["--init-from", "torchvision:VGG16_Weights.IMAGENET1K_V1", "--freeze", "features", "--out", str(out)]
    assert main([*argv, "--batch-size", "16"]) == 0
    err = capsys.readouterr().err
    assert re.search(r"^warning: skipped 2 unreadable image\(s\) .*broken\.jpg.*truncated\.jpg$", err, re.M), err
    assert "init from torchvision:VGG16_Weights.IMAGENET1K_V1: 26 tensors loaded" in err
    assert "one sigmoid unit (sigmoid1): trained with binary cross-entropy" in err
    run = open_run(out)
    assert run.classes == ["cats", "dogs"] and run.summary["train_size"] + run.summary["val_size"] == 48
    head = 512 * 256 + 256 + 256 + 1
    assert run.summary["trainable_params"] == head and run.summary["frozen_params"] == 14_714_688
    weights = open_run(out, "last").weights
    assert all(torch.equal(weights["base." + k], v) for k, v in vgg16_cache.items())  # the base stayed frozen
    assert 0 <= run.summary["val_accuracy"] <= 1 and run.summary["train_loss"] < 5
    images = [str(cats_dogs / "cats" / name) for name in sorted(p.name for p in (cats_dogs / "cats").iterdir())[:2]]
    results = predict(out, images, topk=2)
    assert all(
        abs(sum(p for _, p in r["top"]) - 1) < 1e-5 and {c for c, _ in r["top"]} == {"cats", "dogs"} for r in results
    )
    assert main(["summary", net]) == 0
    text = capsys.readouterr().out
    assert "Base: vgg16's features (row base, 14,714,688 params, tensors base.*); head: flatten1, fc1" in text
    assert "BinaryLogits" in text and "  base.features.28  Conv2d" in text


@pytest.fixture
def resnet18_cache(tmp_path, monkeypatch) -> dict[str, torch.Tensor]:
    """A torch hub cache holding ResNet-18's ImageNet checkpoint file, made locally: torchvision's tensors under
    their names and shapes, the batch norms' running statistics set away from a fresh layer's 0 and 1."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("CNNLAB_OFFLINE", "1")
    resolve_source.cache_clear()
    torch.manual_seed(5)
    state = torchvision.models.resnet18().state_dict()
    for k in [k for k in state if k.endswith(("running_mean", "running_var"))]:
        state[k] = torch.rand_like(state[k]) + 0.5
    path = tmp_path / "torch" / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    yield state
    resolve_source.cache_clear()


RESNET18_BN_HEAD = """
base = "resnet18"
keep = "before-classifier"
input = [3, 32, 32]
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
units = 64
activation = "relu"
[[layers]]
type = "batchnorm"
[[layers]]
type = "dense"
units = "num_classes"
"""


def test_a_head_with_a_batchnorm_on_a_resnet_base_gets_none_of_the_stems_on_grey_digits(tmp_path, resnet18_cache):
    """The head's first batch norm is named bn1, as ResNet's stem batch norm is: the stem's ImageNet statistics
    went into the head and the base's bn1 stayed fresh (mean 0, var 1), frozen so for good. And the network
    file's 3 input channels gave way to the digits' 1, so the pretrained stem conv was dropped and the ImageNet
    mean/std (3 values) crashed the first batch: a file's input decides its channels as it does its size."""
    net = write_toml(tmp_path / "head.toml", RESNET18_BN_HEAD)
    weights = "torchvision:ResNet18_Weights.IMAGENET1K_V1"
    logs: list[str] = []
    config = RunConfig(model=net, data="digits", limit=40, val_split=0, init_from=weights, freeze="features")
    s = setup(config.validate(), log=logs.append)
    own = s.model.state_dict()
    assert all(torch.equal(own["base." + k], v) for k, v in resnet18_cache.items() if not k.startswith("fc."))
    assert own["bn1.running_var"].shape == (64,) and torch.equal(own["bn1.running_mean"], torch.zeros(64))
    assert s.data.input_shape == (3, 32, 32) and s.transfer["not_in_source"] == []
    line = next(m for m in logs if m.startswith("init from"))
    assert line == f"init from {weights}: 120 tensors loaded", line  # fc, not kept by the base, is not offered
    train(config, tmp_path / "run", log=quiet)  # the first batch used to crash on the 3-value mean
    assert open_run(tmp_path / "run").summary["stopped"] == "completed"
    back = setup(RunConfig(model="resnet18", data="digits", limit=20, init_from=str(tmp_path / "run")), log=quiet)
    trained = open_run(tmp_path / "run").weights  # and back: the base's bn1 into resnet18's, not the head's
    assert torch.equal(back.model.state_dict()["bn1.running_mean"], trained["base.bn1.running_mean"])


def test_weights_made_for_another_resnet_are_said_to_fit_in_part(tmp_path, resnet18_cache):
    """resnet18's weights load into a resnet34 by name (all 120 fit) without an error, leaving its other blocks
    fresh; the line said only `120 tensors loaded`."""
    logs: list[str] = []
    config = RunConfig(model="resnet34", data="digits", limit=20, val_split=0, input=[3, 32, 32],
                       init_from="torchvision:ResNet18_Weights.IMAGENET1K_V1")  # fmt: skip
    setup(config.validate(), log=logs.append)
    line = next(m for m in logs if m.startswith("init from"))
    assert "head re-initialised (fc.bias, fc.weight); the weights were made for resnet18; 80 of" in line, line
    assert re.search(
        r"; 80 of the model's tensors are not in the source and keep their initialisation \(layer1\.2\.", line
    )


def test_match_order_grows_vgg16_from_a_trained_vgg11(tmp_path):
    """The VGG paper's initialisation of a deeper net from config A: layers mapped by position among those with
    the same tensor shapes (a conv's bias never lands in a dense layer of the same width), reported, and equal to
    the source's."""
    tiny = {"data": "digits", "limit": 20, "val_split": 0, "input": [1, 32, 32]}
    train(RunConfig(model="vgg11-cifar", epochs=1, batch_size=20, **tiny), tmp_path / "a", log=quiet)
    logs: list[str] = []
    config = RunConfig(model="vgg16-cifar", init_from=str(tmp_path / "a"), match="order", **tiny)
    s = setup(config.validate(), log=logs.append)
    a_convs, d_convs = (0, 3, 6, 8, 11, 13, 16, 18), (0, 5, 10, 12, 17, 19, 21, 24)  # D's 1st, 3rd, 5th, 6th, 8th-10th
    layers = {f"features.{a}": f"features.{d}" for a, d in zip(a_convs, d_convs)}
    layers.update({"classifier.0": "classifier.0", "classifier.3": "classifier.3"})
    assert s.transfer["mapped"] == {f"{a}.{r}": f"{d}.{r}" for a, d in layers.items() for r in ("weight", "bias")}
    source, own = open_run(tmp_path / "a").weights, s.model.state_dict()
    assert all(torch.equal(own[target], source[k]) for k, target in s.transfer["mapped"].items())
    unmapped = sorted(f"features.{i}.{r}" for i in (2, 7, 14, 26, 28) for r in ("bias", "weight"))
    assert s.transfer["missing"] == unmapped
    assert "by order: 0 of the source's left unused, 10 of the model's keep their initialisation" in logs[-1]
    assert "\n  features.3.weight -> features.5.weight" in logs[-1]


def test_freeze_first_n_layers_with_parameters():
    """Keras' `for layer in vgg19.layers[:10]: layer.trainable = False` counts the input and pooling layers too:
    its first 10 are 7 convs, --freeze first:7 here."""
    model = create_model("vgg19-cifar")
    freeze(model, "first:7")
    convs = [m for m in model.features if isinstance(m, torch.nn.Conv2d)]
    assert [m.weight.requires_grad for m in convs] == [False] * 7 + [True] * 9
    assert all(p.requires_grad for p in model.classifier.parameters())


BAD_NETS = {
    "not-zoo": ('base = "vgg61"\n' + HEAD, "base 'vgg61' is not a zoo model; did you mean vgg19, vgg16"),
    "not-cuttable": ('base = "lenet5"\n' + HEAD, "base 'lenet5' cannot be cut into a base"),
    "bad-keep": ('base = "vgg11-cifar"\nkeep = "everything"\n' + HEAD, "keep = 'everything' is not one of features"),
    "keep-alone": ('keep = "features"\n' + DIGITS_NET, "keep = 'features' without a base"),
    "sigmoid-10": (
        DIGITS_NET.replace('"num_classes"', '1\nactivation = "sigmoid"'),
        "one-unit sigmoid head tells two classes apart, but there are 10",
    ),
    "softmax-1": (
        DIGITS_NET.replace('"num_classes"', '1\nactivation = "softmax"'),
        "a softmax over one unit is always 1",
    ),
}


@pytest.mark.parametrize("case", BAD_NETS)
def test_bad_heads_are_one_line_errors(tmp_path, capsys, case):
    text, expected = BAD_NETS[case]
    net = write_toml(tmp_path / "net.toml", text)
    out = tmp_path / "out"
    assert main(["train", "--model", net, "--data", "digits", "--epochs", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0] and "Traceback" not in err[0], err
    assert not out.exists()


def test_bad_freeze_and_match_are_one_line_errors(tmp_path, capsys):
    from safetensors.torch import save_file

    odd = tmp_path / "odd.safetensors"
    save_file({"w": torch.zeros(3, 7, 11)}, str(odd))
    out = str(tmp_path / "out")
    base = ["train", "--model", "mnist-cnn", "--data", "digits", "--epochs", "1", "--out", out]
    for extra, expected in (
        (["--freeze", "first:0"], "--freeze 'first:0' is not one of none, features, all-but-last:N or first:N"),
        (["--freeze", "first:5"], "--freeze first:5: the model has only 5 layers with parameters; first:N must"),
        (["--init-from", str(odd), "--match", "order"], "none of the source's 1 tensors has the shape of one"),
        (["--match", "order"], "--match order needs --init-from"),
    ):
        assert main(base + extra) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and expected in err[0], err
        assert not Path(out).exists()


def test_order_matching_takes_layer_numbers_as_numbers() -> None:
    """features.10 comes after features.2, not before it as text sorts them."""
    from cnnlab.transfer.order import match_by_order

    t = torch.zeros(2)
    pairs = match_by_order({"a.2.weight": t, "a.10.weight": t}, {"b.3.weight": t, "b.4.weight": t})
    assert pairs == {"a.2.weight": "b.3.weight", "a.10.weight": "b.4.weight"}
