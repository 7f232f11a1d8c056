"""The dataset decoders of data/formats.py called directly, on the real MNIST files and on small files built here:
the exact bytes a reader accepts, and the whole one-line error for each file it refuses."""

from __future__ import annotations

import gzip
import io
import pickle
import re
import struct
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from cnnlab.data import load_dataset
from cnnlab.data.formats import read_cifar, read_idx, read_sklearn_digits
from cnnlab.errors import CnnlabError
from tests.conftest import shared_dataset
from tests.test_data_inputs import MNIST_FILES, fake_mnist, tar_info, tar_with, write_idx

CIFAR_MEMBERS = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]


def raw_idx(path: Path, data: bytes) -> Path:
    """An uncompressed IDX file holding `data` (the form the MNIST files take once gunzipped)."""
    path.write_bytes(data)
    return path


def refused(path: Path, ndim: int) -> str:
    with pytest.raises(CnnlabError) as e:
        read_idx(path, ndim)
    return str(e.value)


# ------------------------------------------------------------------------------------------------------ IDX


def test_real_mnist_test_images_decode_to_their_published_shape() -> None:
    """The t10k IDX files read as 10,000 28x28 images and 10,000 labels 0..9."""
    mnist = shared_dataset("mnist")
    x = read_idx(mnist / "t10k-images-idx3-ubyte.gz", 3)
    y = read_idx(mnist / "t10k-labels-idx1-ubyte.gz", 1)
    assert x.shape == (10000, 28, 28) and x.dtype == np.uint8
    assert y.shape == (10000,) and set(np.unique(y)) == set(range(10))


def test_a_gunzipped_idx_file_reads_as_its_gz(tmp_path: Path) -> None:
    """A user who gunzipped the MNIST files (as many tutorials do) reads the same images from the plain file."""
    gz = shared_dataset("mnist") / "t10k-images-idx3-ubyte.gz"
    plain = raw_idx(tmp_path / "t10k-images-idx3-ubyte", gzip.decompress(gz.read_bytes()))
    assert np.array_equal(read_idx(plain, 3), read_idx(gz, 3))


def test_an_idx_file_of_no_images_is_empty_not_truncated(tmp_path: Path) -> None:
    """A header announcing 0 images of 28x28 and nothing after it is a whole file: it reads as (0, 28, 28)."""
    path = raw_idx(tmp_path / "empty-idx3-ubyte", struct.pack(">IIII", 2051, 0, 28, 28))
    assert read_idx(path, 3).shape == (0, 28, 28)


def test_idx_files_too_short_for_their_header_are_refused_in_one_line(tmp_path: Path) -> None:
    """Two bytes have no magic number; the magic number alone, or with half its sizes, is a truncated file: each
    is refused by name, never a struct.error traceback."""
    short = raw_idx(tmp_path / "a", b"\x08\x03")
    assert refused(short, 3) == (
        f"{short} is not an IDX images file (magic number None, expected 2051): "
        "check that the file names match their contents, or replace the file"
    )
    for data in (struct.pack(">I", 2051), struct.pack(">II", 2051, 5)):
        path = raw_idx(tmp_path / "b", data)
        assert refused(path, 3) == (
            f"{path} is truncated: its header announces () values but it holds fewer or more bytes; replace it"
        )


def test_labels_given_for_images_name_both_kinds(tmp_path: Path) -> None:
    """A labels file where images are expected: the magic number it has, the one it should have, what to do."""
    path = write_idx(tmp_path / "x.gz", np.zeros(5, np.uint8))
    assert refused(path, 3) == (
        f"{path} is not an IDX images file (magic number 2049, expected 2051): "
        "check that the file names match their contents, or replace the file"
    )


def test_image_and_label_counts_that_differ_are_refused_whole(tmp_path: Path) -> None:
    """39 images for 40 labels: the two file names, both counts, and that they do not belong together."""
    fake_mnist(tmp_path / "mnist")
    write_idx(tmp_path / "mnist" / MNIST_FILES[0], np.zeros((39, 28, 28), np.uint8))
    with pytest.raises(CnnlabError) as e:
        load_dataset("mnist", data_dir=tmp_path, download=False)
    assert str(e.value) == (
        "train-images-idx3-ubyte.gz has 39 images but train-labels-idx1-ubyte.gz has 40 labels: "
        "the files do not belong together; replace them"
    )


@pytest.mark.parametrize("label, accepted", [(9, True), (10, False)])
def test_a_label_one_past_the_last_class_is_refused(tmp_path: Path, label: int, accepted: bool) -> None:
    """MNIST has classes 0..9: a label 9 loads, a label 10 names the file, the label and the class count."""
    fake_mnist(tmp_path / "mnist")
    labels = tmp_path / "mnist" / MNIST_FILES[3]
    write_idx(labels, np.r_[np.arange(19) % 10, label].astype(np.uint8))
    if accepted:
        assert load_dataset("mnist", data_dir=tmp_path, download=False, cache_dir=tmp_path / "c").test_y[-1] == 9
        return
    with pytest.raises(CnnlabError) as e:
        load_dataset("mnist", data_dir=tmp_path, download=False, cache_dir=tmp_path / "c")
    assert str(e.value) == f"{labels} has label 10 but the dataset has 10 classes: replace the file"


# ---------------------------------------------------------------------------------------------------- CIFAR


class _Python2Pickler(pickle._Pickler):  # type: ignore[name-defined]
    """Writes every str and bytes as Python 2's str (BINSTRING), as cPickle wrote the CIFAR archives' batches."""

    dispatch = dict(pickle._Pickler.dispatch)  # type: ignore[attr-defined]

    def _save_py2_str(self, obj: bytes | str) -> None:
        data = obj if isinstance(obj, bytes) else obj.encode("latin1")
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)

    dispatch[bytes] = _save_py2_str
    dispatch[str] = _save_py2_str


def python2_pickle(obj: object) -> bytes:
    out = io.BytesIO()
    _Python2Pickler(out, protocol=2).dump(obj)
    return out.getvalue()


def cifar_tar(path: Path, blobs: dict[str, bytes | None]) -> Path:
    """A CIFAR-10 python archive of these members (None: a folder of that name)."""
    members = [
        (tar_info(f"cifar-10-batches-py/{name}", tarfile.REGTYPE if blob is not None else tarfile.DIRTYPE), blob)
        for name, blob in blobs.items()
    ]
    return tar_with(path, members)


def cifar_batches(pickler=pickle.dumps, **replaced: object) -> dict[str, bytes]:
    """Every member of a small CIFAR-10 archive (4 images a batch), pickled by `pickler`; `replaced` members hold
    the given objects instead."""
    rng = np.random.default_rng(0)
    objects: dict[str, object] = {
        name: {"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), "labels": [0, 1, 2, 3]}
        for name in CIFAR_MEMBERS[:-1]
    }
    objects["batches.meta"] = {"label_names": [f"class{i}" for i in range(10)]}
    objects.update(replaced)
    return {name: pickler(obj) for name, obj in objects.items()}


def cifar_refusal(path: Path) -> str:
    with pytest.raises(CnnlabError) as e:
        read_cifar(path, "cifar10")
    return str(e.value)


def test_cifar_batches_pickled_by_python_2_decode_byte_for_byte(tmp_path: Path) -> None:
    """The Toronto archives were pickled by Python 2, whose str holds the pixels' bytes: read as latin-1 they come
    back exactly (read as ASCII, every byte over 127 would fail)."""
    blobs = cifar_batches(python2_pickle)
    ds = read_cifar(cifar_tar(tmp_path / "c.tar.gz", blobs), "cifar10")
    first = pickle.loads(cifar_batches()["data_batch_1"])
    assert np.array_equal(ds.train_x[:4], first["data"].reshape(4, 3, 32, 32)) and ds.train_x.max() > 127
    assert ds.classes == [f"class{i}" for i in range(10)] and ds.train_y[:4].tolist() == [0, 1, 2, 3]


def test_cifar_data_of_another_dtype_decodes_to_uint8_images_and_int64_labels(tmp_path: Path) -> None:
    """A batch holding its pixels as int64 and its labels as uint8 still decodes to what every decoder returns:
    uint8 images, int64 labels."""
    batch = {"data": np.full((4, 3072), 200, np.int64), "labels": np.arange(4, dtype=np.uint8)}
    ds = read_cifar(cifar_tar(tmp_path / "c.tar.gz", cifar_batches(test_batch=batch)), "cifar10")
    assert ds.test_x.dtype == np.uint8 and ds.test_y.dtype == np.int64 and ds.test_x.max() == 200


@pytest.mark.parametrize(
    "data, shape",
    [(np.zeros((4, 3000), np.uint8), "(4, 3000)"), (np.zeros(4 * 3072, np.uint8), "(12288,)")],
    ids=["rows-too-short", "flat"],
)
def test_cifar_data_not_of_32x32x3_rows_is_refused_in_one_line(tmp_path: Path, data: np.ndarray, shape: str) -> None:
    """Rows of 3,000 values, or one flat row, for 4 labels: the member, its shape and what to do, no traceback."""
    path = cifar_tar(tmp_path / "c.tar.gz", cifar_batches(data_batch_2={"data": data, "labels": [0, 1, 2, 3]}))
    assert (
        cifar_refusal(path)
        == f"{path}: member data_batch_2 has data of shape {shape} for 4 labels; replace the archive"
    )


def test_cifar_archive_lacking_members_names_each(tmp_path: Path) -> None:
    """An archive without its test batch and meta file lists both, sorted, and says it is not the python archive;
    a folder in the place of a batch is no batch either."""
    blobs = cifar_batches()
    del blobs["test_batch"], blobs["batches.meta"]
    path = cifar_tar(tmp_path / "c.tar.gz", blobs)
    assert cifar_refusal(path) == (
        f"{path} lacks cifar-10-batches-py/batches.meta, cifar-10-batches-py/test_batch: "
        "it is not the cifar10 python archive; replace it"
    )
    path = cifar_tar(tmp_path / "d.tar.gz", {**cifar_batches(), "data_batch_3": None})
    assert cifar_refusal(path) == (
        f"{path} lacks cifar-10-batches-py/data_batch_3: it is not the cifar10 python archive; replace it"
    )


def test_cifar_pickles_lacking_keys_name_the_archive_the_member_and_the_keys(tmp_path: Path) -> None:
    """A batch without its data and labels, a meta file without its names: the archive, the member and every
    missing key."""
    path = cifar_tar(tmp_path / "c.tar.gz", cifar_batches(data_batch_4={"other": 1}))
    assert cifar_refusal(path) == (
        f"{path}: member data_batch_4 lacks key(s) data, labels: "
        "this is not the python version of the dataset; replace it"
    )
    path = cifar_tar(tmp_path / "d.tar.gz", cifar_batches(**{"batches.meta": {"names": []}}))
    assert cifar_refusal(path) == (
        f"{path}: member batches.meta lacks key(s) label_names: "
        "this is not the python version of the dataset; replace it"
    )


def test_an_unreadable_cifar_pickle_names_the_archive(tmp_path: Path) -> None:
    """A batch that is no pickle: the archive's path and the member, so the user knows which file to replace."""
    blobs = {**cifar_batches(), "data_batch_5": b"not a pickle"}
    path = cifar_tar(tmp_path / "c.tar.gz", blobs)
    assert re.fullmatch(
        rf"{re.escape(str(path))}: member data_batch_5 is not a readable CIFAR pickle \(.*\): replace the archive",
        cifar_refusal(path),
    )


# ---------------------------------------------------------------------------------------------------- digits


def test_digits_are_uint8_images_of_ten_classes_split_the_same_every_time() -> None:
    """scikit-learn's digits: uint8 pixels up to 255, classes '0'..'9', and the one fixed split (seed 0), so runs on
    digits compare across machines and releases."""
    pytest.importorskip("sklearn")
    ds = read_sklearn_digits()
    assert ds.train_x.dtype == np.uint8 and ds.train_x.max() == 255
    assert ds.classes == [str(d) for d in range(10)]
    assert len(ds.test_y) == 359 and ds.test_y[:12].tolist() == [0, 4, 1, 2, 6, 7, 5, 6, 9, 1, 7, 5]


def test_digits_without_scikit_learn_say_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without scikit-learn the digits dataset names the package to install, in one line."""
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(CnnlabError) as e:
        read_sklearn_digits()
    assert str(e.value) == "dataset 'digits' needs scikit-learn: pip install scikit-learn"
