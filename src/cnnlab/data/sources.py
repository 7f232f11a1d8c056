"""Where dataset files live: the data root, the standard distribution files, downloads and safe archive access.

Decoding is not done here (see formats.py); this module only turns a dataset name into verified local files
and turns an image-folder directory or archive into a list of member files, refusing unsafe archives.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import stat
import tarfile
import tempfile
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from cnnlab.errors import CnnlabError, speaking_to_cli

DOWNLOAD_TIMEOUT_S = 30
MAX_MEMBER_BYTES = 1 << 30  # an archive member unpacking to more is refused: a decompression bomb, not an image
MAX_TOTAL_BYTES = 8 << 30  # nor may an archive's members unpack to more than this together
READ_CHUNK = 1 << 20


def data_root(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The data root: `data_dir`, else $CNNLAB_DATA, else the user cache dir ($XDG_CACHE_HOME or ~/.cache)/cnnlab."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    if os.environ.get("CNNLAB_DATA"):
        return Path(os.environ["CNNLAB_DATA"]).expanduser()
    return user_dir()


def user_dir() -> Path:
    """The user cache dir, ($XDG_CACHE_HOME or ~/.cache)/cnnlab: the data root when nothing names one, and the
    cache's home beside a read-only data root (whatever $CNNLAB_DATA says)."""
    cache_home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache_home) / "cnnlab"


@dataclass(frozen=True)
class RemoteFile:
    """One standard distribution file: its name, mirror URLs tried in order, and 'sha256:...' or 'md5:...'."""

    name: str
    urls: tuple[str, ...]
    checksum: str


@dataclass(frozen=True)
class StandardSource:
    """A named dataset in its standard distribution format; `dirs` are the layouts accepted under the root."""

    name: str
    format: str  # "idx", "cifar10", "cifar100", "flowers17" or "sklearn-digits"
    files: tuple[RemoteFile, ...] = ()
    dirs: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()
    mirror_safe: bool = True  # False for written glyphs (digits): a mirrored image belongs to no class, or another


def _mirrored(name: str, mirrors: tuple[str, ...], checksum: str) -> RemoteFile:
    return RemoteFile(name, tuple(m + name for m in mirrors), checksum)


_MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
_FASHION_MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
_TORONTO = ("https://www.cs.toronto.edu/~kriz/",)
_OXFORD_FLOWERS = ("https://www.robots.ox.ac.uk/~vgg/data/flowers/17/",)
MIRROR_ENV = "CNNLAB_DOWNLOAD_MIRROR"  # a base URL that replaces every standard file's mirrors (a local mirror)

STANDARD: dict[str, StandardSource] = {
    s.name: s
    for s in (
        StandardSource(
            "mnist",
            "idx",
            (
                _mirrored(
                    "train-images-idx3-ubyte.gz",
                    _MNIST_MIRRORS,
                    "sha256:440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                ),
                _mirrored(
                    "train-labels-idx1-ubyte.gz",
                    _MNIST_MIRRORS,
                    "sha256:3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                ),
                _mirrored(
                    "t10k-images-idx3-ubyte.gz",
                    _MNIST_MIRRORS,
                    "sha256:8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                ),
                _mirrored(
                    "t10k-labels-idx1-ubyte.gz",
                    _MNIST_MIRRORS,
                    "sha256:f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                ),
            ),
            ("mnist", "MNIST/raw", "."),
            tuple(str(d) for d in range(10)),
            mirror_safe=False,
        ),
        StandardSource(
            "fashion-mnist",
            "idx",
            (
                _mirrored("train-images-idx3-ubyte.gz", _FASHION_MIRRORS, "md5:8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
                _mirrored("train-labels-idx1-ubyte.gz", _FASHION_MIRRORS, "md5:25c81989df183df01b3e8a0aad5dffbe"),
                _mirrored("t10k-images-idx3-ubyte.gz", _FASHION_MIRRORS, "md5:bef4ecab320f06d8554ea6380940ec79"),
                _mirrored("t10k-labels-idx1-ubyte.gz", _FASHION_MIRRORS, "md5:bb300cfdad3c16e7a12a480ee83cd310"),
            ),
            ("fashion-mnist", "FashionMNIST/raw", "."),
            ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        ),
        StandardSource(
            "cifar10",
            "cifar10",
            (_mirrored("cifar-10-python.tar.gz", _TORONTO, "md5:c58f30108f718f92721af3b95e74349a"),),
            ("cifar10", "."),
        ),
        StandardSource(
            "cifar100",
            "cifar100",
            (_mirrored("cifar-100-python.tar.gz", _TORONTO, "md5:eb9058c3a382ffc7106e4002c42a8d85"),),
            ("cifar100", "."),
        ),
        StandardSource(
            "flowers17",  # the md5 that several independent loaders of this archive publish (they agree)
            "flowers17",
            (_mirrored("17flowers.tgz", _OXFORD_FLOWERS, "md5:b59a65d8d1a99cd66944d474e1289eab"),),
            ("flowers17", "."),
        ),
        StandardSource("digits", "sklearn-digits", classes=tuple(str(d) for d in range(10)), mirror_safe=False),
    )
}


def mirror_urls(name: str) -> tuple[str, ...]:
    """(the URL of file `name` on $CNNLAB_DOWNLOAD_MIRROR,) when that is set, else (): a local mirror stands in for
    every download cnnlab makes (datasets and torchvision weights), checksums still applied."""
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    return (mirror.rstrip("/") + "/" + name,) if mirror else ()


def fetch(source: StandardSource, root: Path, download: bool = True) -> list[Path]:
    """Local paths of the source's files (in `source.files` order), downloading missing ones into <root>/<name>/.

    Accepted layouts: <root>/<name>/, torchvision's <root>/MNIST/raw/, or the root itself holding the files.
    With $CNNLAB_DOWNLOAD_MIRROR set to a base URL, files are downloaded from there instead (checksums still apply).
    """
    names = [f.name for f in source.files]
    for sub in source.dirs:
        folder = root / sub
        if all((folder / n).is_file() for n in names):
            return [folder / n for n in names]
    target = root / source.name
    missing = [f for f in source.files if not (target / f.name).is_file()]
    where = (
        f"put {', '.join(f.name for f in missing)} in {target}/ "
        "(or give a folder that has them: --data-dir, data_dir= in Python, or $CNNLAB_DATA)"
    ) + _as_folder_hint(source.name, root)
    if not download:
        raise CnnlabError(f"{source.name}: files not found and download is off: {where}")
    new_folders = [p for p in (target, *target.parents) if not p.exists()]  # removed again if nothing arrives
    for remote in missing:
        errors = []
        for url in mirror_urls(remote.name) or remote.urls:
            try:
                download_file(url, target / remote.name, remote.checksum)
                break
            except (CnnlabError, OSError) as e:
                errors.append(f"{url}: {e}")
        else:
            for folder in new_folders:
                if folder.is_dir() and not any(folder.iterdir()):
                    folder.rmdir()
            raise CnnlabError(f"{source.name}: could not download {remote.name} ({'; '.join(errors)}): {where}")
    return [target / n for n in names]


def _as_folder_hint(name: str, root: Path) -> str:
    """'; or read ... as an image folder' when the data root holds an archive or folder named like the dataset
    that is not its standard files (the shared CIFAR-10 JPEG archive beside a missing python archive)."""
    try:
        found = sorted(
            p for p in root.glob(f"{name}?*") if p.is_dir() or p.name.endswith((".tar.gz", ".tgz", ".tar", ".zip"))
        )
    except OSError:
        return ""
    if not found:
        return ""
    given = f"--data folder:{found[0]}" if speaking_to_cli() else f'data="folder:{found[0]}"'  # a notebook has no flags
    return f"; or read the images in {found[0]} as an image folder: {given}"


def download_file(url: str, dest: Path, checksum: str | None = None) -> Path:
    """Download `url` to `dest`, verifying 'sha256:HEX' / 'md5:HEX' (HEX may be a prefix of the digest, as in
    torchvision's file names); the file appears only once verified (atomic)."""
    algo, _, expected = (checksum or "sha256:").partition(":")
    digest = hashlib.new(algo)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        if expected and not digest.hexdigest().startswith(expected.lower()):
            raise CnnlabError(
                f"checksum mismatch for {url}: expected {algo} {expected}, got {digest.hexdigest()}; "
                f"the download is corrupt or the file changed: retry, or put a verified copy at {dest}"
            )
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


# ----------------------------------------------------------------------------------------------- archives

_SKIPPED_PARTS = re.compile(r"^(\..*|__MACOSX)$")  # hidden files, macOS resource forks


def _unsafe(name: str, link: str | None, hardlink: bool, links: set[str]) -> str | None:
    """Why an archive member would land outside the extraction folder, or None if it is safe.

    `links` holds the symlinks seen so far; a member below one of them is refused, so chains of links that
    each look harmless cannot climb out.
    """
    name = name.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "has an absolute path"
    parts = posixpath.normpath(name).split("/")
    if ".." in name.split("/"):
        return "contains '..'"
    through = next((p for p in ("/".join(parts[:i]) for i in range(1, len(parts))) if p in links), None)
    if through:
        return f"lies below the link {through!r}"
    if link is not None:
        link = link.replace("\\", "/")
        if link.startswith("/") or re.match(r"^[A-Za-z]:", link):
            return f"links to the absolute path {link!r}"
        resolved = posixpath.normpath(link if hardlink else posixpath.join(posixpath.dirname(name), link))
        if resolved == ".." or resolved.startswith("../"):
            return f"links outside the archive ({link!r})"
        if not hardlink:
            links.add("/".join(parts))
    return None


def _refuse(archive: Path, name: str, reason: str) -> CnnlabError:
    return CnnlabError(f"unsafe archive {archive}: member {name!r} {reason}; refusing to use it")


def _check_tar_member(m: tarfile.TarInfo, archive: Path, links: set[str]) -> tarfile.TarInfo:
    if not (m.isfile() or m.isdir() or m.issym() or m.islnk()):
        raise _refuse(archive, m.name, "is a device or fifo")
    reason = _unsafe(m.name, m.linkname if (m.issym() or m.islnk()) else None, m.islnk(), links)
    if reason:
        raise _refuse(archive, m.name, reason)
    return m


class _SizeCap:
    """Refuses an archive member, or the running total, over MAX_MEMBER_BYTES / MAX_TOTAL_BYTES from the sizes the
    archive declares, before the member is unpacked (tar and zip readers never unpack more than they declare)."""

    def __init__(self, archive: Path) -> None:
        self.archive, self.total = archive, 0

    def take(self, name: str, size: int) -> int:
        if size > MAX_MEMBER_BYTES:
            raise CnnlabError(
                f"archive {self.archive}: member {name!r} unpacks to {size:,} bytes, over the "
                f"{MAX_MEMBER_BYTES:,}-byte limit per member (a decompression bomb?); refusing to use it"
            )
        self.total += size
        if self.total > MAX_TOTAL_BYTES:
            raise CnnlabError(
                f"archive {self.archive} unpacks to more than {MAX_TOTAL_BYTES:,} bytes "
                "(a decompression bomb?); refusing to use it"
            )
        return size


def _read_member(f: IO[bytes], size: int) -> bytes:
    """A member's bytes, read in chunks and never past its vetted size."""
    buf = bytearray()
    while len(buf) < size and (chunk := f.read(min(READ_CHUNK, size - len(buf)))):
        buf += chunk
    return bytes(buf)


def _zip_link_target(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> str | None:
    return zf.read(info).decode("utf-8", "replace") if stat.S_ISLNK(info.external_attr >> 16) else None


def _zip_members(zf: zipfile.ZipFile, archive: Path) -> list[zipfile.ZipInfo]:
    infos, links = zf.infolist(), set()
    for info in infos:
        reason = _unsafe(info.filename, _zip_link_target(zf, info), False, links)
        if reason:
            raise _refuse(archive, info.filename, reason)
    return infos


def _open_archive(archive: Path) -> tarfile.TarFile | zipfile.ZipFile:
    try:
        if zipfile.is_zipfile(archive):
            return zipfile.ZipFile(archive)
        return tarfile.open(archive)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as e:
        raise CnnlabError(f"{archive} is not a readable .zip/.tar/.tar.gz archive ({e}): check or replace it") from None


def _archive_error(archive: Path, e: Exception) -> CnnlabError:
    return CnnlabError(f"archive {archive} is corrupt or truncated ({e or type(e).__name__}): replace it")


def safe_extract(archive: Path, dest: Path) -> Path:
    """Extract a .zip/.tar(.gz) into `dest`, refusing absolute paths, '..' and links that leave `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with _open_archive(archive) as ar:
            cap = _SizeCap(archive)
            if isinstance(ar, zipfile.ZipFile):
                infos = _zip_members(ar, archive)
                for info in infos:
                    cap.take(info.filename, info.file_size)
                ar.extractall(dest, infos)
            else:
                data_filter = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                links: set[str] = set()
                members = []
                for m in ar:  # checked as the headers stream by: a bomb is refused before its data is unpacked
                    members.append(_check_tar_member(m, archive, links))
                    cap.take(m.name, m.size)
                ar.extractall(dest, members, **data_filter)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as e:
        raise _archive_error(archive, e) from None
    return dest


@dataclass
class FileTree:
    """The files of a folder dataset: relative POSIX paths mapped to bytes (archive) or a Path (directory)."""

    origin: Path
    files: dict[str, bytes | Path]
    dirs: set[str]


def _dir_id(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def walk(top: Path) -> Iterator[tuple[str, list[str], list[str]]]:
    """os.walk following links, refusing a link to a folder above it: os.walk would follow such a loop until the
    path grows too long, listing the folder again at every level (and exponentially many with two loops)."""
    above = {os.fspath(top): frozenset({_dir_id(os.fspath(top))})}  # each folder's own and its ancestors' ids
    for folder, subdirs, names in os.walk(top, followlinks=True):
        ancestors = above.pop(folder)
        for d in subdirs:
            sub = os.path.join(folder, d)
            ident = _dir_id(sub)
            if ident in ancestors:
                raise CnnlabError(
                    f"folder dataset {top}: {Path(sub).relative_to(top).as_posix()} links back to a "
                    "folder above it, a loop that never ends; remove or replace the link"
                )
            above[sub] = ancestors | {ident}
        yield folder, subdirs, names


def refuse_link_loops(top: Path) -> None:
    """Raise a one-line CnnlabError if the folder holds a link back to a folder above it (see `walk`)."""
    for _ in walk(top):
        pass


def _keep(rel: str) -> bool:
    return not any(_SKIPPED_PARTS.match(part) for part in rel.split("/"))


def read_tree(path: Path) -> FileTree:
    """List a folder dataset given as a directory or archive; archives are read in memory, never extracted."""
    if path.is_dir():
        files: dict[str, bytes | Path] = {}
        dirs: set[str] = set()
        for folder, subdirs, names in walk(path):
            rel_folder = Path(folder).relative_to(path).as_posix()
            prefix = "" if rel_folder == "." else rel_folder + "/"
            dirs.update(prefix + d for d in subdirs)
            files.update({prefix + n: Path(folder) / n for n in names})
        return FileTree(path, {k: v for k, v in files.items() if _keep(k)}, {d for d in dirs if _keep(d)})
    if not path.exists():
        raise CnnlabError(f"folder dataset {path} does not exist: give a directory or a .zip/.tar/.tar.gz archive")
    files, dirs = {}, set()
    try:
        with _open_archive(path) as ar:
            cap = _SizeCap(path)
            if isinstance(ar, zipfile.ZipFile):
                for info in _zip_members(ar, path):
                    name = posixpath.normpath(info.filename)
                    if info.is_dir():
                        dirs.add(name)
                    elif _zip_link_target(ar, info) is None:
                        with ar.open(info) as f:
                            files[name] = _read_member(f, cap.take(info.filename, info.file_size))
            else:
                links: set[str] = set()
                for m in ar:  # one streaming pass: a .tar.gz cannot seek back cheaply
                    _check_tar_member(m, path, links)
                    name = posixpath.normpath(m.name)
                    if m.isdir():
                        dirs.add(name)
                    elif m.isfile():
                        size = cap.take(m.name, m.size)
                        files[name] = _read_member(ar.extractfile(m), size)  # type: ignore[arg-type]
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as e:
        raise _archive_error(path, e) from None
    for name in files:
        parts = name.split("/")
        dirs.update("/".join(parts[:i]) for i in range(1, len(parts)))
    return FileTree(path, {k: v for k, v in files.items() if _keep(k)}, {d for d in dirs if _keep(d)})
