"""Oxford 17 flowers as a named dataset, and folders of images given by a labels file (#15).

No flowers here offline: the download is tested against a locally made archive of the same layout (1,360 real MNIST
digits stored losslessly as jpg/image_0001.jpg ... image_1360.jpg, so decoded pixels can be compared exactly),
served by a real HTTP server on 127.0.0.1 and reached through $CNNLAB_DOWNLOAD_MIRROR. The labels-file folders are
made from real MNIST digits too.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import socket
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnlab.cli import main
from cnnlab.data import load_dataset
from cnnlab.data.sources import MIRROR_ENV, STANDARD, RemoteFile, fetch
from cnnlab.rundir import open_run
from tests.conftest import EXAMPLES, shared_dataset, snapshot
from tests.test_bad_input import assert_one_line_error, run_main

FLOWERS = 17 * 80


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    """1,360 real MNIST training digits (uint8, N x 28 x 28) and their labels, the same every time."""
    ds = load_dataset("mnist", data_dir=shared_dataset("mnist").parent, limit=FLOWERS, seed=0)
    return ds.train_x[:, 0].numpy(), ds.train_y.numpy()


def png(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def flowers_archive(tmp_path_factory: pytest.TempPathFactory, digits) -> Path:
    """17flowers.tgz's layout: jpg/image_0001.jpg ... jpg/image_1360.jpg (80 per class in class order) + files.txt."""
    path = tmp_path_factory.mktemp("served") / "17flowers.tgz"
    names = [f"image_{i:04d}.jpg" for i in range(1, FLOWERS + 1)]
    with tarfile.open(path, "w:gz") as tf:
        for name, data in [*zip(names, map(png, digits[0])), ("files.txt", "\n".join(names).encode())]:
            info = tarfile.TarInfo(f"jpg/{name}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def mirror(flowers_archive: Path) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 serving the archive's folder; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(flowers_archive.parent)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_download_is_verified_over_http_and_the_split_follows_the_numbering(
    tmp_path: Path, flowers_archive: Path, mirror: str, digits, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MIRROR_ENV, mirror)
    md5 = hashlib.md5(flowers_archive.read_bytes()).hexdigest()
    ours = replace(STANDARD["flowers17"], files=(RemoteFile("17flowers.tgz", (), f"md5:{md5}"),))
    root = tmp_path / "data"
    [path] = fetch(ours, root)  # the real download code with this archive's checksum
    assert path == root / "flowers17" / "17flowers.tgz" and path.read_bytes() == flowers_archive.read_bytes()
    assert files_under(root) == ["flowers17/17flowers.tgz"]

    ds = load_dataset("flowers17", data_dir=root, download=False, size=28, cache_dir=tmp_path / "cache")
    assert ds.num_classes == 17 and ds.classes[0] == "daffodil" and ds.classes[-1] == "pansy"
    assert (len(ds.train_y), len(ds.test_y)) == (1020, 340)
    assert np.bincount(ds.test_y.numpy()).tolist() == [20] * 17  # 60 train and 20 test per class
    # each decoded image is one of the served ones; its label is its number's class: images 80k+1 .. 80k+80 are k
    index = {img.tobytes(): i for i, img in enumerate(digits[0])}
    seen = []
    for x, y in ((ds.train_x, ds.train_y), (ds.test_x, ds.test_y)):
        numbers = [index[img[0].numpy().tobytes()] for img in x]
        assert [n // 80 for n in numbers] == y.tolist()
        seen += numbers
    assert sorted(seen) == list(range(FLOWERS))  # train and test are disjoint and cover the set
    again = load_dataset("flowers17", data_dir=root, download=False, size=28, cache_dir=tmp_path / "other-cache")
    assert again.test_y.tolist() == ds.test_y.tolist() and bool((again.test_x == ds.test_x).all())  # seeded split


@pytest.mark.parametrize("reachable", [True, False], ids=["wrong-checksum", "offline"])
def test_download_failures_are_one_line_and_leave_nothing(
    tmp_path: Path, mirror: str, reachable: bool, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The served archive is not the real 17flowers.tgz, so the published md5 refuses it; a mirror that does not
    answer gives the offline error every named dataset gives, naming the file and where to put it."""
    monkeypatch.setenv(MIRROR_ENV, mirror if reachable else f"http://127.0.0.1:{closed_port()}/")
    root = tmp_path / "data"
    argv = ["train", "--data", "flowers17", "--data-dir", str(root), "--model", "mlp", "--out", str(tmp_path / "run")]
    code, err = run_main([*argv, "--epochs", "1"], capsys)
    expected = "checksum mismatch" if reachable else "could not download 17flowers.tgz"
    assert_one_line_error(code, err, expected)
    assert f"put 17flowers.tgz in {root / 'flowers17'}/" in err
    if reachable:
        assert "expected md5 b59a65d8d1a99cd66944d474e1289eab" in err
    assert files_under(tmp_path) == []  # no half-written archive (nor .part file), no run directory


# --- folders with a labels file ---------------------------------------------------------------------------------------


def labelled_folder(root: Path, digits, count: int, lines: list[str] | None = None, name: str = "labels.csv") -> Path:
    """`count` real digits as PNGs in root/img/, listed in a labels file as `img/N.png,label,split` (every fourth one
    in test), or the given lines."""
    x, y = digits
    (root / "img").mkdir(parents=True)
    for i in range(count):
        (root / "img" / f"{i}.png").write_bytes(png(x[i]))
    if lines is None:
        lines = ["filename,label,split"] + [
            f"img/{i}.png,{y[i]},{'test' if i % 4 == 3 else 'train'}" for i in range(count)
        ]
    (root / name).write_text("\n".join(lines) + "\n")
    return root


def test_labels_file_gives_classes_and_splits(tmp_path: Path, digits) -> None:
    x, y = digits
    ds = load_dataset(f"folder:{labelled_folder(tmp_path / 'csv', digits, 80)}", cache_dir=tmp_path / "cache")
    train, test = [i for i in range(80) if i % 4 != 3], [i for i in range(80) if i % 4 == 3]
    assert ds.classes == [str(c) for c in sorted(set(y[train].tolist()), key=int)]
    assert ds.train_x.shape == (60, 1, 28, 28) and ds.test_x.shape == (20, 1, 28, 28)
    assert bool((ds.train_x[:, 0].numpy() == x[train]).all())  # in the labels file's order, pixels exact
    assert [ds.classes[k] for k in ds.train_y.tolist()] == [str(y[i]) for i in train]
    assert bool((ds.test_x[:, 0].numpy() == x[test]).all())
    assert [ds.classes[k] for k in ds.test_y.tolist()] == [str(y[i]) for i in test]

    quoted = ["path,category"] + [
        f'"img\\{i}.png","{y[i]}"' for i in range(40)
    ]  # other header words, quotes, Windows paths
    same = load_dataset(f"folder:{labelled_folder(tmp_path / 'quoted', digits, 40, quoted)}")
    assert [same.classes[k] for k in same.train_y.tolist()] == [str(y[i]) for i in range(40)]
    spaced = [f"img/{i}.png {y[i]}" for i in range(40)]  # labels.txt, whitespace-separated, no split column
    txt = load_dataset(f"folder:{labelled_folder(tmp_path / 'txt', digits, 40, spaced, 'labels.txt')}")
    assert len(txt.train_y) == 40 and len(txt.test_y) == 0
    assert [txt.classes[k] for k in txt.train_y.tolist()] == [str(y[i]) for i in range(40)]


def test_labels_file_folder_trains_through_the_cli(tmp_path: Path, digits, capsys: pytest.CaptureFixture) -> None:
    folder = labelled_folder(tmp_path / "digits", digits, 120)
    argv = ["train", "--data", f"folder:{folder}", "--model", "mlp", "--epochs", "1", "--out", str(tmp_path / "run")]
    assert main([*argv, "--batch-size", "16", "--no-progress"]) == 0
    run = open_run(tmp_path / "run")
    assert run.classes == [str(d) for d in range(10)] and run.meta["input_shape"] == [1, 28, 28]
    assert 0 <= run.summary["test_accuracy"] <= 1  # scored on the 30 images marked test


@pytest.mark.parametrize(
    "lines, expected",
    [
        (
            ["img/0.png,5", "img/404.png,3", "img/1.png,0", "gone.png,1"],
            "names 2 image(s) not in the folder, the first ",
        ),
        (["img/0.png,5,valid", "img/1.png,0"], "line 1: split must be train or test, got 'valid'"),
        (["img/0.png,5", "img/1.png"], "line 2: expected 'filename,label' or 'filename,label,split'"),
        (["img/0.png,5", "img/1.png,0", "img/2.png,"], "line 3: expected 'filename,label' or 'filename,label,split'"),
        (["img/0.png,5", "img/1.png,5"], "has only one class (5)"),
        (["img/0.png,5", "img/1.png,0", "img/2.png,4,test"], "line 3: test label '4' has no training images"),
        (["img/0.png,5", "img/1.png,0", "img/0.png,5,test"], "line 3: 'img/0.png' is listed again (first on line 1)"),
        (["img/0.png,5", "img/1.png,0", "./img/1.png,3"], "line 3: 'img/1.png' is listed again (first on line 2)"),
    ],
    ids=[
        "missing-images",
        "bad-split",
        "no-label",
        "empty-label",
        "one-class",
        "unseen-test-label",
        "test-leak",
        "two-labels",
    ],  # fmt: skip
)
def test_bad_labels_files_are_one_line_errors(
    tmp_path: Path, digits, lines: list[str], expected: str, capsys: pytest.CaptureFixture
) -> None:
    folder = labelled_folder(tmp_path / "set", digits, 3, lines)
    before = snapshot(folder)
    argv = ["train", "--data", f"folder:{folder}", "--model", "mlp", "--epochs", "1", "--out", str(tmp_path / "run")]
    code, err = run_main(argv, capsys)
    assert_one_line_error(code, err, expected)
    assert "labels.csv" in err
    if "missing" in expected or "not in the folder" in expected:
        assert "'img/404.png' (line 2): add the images or remove their lines" in err
    assert snapshot(folder) == before and not (tmp_path / "run").exists()


def test_labels_file_edges_are_read_as_written(tmp_path: Path, digits, capsys: pytest.CaptureFixture) -> None:
    """A header after a comment was read as an image named 'filename'; a quoted name holding a comma was split at
    it ('dog' taken for the split); a label of 5,000 digits or '²' (isdigit, but not int()) was a ValueError
    traceback; a Latin-1 label became 'chien-\ufffd', a class silently renamed."""
    folder = labelled_folder(
        tmp_path / "edges", digits, 3, ["# made by hand", "filename,label", "img/0.png,a", "img/1.png,b"]
    )
    (folder / "img" / "0.png").rename(folder / "img" / "0,a.png")
    lines = ["# made by hand", "filename,label", '"img/0,a.png",a', "img/1.png,b", f"img/2.png,{'9' * 5000}"]
    (folder / "labels.csv").write_text("\n".join(lines) + "\n")
    ds = load_dataset(f"folder:{folder}")
    assert ds.classes == ["9" * 5000, "a", "b"] and len(ds.train_y) == 3
    (folder / "labels.csv").write_text("img/0,a.png,²\nimg/1.png,3\n".replace("img/0,a.png", '"img/0,a.png"'))
    with pytest.warns(UserWarning, match=r"1 image\(s\) in .* not listed in labels.csv are not used: img/2.png"):
        assert load_dataset(f"folder:{folder}").classes == ["3", "²"]  # this file leaves img/2.png out
    (folder / "labels.csv").write_bytes("img/1.png,chat\nimg/2.png,chien-été\n".encode("latin-1"))
    before = snapshot(folder)
    argv = ["train", "--data", f"folder:{folder}", "--model", "mlp", "--epochs", "1", "--out", str(tmp_path / "run")]
    code, err = run_main(argv, capsys)
    assert_one_line_error(code, err, "labels.csv line 2 is not UTF-8 text (invalid continuation byte); save the file")
    assert snapshot(folder) == before and not (tmp_path / "run").exists()


# --- the study ---------------------------------------------------------------------------------------------------------


def test_flowers_study_runs_the_materials_failures_first_and_takes_a_stand_in_dataset(tmp_path: Path) -> None:
    from cnnlab.study import load_study

    path = EXAMPLES / "studies" / "flowers.toml"
    runs = {r.name: r.config for r in load_study(path).runs}
    assert {c.data for c in runs.values()} == {"flowers17"}
    failed = [runs["vgg16-raw-lr1e-2"], runs["alexnet-raw-lr1e-2"]]  # the material's: raw pixels, a high lr
    assert all(c.pixels == "raw" and not c.normalize and c.lr == 0.01 and c.init_from is None for c in failed)
    assert runs["vgg16_bn-norm-lr1e-3"].normalize and runs["vgg16-imagenet-features"].freeze == "features"
    stand_in = load_study(path, {"data": "digits", "limit": 50})
    assert {(r.config.data, r.config.limit) for r in stand_in.runs} == {("digits", 50)}
    argv = ["compare", str(path), "--data", "digits", "--limit", "50", "--out", str(tmp_path / "study")]
    assert main([*argv, "--dry-run"]) == 0 and not (tmp_path / "study").exists()
    assert "NOT YET MEASURED on Flowers17" in load_study(path).expected


def test_labels_that_differ_only_in_leading_zeros_keep_one_class_order_whatever_the_hash_seed() -> None:
    """`1` and `01` are one number: sorted by it alone, their order was the set's, which PYTHONHASHSEED changes from
    one process to the next (a rebuilt cache then gave the classes other indices than the run's)."""
    code = "from cnnlab.data.imagefolder import _class_order; print(_class_order({'1', '01', '2', '10', '001'}))"
    orders = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": str(s)}
        ).stdout
        for s in range(6)
    }
    assert orders == {"['001', '01', '1', '2', '10']\n"}


def test_a_warning_lists_twenty_names_whole_and_counts_the_rest() -> None:
    from cnnlab.data.imagefolder import WARN_LIST_MAX, _listing

    names = [f"{i}.png" for i in range(WARN_LIST_MAX + 1)]
    assert _listing(names[:WARN_LIST_MAX]) == ", ".join(names[:WARN_LIST_MAX])  # no "and 0 more"
    assert _listing(names).endswith("19.png and 1 more")
