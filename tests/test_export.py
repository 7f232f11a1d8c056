"""Export (#16): `cnnlab export RUN --format onnx|torchscript --out FILE` and `cnnlab predict MODEL.onnx IMAGE...`.

Real data throughout: CIFAR-10 test JPEGs read from the shared archive, MNIST test digits from the shared IDX file,
a LeNet-5 trained on real MNIST digits (with flip test-time augmentation, so the views travel into the graph).
Every zoo family's smallest member is exported and run on onnxruntime at batch 1 and 5 through the same file; the
onnxruntime predict path runs in a real subprocess that checks PyTorch was never imported.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from PIL import Image

from cnnlab.cli import main
from cnnlab.data.adapt import adapt as torch_adapt
from cnnlab.data.augment import to_inputs as torch_to_inputs
from cnnlab.errors import CnnlabError
from cnnlab.export.exporter import OPSET, export_model, export_run
from cnnlab.export.metadata import EXTRA_FILE, ModelCard
from cnnlab.export.pixels import adapt, to_inputs
from cnnlab.export.runtime import OnnxModel, predict_onnx
from cnnlab.rundir import RunConfig
from cnnlab.train import train
from cnnlab.train.inference import load_run, predict
from cnnlab.train.tta import logits as tta_logits
from cnnlab.zoo import create_model
from tests.conftest import DIGITS_NET, EXAMPLES, cli_as_terminal, shared_dataset, snapshot, write_toml

CLI = [sys.executable, "-m", "cnnlab"]
CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


def run_cli(*args: object, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture(scope="module")
def cifar(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, list[Path]]:
    """The first two CIFAR-10 test images of each class, as uint8 (20, 3, 32, 32) and as their JPEG files (the
    archive stores the test images first)."""
    folder = tmp_path_factory.mktemp("cifar")
    files = []
    with tarfile.open(shared_dataset("cifar10-jpg.tar.gz"), "r|gz") as tar:
        for member in tar:
            split, label, name = member.name.split("/")
            if split != "test":
                break
            if name in ("0000.jpg", "0001.jpg"):
                files.append(folder / f"{label}-{name}")
                files[-1].write_bytes(tar.extractfile(member).read())
    pixels = np.stack([np.asarray(Image.open(f).convert("RGB")).transpose(2, 0, 1) for f in files])
    return pixels, files


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, list[Path]]:
    """The first eight MNIST test digits, as uint8 (8, 1, 28, 28), three of them as PNG files and one more at
    twice the size (a file that must be resized, not padded)."""
    folder = tmp_path_factory.mktemp("digits")
    raw = gzip.decompress(shared_dataset("mnist/t10k-images-idx3-ubyte.gz").read_bytes())
    pixels = np.frombuffer(raw, np.uint8, count=8 * 28 * 28, offset=16).reshape(8, 1, 28, 28).copy()
    files = []
    for i in range(3):
        files.append(folder / f"digit{i}.png")
        Image.fromarray(pixels[i, 0]).save(files[-1])
    files.append(folder / "digit3-56px.png")
    Image.fromarray(pixels[3, 0]).resize((56, 56), Image.NEAREST).save(files[-1])
    return pixels, files


@pytest.fixture(scope="module")
def lenet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """LeNet-5 trained one epoch on 1,000 real MNIST digits (28x28 padded to 32x32), flip test-time augmentation."""
    tmp = tmp_path_factory.mktemp("lenet")
    config = RunConfig(
        model="lenet5",
        data="mnist",
        data_dir=str(shared_dataset("mnist").parent),
        limit=1000,
        epochs=1,
        val_split=0,
        seed=0,
        tta="flip",
    )
    train(config, tmp / "run", log=lambda _: None)
    return tmp / "run"


@pytest.fixture(scope="module")
def lenet_onnx(lenet: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The LeNet-5 run exported by `cnnlab export` (in this process): the file and what the command printed (stdout
    and stderr)."""
    path = tmp_path_factory.mktemp("lenet-onnx") / "lenet.onnx"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        assert main(["export", str(lenet), "--format", "onnx", "--out", str(path)]) == 0
    return path, printed.getvalue()


@pytest.fixture(scope="module")
def lenet_script(lenet: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ModelCard]:
    """The LeNet-5 run exported as TorchScript without its views (tta none), and the card export_run returned."""
    path = tmp_path_factory.mktemp("lenet-pt") / "lenet.pt"
    return path, export_run(lenet, path, "torchscript", tta="none")


# --- the NumPy twin of the preprocessing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source,target,mode",
    [
        ("cifar", (3, 224, 224), "resize"),  # upscaled
        ("cifar", (3, 17, 23), "resize"),  # shrunk, unequal factors
        ("cifar", (1, 28, 28), "resize"),  # RGB -> luma, shrunk
        ("cifar", (3, 40, 40), "pad"),
        ("digits", (3, 32, 32), "pad"),  # LeNet's padding, grey -> RGB
        ("digits", (1, 227, 227), "resize"),
    ],
)
def test_numpy_adaptation_is_the_torch_adaptation(request, source, target, mode) -> None:
    pixels = request.getfixturevalue(source)[0]
    expected = torch_adapt(torch.from_numpy(pixels), target, mode).numpy()
    assert np.array_equal(adapt(pixels, target, mode), expected)


@pytest.mark.parametrize("scale,stats", [(1 / 255, True), (1.0, True), (1 / 255, False)])
def test_numpy_scaling_is_the_torch_scaling(cifar, scale, stats) -> None:
    mean, std = (CIFAR_MEAN, CIFAR_STD) if stats else (None, None)
    expected = torch_to_inputs(torch.from_numpy(cifar[0]), scale, mean, std).numpy()
    got = to_inputs(cifar[0], scale, mean, std)
    assert got.dtype == np.float32 and np.allclose(got, expected, rtol=1e-6, atol=1e-6)


# --- every zoo family -----------------------------------------------------------------------------------------------

FAMILIES = [  # (model, input C,H,W, views): each family's smallest member at a small input it takes
    ("lenet5", (1, 32, 32), "none"),
    ("mnist-cnn", (1, 28, 28), "translate"),  # simple; digits take no mirror
    ("tutorial-net", (3, 32, 32), "none"),  # simple
    ("airbench-cifar-s", (3, 32, 32), "flip,translate"),  # airbench evaluates with these views
    ("alexnet", (3, 227, 227), "none"),
    ("vgg11_bn-cifar", (3, 32, 32), "none"),
    ("googlenet", (3, 64, 64), "none"),
    ("resnet18", (3, 64, 64), "none"),
    ("resnet20", (3, 32, 32), "flip"),  # resnet-cifar
    (str(EXAMPLES / "nets" / "lenet-like.toml"), (3, 32, 32), "none"),  # a TOML network
]


@pytest.mark.parametrize("name,shape,views", FAMILIES, ids=[Path(f[0]).stem for f in FAMILIES])
def test_every_family_exports_to_onnx_within_1e4(cifar, digits, tmp_path, name, shape, views) -> None:
    torch.manual_seed(0)
    model = create_model(name, num_classes=10, in_channels=shape[0]).eval()
    colour = shape[0] == 3
    source = cifar[0] if colour else digits[0]
    fits = all(t >= s for t, s in zip(shape[1:], source.shape[2:]))
    card = ModelCard(
        model=name,
        classes=[f"class {i}" for i in range(10)],
        input_shape=list(shape),
        channel_order="RGB" if colour else "L",
        pixel_scale=1 / 255,
        mean=list(CIFAR_MEAN) if colour else [0.1307],
        std=list(CIFAR_STD) if colour else [0.3081],
        adapt={"mode": "pad" if fits else "resize", "source_shape": list(source.shape[1:])},
        tta=views,
        opset=OPSET,
    )
    export_model(model, card, tmp_path / "m.onnx")

    exported = OnnxModel(tmp_path / "m.onnx")
    assert exported.card == card
    assert exported.session.get_inputs()[0].shape == ["batch", *shape]
    inputs = exported.to_input(adapt(source[:5], shape, card.adapt["mode"]))
    with torch.no_grad():
        expected = tta_logits(model, torch.from_numpy(inputs), views).numpy()
    for batch in (inputs[:1], inputs):  # batch 1 and batch 5 through the same file
        got = exported.logits(batch)
        assert got.shape == (len(batch), 10)
        np.testing.assert_allclose(got, expected[: len(batch)], rtol=0, atol=1e-4)


SAME_THEN_ADAPTIVE = """
input = [1, 12, 12]
[[layers]]
type = "conv"
filters = 3
kernel = 3
[[layers]]
type = "maxpool"
size = 2
padding = "same"
[[layers]]
type = "avgpool"
size = 2
padding = "same"
[[layers]]
type = "adaptive-maxpool"
output = OUT
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
units = 4
"""


def test_a_network_file_with_same_pools_before_an_adaptive_pool_exports(tmp_path, capfd) -> None:
    """10x10 after the conv: the max pool pads nothing (10 is even) and the average pool pads one column (5 is
    odd); a global pool after them exports and gives PyTorch's logits. An adaptive pool to 2x2 of a 3x3 map is
    beyond PyTorch's ONNX exporter: one line says so, and the graph dump the exporter prints goes nowhere."""
    card = ModelCard(model="net", classes=list("abcd"), input_shape=[1, 12, 12], channel_order="L", pixel_scale=1 / 255,
                     mean=None, std=None, adapt={"mode": None, "source_shape": [1, 12, 12]}, tta="none", opset=OPSET)  # fmt: skip
    model = create_model(write_toml(tmp_path / "g.toml", SAME_THEN_ADAPTIVE.replace("OUT", "1")))
    export_model(model, card, tmp_path / "g.onnx")
    x = torch.rand(3, 1, 12, 12)
    with torch.no_grad():
        want = model.eval()(x).numpy()
    np.testing.assert_allclose(OnnxModel(tmp_path / "g.onnx").logits(x.numpy()), want, rtol=0, atol=1e-5)
    capfd.readouterr()
    model = create_model(write_toml(tmp_path / "n.toml", SAME_THEN_ADAPTIVE.replace("OUT", "2")))
    with pytest.raises(CnnlabError, match=r"^cannot export net to ONNX: Unsupported: ONNX export of operator "
                       r"adaptive_max_pool2d, .*; try --format torchscript$"):  # fmt: skip
        export_model(model, card, tmp_path / "n.onnx")
    out, err = capfd.readouterr()
    assert out == "" and "graph" not in err and not (tmp_path / "n.onnx").exists()


# --- a trained run ----------------------------------------------------------------------------------------------------


def test_export_carries_the_runs_preprocessing_and_matches_its_probabilities(lenet, lenet_onnx, digits, cifar) -> None:
    run, path = load_run(lenet), lenet_onnx[0]
    exported = OnnxModel(path)
    card = exported.card
    assert card.tta == "flip" and card.classes == run.classes and card.input_shape == [1, 32, 32]
    assert card.adapt == {"source_shape": [1, 28, 28], "mode": "pad"} and card.channel_order == "L"
    assert card.pixel_scale == run.scale and card.opset == OPSET and card.mirror_safe is False  # digits
    assert (card.mean, card.std) == ((list(run.mean), list(run.std)) if run.mean else (None, None))
    props = {p.key: p.value for p in onnx.load(path).metadata_props}
    assert json.loads(props["cnnlab.classes"]) == run.classes and json.loads(props["cnnlab.tta"]) == "flip"

    files = [*digits[1], cifar[1][0]]  # padded digits, a larger digit shrunk then padded, an RGB photo made grey
    pixels = exported.read_images(files)
    assert np.array_equal(pixels, run.read_images(files).numpy())
    shrunk = np.asarray(Image.open(files[3]).resize((28, 28), Image.Resampling.BILINEAR))  # as a folder reads it
    assert np.array_equal(pixels[3, 0], np.pad(shrunk, 2))  # then framed as training framed every 28x28 digit
    expected = run.probabilities(torch.from_numpy(pixels)).numpy()
    np.testing.assert_allclose(exported.probabilities(pixels), expected, rtol=0, atol=1e-5)
    ours, theirs = predict_onnx(path, files, topk=3), predict(lenet, files, topk=3)
    assert [(r["image"], [c for c, _ in r["top"]]) for r in ours] == [
        (r["image"], [c for c, _ in r["top"]]) for r in theirs
    ]
    assert [p for r in ours for _, p in r["top"]] == pytest.approx([p for r in theirs for _, p in r["top"]], abs=1e-5)


FOLDER_NET = """
input = [3, 36, 36]
[[layers]]
type = "conv"
filters = 4
kernel = 3
activation = "relu"
[[layers]]
type = "adaptive-avgpool"
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
units = "num_classes"
"""


def test_predict_reads_an_odd_sized_file_of_a_folder_as_training_and_eval_did(cifar, tmp_path) -> None:
    """A folder's files of another size than its common one are shrunk to it on decoding (a JPEG at a reduced
    scale first), then fitted to the input (here padded 32 -> 36). predict and the exported model did the second
    step alone, stretching such a file to 36x36 with no frame: a different picture from the one `eval` scored."""
    root, (_, files) = tmp_path / "photos", cifar
    for i, f in enumerate(files[:16]):
        (root / "train" / f"c{i % 2}").mkdir(parents=True, exist_ok=True)
        Image.open(f).save(root / "train" / f"c{i % 2}" / f"{i}.png")
    big, small = root / "test" / "c0" / "big.jpg", root / "test" / "c1" / "small.png"
    big.parent.mkdir(parents=True), small.parent.mkdir(parents=True)
    Image.open(files[16]).resize((256, 256), Image.Resampling.BICUBIC).save(big, quality=90)
    Image.open(files[17]).resize((20, 20), Image.Resampling.BICUBIC).save(small)
    Image.open(files[18]).save(root / "test" / "c0" / "same.png")
    config = RunConfig(model=write_toml(tmp_path / "net.toml", FOLDER_NET), data=f"folder:{root}", resize="pad",
                       epochs=1, val_split=0, seed=0, tta="none")  # fmt: skip
    train(config, tmp_path / "run", log=lambda _: None)
    run = load_run(tmp_path / "run")
    assert run.adaptation == {"source_shape": [3, 32, 32], "mode": "pad"}
    test_x = run.data().test_x
    for f in (big, small, root / "test" / "c0" / "same.png"):
        seen = run.pixels(f)
        assert any(torch.equal(seen[0], x) for x in test_x), f.name  # the very pixels eval scored
        assert seen[0, :, :2].eq(0).all() and seen[0, :, -2:].eq(0).all(), f.name  # framed, not stretched
    export_run(tmp_path / "run", tmp_path / "m.onnx")
    assert np.array_equal(OnnxModel(tmp_path / "m.onnx").read_images([big, small]), run.pixels([big, small]).numpy())


def test_torchscript_export_carries_the_card_and_a_dynamic_batch(lenet, lenet_script, digits) -> None:
    run, (path, card) = load_run(lenet), lenet_script
    extra = {EXTRA_FILE: ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated in torch 2.14
        scripted = torch.jit.load(path, _extra_files=extra)
    assert ModelCard.from_props(json.loads(extra[EXTRA_FILE]), path.name) == card and card.tta == "none"
    assert card.views_warning(path.name) is None  # digits, but no flip among the views
    inputs = run.to_input(torch.from_numpy(adapt(digits[0], (1, 32, 32), "pad")))
    with torch.no_grad():
        for batch in (inputs[:1], inputs):
            torch.testing.assert_close(scripted(batch), run.model(batch), rtol=0, atol=1e-4)


def test_cli_predict_with_onnx_gives_the_runs_top_k_without_importing_torch(
    lenet, lenet_onnx, digits, cifar, capsys
) -> None:
    model, printed = lenet_onnx
    assert f"opset {OPSET}" in printed and "flip" in printed
    files = [*map(str, digits[1]), str(cifar[1][5])]
    script = (
        "import sys\n"
        "from cnnlab.cli import main\n"
        f"status = main(['predict', {str(model)!r}, *{files!r}, '--top', '3', '--tta', 'flip'])\n"
        "assert 'torch' not in sys.modules, 'predicting with an ONNX file imported torch'\n"
        "sys.exit(status)\n"
    )
    onnx_side = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert onnx_side.returncode == 0, onnx_side.stderr
    assert main(["predict", str(lenet), *files, "--top", "3"]) == 0  # the run, with PyTorch, in this process
    run_side = capsys.readouterr()
    assert len(onnx_side.stdout.splitlines()) == len(files)
    assert onnx_side.stdout == run_side.out
    # Digits under flip views: export, predict with the file and predict with the run each say so once, on stderr.
    mirrored = "a mirrored digit is no digit, or another one, so with --tta flip"
    assert printed.count(f"warning: {model}: {mirrored}") == 1 and "export the run again" in printed
    assert onnx_side.stderr.count(f"warning: {model}: {mirrored}") == 1 and run_side.err.count(mirrored) == 1


# --- bad input: one line, exit status 2, nothing damaged --------------------------------------------------------------


@pytest.fixture(scope="module")
def killed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run whose training process was killed (SIGKILL) in its first batch, before any checkpoint."""
    folder = tmp_path_factory.mktemp("killed")
    net, run = write_toml(folder / "net.toml", DIGITS_NET), folder / "run"
    env = {**os.environ, "CNNLAB_FAILPOINT": "batch:1"}
    r = run_cli("train", "--data", "digits", "--model", net, "--epochs", "1", "--limit", "100", "--out", run, env=env)
    assert r.returncode == -signal.SIGKILL and (run / "config.toml").is_file()
    return run


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory: pytest.TempPathFactory, lenet_onnx, lenet_script) -> dict[str, Path]:
    """A good export, and files that are not one: garbage, a truncated export, a TorchScript file, an ONNX model
    without cnnlab's metadata."""
    folder = tmp_path_factory.mktemp("bad-export")
    data = lenet_onnx[0].read_bytes()
    (folder / "good.onnx").write_bytes(data)
    (folder / "garbage.onnx").write_bytes(b"\x08\x07 not a protobuf " * 100)
    (folder / "truncated.onnx").write_bytes(data[: len(data) // 2])
    (folder / "scripted.pt").write_bytes(lenet_script[0].read_bytes())
    foreign = onnx.load_from_string(data)
    del foreign.metadata_props[:]
    (folder / "foreign.onnx").write_bytes(foreign.SerializeToString())
    (folder / "adir").mkdir()
    (folder / "adir" / "keep.txt").write_text("an existing folder's file")
    (folder / "file.txt").write_text("an existing file")
    return {p.stem: p for p in folder.iterdir()}


BAD = [  # (argv with {placeholders}, what the one error line must say)
    (["export", "{killed}", "--out", "{dir}/new.onnx"], "has no checkpoint yet"),
    (["export", "{lenet}", "--format", "tflite", "--out", "{dir}/new.onnx"], "--format 'tflite' is not one of onnx"),
    (["export", "{lenet}", "--out", "{adir}"], "is an existing folder, not a file"),
    (["export", "{lenet}", "--out", "{file}/new.onnx"], "is a file, not a folder"),
    (["export", "{lenet}", "--tta", "sideways", "--out", "{good}"], "--tta 'sideways' is not one of"),
    (["predict", "{garbage}", "{digit}"], "is not a readable ONNX model"),
    (["predict", "{truncated}", "{digit}"], "is not a readable ONNX model"),
    (
        ["predict", "{scripted}", "{digit}"],
        "is a TorchScript (or PyTorch) file, not ONNX: predict takes a run directory",
    ),
    (["predict", "{foreign}", "{digit}"], "has no cnnlab metadata"),
    (["predict", "{good}", "{digit}", "--tta", "none"], "has the test-time views 'flip' built in, not 'none'"),
    (["predict", "{good}", "{digit}", "--tta", "sideways"], "--tta 'sideways' is not one of"),
    (["predict", "{garbage}", "{digit}", "--tta", "flip"], "is not a readable ONNX model"),
    (["predict", "{good}", "{file}"], "is not a readable image"),
]


@pytest.mark.parametrize("argv,message", BAD, ids=[f"{a[0]}: {m}" for a, m in BAD])
def test_bad_export_input_is_one_line_and_damages_nothing(
    argv, message, lenet, killed, bad_files, digits, capsys
) -> None:
    places = {"lenet": lenet, "killed": killed, "dir": bad_files["good"].parent, "digit": digits[1][0], **bad_files}
    before = snapshot(lenet, killed, bad_files["good"].parent)
    code, _, err = cli_as_terminal([a.format_map({k: str(v) for k, v in places.items()}) for a in argv], capsys)
    assert code == 2 and err.startswith("cnnlab: error: ") and err.count("\n") == 1 and message in err, err
    assert snapshot(lenet, killed, bad_files["good"].parent) == before


def test_export_run_from_python_refuses_to_write_over_the_runs_own_files(lenet, tmp_path) -> None:
    """The library refuses what the CLI's --out does: export_run(run, run/"config.toml") once wrote the ONNX file
    over the run's config and lost the run; beside its files is fine."""
    before = snapshot(lenet)
    for own in ("config.toml", "checkpoints/model.onnx"):
        with pytest.raises(CnnlabError, match=f"{own} is one of the run .*'s own files or folders"):
            export_run(lenet, lenet / own)
    assert snapshot(lenet) == before
    export_run(lenet, tmp_path / "model.onnx")
    assert (tmp_path / "model.onnx").stat().st_size > 1000


def test_export_run_from_python_names_its_arguments(lenet, tmp_path) -> None:
    """export_run(run, out, fmt="tflite") said `--format 'tflite'`, and an out that is a folder `--out ...`: the
    command's flags, to a caller that gave fmt= and out=."""
    with pytest.raises(CnnlabError, match=r"^fmt 'tflite' is not one of onnx, torchscript$"):
        export_run(lenet, tmp_path / "m.tflite", fmt="tflite")
    with pytest.raises(CnnlabError, match=r"^out .* is an existing folder, not a file"):
        export_run(lenet, tmp_path)
    with pytest.raises(CnnlabError, match=r"^topk must be at least 1, got 0$"):
        predict_onnx(tmp_path / "model.onnx", [], topk=0)


def test_corrupt_onnx_to_predict_is_one_line_in_a_real_process(bad_files, digits) -> None:
    r = run_cli("predict", bad_files["truncated"], digits[1][0])
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith("cnnlab: error: ") and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def test_a_card_of_another_schema_is_refused_and_one_without_mirror_safe_reads_true(lenet_onnx) -> None:
    props = {p.key: p.value for p in onnx.load(lenet_onnx[0]).metadata_props}
    assert ModelCard.from_props({k: v for k, v in props.items() if k != "cnnlab.mirror_safe"}, "m.onnx").mirror_safe
    with pytest.raises(CnnlabError, match=r"schema 2, this cnnlab reads 1"):
        ModelCard.from_props({**props, "cnnlab.schema": "2"}, "m.onnx")


def test_equal_probabilities_list_their_classes_in_class_order(lenet) -> None:
    """Ties (a model unsure between classes) are listed in class order by the run and the exported file alike."""
    from cnnlab.train.inference import top_classes

    assert [c for c, _ in top_classes(torch.full((10,), 0.1), [str(i) for i in range(10)], 3)] == ["0", "1", "2"]


def test_exporting_a_model_in_training_mode_leaves_it_training(tmp_path) -> None:
    """Export runs the model in eval mode (running statistics, no dropout) and gives a notebook's model back in the
    mode it came in: a user exporting between epochs would otherwise train on with batch norm frozen."""
    model = create_model(write_toml(tmp_path / "n.toml", DIGITS_NET), num_classes=3).train()
    card = ModelCard(model="net", classes=list("abc"), input_shape=[1, 8, 8], channel_order="L", pixel_scale=1 / 255,
                     mean=None, std=None, adapt={"mode": None, "source_shape": [1, 8, 8]}, tta="none", opset=OPSET)  # fmt: skip
    export_model(model, card, tmp_path / "m.pt", fmt="torchscript")
    assert model.training
