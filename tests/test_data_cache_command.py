"""`cnnlab cache` and cnnlab.data.entries: what the decoded-data cache holds, which entries no load will read again
(their files changed or gone, an older cnnlab's, damaged), and removing them without touching anything else,
also when the removal is killed (a real SIGKILL at the failpoint between the rename and the deletion)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from cnnlab.data import cache_dir, entries, load_dataset
from tests.conftest import cli_as_terminal, shared_dataset
from tests.crashkit import cnnlab, private_cache
from tests.test_data_inputs import _flip_a_byte, image_folder


def loaded(tmp_path: Path) -> tuple[Path, Path]:
    """A cache with MNIST (the real files) and an image folder of two classes, each decoded once."""
    cache, folder = tmp_path / "cache", image_folder(tmp_path / "pets", {"cat": 3, "dog": 2})
    load_dataset("mnist", data_dir=shared_dataset("."), cache_dir=cache)
    load_dataset(f"folder:{folder}", cache_dir=cache)
    return cache, folder


def states(cache: Path) -> dict[str, str]:
    return {e.label: e.state for e in entries(cache)}


def test_each_entry_is_listed_with_its_data_size_and_whether_a_load_still_reads_it(tmp_path, capsys) -> None:
    cache, folder = loaded(tmp_path)
    assert states(cache) == {"folder-pets": "current", "mnist": "current"}
    mnist = next(e for e in entries(cache) if e.label == "mnist")
    assert (mnist.images, mnist.shape) == (70_000, (1, 28, 28)) and len(mnist.sources) == 4
    assert mnist.size == sum(f.stat().st_size for f in mnist.path.iterdir())
    code, out, err = cli_as_terminal(["cache", "--cache-dir", str(cache)], capsys)
    assert code == 0 and err == "", err
    header, *rows, total = out.splitlines()
    assert header.split() == ["data", "images", "image", "MB", "state", "from"]
    assert rows[1].split()[:5] == ["mnist", "70,000", "1x28x28", f"{mnist.size / 1e6:.1f}", "current"]
    assert rows[1].endswith("train-images-idx3-ubyte.gz and 3 more") and rows[0].endswith(str(folder))
    assert total == f"2 entries in {cache}, {sum(e.size for e in entries(cache)) / 1e6:,.1f} MB"
    # Changed files, files gone, an older cnnlab's entry and a damaged one are never read again: stale.
    (folder / "cat" / "9.png").write_bytes((folder / "cat" / "0.png").read_bytes())
    assert states(cache)["folder-pets"] == "sources changed"
    shutil.rmtree(folder)
    assert states(cache)["folder-pets"] == "sources gone"
    meta = mnist.path / "meta.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "version": 3}))
    assert states(cache)["mnist"] == "older cache version"
    (mnist.path / "train_x.npy").write_bytes(b"")
    assert states(cache)["mnist"] == "unreadable"
    for damaged in ("[]", "null", '{"sources": 5}', '{"sources": [null]}'):  # JSON, but no entry's: a traceback
        meta.write_text(damaged)
        assert states(cache)["mnist"] == "unreadable", damaged
    code, out, err = cli_as_terminal(["cache", "--cache-dir", str(cache), "--remove", "stale"], capsys)
    assert code == 0 and "unreadable, removed" in out and states(cache) == {}, err


def test_an_entry_with_a_byte_flipped_is_listed_as_damaged_and_removed_as_stale(tmp_path, capsys) -> None:
    """The listing read only the arrays' headers, so an entry whose pixels fail their CRC-32 showed as current and
    `--remove stale` kept it (a load decodes such an entry again and never trains on it); now its bytes are read
    as a load reads them, and only --quick skips that."""
    cache, _ = loaded(tmp_path)
    mnist = next(e for e in entries(cache) if e.label == "mnist")
    _flip_a_byte(mnist.path / "train_x.npy")
    assert states(cache) == {"folder-pets": "current", "mnist": "damaged"}
    assert [e.state for e in entries(cache, verify=False)] == ["current", "current"]
    code, out, err = cli_as_terminal(["cache", "--cache-dir", str(cache), "--quick"], capsys)
    assert code == 0 and err == "" and out.splitlines()[2].split()[4] == "current", out
    code, out, err = cli_as_terminal(["cache", "--cache-dir", str(cache)], capsys)
    assert code == 0 and err == "" and out.splitlines()[2].split()[4] == "damaged", out
    assert f"; 1 stale ({mnist.size / 1e6:,.1f} MB): `cnnlab cache --cache-dir {cache} --remove stale`" in out
    code, out, _ = cli_as_terminal(["cache", "--cache-dir", str(cache), "--remove", "stale"], capsys)
    assert code == 0 and "damaged, removed" in out and states(cache) == {"folder-pets": "current"}
    again = load_dataset("mnist", data_dir=shared_dataset("."), cache_dir=cache)
    assert np.array_equal(again.test_y.numpy()[:10], [7, 2, 1, 0, 4, 1, 4, 9, 5, 9])
    assert states(cache) == {"folder-pets": "current", "mnist": "current"}


def test_remove_stale_deletes_only_what_no_load_reads_and_nothing_but_entries(tmp_path, capsys) -> None:
    cache, folder = loaded(tmp_path)
    shutil.rmtree(folder)
    (cache / "notes").mkdir()  # not an entry's name: never listed, never removed, even by --remove all
    (cache / "notes" / "mine.txt").write_text("keep")
    for lookalike in ("thesis-0123456789abcdef", ".hidden-0123456789abcdef"):  # named like entries: one has no
        (cache / lookalike).mkdir()  # meta.json, the other is hidden; both were removed as "unreadable" entries
        (cache / lookalike / "meta.json" if lookalike[0] == "." else cache / lookalike / "thesis.txt").write_text("{}")
    mnist = next(e.path for e in entries(cache) if e.label == "mnist")
    before = {f.name: f.stat().st_mtime_ns for f in mnist.iterdir()}
    code, out, _ = cli_as_terminal(["cache", "--cache-dir", str(cache)], capsys)
    assert out.splitlines()[-1].endswith(
        f"1 stale (0.0 MB): `cnnlab cache --cache-dir {cache} --remove stale` deletes them"
    )
    code, out, _ = cli_as_terminal(["cache", "--cache-dir", str(cache), "--remove", "stale"], capsys)
    assert code == 0 and "sources gone, removed" in out and out.splitlines()[-1].endswith("; removed 1, 0.0 MB")
    assert states(cache) == {"mnist": "current"} and (cache / "notes" / "mine.txt").read_text() == "keep"
    load_dataset("mnist", data_dir=shared_dataset("."), cache_dir=cache)  # read from the entry, not decoded again
    assert {f.name: f.stat().st_mtime_ns for f in mnist.iterdir()} == before
    code, out, _ = cli_as_terminal(["cache", "--cache-dir", str(cache), "--remove", "all"], capsys)
    assert code == 0 and entries(cache) == []
    assert sorted(os.listdir(cache)) == [".hidden-0123456789abcdef", "notes", "thesis-0123456789abcdef"]
    code, out, _ = cli_as_terminal(["cache", "--cache-dir", str(cache)], capsys)
    assert (code, out) == (0, f"no data cache entries in {cache}\n")


def test_a_removal_killed_midway_leaves_no_half_entry_and_the_next_load_cleans_up(tmp_path, tmp_path_factory) -> None:
    """SIGKILL after the entry was renamed away, before its files are deleted: no load sees a partial entry (it is
    gone whole under a temporary name), and the next load removes that temporary and decodes again."""
    cache, folder = loaded(tmp_path)
    env = private_cache(tmp_path_factory)
    killed = cnnlab(["cache", "--cache-dir", str(cache), "--remove", "all"], env, failpoint="cache-remove:1")
    assert killed.returncode == -9, killed.stderr
    assert len(entries(cache)) == 1  # the second was never reached; the first is whole under a temporary name
    [left] = [p for p in cache.iterdir() if p.name.startswith(".") and ".tmp-" in p.name]
    assert sorted(f.name for f in next(left.iterdir()).iterdir())[-1] == "train_y.npy"
    again = load_dataset("mnist", data_dir=shared_dataset("."), cache_dir=cache)  # removes dead writers' temporaries
    assert not left.exists() and np.array_equal(again.test_y.numpy()[:10], [7, 2, 1, 0, 4, 1, 4, 9, 5, 9])
    assert load_dataset(f"folder:{folder}", cache_dir=cache).classes == ["cat", "dog"]  # decoded again
    assert states(cache) == {"folder-pets": "current", "mnist": "current"}


def test_bad_input_is_one_line(tmp_path, capsys) -> None:
    (tmp_path / "file").write_text("x")
    code, out, err = cli_as_terminal(["cache", "--cache-dir", str(tmp_path / "file")], capsys)
    assert code == 2 and err.strip().splitlines() == [
        f"cnnlab: error: --cache-dir {tmp_path / 'file'} is a file, not a folder; give the folder the data cache is in"
    ]
    code, out, err = cli_as_terminal(["cache", "--remove", "old"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "invalid choice: 'old'" in err
    code, out, err = cli_as_terminal(["cache", "--cache-dir", str(tmp_path), "--data-dir", str(tmp_path)], capsys)
    assert code == 2 and "give --data-dir (its cache) or --cache-dir (a cache folder), not both" in err
    code, out, err = cli_as_terminal(["cache", "--data-dir", str(tmp_path / "none")], capsys)
    assert code == 2 and f"--data-dir {tmp_path / 'none'} is not a folder" in err
    code, out, err = cli_as_terminal(["cache", "--cache-dir", str(tmp_path / "none")], capsys)
    assert (code, out) == (0, f"no data cache entries in {tmp_path / 'none'}\n")


def test_a_read_only_data_root_named_by_cnnlab_data_gets_no_cache_inside_it(tmp_path, monkeypatch) -> None:
    """A shared dataset folder given as $CNNLAB_DATA (as README has the notebooks read it) is read-only: its cache
    goes to the user cache dir, as with --data-dir. The fallback read $CNNLAB_DATA again, so it named the shared
    folder itself, and root wrote a cache into it."""
    shared, home = tmp_path / "shared", tmp_path / "xdg"
    folder = image_folder(shared / "pets", {"cat": 3, "dog": 2})
    shared.chmod(0o555)
    monkeypatch.setenv("CNNLAB_DATA", str(shared))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    try:
        assert cache_dir() == cache_dir(shared) == home / "cnnlab" / "cache"
        assert load_dataset(f"folder:{folder}").classes == ["cat", "dog"]
        assert not (shared / "cache").exists() and states(home / "cnnlab" / "cache") == {"folder-pets": "current"}
    finally:
        shared.chmod(0o755)


def test_one_entry_is_counted_as_one_entry(tmp_path, capsys) -> None:
    cache = tmp_path / "cache"
    load_dataset(f"folder:{image_folder(tmp_path / 'pets', {'cat': 3, 'dog': 2})}", cache_dir=cache)
    code, out, err = cli_as_terminal(["cache", "--cache-dir", str(cache)], capsys)
    assert code == 0 and out.splitlines()[-1] == f"1 entry in {cache}, {entries(cache)[0].size / 1e6:,.1f} MB", out
