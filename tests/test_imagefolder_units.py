"""A user's own image folders (data/imagefolder.py) read from small trees built in memory, as an archive's are:
which files are classes, labels and splits, the pixels each image decodes to, the worker pool, and the whole
one-line refusal of each folder it cannot read."""

from __future__ import annotations

import ctypes
import io
import signal
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnlab import failpoint
from cnnlab.data import imagefolder
from cnnlab.data.imagefolder import (
    IMAGE_EXTENSIONS,
    POOL_MIN_IMAGES,
    _class_order,
    _default_workers,
    _pool,
    decode_images,
    find_labels_file,
    flowers17_entries,
    read_flowers17,
    read_image_folder,
)
from cnnlab.data.sources import FileTree
from cnnlab.errors import CnnlabError
from cnnlab.imagefile import to_size

ORIGIN = Path("/data/pets.zip")


def png(value: int = 0, size: tuple[int, int] = (2, 2)) -> bytes:
    """A grey PNG of `size` (W, H) whose every pixel is `value`."""
    out = io.BytesIO()
    Image.new("L", size, value).save(out, format="PNG")
    return out.getvalue()


def tree(files: dict[str, bytes]) -> FileTree:
    """The tree an archive of these files lists: every file's folders, bytes for each file."""
    dirs = {"/".join(p.split("/")[:i]) for p in files for i in range(1, p.count("/") + 1)}
    return FileTree(ORIGIN, dict(files), dirs)


def refusal(files: dict[str, bytes]) -> str:
    with pytest.raises(CnnlabError) as e:
        read_image_folder(tree(files))
    return str(e.value)


def two_classes(prefix: str = "") -> dict[str, bytes]:
    return {f"{prefix}{c}/{i}.png": png(10 * i) for c in ("cat", "dog") for i in range(2)}


# ------------------------------------------------------------------------------------------ class folders


def test_class_folders_in_two_wrapper_folders_keep_their_test_split() -> None:
    """An archive of a folder holding a folder (pets/v2/train, pets/v2/test) is looked through to its splits."""
    ds = read_image_folder(tree({**two_classes("pets/v2/train/"), **two_classes("pets/v2/test/")}))
    assert ds.classes == ["cat", "dog"] and ds.train_y.tolist() == ds.test_y.tolist() == [0, 0, 1, 1]
    assert ds.notes == []  # nothing left out: no warning


def test_folder_refusals_are_whole_lines() -> None:
    """No image, a validation folder beside train/, test classes without training images and a single class:
    each names the folder and what to do."""
    assert refusal({"notes.txt": b""}) == (
        f"no images found in {ORIGIN} (looked for {', '.join(IMAGE_EXTENSIONS)}): check the path"
    )
    assert refusal({**two_classes("train/"), **two_classes("val/")}) == (
        f"{ORIGIN} has a val/ folder beside train/: cnnlab reads train/ and test/ and takes the validation images "
        "from train/ (--val-split); move val/'s class folders into train/ or test/, or remove it"
    )
    extra = {**two_classes("train/"), **two_classes("test/"), "test/emu/0.png": png(), "test/yak/0.png": png()}
    assert refusal(extra) == (
        f"{ORIGIN}: test class folder(s) emu, yak have no train counterpart: rename or remove them"
    )
    assert refusal({"cat/0.png": png()}) == (
        f"{ORIGIN} has only one class folder (cat): a classifier needs at least two class folders"
    )


# ------------------------------------------------------------------------------------------- labels files


@pytest.mark.parametrize(
    "names, order",
    [
        ({"10", "2", "1", "-1"}, ["-1", "1", "2", "10"]),
        ({"X2", "X10", "X1"}, ["X1", "X10", "X2"]),
        ({"1" * 30, "2"}, ["2", "1" * 30]),
        ({"1" * 31, "2"}, ["1" * 31, "2"]),
    ],
    ids=["negative-numbers", "names-with-digits", "30-digits", "31-digits"],
)
def test_numeric_labels_are_classes_in_numeric_order_up_to_30_digits(names: set[str], order: list[str]) -> None:
    """Labels -1, 1, 2, 10 are classes in that order (class 2 is index 2, not after 10); names that only hold
    digits (X2) sort as text, and so do numbers of more than 30 digits."""
    assert _class_order(names) == order


@pytest.mark.parametrize("wrap", ["pets/", "pets/v2/"], ids=["one-wrapper", "two-wrappers"])
def test_a_labels_file_inside_wrapper_folders_is_found_and_its_names_are_relative_to_it(wrap: str) -> None:
    """An archive of a folder (or of a folder in a folder) holding labels.csv: the file is found, and its names
    are read from its own folder."""
    files = {
        f"{wrap}labels.csv": b"img/0.png,cat\nimg/1.png,dog\n",
        f"{wrap}img/0.png": png(1),
        f"{wrap}img/1.png": png(2),
    }
    assert find_labels_file(tree(files)) == f"{wrap}labels.csv"
    ds = read_image_folder(tree(files))
    assert ds.classes == ["cat", "dog"] and ds.train_x[:, 0, 0, 0].tolist() == [1, 2]


def test_a_labels_file_in_a_folder_beside_other_files_is_not_the_folders_labels() -> None:
    """A README beside the one folder: that folder is not a wrapper, so its labels.csv does not label the tree."""
    assert find_labels_file(tree({"README.txt": b"", "pets/labels.csv": b"", "pets/0.png": png()})) is None


@pytest.mark.parametrize("head", ["filename,species", "photo,label"])
def test_a_header_with_one_known_word_is_skipped(head: str) -> None:
    """A header naming either column the usual way (filename, or label) is a header, not an image to look for;
    later lines are images whatever their label, even a class called 'target'."""
    text = f"{head}\nimg/0.png,target\nimg/1.png,other\n".encode()
    ds = read_image_folder(tree({"labels.csv": text, "img/0.png": png(), "img/1.png": png()}))
    assert ds.classes == ["other", "target"] and ds.train_y.tolist() == [1, 0]


def test_quoted_names_in_a_space_separated_labels_file_lose_their_quotes() -> None:
    """`"img/0.png" cat` in labels.txt names img/0.png, as it would in a CSV; only quotes are taken off (a class
    Xerus keeps its X)."""
    text = b'"img/0.png" cat\n"img/1.png" "Xerus"\n'
    ds = read_image_folder(tree({"labels.txt": text, "img/0.png": png(), "img/1.png": png()}))
    assert ds.classes == ["Xerus", "cat"]


def test_labels_file_refusals_are_whole_lines() -> None:
    """A file of comments only, a line of four fields (echoed up to 80 characters), an image listed twice."""
    where = f"{ORIGIN}: labels.csv"
    images = {"img/0.png": png(), "img/1.png": png()}
    assert refusal({"labels.csv": b"# nothing yet\n\n", **images}) == (
        f"{where} lists no images: add 'filename,label' lines"
    )
    long = "img/0.png," + "x" * 100 + ",a,b"
    assert refusal({"labels.csv": long.encode(), **images}) == (
        f"{where} line 1: expected 'filename,label' or 'filename,label,split', got {long[:80]!r}; fix the line (a "
        "labels file at a folder's top gives each image's label: rename it if it is not one)"
    )
    assert refusal({"labels.csv": b"img/0.png,a\nimg/1.png,b\nimg/0.png,b,test\n", **images}) == (
        f"{where} line 3: 'img/0.png' is listed again (first on line 1); an image has one label and one split (a "
        "test image also trained on inflates test accuracy): remove one of the lines"
    )


# ------------------------------------------------------------------------------------------------ decoding


def test_an_image_of_another_size_is_resized_as_predict_resizes_it() -> None:
    """The folder's common size is 4x4; a 2x3 image is brought to it by the bilinear resize predict uses, so a
    model sees a file at prediction as it saw it in training."""
    gradient = np.arange(6, dtype=np.uint8).reshape(3, 2) * 40
    out = io.BytesIO()
    Image.fromarray(gradient).save(out, format="PNG")
    files = {"a/0.png": png(0, (4, 4)), "a/1.png": png(9, (4, 4)), "b/0.png": out.getvalue()}
    ds = read_image_folder(tree(files))
    assert ds.train_x.dtype == np.uint8
    assert np.array_equal(ds.train_x[2:3], to_size(gradient[None, None], (4, 4)))


def truncated_jpeg() -> bytes:
    """A JPEG whose header reads (mode, size) but whose pixels are cut off."""
    out = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)).save(out, format="JPEG")
    return out.getvalue()[:-1000]


def test_an_image_cut_off_after_its_header_is_skipped_and_named() -> None:
    """A file whose size reads but whose pixels do not is left out with a note naming it; the images after it keep
    their own labels."""
    ds = read_image_folder(tree({"a/0.png": png(1), "a/1.jpg": truncated_jpeg(), "b/0.png": png(2), "b/1.png": png(3)}))
    assert ds.train_y.tolist() == [0, 1, 1] and ds.train_x[:, 0, 0, 0].tolist() == [1, 2, 3]
    assert ds.notes == [f"skipped 1 unreadable image(s) in {ORIGIN}: a/1.jpg"]


def test_a_folder_whose_every_image_is_cut_off_is_refused_in_one_line() -> None:
    """Every file's header reads, no file's pixels do: one line naming the first class without images."""
    assert refusal({"a/0.jpg": truncated_jpeg(), "b/0.jpg": truncated_jpeg()}) == (
        f"{ORIGIN}: class a has no readable training images: add some or remove the folder"
    )


def test_a_whole_chunk_of_cut_off_images_leaves_the_others_uint8() -> None:
    """The first 256 images (one decoding chunk) cut off, four good ones after: those four decode as uint8."""
    files = {f"a/{i:03d}.jpg": truncated_jpeg() for i in range(256)}
    files |= {"a/300.png": png(5), "a/301.png": png(6), "b/0.png": png(7), "b/1.png": png(8)}
    ds = read_image_folder(tree(files))
    assert ds.train_x.dtype == np.uint8 and ds.train_x[:, 0, 0, 0].tolist() == [5, 6, 7, 8]


# ------------------------------------------------------------------------------------------------ the pool


def _death_signal() -> int:
    """The signal this process gets when its parent ends (prctl PR_GET_PDEATHSIG)."""
    value = ctypes.c_int()
    ctypes.CDLL(None).prctl(2, ctypes.byref(value))
    return value.value


def test_worker_processes_start_only_for_many_images_and_more_than_one_core() -> None:
    """Below 2,000 images or on one core no worker starts (starting them costs more than they save); otherwise one
    worker per core, each killed with this process (a load killed with kill -9 left workers holding the cache)."""
    assert _pool(POOL_MIN_IMAGES - 1, 8) is None and _pool(POOL_MIN_IMAGES, 1) is None
    pool = _pool(POOL_MIN_IMAGES, 3)
    assert pool is not None
    try:
        assert pool._max_workers == 3  # type: ignore[attr-defined]
        assert pool.submit(_death_signal).result() == signal.SIGKILL
    finally:
        pool.shutdown()


def test_workers_count_the_cores_this_process_may_use() -> None:
    """Under taskset (or a container's CPU set) of one core, one worker: the cores allowed, not the machine's."""
    allowed = imagefolder.os.sched_getaffinity(0)
    imagefolder.os.sched_setaffinity(0, {min(allowed)})
    try:
        assert _default_workers() == 1
    finally:
        imagefolder.os.sched_setaffinity(0, allowed)


def test_images_decoded_by_the_pool_are_those_decoded_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """2,000 images on two workers: every image's pixels and label as decoding in this process gives them, and the
    crash tests' failpoint `decode-pool` is passed twice: the workers read the headers, then decode."""
    monkeypatch.setattr(imagefolder, "_default_workers", lambda: 2)
    monkeypatch.setattr(failpoint, "_COUNTS", {})
    monkeypatch.setenv("CNNLAB_FAILPOINT", "decode-pool:2")
    monkeypatch.setenv("CNNLAB_FAILPOINT_SIGNAL", "SIGUSR1")
    passed: list[int] = []
    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: passed.append(signum))
    try:
        files = {f"{c}/{i:04d}.png": png(i % 251) for c in ("a", "b") for i in range(POOL_MIN_IMAGES // 2)}
        entries = {"train": [(p, int(p[0] == "b")) for p in sorted(files)]}
        ds = decode_images(tree(files), ["a", "b"], entries)
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert passed == [signal.SIGUSR1]
    expected = [i % 251 for _ in range(2) for i in range(POOL_MIN_IMAGES // 2)]
    assert ds.train_x[:, 0, 0, 0].tolist() == expected and ds.train_y.tolist() == [0] * 1000 + [1] * 1000


# ---------------------------------------------------------------------------------------------- 17 flowers


def flowers(count: int = 1360) -> FileTree:
    return tree({f"jpg/image_{i:04d}.jpg": png(i % 256, (1, 1)) for i in range(1, count + 1)})


def test_flowers_are_224x224_and_split_the_same_every_time() -> None:
    """17flowers.tgz decodes to AlexNet's and VGG's 224x224 unless told otherwise, with the one seeded split (the
    same test images in every version, so results compare)."""
    entries = flowers17_entries(flowers())
    assert [p for p, _ in entries["test"][:4]] == [f"jpg/image_{i:04d}.jpg" for i in (5, 9, 10, 14)]
    assert read_flowers17(flowers()).train_x.shape[1:] == (1, 224, 224)


def test_flowers_archive_lacking_images_is_refused_in_one_line() -> None:
    """An archive of the first 1,000 images: the count missing, the first one, and what to do."""
    with pytest.raises(CnnlabError) as e:
        flowers17_entries(flowers(1000))
    assert str(e.value) == (
        f"{ORIGIN} lacks 360 of the 1360 flower images, the first jpg/image_1001.jpg: it is not the Oxford 17 flowers "
        "archive (17flowers.tgz); delete it so it is downloaded again, or replace it"
    )
