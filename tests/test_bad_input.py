"""Bad input to every command (#13): one line on stderr starting `cnnlab: error:`, exit status 2, no traceback, and
every file already there (a trained run, the inputs) unchanged byte for byte.

The CLI runs in-process (cnnlab.cli.main with capsys) against one tiny real run trained once; a few cases go through
a real `python -m cnnlab` subprocess to show no traceback reaches a terminal. Bombs are real files: PNGs that claim
gigapixels in a few KB, gzip tars that unpack to 1000x their size (checked against lowered caps so the test stays
small), a folder dataset with a symlink loop, a read-only and a full file system (tmpfs mounts).
"""

from __future__ import annotations

import errno
import io
import re
import struct
import subprocess
import sys
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import optuna
import pytest
from PIL import Image
from torch import nn

from cnnlab.analysis.fits import check_fits
from cnnlab.cli import main
from cnnlab.data import safe_extract, sources
from cnnlab.errors import CnnlabError
from cnnlab.tune import load_space
from cnnlab.tune.objective import run_trial
from cnnlab.zoo import create_model, registry
from tests.conftest import DIGITS_NET, cli_as_terminal, snapshot, write_toml

ERROR_LINE = re.compile(r"^cnnlab: error: ")  # ours and argparse's alike (it said "cnnlab train: error: ...")


# --- real bad files ------------------------------------------------------------------------------------------------


def png_bomb(path: Path, width: int, height: int) -> Path:
    """A valid all-black 1-bit PNG of width x height pixels, a few KB on disk: the header is all a decoder needs
    to start allocating width * height bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    z = zlib.compressobj(9)
    row = bytes(1 + (width + 7) // 8)  # filter byte + packed bits
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def tar_bomb(path: Path, members: dict[str, int]) -> Path:
    """A .tar.gz whose members are runs of zeros of the given sizes: ~1000x smaller packed than unpacked."""
    with tarfile.open(path, "w:gz") as tf:
        for name, size in members.items():
            info = tarfile.TarInfo(name)
            info.size = size
            tf.addfile(info, io.BytesIO(bytes(size)))
    return path


def image(path: Path, shade: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (8, 8), shade).save(path)
    return path


def nested_residuals(depth: int, inline: bool) -> str:
    """A network with residual blocks nested `depth` deep, as inline tables or as [[layers.layers...]] headers."""
    if inline:
        text = '{type = "relu"}'
        for _ in range(depth):
            text = f'{{type = "residual", layers = [{text}]}}'
        return f"input = [1, 8, 8]\nlayers = [{text}]\n"
    lines, key = ["input = [1, 8, 8]", "[[layers]]", 'type = "residual"'], "layers"
    for level in range(depth):
        key += ".layers"
        lines += [f"[[{key}]]", 'type = "residual"' if level < depth - 1 else 'type = "relu"']
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class World:
    run: Path  # a trained run directory (mnist-cnn, one epoch on 200 digits)
    inp: Path  # the bad (and a few good) input files
    scratch: Path  # data root and cache for the commands, so nothing lands in the user's cache


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    base = tmp_path_factory.mktemp("bad-input")
    inp, scratch, run = base / "in", base / "scratch", base / "run"
    inp.mkdir()
    mp = pytest.MonkeyPatch()
    mp.setenv("XDG_CACHE_HOME", str(scratch / "cache"))
    mp.setenv("CNNLAB_DATA", str(scratch / "data"))
    assert (
        main(
            ["train", "--data", "digits", "--model", "mnist-cnn", "--epochs", "1", "--limit", "200", "--out", str(run)]
        )
        == 0
    )
    image(inp / "ok.png")
    (inp / "fake.png").write_text("not an image")
    (inp / "file.txt").write_text("an existing file")
    (inp / "adir").mkdir()
    (inp / "adir" / "keep.txt").write_text("an existing folder's file")
    png_bomb(inp / "bomb.png", 20_000, 20_000)  # 400 Mpixel: over twice Pillow's cap, which Pillow refuses itself
    png_bomb(inp / "bomb1.png", 10_000, 10_000)  # 100 Mpixel: over the cap, where Pillow only warns
    assert (inp / "bomb.png").stat().st_size < 100_000
    files = {
        "bad.toml": "x = [",
        "neg.toml": 'input = [1, 8, 8]\n[[layers]]\ntype = "conv"\nfilters = -1\n',
        "empty.toml": "input = [1, 8, 8]\nlayers = []\n",
        "five.toml": 'input = [1, 8, 8]\n[[layers]]\ntype = "flatten"\n[[layers]]\ntype = "dense"\nunits = 5\n',
        "classes.toml": 'input = [1, 8, 8]\nnum_classes = "ten"\n[[layers]]\ntype = "flatten"\n',
        "deep-inline.toml": nested_residuals(400, inline=True),
        "deep-tables.toml": nested_residuals(400, inline=False),
        # ten million filters: parameters alone are 1.1 GB; activations at 1000x1000 make it 40 TB
        "huge.toml": 'input = [3, 1000, 1000]\n[[layers]]\ntype = "conv"\nfilters = 10_000_000\nkernel = 3\n',
        "exp.toml": 'model = "mlp"\ndata = "digits"\ncolour = "blue"\n',
        "study-model.toml": '[defaults]\ndata = "digits"\nepochs = 1\n[[runs]]\nname = "a"\nmodel = "lenet-7"\n',
        "study.toml": '[defaults]\ndata = "digits"\nmodel = "mlp"\nepochs = 1\n[[runs]]\nname = "a"\n',
        "study-data.toml": '[defaults]\nmodel = "mlp"\n[[runs]]\nname = "a"\ndata = "digits"\n[[runs]]\nname = "b"\n'
        'data = "{data_dir}/nope"\n',
        "table.md": "| layer | params |\n|---|---|\n| conv1 | 608 |\n",
        "net.toml": DIGITS_NET,
        # misspelt keys, once silently ignored (#17)
        "inputs.toml": DIGITS_NET.replace("input =", "inputs ="),
        "classes-typo.toml": "num_clases = 10\n" + DIGITS_NET,
        "exp-typo.toml": 'model = "mlp"\ndata = "digits"\nepoch = 1\n',
        "study-typo.toml": 'titel = "x"\n[defaults]\ndata = "digits"\nmodel = "mlp"\n[[runs]]\nname = "a"\n',
        "study-recipe.toml": '[defaults]\ndata = "digits"\n[[runs]]\nname = "a"\nrecipe = "recipe:nope"\n',
        "space-typo.toml": "[trian]\nepochs = 1\n",
        # an experiment file that starts from another (recipe = ...): loops, missing or wrong files, typos in a base
        "ext-self.toml": 'recipe = "ext-self.toml"\nepochs = 1\n',
        "ext-a.toml": 'recipe = "ext-b.toml"\nepochs = 1\n',
        "ext-b.toml": 'recipe = "ext-a.toml"\nlr = 0.1\n',
        "ext-missing.toml": 'recipe = "nowhere.toml"\nepochs = 1\n',
        "ext-number.toml": "recipe = 3\nepochs = 1\n",
        "ext-study.toml": 'recipe = "study:parity"\n',
        "ext-typo.toml": 'recipe = "exp-typo.toml"\nlr = 0.1\n',
        "study-ext.toml": '[defaults]\ndata = "digits"\n[[runs]]\nname = "a"\nrecipe = "ext-a.toml"\n',
    }
    for name, text in files.items():
        (inp / name).write_text(text)
    for folder, name, text in (("tuned", "study.toml", 'study = "s"\n'), ("compared", "study.json", "{}")):
        (inp / folder).mkdir()
        (inp / folder / name).write_text(text)  # as `cnnlab tune` and `cnnlab compare` leave their folders
    for c in ("a", "b"):
        image(inp / "loop" / c / "0.png")
        image(inp / "loop" / c / "1.png", 255)
    (inp / "loop" / "a" / "up").symlink_to("..")  # loop/a/up/a/up/... never ends
    image(inp / "one" / "cat" / "0.png")
    image(inp / "one" / "cat" / "1.png", 255)
    four_mib = 4 << 20
    tar_bomb(inp / "member-bomb.tar.gz", {"a/0.png": 100, "b/0.png": four_mib})
    tar_bomb(inp / "total-bomb.tar.gz", {f"{c}/{i}.png": 300_000 for c in "ab" for i in range(3)})
    with zipfile.ZipFile(inp / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a/0.png", bytes(four_mib))
        zf.writestr("b/0.png", b"x")
    assert (inp / "member-bomb.tar.gz").stat().st_size < 20_000
    yield World(run, inp, scratch)
    mp.undo()


def assert_one_line_error(code: int | None, err: str, expected: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2, err
    assert "Traceback" not in err, err
    assert len(lines) == 1 and ERROR_LINE.match(lines[0]), err
    assert expected in lines[0], err


def run_main(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int | None, str]:
    code, _, err = cli_as_terminal(argv, capsys)
    return code, err


# --- the table: argv with {run}, {in}, {out} (a fresh path that must stay absent), {ro} and {full} -------------------

LOWER_MEMBER_CAP = {"MAX_MEMBER_BYTES": 1 << 20}  # the 4 MiB member is over it
LOWER_TOTAL_CAP = {"MAX_TOTAL_BYTES": 1 << 20}  # six 300 kB members are over it together
TRAIN = ["train", "--data", "digits", "--epochs", "1", "--out", "{out}"]
CASES = [
    # models, summary, check
    (["summary", "mlp", "--input", "1,0,28"], "--input must be C,H,W with three positive integers", None),
    (["summary", "mlp", "--in-channels", "0"], "--in-channels must be a positive integer below 2**31, got 0", None),
    # an empty value ('' from an unset shell variable) was taken for the default: the model's input, a file here
    (["summary", "lenet5", "--input", ""], "--input is given an empty value; give one, or omit --input for its", None),
    (["summary", "lenet5", "--input= "], "--input is given an empty value; give one, or omit --input for its", None),
    (["filters", "{run}", "--out", ""], "--out is given an empty value; give one, or omit --out for its default", None),
    (["predict", "{run}", ""], "argument 3 ('') is empty; give a value there, or leave it out", None),
    (["summary", "lenet5", "--num-classes", str(10**20)], "--num-classes must be a positive integer below 2**31", None),
    (["summary", "lenet5", "--num-classes", "1_0"], "--num-classes takes an integer ('_' groups digits by", None),
    (["compare", "study:batchnorm", "--limit", "1_0", "--out", "{out}"], "--limit takes an integer ('_' groups", None),
    (
        ["summary", "mlp", "--option", "hidden=-1"],
        "model 'mlp' with hidden=-1: Trying to create tensor with negative",
        None,
    ),
    (["summary", "{in}/bad.toml"], "not valid TOML", None),
    (["summary", "{in}/neg.toml"], "filters must be an integer >= 1, got -1", None),
    (["summary", "{in}/empty.toml"], "layers is empty; a network needs at least one [[layers]] table", None),
    (["summary", "{in}/classes.toml"], "num_classes must be a positive integer below 2**31, got 'ten'", None),
    (["summary", "{in}/deep-inline.toml"], "nested too deeply to parse", None),
    (  # PyTorch's matmul text alone before: "a and b must have same reduction dim, but got [1, 756] X [784, 256]."
        ["summary", "mlp", "--input", "1,27,28"],
        "X [784, 256]; the dense layer takes 784 inputs but gets 756: give the --input it was built for",
        None,
    ),
    (["summary", "{in}/deep-tables.toml"], "residual blocks nested more than 32 deep", None),
    (["summary", "{run}", "--input", "1,2,2"], "--input cannot change a run", None),
    (["summary", "{run}", "--num-classes", "3"], "--num-classes cannot change a run", None),
    (["check", "{in}/ok.png", "--model", "mlp"], "cannot read table file", None),
    (["check", "{in}/adir", "--model", "mlp"], "cannot read table file", None),
    (["check", "{in}/table.md", "--model", "lenet-7"], "unknown model 'lenet-7'", None),
    # train: input shapes, network files, memory, settings, run directories, folder datasets
    ([*TRAIN, "--model", "mlp", "--input", "0,0,0"], "--input must be C,H,W", None),
    ([*TRAIN, "--model", "mlp", "--input", "abc"], "got 'abc'", None),
    ([*TRAIN, "--model", "mnist-cnn", "--input", "abc"], "got 'abc'", None),
    ([*TRAIN, "--model", "mnist-cnn", "--input", "1,2,2"], "model mnist-cnn cannot take input 1x2x2", None),
    ([*TRAIN, "--model", "mlp", "--input", "2,8,8"], "cannot adapt 1-channel images to 2 channels", None),
    (
        [*TRAIN, "--model", "mlp", "--input", "3,20000,20000"],
        "parameters and their activations, this machine has",
        None,
    ),
    ([*TRAIN, "--model", "{in}/huge.toml"], "needs 39,840.6 GB for 100,000,000 parameters and their activations", None),
    ([*TRAIN, "--model", "{in}/empty.toml"], "layers is empty", None),
    ([*TRAIN, "--model", "{in}/deep-tables.toml"], "residual blocks nested more than 32 deep", None),
    ([*TRAIN, "--model", "mlp", "--lr", "inf"], "--lr takes a finite number, got 'inf'", None),
    ([*TRAIN, "--model", "mlp", "--gl-alpha", "inf"], "--gl-alpha takes a finite number or off, got 'inf'", None),
    ([*TRAIN, "--model", "mlp", "--limit", "1_0"], "--limit takes an integer ('_' groups digits by three", None),
    ([*TRAIN, "--model", "mlp", "--lr", "1_0e-3"], "--lr takes a number ('_' groups digits by three", None),
    (
        [*TRAIN, "--model", "mlp", "--lr", "9" * 5000],
        "got '999999999999999999999999999999...' (5,000 characters)",
        None,
    ),
    ([*TRAIN, "--model", "mlp", "--val-split", "1.5"], "--val-split must be a fraction below 1", None),
    (
        [*TRAIN, "--model", "mlp", "--augment", "rotate"],
        "--augment 'rotate' is not one of crop, translate, flip, altflip",
        None,
    ),
    ([*TRAIN, "--model", "mlp", "--device", "tpu"], "--device must be cpu, cuda or auto", None),
    ([*TRAIN, "--model", "mlp", "--freeze", "head"], "--freeze 'head' is not one of", None),
    # #15: time decay per update, custom normalisation, per-batch rows
    ([*TRAIN, "--model", "mlp", "--decay-per", "week"], "--decay-per 'week' is not one of step, epoch", None),
    ([*TRAIN, "--model", "mlp", "--log-every", "-1"], "--log-every must be a positive integer, or 0 for off", None),
    ([*TRAIN, "--model", "mlp", "--log-every", "often"], "--log-every takes an integer, got 'often'", None),
    ([*TRAIN, "--model", "mlp", "--mean", "0.5,x"], "--mean takes finite numbers separated by commas", None),
    ([*TRAIN, "--model", "mlp", "--std", "nan"], "--std takes finite numbers separated by commas", None),
    ([*TRAIN, "--model", "mlp", "--mean", "0.5"], "--mean needs --std too", None),
    ([*TRAIN, "--model", "mlp", "--mean", "0.5", "--std", "0"], "--std must be above 0 in every channel", None),
    ([*TRAIN, "--model", "mlp", "--mean", "0.1,0.2", "--std", "1,1,1"], "--mean has 2 values but --std 3", None),
    (
        [*TRAIN, "--model", "mlp", "--mean", "0.1,0.2,0.3", "--std", "0.2"],
        "--mean has 3 values but the model's inputs have 1 channel(s); give one value, or 1",
        None,
    ),
    ([*TRAIN, "--model", "mlp", "--mean", "0.5", "--std", "0.2", "--no-normalize"], "which --no-normalize", None),
    (
        [*TRAIN, "--model", "mlp", "--mean", "0.5", "--std", "0.2", "--norm-stats", "dataset"],
        "--mean/--std replace --norm-stats dataset",
        None,
    ),
    ([*TRAIN, "--model", "mlp", "--init-from", "{in}/nothing"], "no such run directory or file", None),
    ([*TRAIN, "--model", "mlp", "--init-from", "{in}/ok.png"], "give a run directory, a .safetensors file", None),
    (
        [
            "train",
            "--data",
            "digits",
            "--model",
            "mnist-cnn",
            "--limit",
            "200",
            "--out",
            "{run}",
            "--resume",
            "--lr",
            "0.5",
        ],
        "--resume: --lr is 0.5 but the run used 0.001",
        None,
    ),
    (["train", "--data", "digits", "--model", "mlp", "--out", "{run}"], "already holds a run", None),
    (
        ["train", "--data", "digits", "--model", "mlp", "--out", "{in}/file.txt"],
        "--out {in}/file.txt is a file, not a run directory",
        None,
    ),
    (["train", "{in}/exp.toml", "--out", "{out}"], "unknown setting 'colour' in {in}/exp.toml", None),
    ([*TRAIN, "--model", "mlp", "--data", "digits:colour"], "unknown task 'digits:colour'", None),
    ([*TRAIN, "--model", "mlp", "--data", "folder:{in}/loop"], "a/up links back to a folder above it", None),
    ([*TRAIN, "--model", "mlp", "--data", "folder:{in}/one"], "at least two class folders", None),
    ([*TRAIN, "--model", "mlp", "--data", "folder:"], "folder: needs the image folder's path after it", None),
    ([*TRAIN, "--model", "mlp", "--data", "folder: "], "an empty one would read '.'", None),
    (
        [*TRAIN, "--model", "mlp", "--data", "folder:{in}/member-bomb.tar.gz"],
        "member 'b/0.png' unpacks to 4,194,304 bytes, over the 1,048,576-byte limit",
        LOWER_MEMBER_CAP,
    ),
    (
        [*TRAIN, "--model", "mlp", "--data", "folder:{in}/total-bomb.tar.gz"],
        "unpacks to more than 1,048,576 bytes",
        LOWER_TOTAL_CAP,
    ),
    (
        [*TRAIN, "--model", "mlp", "--data", "folder:{in}/bomb.zip"],
        "member 'a/0.png' unpacks to 4,194,304",
        LOWER_MEMBER_CAP,
    ),
    # shipped files by name, and misspelt keys in the files users write (#17)
    (["train", "recipe:nope", "--out", "{out}"], "unknown recipe 'nope'; shipped recipes: cifar10-70,", None),
    (["train", "study:parity", "--out", "{out}"], "study:parity is a shipped study, not a recipe", None),
    (["compare", "study:nope", "--out", "{out}"], "unknown study 'nope'; shipped studies: batchnorm,", None),
    (["compare", "{in}/study-recipe.toml", "--out", "{out}"], "unknown recipe 'nope'; shipped recipes:", None),
    (["summary", "net:nope"], "unknown net 'nope'; shipped nets: alexnet-bn-keras, dilated-chain,", None),
    (["tune", "space:nope", "--out", "{out}"], "unknown space 'nope'; shipped spaces: mnist-cnn", None),
    (["check", "table:nope", "--model", "lenet5"], "unknown table 'nope'; shipped tables: lenet-like-correct,", None),
    (["summary", "{in}/inputs.toml"], "unknown key 'inputs' in {in}/inputs.toml: did you mean 'input'?", None),
    (
        [*TRAIN, "--model", "{in}/classes-typo.toml"],
        "unknown key 'num_clases' in {in}/classes-typo.toml: did you mean 'num_classes'?",
        None,
    ),
    (
        ["train", "{in}/exp-typo.toml", "--out", "{out}"],
        "unknown setting 'epoch' in {in}/exp-typo.toml: did you mean 'epochs'?",
        None,
    ),
    (
        ["train", "{in}/ext-self.toml", "--out", "{out}"],
        "{in}/ext-self.toml: recipe 'ext-self.toml' leads back to a file that extends it",
        None,
    ),
    (["train", "{in}/ext-a.toml", "--out", "{out}"], "{in}/ext-b.toml: recipe 'ext-a.toml' leads back", None),
    (
        ["train", "{in}/ext-missing.toml", "--out", "{out}"],
        "{in}/ext-missing.toml: recipe '{in}/nowhere.toml' not found; give recipe:NAME or the path",
        None,
    ),
    (["train", "{in}/ext-number.toml", "--out", "{out}"], "recipe must name an experiment file, got 3;", None),
    (
        ["train", "{in}/ext-study.toml", "--out", "{out}"],
        "{in}/ext-study.toml: recipe: study:parity is a shipped study, not a recipe",
        None,
    ),
    (
        ["train", "{in}/ext-typo.toml", "--out", "{out}"],
        "unknown setting 'epoch' in {in}/exp-typo.toml: did you mean 'epochs'?",
        None,
    ),
    (["compare", "{in}/study-ext.toml", "--out", "{out}"], "{in}/ext-b.toml: recipe 'ext-a.toml' leads back", None),
    (
        ["compare", "{in}/study-typo.toml", "--out", "{out}"],
        "unknown key 'titel' in {in}/study-typo.toml: did you mean 'title'?",
        None,
    ),
    (
        ["tune", "{in}/space-typo.toml", "--out", "{out}"],
        "unknown section 'trian' in {in}/space-typo.toml: did you mean 'train'?",
        None,
    ),
    (["demo", "--epochs", "0", "--out", "{out}"], "--epochs must be a positive integer, got 0", None),
    (["recipes", "--kind", "model"], "argument --kind: invalid choice: 'model'", None),
    # eval, predict
    (["eval", "{in}/file.txt"], "is not a cnnlab run directory", None),
    (["predict", "{run}", "{in}/nothing.png"], "image {in}/nothing.png not found", None),
    (["predict", "{run}", "{in}/adir"], "{in}/adir is a folder, not an image file: name the images in it (e.g.", None),
    (["predict", "{run}", "{in}/bomb.png"], "claims more than 89,478,485 pixels (a decompression bomb?)", None),
    (["predict", "{run}", "{in}/bomb1.png"], "claims more than 89,478,485 pixels", None),
    (["predict", "{run}", "{in}/ok.png", "{in}/bomb.png"], "bomb.png claims more than", None),
    (["predict", "{run}", "{in}/ok.png", "--top", "0"], "--top must be at least 1, got 0", None),
    # lr-find
    (
        ["lr-find", "--data", "digits", "--model", "mlp", "--steps", "1"],
        "--steps must be a whole number from 30 to 10,000, got 1: the smoothed loss",
        None,
    ),
    (
        ["lr-find", "--data", "digits", "--model", "mlp", "--lr", "5", "--epochs", "3", "--log-every", "1"],
        "lr-find does not use --lr, --epochs, --log-every: it sweeps the lr from 1e-7 to 10 over --steps updates",
        None,
    ),
    (["lr-find", "--data", "digits", "--model", "mnist-cnn", "--input", "1,3,3"], "cannot take input 1x3x3", None),
    (  # a module to analyse, not a classifier: cross-entropy's traceback before
        [*TRAIN, "--model", "net:inception-naive"],
        "net:inception-naive ends in feature maps (417x32x32 per image), but training needs one score per class (10)",
        None,
    ),
    ([*TRAIN, "--model", "{in}/five.toml"], "five.toml ends in 5 scores, but training needs one score per class", None),
    (["lr-find", "--data", "digits", "--model", "{in}/empty.toml"], "layers is empty", None),
    (["lr-find", "--data", "digits", "--model", "mlp", "--momentum", "nan"], "--momentum takes a finite number", None),
    # compare
    (["compare", "{in}/nothing.toml", "--out", "{out}"], "study file '{in}/nothing.toml' not found", None),
    (  # every run's data is checked before the first trains, in --dry-run too
        ["compare", "{in}/study-data.toml", "--dry-run", "--data-dir", "{in}"],
        "{in}/study-data.toml run 'b': unknown dataset '{in}/nope': known: mnist",
        None,
    ),
    (["compare", "{in}/study.toml", "--out", "{in}/tuned"], "--out {in}/tuned holds a `cnnlab tune` study", None),
    (["tune", "space:mnist-cnn", "--out", "{in}/compared"], "--out {in}/compared holds a `cnnlab compare` study", None),
    (
        ["tune", "space:mnist-cnn", "--out", "{out}", "--storage", "bogus://x"],
        "--storage 'bogus://x': use sqlite",
        None,
    ),
    (
        ["tune", "--summary", "{in}/tuned", "--top", "0"],
        "--top must be at least 1 (the best trials to list), got 0",
        None,
    ),
    (
        ["compare", "{run}", "--out", "{out}"],
        "{run} is a folder, not a study file; `cnnlab compare` runs a study",
        None,
    ),
    (["compare", "{in}/study-model.toml", "--out", "{out}"], "run 'a': unknown model 'lenet-7'", None),
    (["compare", "{in}/study.toml", "--out", "{in}/file.txt"], "--out {in}/file.txt is an existing file", None),
    (["compare", "{in}/study.toml", "--out", "{in}/file.txt/study"], "{in}/file.txt is a file, not a folder", None),
    (["compare", "{in}/study.toml", "--gradcam", "-1"], "--gradcam takes a number of images", None),
    # report
    (["report", "{run}", "--out", "{in}/adir"], "--out {in}/adir is an existing folder, not a file", None),
    (
        ["report", "{run}", "--plots", "{in}/file.txt", "--out", "{out}"],
        "--plots {in}/file.txt is an existing file",
        None,
    ),
    (["report", "{in}/adir", "--out", "{out}"], "is not a run directory or a study directory", None),
    (
        ["report", "{run}", "--out", "{in}/file.txt"],
        "--out {in}/file.txt is an existing file that is not an HTML report; give a .html path",
        None,
    ),
    (  # a run's own files are never an output: export once wrote its ONNX over a run's config.toml
        ["report", "{run}", "--out", "{run}/summary.json"],
        "--out {run}/summary.json is one of the run {run}'s own files or folders, which writing there would destroy",
        None,
    ),
    (["export", "{run}", "--out", "{run}/config.toml"], "--out {run}/config.toml is one of the run {run}'s own", None),
    (["filters", "{run}", "--out", "{run}/checkpoints/f.png"], "--out {run}/checkpoints/f.png is one of the run", None),
    (
        ["train", "--model", "mlp", "--data", "digits", "--out", "{run}/tensorboard/run"],
        "--out {run}/tensorboard/run is one of the run {run}'s own files or folders",
        None,
    ),
    # tune
    (["tune", "{in}/nothing.toml", "--out", "{out}"], "search space file '{in}/nothing.toml' not found", None),
    (["tune", "{in}/bad.toml", "--out", "{out}"], "not valid TOML", None),
    (["tune", "{in}/bad.toml", "--timeout", "nan", "--out", "{out}"], "--timeout takes a finite number", None),
    (["tune", "{in}/bad.toml", "--trials", "0", "--out", "{out}"], "--trials must be at least 1, got 0", None),
    (["tune", "--summary", "{in}/adir"], "is not a study directory (no study.toml)", None),
    (["tune", "--out", "{out}"], "give a space file to search, or --summary STUDY_DIR", None),
    # gradcam, features, filters, filter
    (
        ["gradcam", "{run}", "{in}/ok.png", "--layer", "fc1", "--out", "{out}"],
        "--layer 'fc1' gives no feature maps (C, H, W); conv layers: conv1, conv2, conv3 (or a block",
        None,
    ),
    (
        ["gradcam", "{run}", "{in}/ok.png", "--class", "10", "--out", "{out}"],
        "neither a class name nor an index 0..9",
        None,
    ),
    (
        ["gradcam", "{run}", "{in}/ok.png", "--batch-size", "0", "--out", "{out}"],
        "--batch-size must be at least 1",
        None,
    ),
    (["gradcam", "{run}", "{in}/bomb.png", "--out", "{out}"], "claims more than 89,478,485 pixels", None),
    (["gradcam", "{run}", "{in}/ok.png", "--out", "{in}/file.txt"], "--out {in}/file.txt is an existing file", None),
    (
        ["features", "{run}", "{in}/ok.png", "--layer", "fc2", "--out", "{out}"],
        "'fc2' has no (C, H, W) feature maps",
        None,
    ),
    (["features", "{run}", "{in}/bomb1.png", "--layer", "conv1", "--out", "{out}"], "claims more than", None),
    (["features", "{run}", "{in}/ok.png", "--layer", "conv1", "--out", "{in}/adir"], "is an existing folder", None),
    (["filters", "{run}", "--layer", "nothing", "--out", "{out}"], "'nothing' is not a layer of the model", None),
    (["filters", "{run}", "--out", "{in}/adir"], "--out {in}/adir is an existing folder, not a file", None),
    (["filter", "{in}/bomb.png", "--kernel", "blur", "--out", "{out}"], "claims more than 89,478,485 pixels", None),
    (["filter", "{in}/fake.png", "--kernel", "blur", "--out", "{out}"], "is not a readable image", None),
    (["filter", "{in}/ok.png", "--kernel", "sobel", "--out", "{out}"], "unknown kernel 'sobel'", None),
    (["filter", "{in}/ok.png", "--kernel", "blur", "--out", "{in}/file.txt/x.png"], "is a file, not a folder", None),
    # the system refuses the write: no permission, read-only, full
    (["filter", "{in}/ok.png", "--kernel", "blur", "--out", "/sys/cnnlab-x.png"], "Permission denied", None),
    (
        ["train", "--data", "digits", "--model", "mlp", "--out", "/sys/cnnlab-run"],
        "cannot read or write /sys/cnnlab-run",
        None,
    ),
    (["report", "{run}", "--gradcam", "0", "--out", "/sys/cnnlab.html"], "write /sys/cnnlab.html: Permission", None),
    (
        ["train", "--data", "digits", "--model", "mlp", "--out", "{ro}/run"],
        "cannot write {ro}/run: Read-only file system",
        None,
    ),
    (["report", "{run}", "--gradcam", "0", "--out", "{ro}/r.html"], "Read-only file system", None),
    (["filter", "{in}/ok.png", "--kernel", "blur", "--out", "{ro}/x.png"], "Read-only file system", None),
    (["train", "--data", "digits", "--model", "mlp", "--out", "{full}/run"], "No space left on device", None),
    (["report", "{run}", "--gradcam", "0", "--out", "{full}/r.html"], "No space left on device", None),
]


def _id(case: tuple) -> str:
    argv = " ".join(case[0]).replace(" --data digits --epochs 1 --out {out}", "")
    return re.sub(r"[{}]", "", argv)[:90]


@pytest.fixture(scope="module")
def disks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real EROFS and ENOSPC: a read-only tmpfs, a full one, and a small empty one (mounting needs root, as here)."""
    base = tmp_path_factory.mktemp("disks")
    mounts = {"ro": "size=1m,ro", "full": "size=64k", "small": "size=64k"}
    done: list[Path] = []
    try:
        for name, options in mounts.items():
            (base / name).mkdir()
            r = subprocess.run(
                ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(base / name)], capture_output=True, text=True
            )
            if r.returncode:
                pytest.skip(
                    f"cannot mount a tmpfs here ({r.stderr.strip()}): the read-only and full-disk cases "
                    "need mount rights (root)"
                )
            done.append(base / name)
        with open(base / "full" / "filler", "wb", buffering=0) as f, pytest.raises(OSError) as full:
            while True:
                f.write(bytes(4096))
        assert full.value.errno == errno.ENOSPC
        yield {name: base / name for name in mounts}
    finally:
        for path in done:
            subprocess.run(["umount", str(path)], check=False)


@pytest.mark.parametrize("argv, expected, caps", CASES, ids=[_id(c) for c in CASES])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(
    world: World,
    tmp_path: Path,
    argv: list[str],
    expected: str,
    caps: dict | None,
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    places = {"run": str(world.run), "in": str(world.inp), "out": str(tmp_path / "out")}
    if any("{ro}" in a or "{full}" in a for a in argv):
        places.update({k: str(v) for k, v in request.getfixturevalue("disks").items()})
    for name, value in (caps or {}).items():
        monkeypatch.setattr(sources, name, value)
    fill = lambda text: text.format(**places)
    before = snapshot(world.run, world.inp)
    code, err = run_main([fill(a) for a in argv], capsys)
    assert_one_line_error(code, err, fill(expected))
    assert snapshot(world.run, world.inp) == before
    assert not (tmp_path / "out").exists()


def test_enough_distinct_bad_inputs() -> None:
    assert len({tuple(argv) for argv, _, _ in CASES}) == len(CASES) >= 45


# --- through a real terminal process ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["train", "--data", "digits", "--model", "mnist-cnn", "--input", "abc", "--out", "{out}"], "got 'abc'"),
        (["predict", "{run}", "{in}/bomb.png"], "claims more than 89,478,485 pixels"),
        (
            ["train", "--data", "folder:{in}/loop", "--model", "mlp", "--out", "{out}"],
            "links back to a folder above it",
        ),
    ],
    ids=["train --input abc", "predict bomb.png", "train folder with a symlink loop"],
)
def test_no_traceback_reaches_a_terminal(world: World, tmp_path: Path, argv: list[str], expected: str) -> None:
    places = {"run": str(world.run), "in": str(world.inp), "out": str(tmp_path / "out")}
    r = subprocess.run(
        [sys.executable, "-m", "cnnlab", *(a.format(**places) for a in argv)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert_one_line_error(r.returncode, r.stderr, expected)
    assert not (tmp_path / "out").exists()


# --- beyond the table ----------------------------------------------------------------------------------------------


def test_a_flag_takes_digits_grouped_by_three_as_python_writes_them() -> None:
    """10_000 is ten thousand, as in Python; 1_0, which int() also reads as 10, is refused above as a typo."""
    from cnnlab.cli.common import typed

    assert typed(int, "--limit")("10_000") == 10000 and typed(int, "--limit")("-1_000_000") == -1000000
    assert typed(float, "--lr")("1_000.5") == 1000.5 and typed(float, "--lr")("2_000e-3") == 2.0


def test_disk_full_while_training_ends_in_one_error_line(disks: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    """The 64 KB disk takes config.toml but not the first checkpoint: the epoch's log line, then one error line."""
    code, err = run_main(
        ["train", "--data", "digits", "--model", "mlp", "--epochs", "1", "--out", str(disks["small"] / "run")], capsys
    )
    lines = err.strip().splitlines()
    assert code == 2 and "Traceback" not in err, err
    assert [line for line in lines if ERROR_LINE.match(line)] == [lines[-1]] and "No space left on device" in lines[-1]
    assert lines[0].startswith("epoch 1/1:"), err


def test_archive_bombs_are_refused_before_anything_is_extracted(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sources, "MAX_MEMBER_BYTES", 1 << 20)
    for archive in ("member-bomb.tar.gz", "bomb.zip"):
        with pytest.raises(CnnlabError, match="unpacks to 4,194,304 bytes, over the 1,048,576-byte limit"):
            safe_extract(world.inp / archive, tmp_path / archive)
        assert list((tmp_path / archive).iterdir()) == []
    monkeypatch.setattr(sources, "MAX_MEMBER_BYTES", 1 << 30)
    monkeypatch.setattr(sources, "MAX_TOTAL_BYTES", 1 << 20)
    with pytest.raises(CnnlabError, match="unpacks to more than 1,048,576 bytes"):
        safe_extract(world.inp / "total-bomb.tar.gz", tmp_path / "total")
    assert list((tmp_path / "total").iterdir()) == []
    monkeypatch.setattr(sources, "MAX_TOTAL_BYTES", 8 << 30)  # the real caps let the same archive through
    safe_extract(world.inp / "total-bomb.tar.gz", tmp_path / "ok")
    assert (tmp_path / "ok" / "b" / "2.png").stat().st_size == 300_000


def test_check_fits_refuses_what_training_could_not_run() -> None:
    """What prepare() calls before building the model for real: shape and memory on the meta device."""
    with pytest.raises(CnnlabError, match=r"model lenet5 cannot take input 1x2x2: layer 'c1' .*5x5 kernel"):
        check_fits("lenet5", (1, 2, 2), num_classes=10)
    with pytest.raises(CnnlabError, match=r"model mlp at input 1x30000x30000: needs [\d,.]+ GB for .*this machine has"):
        check_fits("mlp", (1, 30_000, 30_000), num_classes=10, image_size=30_000)
    assert check_fits("lenet5", (1, 32, 32)).params == 60_000  # a model that fits passes, with its summary
    assert check_fits(create_model("mlp"), (1, 28, 28)).output_shape == (10,)


def test_create_model_refuses_unknown_options_but_lets_builder_bugs_through(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(
        CnnlabError, match="model 'mlp' has no option 'width'; mlp takes: hidden=256,128, image_size=28"
    ):
        create_model("mlp", width=3)

    def buggy(num_classes: int = 10, in_channels: int = 1) -> nn.Module:
        return nn.Linear(len(num_classes), in_channels)  # a bug: len() of an int raises TypeError

    monkeypatch.setitem(registry._REGISTRY, "buggy", registry.ModelInfo("buggy", "test", (1, 8, 8), 10, buggy))
    with pytest.raises(TypeError, match="has no len"):
        create_model("buggy")
    with pytest.raises(CnnlabError, match="has no option 'depth'; buggy takes: none"):
        create_model("buggy", depth=3)


class PruneAlways(optuna.pruners.BasePruner):
    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return True


def test_a_trial_that_trained_all_its_epochs_is_complete_not_pruned(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """`tune --epochs 1`: the pruner is asked nothing after a trial's last epoch, so every trial ends COMPLETE."""
    space_text = (
        f'[train]\ndata = "digits"\nepochs = 3\n[params.lr]\ntype = "float"\nlow = 1e-4\nhigh = 1e-2\n'
        f"log = true\n[network]\n{DIGITS_NET.replace('[[layers]]', '[[network.layers]]')}"
    )
    space = write_toml(tmp_path / "space.toml", space_text)
    study = optuna.create_study(direction="maximize", pruner=PruneAlways())
    trial = study.ask()
    value = run_trial(trial, load_space(space, epochs=1), tmp_path / "trial", log=lambda s: None)
    assert value is not None and study.tell(trial, value).state == optuna.trial.TrialState.COMPLETE

    assert main(["tune", space, "--epochs", "1", "--trials", "3", "--out", str(tmp_path / "study")]) == 0
    assert "3 trials, 3 complete, 0 pruned, 0 failed" in capsys.readouterr().out


def test_train_refuses_a_zoo_model_on_an_input_below_its_kernel(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """lenet5 takes no image_size, so only prepare() sees the 1x2x2 input it would be trained at."""
    before = snapshot(world.run, world.inp)
    code, err = run_main(
        [
            "train",
            "--data",
            "digits",
            "--model",
            "lenet5",
            "--input",
            "1,2,2",
            "--epochs",
            "1",
            "--out",
            str(tmp_path / "out"),
        ],
        capsys,
    )
    assert_one_line_error(code, err, "model lenet5 cannot take input 1x2x2: layer 'c1'")
    assert snapshot(world.run, world.inp) == before


def test_an_empty_augment_is_the_one_empty_value_taken(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """`--augment ''` is how a command line turns a recipe's augmentation off, so it is not refused as empty."""
    recipe = write_toml(tmp_path / "r.toml", 'augment = ["crop"]\nmodel = "mlp"\ndata = "digits"\n')
    out = tmp_path / "run"
    assert (
        run_main(["train", recipe, "--augment", "", "--limit", "100", "--epochs", "1", "--out", str(out)], capsys)[0]
        == 0
    )
    assert "augment = []" in (out / "config.toml").read_text()


WRONG_KINDS = [
    ('input = "abc"', "input must be C,H,W with positive integers, got 'abc'"),
    ("input = 5", "input must be C,H,W with positive integers, got 5"),
    ('input = [1, "a", 8]', "input must be C,H,W with positive integers, got [1, 'a', 8]"),
    ('normalize = "no"', "normalize must be true or false, got 'no'"),
    ("nesterov = 1", "nesterov must be true or false, got 1"),
    ('seed = "abc"', "seed must be a whole number, got 'abc'"),
    ("seed = 1.5", "seed must be a whole number from -2**63 to 2**64 - 1, got 1.5"),
    ("device = 1", "device must be text, got 1"),
    ("data_dir = 5", "data_dir must be text, got 5"),
    ('device = ""', "device is empty; give a value or leave it out"),
    ('augment = "flip"', "augment is a list, [\"flip\"], got the text 'flip'"),
    ('augment = ["flip", 1]', 'augment must be a list of names, e.g. ["crop", "flip"], got [\'flip\', 1]'),
]


@pytest.mark.parametrize("line, said", WRONG_KINDS, ids=[w[0] for w in WRONG_KINDS])
def test_a_value_of_the_wrong_kind_in_a_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture, line: str, said: str
) -> None:
    """Settings came from TOML unchecked for their kind: `input = "abc"` or `device = 1` gave a traceback,
    `normalize = "no"` counted as true and `seed = "abc"` failed inside PyTorch. Each is one line naming the file
    and key now, and nothing is written."""
    exp = write_toml(tmp_path / "exp.toml", f'model = "mlp"\ndata = "digits"\n{line}\n')
    code, err = run_main(["train", exp, "--out", str(tmp_path / "run")], capsys)
    assert_one_line_error(code, err, f"{exp}: {said}")
    assert not (tmp_path / "run").exists()


def test_blank_optional_text_is_unset_and_python_sequences_are_lists(tmp_path: Path) -> None:
    """TOML has no null: `init_from = ""` in a file is unset (runs written before 2026-12-05 recorded it so, and
    must stay readable and resumable), and a tuple from Python is a list (`input=(1, 8, 8)` trained before).
    Validation is not skipped for a value changed in kind since (2 and 2.0, True and 1 compare equal)."""
    from cnnlab.rundir import RunConfig

    config = RunConfig.from_dict({"model": "mlp", "data": "digits", "init_from": "", "data_dir": " "}).validate()
    assert config.init_from is None and config.data_dir is None
    config = RunConfig(model="mlp", data="digits", input=(1, 8, 8), augment=("crop",), init_from="").validate()
    assert config.input == [1, 8, 8] and config.augment == ["crop"] and config.init_from is None
    config.normalize = 1
    with pytest.raises(CnnlabError, match="^normalize must be true or false, got 1"):
        config.validate()
    with pytest.raises(CnnlabError, match=r"^seed must be a whole number from -2\*\*63 to 2\*\*64 - 1, got 1000000"):
        RunConfig(model="mlp", data="digits", seed=10**400).validate()


def test_a_list_setting_given_as_the_flags_text_says_the_list_and_one_mean_is_a_number() -> None:
    """From a notebook, RunConfig(input="1,28,28") (the flag's spelling) was told `--input must be C,H,W with
    positive integers, got '1,28,28'`, and progressive="20,0.5" `e.g. 20,0.5; got '20,0.5'`: the list to give is
    now shown. mean=0.5, std=0.25 were refused as not "(one, or one per channel)": one number is one value, as the
    command line's --mean 0.5 is."""
    from cnnlab.rundir import RunConfig

    for name, text, listed in (
        ("input", "1,28,28", "[1, 28, 28]"),
        ("progressive", "20,0.5", "[20, 0.5]"),
        ("augment", "crop,flip", '["crop", "flip"]'),
    ):
        with pytest.raises(CnnlabError) as e:
            RunConfig(model="mlp", data="digits", **{name: text}).validate()
        assert str(e.value) == f"{name} is a list, {listed}, got the text {text!r}"
    config = RunConfig(model="mlp", data="digits", mean=0.5, std=0.25).validate()
    assert (config.mean, config.std) == ([0.5], [0.25])


def test_a_path_setting_may_be_a_path_object(tmp_path: Path) -> None:
    """From Python, data_dir and init_from may be Paths; they are written to config.toml as text (a Path made
    writing config.toml fail with TOML's TypeError), and a whole-number float seed is the number."""
    from cnnlab.rundir import RunConfig

    config = RunConfig(model="mlp", data="digits", data_dir=tmp_path, seed=3.0).validate()
    assert config.data_dir == str(tmp_path) and config.seed == 3 and isinstance(config.seed, int)
    assert f'data_dir = "{tmp_path}"' in config.to_toml()


def test_a_model_name_too_long_for_a_file_name_is_one_short_line_from_python_too(capsys) -> None:
    """create_model or summarize given a 5,000-character name raised `OSError: File name too long` (the name was
    tried as a network file and a run directory), and the CLI's line repeated all 5,000 characters."""
    import cnnlab

    name = "x" * 5000
    said = "unknown model 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...' (5,000 characters): run `cnnlab models` to list them"
    for call in (lambda: cnnlab.create_model(name), lambda: cnnlab.summarize(name, (3, 32, 32))):
        with pytest.raises(CnnlabError) as e:
            call()
        assert str(e.value).startswith(said)
    assert main(["summary", name]) == 2
    assert capsys.readouterr().err.startswith(f"cnnlab: error: {said}")
