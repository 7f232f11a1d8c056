"""Cache of decoded datasets as uint8/int64 .npy files, so only the first load pays for decoding.

An entry is keyed on the source files' path, size, mtime and ctime (and decode options); a changed source gets a
new entry, and the entries of its earlier versions are removed once the new one is published (they can never be read
again, and one of CIFAR-10 holds 184 MB). An entry is written whole into a temporary folder and published by one
rename, so a reader never sees a half-written entry and a process killed while writing leaves only a temporary,
which the next load removes once its writer is dead. The cache folder can be deleted at any time.
"""

from __future__ import annotations

import errno
import hashlib
import json
import re
import shutil
import warnings
import zlib
from collections.abc import Callable, Iterable
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnlab.atomic import exclusive, publish_dir, remove_stale, temp_dir
from cnnlab.data.formats import Decoded
from cnnlab.data.sources import walk
from cnnlab.failpoint import failpoint

CACHE_VERSION = 5  # 2: 16-bit greyscale scaled (imagefile.eight_bit); skipped files kept; 3: I;16B grey, EXIF turns;
# 4: each array's CRC-32 in meta.json; 5: the sources' ctime in the key
_ARRAYS = ("train_x", "train_y", "test_x", "test_y")


def _stat(path: Path, name: str) -> list:
    """A file's name, size, mtime and ctime. Size and mtime alone missed a file rewritten with both put back (`cp`
    of another image of one size, then `touch -d` or os.utime), and the stale decoding was used; the kernel sets
    ctime at every write, utime and chmod, and nobody can set it back. Reading every byte instead costs a 60,000-JPEG
    folder 1.5 s more than its stats at each load. A link to nothing (an editor's lock file `.#notes.txt`, an image
    moved away) is fingerprinted as the link itself, so that the folder still loads and the entry changes if the
    target appears."""
    try:
        st = path.stat()
    except FileNotFoundError:
        st = path.lstat()
    return [name, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def fingerprint(paths: Iterable[Path]) -> list:
    """Path, size, mtime and ctime of each source file; a directory contributes every file below it."""
    out: list = []
    for path in paths:
        path = path.resolve()
        if path.is_dir():
            for folder, _, names in sorted(walk(path)):
                out += [_stat(Path(folder) / n, str(Path(folder) / n)) for n in sorted(names)]
        else:
            out.append(_stat(path, str(path)))
    return out


def _digest(*parts: object) -> str:
    """16 hex digits of sha256 over `parts` as JSON (sorted keys)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def entry_name(label: str, sources: Iterable[Path], options: dict) -> str:
    """The cache entry folder name: a readable label plus a hash of the sources' fingerprint and the options."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-")[:60]
    return f"{slug}-{_digest(CACHE_VERSION, label, fingerprint(sources), options)}"


def source_key(label: str, sources: Iterable[Path], options: dict) -> str:
    """What an entry decodes, whatever the versions of its files: the label, the sources' paths and the options.
    Entries with one key and different names hold earlier versions of the same files."""
    return _digest(label, [str(Path(p).resolve()) for p in sources], options)


def load_entry(entry: Path) -> Decoded | None:
    """The cached dataset in `entry`, or None (to be decoded again) if it is missing, incomplete, unreadable or
    damaged: a file truncated, emptied or rewritten, a byte flipped (each array's CRC-32 is checked: 0.04 s for
    CIFAR-10's 180 MB), arrays of the wrong type or lengths, labels outside the classes."""
    try:
        meta = json.loads((entry / "meta.json").read_text())
        return _checked(entry, meta) if meta.get("version") == CACHE_VERSION else None
    except Exception:  # whatever the damage (EOFError, KeyError, a list for a dict, ...): decode the files again
        return None


def _checked(entry: Path, meta: dict, mmap_mode: str | None = None) -> Decoded | None:
    """The entry's arrays if they are what save_entry wrote (the CRC-32s in `meta`, types, shapes, labels), else
    None; raises on an unreadable file. Mapped (`mmap_mode="r"`), a check reads each page once and keeps none."""
    arrays = [np.load(entry / f"{name}.npy", mmap_mode=mmap_mode, allow_pickle=False) for name in _ARRAYS]
    decoded = Decoded(*arrays, classes=[str(c) for c in meta["classes"]], notes=[str(n) for n in meta["notes"]])
    if [_crc(a) for a in arrays] != meta["crc32"] or not _consistent(decoded):
        return None
    return decoded


def _intact(entry: Path, meta: dict) -> bool:
    """Whether a load would read the entry's arrays rather than decode the files again (reads all its bytes)."""
    try:
        return _checked(entry, meta, mmap_mode="r") is not None
    except Exception:  # a file truncated or rewritten: as load_entry
        return False


def _crc(array: np.ndarray) -> int:
    return zlib.crc32(np.ascontiguousarray(array))


def _consistent(d: Decoded) -> bool:
    """Whether the arrays are what decoding writes: uint8 (N, C, H, W) images with as many int64 labels, each a
    class index; both splits at one image shape."""
    images, labels = (d.train_x, d.test_x), (d.train_y, d.test_y)
    return (
        all(x.dtype == np.uint8 and x.ndim == 4 for x in images)
        and d.train_x.shape[1:] == d.test_x.shape[1:]
        and all(y.dtype == np.int64 and y.ndim == 1 for y in labels)
        and all(len(x) == len(y) for x, y in zip(images, labels))
        and all(y.size == 0 or (y.min() >= 0 and y.max() < len(d.classes)) for y in labels)
    )


def save_entry(entry: Path, decoded: Decoded, key: str, about: dict | None = None) -> None:
    """Write `decoded` as the folder `entry` (with its source_key and `about` it: label, sources, options, for
    `entries`), published in one step (a concurrent writer of the same entry wins)."""
    tmp = temp_dir(entry)
    try:
        for name in _ARRAYS:
            np.save(tmp / f"{name}.npy", getattr(decoded, name))
            failpoint("cache-write")
        (tmp / "meta.json").write_text(
            json.dumps(
                {
                    "version": CACHE_VERSION,
                    "classes": decoded.classes,
                    "notes": decoded.notes,
                    "key": key,
                    "crc32": [_crc(getattr(decoded, name)) for name in _ARRAYS],
                    **(about or {}),
                }
            )
        )
        if entry.exists():
            if load_entry(entry) is not None:
                return  # another process was quicker
            shutil.rmtree(entry, ignore_errors=True)  # an unreadable leftover (an older version's, say)
        publish_dir(tmp, entry)
    except FileExistsError:
        pass
    except OSError as e:
        if e.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def remove_superseded(entry: Path, key: str) -> None:
    """Remove the entries beside `entry` that decode earlier versions of its files (the same key, another name).
    Entries written before keys were stored carry none and stay."""
    for other in entry.parent.iterdir():
        if other == entry or other.name.startswith(".") or not other.is_dir():
            continue
        try:
            other_key = json.loads((other / "meta.json").read_text()).get("key")
        except (OSError, ValueError, AttributeError):
            continue
        if other_key == key:
            shutil.rmtree(other, ignore_errors=True)


def cached(cache_dir: Path, label: str, sources: list[Path], options: dict, build: Callable[[], Decoded]) -> Decoded:
    """Load the decoded dataset from the cache, or build it and store it; an unwritable cache only warns.

    Processes that load one entry at once (the ranks of a --nproc run, tuning workers, parallel tests) decode it
    once: the first holds a lock beside the entry while it decodes and publishes, the others wait and then read
    the entry (two ranks decoding the CIFAR-10 archive side by side made a first `--nproc 2` run on 2 cores take
    37.4 s instead of 28.2). A decoder that dies releases the lock with it, and the next in line decodes instead."""
    decoded = _load_or_build(cache_dir, label, sources, options, build)
    for note in decoded.notes:  # on every load, not only the one that decoded
        warnings.warn(note, stacklevel=2)
    return decoded


def _load_or_build(
    cache_dir: Path, label: str, sources: list[Path], options: dict, build: Callable[[], Decoded]
) -> Decoded:
    entry = cache_dir / entry_name(label, sources, options)
    remove_stale(cache_dir)
    decoded = load_entry(entry)
    if decoded is not None:
        return decoded
    lock = cache_dir / f".{entry.name}.lock"
    with ExitStack() as held:
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            held.enter_context(exclusive(lock))
        except OSError:
            pass  # an unwritable cache: decode without the lock; storing the entry below warns
        decoded = load_entry(entry)  # published meanwhile by the process this one waited for
        if decoded is None:
            decoded = build()
            key = source_key(label, sources, options)
            about = {"label": label, "sources": [str(Path(p).resolve()) for p in sources], "options": options}
            try:
                save_entry(entry, decoded, key, about)
                remove_superseded(entry, key)
            except OSError as e:
                warnings.warn(
                    f"could not write the data cache in {cache_dir} ({e}); pass cache_dir= to use another folder",
                    stacklevel=2,
                )
            with suppress(OSError):
                lock.unlink()  # while held: a process waiting on it reads the entry next, one coming later skips it
    return decoded


@dataclass(frozen=True)
class Entry:
    """One cache entry as `entries` finds it: what it decodes, its size, and whether a load would still read it."""

    path: Path
    label: str
    images: int  # train and test, 0 when unreadable
    shape: tuple[int, ...]  # one image's (C, H, W); () when unreadable
    size: int  # bytes on disk
    state: str  # "current", or why no load will read it again: sources changed / gone, older cache version, damaged
    # (fails its CRC-32 or shape checks; only found when `entries` verifies), unreadable
    sources: tuple[str, ...] = ()  # empty for entries written before they were recorded

    @property
    def stale(self) -> bool:
        return self.state != "current"


def entries(cache_dir: str | Path, verify: bool = True) -> list[Entry]:
    """The published entries in `cache_dir` (temporaries and locks left out), by name, each with its state: a
    load of the same data reads a "current" one; the others (their files changed or gone since, written by an
    older cnnlab, or damaged) are never read again and only take room. Without `verify` the arrays' bytes are not
    read, so an entry with a byte flipped passes for current (a load still decodes it again); verifying reads
    every current entry whole, as a load does: 0.07-0.15 s for MNIST and CIFAR-10 (240 MB)."""
    folder = Path(cache_dir).expanduser()
    if not folder.is_dir():
        return []
    return [_entry(p, verify) for p in sorted(folder.iterdir()) if _is_entry(p)]


_ENTRY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*-[0-9a-f]{16}$")  # entry_name's


def _is_entry(path: Path) -> bool:
    """A folder save_entry wrote: its name as entry_name gives it, not a link, and a meta.json inside. A user's
    folder that merely looks like one (`thesis-0123456789abcdef` with no meta.json) is never listed or removed."""
    return _ENTRY.match(path.name) is not None and not path.is_symlink() and (path / "meta.json").is_file()


def _entry(path: Path, verify: bool) -> Entry:
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    try:
        meta = json.loads((path / "meta.json").read_text())
        shapes = [np.load(path / f"{name}.npy", mmap_mode="r").shape for name in ("train_x", "test_x")]
        label, sources = str(meta.get("label", path.name[:-17])), meta.get("sources") or []
        if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
            raise ValueError("sources is not a list of paths")
    except Exception:  # a missing or damaged file (meta.json of `[]`, say): a load decodes again
        return Entry(path, path.name[:-17], 0, (), size, "unreadable")
    sources = tuple(sources)
    if meta.get("version") != CACHE_VERSION:
        state = "older cache version"
    elif sources and not all(Path(s).exists() for s in sources):
        state = "sources gone"
    elif sources and entry_name(label, [Path(s) for s in sources], meta.get("options") or {}) != path.name:
        state = "sources changed"
    elif verify and not _intact(path, meta):
        state = "damaged"
    else:
        state = "current"
    return Entry(path, label, shapes[0][0] + shapes[1][0], shapes[0][1:], size, state, sources)


def remove(entry: Entry) -> None:
    """Delete an entry: renamed to a temporary first, so a load at that moment finds it whole or not at all (and
    decodes again), and one killed midway leaves a temporary the next load removes."""
    trash = temp_dir(entry.path)
    try:
        entry.path.rename(trash / entry.path.name)
    except FileNotFoundError:  # removed meanwhile by another process
        pass
    failpoint("cache-remove")
    shutil.rmtree(trash, ignore_errors=True)
