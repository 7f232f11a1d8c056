"""The checkpoints/ folder on its own (cnnlab.rundir.checkpoint.CheckpointStore): which set is the best and which
the last, which epoch folders stay, and damage that keeps a file's size. The crash tests compare a killed run with
one made by the same code, so a store that kept the wrong folders or read `last` for `best` passed them both."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from cnnlab.errors import CnnlabError
from cnnlab.rundir.checkpoint import MANIFEST, META, METRIC_FIELDS, WEIGHTS, CheckpointStore


def publish(store: CheckpointStore, epoch: int, best: bool) -> None:
    rows = [{k: (e if k == "epoch" else 0.5) for k in METRIC_FIELDS} for e in range(1, epoch + 1)]
    store.publish(epoch, {"w": torch.full((2,), float(epoch))}, {"step": epoch}, {"epoch": epoch}, rows, best=best)


def folders(store: CheckpointStore) -> list[str]:
    return sorted(p.name for p in store.folder.iterdir() if p.is_dir())


@pytest.fixture
def store(tmp_path: Path) -> CheckpointStore:
    """Epochs 1 to 3, the best at epoch 1."""
    s = CheckpointStore(tmp_path / "checkpoints", "r")
    for epoch, best in ((1, True), (2, False), (3, False)):
        publish(s, epoch, best)
    return s


def test_the_best_set_stays_beside_the_last_and_no_other(store: CheckpointStore) -> None:
    best, last = store.load("best"), store.load("last")
    assert (best.epoch, best.weights["w"].tolist(), best.meta) == (1, [1.0, 1.0], {"epoch": 1})
    assert (last.epoch, last.weights["w"].tolist(), [r["epoch"] for r in last.metrics]) == (3, [3.0, 3.0], [1, 2, 3])
    assert folders(store) == ["epoch-0001", "epoch-0003"]  # epoch 2's set went when epoch 3's was published
    publish(store, 4, best=True)
    assert folders(store) == ["epoch-0004"] and store.load("best").epoch == store.load("last").epoch == 4


def flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_byte_changed_in_the_weights_is_found_by_its_sha256(store: CheckpointStore) -> None:
    flip_last_byte(store.folder / "epoch-0003" / WEIGHTS)  # the size stays
    with pytest.raises(CnnlabError, match=r"epoch-0003/weights.safetensors is damaged \(its size or sha256 differs"):
        store.load("last")
    assert store.load("best").epoch == 1  # the other set is intact


def test_metadata_rewritten_at_the_same_length_is_damage_also_when_only_it_is_read(store: CheckpointStore) -> None:
    meta = store.folder / "epoch-0003" / META
    text = meta.read_text()
    meta.write_text(text.replace("3", "7"))  # valid JSON of the same length
    with pytest.raises(CnnlabError, match=r"epoch-0003/meta.json is damaged"):
        store.load("last", weights=False)  # what a resume and a run's summary read


def test_a_file_gone_from_a_set_is_named_as_missing(store: CheckpointStore) -> None:
    (store.folder / "epoch-0003" / WEIGHTS).unlink()
    with pytest.raises(CnnlabError, match=r"^checkpoint file .*epoch-0003/weights.safetensors is missing; restore it"):
        store.load("last")


@pytest.mark.parametrize(
    "change",
    [lambda m: {**m, "format": 2}, lambda m: {**m, "last": None}, lambda m: {**m, "best": {**m["best"], "epoch": "1"}}],
    ids=["another format", "no last set", "an epoch as text"],
)
def test_a_manifest_of_another_shape_is_refused(store: CheckpointStore, change) -> None:
    path = store.folder / MANIFEST
    path.write_text(json.dumps(change(json.loads(path.read_text()))))
    with pytest.raises(CnnlabError, match=r"manifest.json is not a cnnlab checkpoint manifest"):
        store.load("best")
