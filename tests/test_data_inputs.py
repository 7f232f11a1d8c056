"""Sources, formats and cache on small files built in tmp_path: good inputs, bad inputs and malicious archives.

Nothing here touches the network: downloads use file:// URLs to local files.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import pickle
import struct
import tarfile
import warnings
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnnlab.data import cache, load_dataset, safe_extract, sources
from cnnlab.data.sources import data_root, download_file
from cnnlab.errors import CnnlabError
from tests.conftest import cli_as_terminal

MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


# ------------------------------------------------------------------------------------------------ helpers


def write_idx(path: Path, array: np.ndarray, magic: int | None = None) -> Path:
    magic = magic or (2051 if array.ndim == 3 else 2049)
    header = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())
    return path


def fake_mnist(folder: Path, n_train: int = 40, n_test: int = 20) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    arrays = {
        MNIST_FILES[0]: rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        MNIST_FILES[1]: np.arange(n_train, dtype=np.uint8) % 10,
        MNIST_FILES[2]: rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        MNIST_FILES[3]: np.arange(n_test, dtype=np.uint8) % 10,
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        write_idx(folder / name, array)
    return arrays


def save_image(path: Path, size: tuple[int, int] = (8, 6), mode: str = "RGB", seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    channels = 1 if mode == "L" else 3
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    Image.fromarray(pixels.squeeze(-1) if mode == "L" else pixels, mode).save(path)


def image_folder(root: Path, classes: dict[str, int], split: str = "") -> Path:
    for c, count in classes.items():
        for i in range(count):
            save_image(root / split / c / f"{i}.png", seed=i)
    return root


def tar_with(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tf:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def tar_info(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


def png_bytes(seed: int = 0) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (6, 8, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def cifar_archive(path: Path, drop_key: str | None = None, payload: object = None) -> Path:
    rng = np.random.default_rng(0)

    def batch(n: int) -> dict:
        d = {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), "labels": [i % 10 for i in range(n)]}
        d.pop(drop_key, None)
        return d

    blobs = {f"data_batch_{i}": batch(4) for i in range(1, 6)} | {"test_batch": batch(3)}
    blobs["batches.meta"] = {
        "label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    }
    if payload is not None:
        blobs["data_batch_1"] = payload
    members = [(tar_info(f"cifar-10-batches-py/{k}"), pickle.dumps(v, protocol=2)) for k, v in blobs.items()]
    return tar_with(path, members)


@pytest.fixture
def local_mnist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, np.ndarray]]:
    """A fake MNIST 'server' folder, with the registry's URLs and checksums pointing at it."""
    server = tmp_path / "server"
    arrays = fake_mnist(server)
    files = tuple(
        sources.RemoteFile(
            name, (f"file://{server / name}",), "sha256:" + hashlib.sha256((server / name).read_bytes()).hexdigest()
        )
        for name in MNIST_FILES
    )
    monkeypatch.setitem(sources.STANDARD, "mnist", replace(sources.STANDARD["mnist"], files=files))
    return server, arrays


# ------------------------------------------------------------------------------------- data root, downloads


def test_data_root_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CNNLAB_DATA", str(tmp_path / "env"))
    assert data_root(tmp_path / "arg") == tmp_path / "arg"
    assert data_root() == tmp_path / "env"
    monkeypatch.delenv("CNNLAB_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data_root() == tmp_path / "xdg" / "cnnlab"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert data_root() == Path.home() / ".cache" / "cnnlab"


def test_download_verifies_sha256_and_md5(tmp_path: Path) -> None:
    src = tmp_path / "blob.bin"
    src.write_bytes(b"cnnlab" * 1000)
    sha, md5 = hashlib.sha256(src.read_bytes()).hexdigest(), hashlib.md5(src.read_bytes()).hexdigest()
    assert download_file(f"file://{src}", tmp_path / "a" / "x.bin", f"sha256:{sha}").read_bytes() == src.read_bytes()
    assert (
        download_file(f"file://{src}", tmp_path / "b" / "x.bin", f"md5:{md5.upper()}").read_bytes() == src.read_bytes()
    )
    # A prefix, as torchvision names its weight files (resnet18-f37072fd.pth), is checked too.
    assert download_file(f"file://{src}", tmp_path / "c" / "x.bin", f"sha256:{sha[:8]}").is_file()
    with pytest.raises(CnnlabError, match="checksum mismatch"):
        download_file(f"file://{src}", tmp_path / "d" / "x.bin", f"sha256:{sha[:7]}0")
    assert not (tmp_path / "d" / "x.bin").exists()


def test_download_checksum_mismatch_leaves_nothing(tmp_path: Path) -> None:
    src = tmp_path / "blob.bin"
    src.write_bytes(b"tampered")
    dest = tmp_path / "dl" / "x.bin"
    with pytest.raises(CnnlabError, match=r"checksum mismatch.*expected sha256 0000"):
        download_file(f"file://{src}", dest, "sha256:" + "0" * 64)
    assert list(dest.parent.iterdir()) == []


def test_missing_files_are_downloaded_and_loaded(tmp_path: Path, local_mnist: tuple[Path, dict]) -> None:
    _, arrays = local_mnist
    root = tmp_path / "root"
    ds = load_dataset("mnist", data_dir=root, cache_dir=tmp_path / "cache")
    assert sorted(p.name for p in (root / "mnist").iterdir()) == sorted(MNIST_FILES)
    assert torch.equal(ds.train_x[:, 0], torch.from_numpy(arrays[MNIST_FILES[0]]))
    assert ds.test_y.tolist() == arrays[MNIST_FILES[3]].tolist()


def test_failed_download_says_which_files_to_put_where(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = tuple(replace(f, urls=(f"file://{tmp_path}/offline/{f.name}",)) for f in sources.STANDARD["mnist"].files)
    monkeypatch.setitem(sources.STANDARD, "mnist", replace(sources.STANDARD["mnist"], files=files))
    with pytest.raises(
        CnnlabError,
        match=r"could not download train-images-idx3.*put train-images.*t10k-labels-idx1-ubyte.gz in \S*mnist/",
    ) as err:
        load_dataset("mnist", data_dir=tmp_path / "root")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "root").exists()  # no empty folders left behind by the attempt


def test_download_off_names_missing_files(tmp_path: Path) -> None:
    fake_mnist(tmp_path / "mnist")
    (tmp_path / "mnist" / MNIST_FILES[2]).unlink()
    with pytest.raises(CnnlabError, match=r"download is off: put t10k-images-idx3-ubyte.gz in .*mnist/"):
        load_dataset("mnist", data_dir=tmp_path, download=False)


def test_missing_standard_files_beside_an_image_archive_of_the_dataset_point_to_it(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """../shared/datasets holds CIFAR-10 as a JPEG archive, not the python archive `--data cifar10` reads: the
    error said only to put cifar-10-python.tar.gz in a (read-only) folder."""
    (tmp_path / "cifar10-jpg.tar.gz").write_bytes(b"")
    with pytest.raises(CnnlabError) as err:
        load_dataset("cifar10", data_dir=tmp_path, download=False)
    assert str(err.value).endswith(
        f'; or read the images in {tmp_path}/cifar10-jpg.tar.gz as an image folder: data="folder:{tmp_path}/cifar10'
        '-jpg.tar.gz"'  # as a Python caller gives it; the command line's --data folder:... below
    )
    monkeypatch.setenv("CNNLAB_DOWNLOAD_MIRROR", f"file://{tmp_path}/no-mirror")  # the download fails at once
    code, _, said = cli_as_terminal(["train", "--data", "cifar10", "--data-dir", str(tmp_path)], capsys)
    assert code == 2 and said.strip().endswith(f"as an image folder: --data folder:{tmp_path}/cifar10-jpg.tar.gz")
    with pytest.raises(CnnlabError) as err:
        load_dataset("mnist", data_dir=tmp_path, download=False)
    assert "image folder" not in str(err.value)


def test_cnnlab_data_env_and_root_layouts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    arrays = fake_mnist(tmp_path / "FashionMNIST" / "raw")
    monkeypatch.setenv("CNNLAB_DATA", str(tmp_path))
    ds = load_dataset("fashion-mnist", download=False)
    assert ds.classes[0] == "T-shirt/top" and len(ds.train_y) == len(arrays[MNIST_FILES[1]])
    assert (tmp_path / "cache").is_dir()


# ------------------------------------------------------------------------------------------------ IDX


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "corrupt or truncated"),
        (lambda p: p.write_bytes(b"not gzip at all"), "corrupt or truncated"),
        (
            lambda p: write_idx(p, np.zeros((40, 28, 28), np.uint8), magic=2049),
            r"not an IDX images file \(magic number 2049, expected 2051\)",
        ),
        (
            lambda p: write_idx(p, np.zeros((39, 28, 28), np.uint8)),
            "has 39 images but train-labels-idx1-ubyte.gz has 40 labels",
        ),
    ],
    ids=["truncated-gz", "not-gz", "wrong-magic", "count-mismatch"],
)
def test_bad_idx_files(tmp_path: Path, damage, message: str) -> None:
    fake_mnist(tmp_path / "mnist")
    damage(tmp_path / "mnist" / MNIST_FILES[0])
    with pytest.raises(CnnlabError, match=message):
        load_dataset("mnist", data_dir=tmp_path, download=False)


def test_idx_header_promising_more_data_is_truncated(tmp_path: Path) -> None:
    fake_mnist(tmp_path / "mnist")
    path = tmp_path / "mnist" / MNIST_FILES[1]
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">II", 2049, 100) + bytes(40))
    with pytest.raises(CnnlabError, match="is truncated"):
        load_dataset("mnist", data_dir=tmp_path, download=False)


# ------------------------------------------------------------------------------------------------ CIFAR


def test_cifar_python_archive(tmp_path: Path) -> None:
    cifar_archive(tmp_path / "cifar10" / "cifar-10-python.tar.gz")
    ds = load_dataset("cifar10", data_dir=tmp_path, download=False)
    assert ds.train_x.shape == (20, 3, 32, 32) and ds.test_x.shape == (3, 3, 32, 32)
    assert ds.classes[-1] == "truck" and ds.train_y[:4].tolist() == [0, 1, 2, 3]


def test_cifar_pickle_missing_keys(tmp_path: Path) -> None:
    cifar_archive(tmp_path / "cifar-10-python.tar.gz", drop_key="labels")
    with pytest.raises(CnnlabError, match=r"data_batch_1 lacks key.*labels"):
        load_dataset("cifar10", data_dir=tmp_path, download=False)


def test_cifar_pickle_cannot_run_code(tmp_path: Path) -> None:
    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    cifar_archive(tmp_path / "cifar-10-python.tar.gz", payload=Exploit())
    with pytest.raises(CnnlabError, match=r"not a readable CIFAR pickle.*refusing to load"):
        load_dataset("cifar10", data_dir=tmp_path, download=False)
    assert not (tmp_path / "pwned").exists()


def test_cifar_truncated_archive(tmp_path: Path) -> None:
    path = cifar_archive(tmp_path / "cifar-10-python.tar.gz")
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(CnnlabError, match="corrupt or truncated"):
        load_dataset("cifar10", data_dir=tmp_path, download=False)


# -------------------------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    "name, message",
    [
        ("minst", "unknown dataset 'minst': did you mean mnist"),
        ("cifar", "did you mean cifar10, cifar100"),
        ("mnist:parit", "unknown task 'mnist:parit': did you mean mnist:parity"),
        ("imagenet", "known: mnist, fashion-mnist"),
    ],
)
def test_unknown_names_suggest_close_matches(name: str, message: str) -> None:
    with pytest.raises(CnnlabError, match=message):
        load_dataset(name)


def test_folder_path_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(CnnlabError, match=r"folder dataset .*nope does not exist"):
        load_dataset(f"folder:{tmp_path / 'nope'}", cache_dir=tmp_path)


def test_size_only_for_folders_and_must_be_an_image_size(tmp_path: Path) -> None:
    with pytest.raises(CnnlabError, match="size= applies to folder: datasets only"):
        load_dataset("digits", size=16, cache_dir=tmp_path)
    image_folder(tmp_path / "pets", {"dog": 1, "cat": 1})
    for bad in (0, 3.5, (32,), (32, "32"), (-1, 4)):
        with pytest.raises(CnnlabError, match="is not an image size"):
            load_dataset(f"folder:{tmp_path / 'pets'}", size=bad, cache_dir=tmp_path)


# ------------------------------------------------------------------------------------------- image folders


def test_folder_without_splits_is_all_train(tmp_path: Path) -> None:
    image_folder(tmp_path / "pets", {"dog": 3, "cat": 2})
    ds = load_dataset(f"folder:{tmp_path / 'pets'}", cache_dir=tmp_path / "cache")
    assert ds.classes == ["cat", "dog"]
    assert ds.train_x.shape == (5, 3, 6, 8) and ds.train_y.tolist() == [0, 0, 1, 1, 1]
    assert ds.test_x.shape == (0, 3, 6, 8)


def test_sixteen_bit_greyscale_is_scaled_not_clipped(tmp_path: Path) -> None:
    """A 16-bit PNG (a scan, say) of the same grey levels as an 8-bit one reads as the same pixels, in a folder and
    for predict alike; Pillow's convert("L") clips it, which left 0 and 255 only."""
    from cnnlab.imagefile import read_pixels

    levels = np.arange(0, 256, dtype=np.uint16).reshape(16, 16)
    for name, array in (("eight", levels.astype(np.uint8)), ("sixteen", levels * 257)):
        (tmp_path / "greys" / name).mkdir(parents=True)
        Image.fromarray(array).save(tmp_path / "greys" / name / "a.png")
    with Image.open(tmp_path / "greys" / "sixteen" / "a.png") as im:
        assert im.mode == "I;16"
    eight, sixteen = (read_pixels(tmp_path / "greys" / n / "a.png") for n in ("eight", "sixteen"))
    assert np.array_equal(eight, sixteen) and eight.shape == (1, 1, 16, 16)
    ds = load_dataset(f"folder:{tmp_path / 'greys'}", cache_dir=tmp_path / "cache")
    assert ds.train_x.shape == (2, 1, 16, 16) and torch.equal(ds.train_x[0], ds.train_x[1])
    assert torch.equal(ds.train_x[0, 0], torch.from_numpy(levels.astype(np.uint8)))


def test_grey_modes_read_as_one_channel_in_folders_and_predict(tmp_path: Path) -> None:
    """Big-endian 16-bit TIFFs (Pillow's I;16B) and greyscale PNGs with alpha (LA) are grey: one channel from a
    folder and from read_pixels alike. The two once kept their own lists, and a folder of I;16B scans loaded as
    three copied channels while predict read one, and an LA image the other way round."""
    from cnnlab.imagefile import read_pixels

    levels = np.arange(0, 256, dtype=np.uint16).reshape(16, 16)
    Image.fromarray((levels * 257).astype(">u2")).save(tmp_path / "big.tif")
    grey_alpha = Image.fromarray(levels.astype(np.uint8)).convert("LA")
    grey_alpha.putalpha(Image.new("L", (16, 16), 128))
    grey_alpha.save(tmp_path / "alpha.png")
    for name, mode in (("big.tif", "I;16B"), ("alpha.png", "LA")):
        with Image.open(tmp_path / name) as im:
            assert im.mode == mode
        pixels = read_pixels(tmp_path / name)
        assert pixels.shape == (1, 1, 16, 16) and np.array_equal(pixels[0, 0], levels.astype(np.uint8)), name
        root = tmp_path / name.replace(".", "-")
        for label in ("a", "b"):
            (root / label).mkdir(parents=True)
            (root / label / name).write_bytes((tmp_path / name).read_bytes())
        ds = load_dataset(f"folder:{root}", cache_dir=tmp_path / "cache")
        assert ds.train_x.shape == (2, 1, 16, 16), name
        assert torch.equal(ds.train_x[0, 0], torch.from_numpy(levels.astype(np.uint8))), name


def test_folder_zip_with_wrapper_folder_and_splits(tmp_path: Path) -> None:
    src = image_folder(tmp_path / "src", {"cat": 2, "dog": 2}, "data/train")
    image_folder(src, {"cat": 1, "dog": 1}, "data/test")
    (src / "data" / "README.txt").write_text("not an image")
    archive = tmp_path / "pets.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in sorted(src.rglob("*")):
            zf.write(p, p.relative_to(src).as_posix())
        zf.writestr("__MACOSX/data/train/cat/._0.png", b"resource fork")
    ds = load_dataset(f"folder:{archive}", cache_dir=tmp_path / "cache")
    assert ds.classes == ["cat", "dog"] and len(ds.train_y) == 4 and ds.test_y.tolist() == [0, 1]


def test_folder_tar_matches_directory(tmp_path: Path) -> None:
    src = image_folder(tmp_path / "src", {"a": 2, "b": 2}, "train")
    image_folder(src, {"a": 1, "b": 1}, "test")
    archive = tmp_path / "ab.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(src, arcname=".")
    from_dir = load_dataset(f"folder:{src}", cache_dir=tmp_path / "cache")
    from_tar = load_dataset(f"folder:{archive}", cache_dir=tmp_path / "cache")
    assert torch.equal(from_dir.train_x, from_tar.train_x) and torch.equal(from_dir.test_y, from_tar.test_y)


def test_folder_sizes_and_modes(tmp_path: Path) -> None:
    root = tmp_path / "mixed"
    save_image(root / "a" / "0.png", (8, 6))
    save_image(root / "a" / "1.png", (8, 6))
    save_image(root / "b" / "0.png", (20, 10))
    ds = load_dataset(f"folder:{root}", cache_dir=tmp_path / "cache")
    assert ds.input_shape == (3, 6, 8)  # the most common size
    assert load_dataset(f"folder:{root}", cache_dir=tmp_path / "cache", size=16).input_shape == (3, 16, 16)
    assert load_dataset(f"folder:{root}", cache_dir=tmp_path / "cache", size=(5, 7)).input_shape == (3, 5, 7)
    gray = tmp_path / "gray"
    save_image(gray / "a" / "0.png", mode="L")
    save_image(gray / "b" / "0.png", mode="L")
    assert load_dataset(f"folder:{gray}", cache_dir=tmp_path / "cache").input_shape == (1, 6, 8)
    save_image(gray / "b" / "1.jpg", mode="RGB")
    assert load_dataset(f"folder:{gray}", cache_dir=tmp_path / "cache").input_shape == (3, 6, 8)


def test_folder_skips_a_few_unreadable_images_with_one_warning(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = image_folder(tmp_path / "pets", {"cat": 3, "dog": 3})
    (root / "cat" / "bad.jpg").write_bytes(b"\xff\xd8 truncated jpeg")
    (root / "dog" / "empty.png").write_bytes(b"")
    (root / "dog" / "notes.txt").write_text("ignored: not an image extension")
    with pytest.warns(UserWarning) as caught:
        ds = load_dataset(f"folder:{root}", cache_dir=tmp_path / "cache")
    messages = [str(w.message) for w in caught if "unreadable" in str(w.message)]
    assert len(messages) == 1 and "skipped 2 unreadable image(s)" in messages[0]
    assert "cat/bad.jpg" in messages[0] and "dog/empty.png" in messages[0]
    assert ds.train_y.tolist() == [0, 0, 0, 1, 1, 1]
    with pytest.warns(UserWarning) as again:  # from the cache: still said, every time
        load_dataset(f"folder:{root}", cache_dir=tmp_path / "cache")
    assert [str(w.message) for w in again if "unreadable" in str(w.message)] == messages
    # a command says it in one `warning:` line, without Python's file, line and source line
    from cnnlab.cli import main

    capsys.readouterr()
    argv = ["train", "--data", f"folder:{root}", "--model", "mlp", "--epochs", "1", "--out", str(tmp_path / "r")]
    assert main([*argv, "--no-progress"]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "unreadable" in line or "Warning" in line]
    assert lines == ["warning: " + messages[0]], lines


def _junk_images(root: Path) -> None:
    for c in "ab":
        (root / c).mkdir()
        (root / c / "x.jpg").write_bytes(b"junk")


def _text_files_only(root: Path) -> None:
    for c in "ab":
        (root / c).mkdir()
        (root / c / "x.txt").write_text("x")


def _empty_class(root: Path) -> None:
    image_folder(root, {"cat": 2})
    (root / "dog").mkdir()


def _no_class_folders(root: Path) -> None:
    save_image(root / "0.png")
    save_image(root / "1.png")


def _unknown_test_class(root: Path) -> None:
    image_folder(root, {"cat": 2}, "train")
    image_folder(root, {"cow": 1}, "test")


def _class_all_unreadable(root: Path) -> None:
    image_folder(root, {"cat": 2})
    (root / "dog").mkdir()
    (root / "dog" / "x.png").write_bytes(b"bad")


@pytest.mark.parametrize(
    "build, message",
    [
        (_junk_images, "no readable images in .*all 2 image files failed"),
        (_text_files_only, r"no images found in .*looked for \.jpg"),
        (_empty_class, "class folder dog has no images"),
        (_no_class_folders, "no class folders"),
        (_unknown_test_class, "test class folder.* cow have no train counterpart"),
        (_class_all_unreadable, "class dog has no readable training images"),
    ],
)
def test_bad_image_folders(tmp_path: Path, build, message: str) -> None:
    root = tmp_path / "ds"
    root.mkdir()
    build(root)
    with pytest.raises(CnnlabError, match=message), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the all-unreadable class also warns about the skipped file
        load_dataset(f"folder:{root}", cache_dir=tmp_path / "cache")


def test_folder_not_an_archive_and_corrupt_archive(tmp_path: Path) -> None:
    (tmp_path / "x.tar.gz").write_bytes(b"plain text")
    with pytest.raises(CnnlabError, match=r"not a readable \.zip/\.tar/\.tar\.gz archive"):
        load_dataset(f"folder:{tmp_path / 'x.tar.gz'}", cache_dir=tmp_path)
    archive = tar_with(
        tmp_path / "t.tar.gz", [(tar_info(f"c{i}/{j}.png"), png_bytes(j)) for i in range(2) for j in range(30)]
    )
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(CnnlabError, match="corrupt or truncated"):
        load_dataset(f"folder:{archive}", cache_dir=tmp_path)


# ----------------------------------------------------------------------------------------- unsafe archives

MALICIOUS_TAR = {
    "absolute": [],  # an absolute member name under the test's own tmp dir, made in the test
    "dotdot": [(tar_info("a/../../evil.png"), b"x")],
    "symlink-out": [(tar_info("a/link", tarfile.SYMTYPE, "../../outside"), None)],
    "symlink-abs": [(tar_info("a/link", tarfile.SYMTYPE, "/etc/passwd"), None)],
    "hardlink-out": [(tar_info("a/hard", tarfile.LNKTYPE, "../outside"), None)],
    "device": [(tar_info("a/dev", tarfile.CHRTYPE), None)],
    "symlink-chain": [
        (tar_info("a/up", tarfile.SYMTYPE, ".."), None),  # points at the archive root: inside, allowed alone
        (tar_info("a/up/up2", tarfile.SYMTYPE, ".."), None),  # lexically a/, physically above the root
        (tar_info("a/up/up2/evil.png"), b"x"),
    ],
}


@pytest.mark.parametrize("case", sorted(MALICIOUS_TAR))
def test_malicious_tar_is_rejected(tmp_path: Path, case: str) -> None:
    target = tmp_path / "elsewhere" / "evil.png"  # where an extractor honouring an absolute name would write
    target.parent.mkdir()
    members = [(tar_info(str(target)), b"x")] if case == "absolute" else MALICIOUS_TAR[case]
    archive = tar_with(tmp_path / "evil.tar.gz", [(tar_info("a/0.png"), png_bytes())] + members)
    if case == "absolute":
        with tarfile.open(archive) as tf:
            assert str(target) in tf.getnames() and target.is_absolute()  # the archive does carry the absolute name
    dest = tmp_path / "deep" / "dest"
    with pytest.raises(CnnlabError, match=r"unsafe archive .*refusing"):
        safe_extract(archive, dest)
    assert not target.exists() and not list(target.parent.iterdir())
    assert not (tmp_path / "evil.png").exists() and not (tmp_path / "deep" / "evil.png").exists()
    assert not (dest / "a" / "0.png").exists()  # checked before anything is written
    with pytest.raises(CnnlabError, match="unsafe archive"):
        load_dataset(f"folder:{archive}", cache_dir=tmp_path / "cache")


def _zip_symlink(zf: zipfile.ZipFile, name: str, target: str) -> None:
    info = zipfile.ZipInfo(name)
    info.external_attr = 0o120777 << 16
    zf.writestr(info, target)


@pytest.mark.parametrize("case", ["dotdot", "absolute", "symlink-out"])
def test_malicious_zip_is_rejected(tmp_path: Path, case: str) -> None:
    target = tmp_path / "elsewhere" / "evil.png"  # where an extractor honouring an absolute name would write
    target.parent.mkdir()
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a/0.png", png_bytes())
        if case == "dotdot":
            zf.writestr("a/../../evil.png", b"x")
        elif case == "absolute":
            zf.writestr(str(target), b"x")
        else:
            _zip_symlink(zf, "a/link", "../../outside")
    if case == "absolute":
        with zipfile.ZipFile(archive) as zf:
            assert str(target) in zf.namelist() and target.is_absolute()  # the archive does carry the absolute name
    with pytest.raises(CnnlabError, match="unsafe archive"):
        safe_extract(archive, tmp_path / "dest")
    assert not target.exists() and not list(target.parent.iterdir())
    assert not (tmp_path / "evil.png").exists() and not (tmp_path / "dest" / "a").exists()
    with pytest.raises(CnnlabError, match="unsafe archive"):
        load_dataset(f"folder:{archive}", cache_dir=tmp_path / "cache")


def test_safe_extract_keeps_links_inside(tmp_path: Path) -> None:
    archive = tar_with(
        tmp_path / "ok.tar.gz",
        [(tar_info("a/0.png"), png_bytes()), (tar_info("a/same.png", tarfile.SYMTYPE, "0.png"), None)],
    )
    dest = safe_extract(archive, tmp_path / "out")
    assert (dest / "a" / "same.png").read_bytes() == png_bytes()


# ---------------------------------------------------------------------------------------------- cache


def test_cache_hit_skips_decoding_and_source_change_invalidates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_mnist(tmp_path / "mnist")
    first = load_dataset("mnist", data_dir=tmp_path)
    entries = list((tmp_path / "cache").iterdir())
    assert len(entries) == 1 and sorted(p.name for p in entries[0].iterdir()) == [
        "meta.json",
        "test_x.npy",
        "test_y.npy",
        "train_x.npy",
        "train_y.npy",
    ]

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("decoded again despite the cache")

    monkeypatch.setattr("cnnlab.data.dataset.read_idx_dataset", fail)
    assert torch.equal(load_dataset("mnist", data_dir=tmp_path).train_x, first.train_x)
    monkeypatch.undo()
    fake_mnist(tmp_path / "mnist", n_train=30)
    os.utime(tmp_path / "mnist" / MNIST_FILES[0], ns=(1, 1))
    assert len(load_dataset("mnist", data_dir=tmp_path).train_y) == 30
    # The new version's entry replaced the old one, which no load could reach again.
    (replaced,) = list((tmp_path / "cache").iterdir())
    assert replaced != entries[0] and not entries[0].exists()


def test_a_changed_source_leaves_other_decodings_and_other_sources_entries(tmp_path: Path) -> None:
    """Only earlier versions of the same files under the same options are superseded."""
    fake_mnist(tmp_path / "mnist")
    load_dataset("mnist", data_dir=tmp_path)
    folder = tmp_path / "pics"
    for label in ("a", "b"):
        (folder / label).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (12, 12), (40 * i, 90, 200)).save(folder / label / f"{i}.png")
    for size in (8, 10):
        load_dataset(f"folder:{folder}", cache_dir=tmp_path / "cache", size=size)
    before = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert len(before) == 3
    os.utime(folder / "a" / "0.png", ns=(1, 1))
    load_dataset(f"folder:{folder}", cache_dir=tmp_path / "cache", size=8)
    after = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert len(after) == 3 and len(set(after) - set(before)) == 1  # only the 8x8 decoding was replaced


def test_a_source_rewritten_with_its_size_and_mtime_put_back_is_decoded_again(tmp_path: Path) -> None:
    """Another image of the same size copied over one (`cp`), then its mtime set back (`touch -d`): the key of
    path, size and mtime stayed the same, so the stale decoding was loaded, and listed as current."""
    folder = tmp_path / "pets"
    for label, seeds in (("cat", (0, 1)), ("dog", (2, 3))):
        for seed in seeds:
            save_image(folder / label / f"{seed}.bmp", seed=seed)  # a BMP's size is its width and height's
    first = load_dataset(f"folder:{folder}", cache_dir=tmp_path / "cache")
    target, before = folder / "cat" / "0.bmp", (folder / "cat" / "0.bmp").stat()
    target.write_bytes((folder / "dog" / "3.bmp").read_bytes())  # as cp does: the same file, other bytes
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = target.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (before.st_ino, before.st_size, before.st_mtime_ns)
    assert [e.state for e in cache.entries(tmp_path / "cache")] == ["sources changed"]
    again = load_dataset(f"folder:{folder}", cache_dir=tmp_path / "cache")
    fresh = load_dataset(f"folder:{folder}", cache_dir=tmp_path / "fresh")
    assert torch.equal(again.train_x, fresh.train_x) and not torch.equal(again.train_x, first.train_x)
    assert [e.state for e in cache.entries(tmp_path / "cache")] == ["current"]  # the stale entry replaced


def test_incomplete_cache_entry_is_rebuilt(tmp_path: Path) -> None:
    fake_mnist(tmp_path / "mnist")
    load_dataset("mnist", data_dir=tmp_path)
    entry = next((tmp_path / "cache").iterdir())
    (entry / "meta.json").unlink()  # as if the writer died before finishing
    (entry / "train_x.npy").write_bytes(b"garbage")
    assert cache.load_entry(entry) is None
    assert load_dataset("mnist", data_dir=tmp_path).train_x.shape == (40, 1, 28, 28)
    assert not [p for p in entry.iterdir() if p.name.endswith(".tmp")]


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # the last pixel or label: the header still reads
    path.write_bytes(bytes(data))


def _save(name: str, change: object) -> object:
    return lambda entry: np.save(entry / name, change(np.load(entry / name)))


def _meta(change: object) -> object:
    return lambda entry: (entry / "meta.json").write_text(
        json.dumps(change(json.loads((entry / "meta.json").read_text())))
    )


CACHE_DAMAGE = {
    "a pixel byte flipped": lambda entry: _flip_a_byte(entry / "train_x.npy"),
    "a label byte flipped": lambda entry: _flip_a_byte(entry / "test_y.npy"),
    "an emptied file": lambda entry: (entry / "test_x.npy").write_bytes(b""),
    "fewer labels than images": _save("train_y.npy", lambda y: y[:5]),
    "a label outside the classes": _save("train_y.npy", lambda y: np.full_like(y, 99)),
    "a label one past the last class": _save("train_y.npy", lambda y: np.full_like(y, 10)),
    "test images of another size": _save("test_x.npy", lambda x: x[:, :, :27]),
    "an older cache version": _meta(lambda m: {**m, "version": m["version"] - 1}),
    "images as floats": _save("train_x.npy", lambda x: x.astype(np.float32)),
    "meta.json without classes": _meta(lambda m: {k: v for k, v in m.items() if k != "classes"}),
    "meta.json a list": _meta(lambda m: [m]),
}


@pytest.mark.parametrize("damage", CACHE_DAMAGE, ids=list(CACHE_DAMAGE))
def test_a_damaged_cache_entry_is_decoded_again_never_used_or_a_traceback(tmp_path: Path, damage: str) -> None:
    """Each of these used to be read as data (a flipped byte, a short label file: silently wrong) or to raise
    EOFError, KeyError or AttributeError from the load."""
    arrays = fake_mnist(tmp_path / "mnist")
    load_dataset("mnist", data_dir=tmp_path)
    entry = next((tmp_path / "cache").iterdir())
    CACHE_DAMAGE[damage](entry)
    assert cache.load_entry(entry) is None
    ds = load_dataset("mnist", data_dir=tmp_path)
    assert np.array_equal(ds.train_x.numpy()[:, 0], arrays[MNIST_FILES[0]])
    assert np.array_equal(ds.test_y.numpy(), arrays[MNIST_FILES[3]])
    assert cache.load_entry(next((tmp_path / "cache").iterdir())) is not None  # rewritten whole


def test_unwritable_cache_warns_and_still_loads(tmp_path: Path) -> None:
    fake_mnist(tmp_path / "mnist")
    (tmp_path / "blocked").write_text("a file where the cache folder should be")
    with pytest.warns(UserWarning, match="could not write the data cache"):
        ds = load_dataset("mnist", data_dir=tmp_path, cache_dir=tmp_path / "blocked")
    assert len(ds.train_y) == 40


# ----------------------------------------------------------------------------------------------- digits


def test_digits_offline() -> None:
    pytest.importorskip("sklearn")
    ds = load_dataset("digits", cache_dir="/nonexistent-never-written")
    assert ds.input_shape == (1, 8, 8) and len(ds.train_y) + len(ds.test_y) == 1797
    assert len(ds.test_y) == round(1797 * 0.2) and ds.train_x.max() == 255
    parity = load_dataset("digits:parity", val=0.1)
    assert parity.classes == ["even", "odd"] and len(parity.val_y) == round(len(ds.train_y) * 0.1)


def test_a_val_folder_beside_train_is_refused_not_read_as_a_class(tmp_path: Path) -> None:
    """Other tools' train/val/test layout: without the refusal, train/ and val/ became the two classes (and with
    test/ too, val/ was left out) without a word."""
    for layout in (("train", "val"), ("train", "valid", "test"), ("data/train", "data/validation", "data/test")):
        root = tmp_path / "-".join(layout).replace("/", "_")
        for split in layout:
            image_folder(root, {"red": 2, "blue": 2}, split)
        folder = layout[1].split("/")[-1]
        with pytest.raises(CnnlabError, match=rf"has a {folder}/ folder beside train/: cnnlab reads train/ and test/"):
            load_dataset(f"folder:{root}", cache_dir=tmp_path / "cache")


def test_exif_orientation_turns_photos_upright_in_folders_and_predict(tmp_path: Path) -> None:
    """A phone photo held upright is often stored sideways with an EXIF orientation: it is read as viewers show
    it, in a folder (whose most common size is the turned one) and by predict alike."""
    from cnnlab.imagefile import read_pixels

    stored = np.zeros((16, 32), np.uint8)  # 32 wide, 16 high: the left half white
    stored[:, :16] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90 degrees clockwise: 16 wide, 32 high, the top half white
    for label in ("a", "b"):
        (tmp_path / "photos" / label).mkdir(parents=True)
        Image.fromarray(stored).save(tmp_path / "photos" / label / "p.png", exif=exif)
    shown = read_pixels(tmp_path / "photos" / "a" / "p.png")[0, 0]
    assert shown.shape == (32, 16) and (shown[:16] == 255).all() and (shown[16:] == 0).all()
    ds = load_dataset(f"folder:{tmp_path / 'photos'}", cache_dir=tmp_path / "cache")
    assert ds.input_shape == (1, 32, 16) and torch.equal(ds.train_x[0, 0], torch.from_numpy(shown))
    resized = load_dataset(f"folder:{tmp_path / 'photos'}", cache_dir=tmp_path / "cache", size=(8, 4))
    assert resized.train_x.shape == (2, 1, 8, 4) and (resized.train_x[0, 0, :3] == 255).all()


@pytest.mark.parametrize("orientation", [5, 6, 7, 8])
def test_every_orientation_that_turns_a_photo_swaps_its_width_and_height(tmp_path: Path, orientation: int) -> None:
    """EXIF 5 and 7 (turned and mirrored) swap the sides as 6 and 8 do; the folder reader sizes its images from
    the header before decoding them."""
    from cnnlab.imagefile import read_pixels, shown_size

    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(tmp_path / "p.jpg", exif=exif)
    with Image.open(tmp_path / "p.jpg") as im:
        assert shown_size(im) == (4, 6)
    assert read_pixels(tmp_path / "p.jpg").shape == (1, 3, 6, 4)


def test_greyscale_of_more_than_eight_bits_is_scaled_by_its_own_range() -> None:
    """32-bit integer images use 16-bit values (0..65535, 1000 is dark), not 0..255; float images of 0..1 are
    0..255 after scaling, and 0.5 rounds to 128."""
    from cnnlab.imagefile import eight_bit

    wide = Image.fromarray(np.array([[0, 1000, 65535]], np.int32), "I")
    assert np.asarray(eight_bit(wide, "L")).tolist() == [[0, 4, 255]]
    unit = Image.fromarray(np.array([[0.0, 0.5, 1.0]], np.float32), "F")
    assert np.asarray(eight_bit(unit, "L")).tolist() == [[0, 128, 255]]


def test_links_to_nothing_in_a_folder_are_passed_over(tmp_path: Path) -> None:
    """An editor's lock file (Emacs' `.#notes.txt`, a link to nowhere) or an image link whose target moved away
    stopped the load with "cannot read ... No such file or directory"; the folder loads without them."""
    root = image_folder(tmp_path / "pets", {"cat": 2, "dog": 2})
    os.symlink("user@host.1234:1", root / "cat" / ".#notes.txt")
    os.symlink(tmp_path / "moved-away.png", root / "dog" / "gone.png")
    with pytest.warns(UserWarning, match="gone.png"):
        ds = load_dataset(f"folder:{root}", cache_dir=tmp_path / "cache")
    assert ds.classes == ["cat", "dog"] and ds.train_y.tolist() == [0, 0, 1, 1]


def test_images_no_class_is_given_for_are_named_not_silently_left_out(tmp_path: Path) -> None:
    """A stray image at a folder's top (outside the class folders), or one a labels file does not list, is not
    used: one warning names it, on the first load and from the cache alike."""
    root = image_folder(tmp_path / "pets", {"cat": 2, "dog": 2})
    save_image(root / "stray.png")
    for _ in range(2):  # decoded, then cached
        with pytest.warns(
            UserWarning, match=r"1 image\(s\) in .*pets outside the class folders are not used: stray.png"
        ):
            ds = load_dataset(f"folder:{root}", cache_dir=tmp_path / "cache")
        assert len(ds.train_y) == 4
    listed = image_folder(tmp_path / "listed", {"img": 3})
    (listed / "labels.csv").write_text("img/0.png,a\nimg/1.png,b\n")
    with pytest.warns(UserWarning, match=r"1 image\(s\) in .*listed not listed in labels.csv are not used: img/2.png"):
        assert load_dataset(f"folder:{listed}", cache_dir=tmp_path / "cache").train_y.tolist() == [0, 1]
