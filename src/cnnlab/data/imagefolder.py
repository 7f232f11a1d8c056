"""Decode an image-folder dataset to uint8 arrays: one subfolder per class (optional train/ and test/), or a folder
of images with a labels file (labels.csv or labels.txt: `filename,label` or `filename label` per line, an optional
third field `train` or `test`).

Images are decoded with Pillow in a process pool (decoding is CPU-bound and small JPEGs hold the GIL for most of
their time, so threads do not help), to one mode (L if every image is grayscale, else RGB) and one size.
"""

from __future__ import annotations

import csv
import io
import math
import multiprocessing
import os
import posixpath
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ProcessPoolExecutor
from pathlib import Path, PurePosixPath
from typing import TypeVar

import numpy as np
from PIL import Image

from cnnlab.data.formats import Decoded
from cnnlab.data.sources import FileTree
from cnnlab.errors import CnnlabError
from cnnlab.failpoint import failpoint
from cnnlab.imagefile import GREY_MODES, eight_bit, shown_size, shrink_early, upright
from cnnlab.orphans import die_with_parent

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm")
POOL_MIN_IMAGES = 2000  # below this, starting worker processes costs more than it saves
WARN_LIST_MAX = 20

Source = bytes | Path
T = TypeVar("T")
R = TypeVar("R")


def _children(dirs: set[str], prefix: str) -> set[str]:
    return {d[len(prefix) :].split("/")[0] for d in dirs if d.startswith(prefix) and len(d) > len(prefix)}


HEADS = ({"filename", "file", "path", "image", "name"}, {"label", "class", "category", "target"})  # a header's words
VALIDATION_FOLDERS = ("val", "valid", "validation")  # other tools' third split, which cnnlab takes from train


def _split_prefixes(dirs: set[str], origin: str) -> dict[str, str]:
    """Where the splits start: 'train/' and 'test/' if both exist; a lone wrapper folder is looked through. A
    validation folder beside train/ is refused: it would be read as a class (with no test/) or left out."""
    prefix = ""
    while True:
        children = _children(dirs, prefix)
        found = sorted(children & set(VALIDATION_FOLDERS))
        if "train" in children and found:
            raise CnnlabError(
                f"{origin} has a {found[0]}/ folder beside train/: cnnlab reads train/ and test/ and takes the "
                f"validation images from train/ (--val-split); move {found[0]}/'s class folders into train/ or "
                "test/, or remove it"
            )
        if {"train", "test"} <= children:
            return {"train": prefix + "train/", "test": prefix + "test/"}
        if len(children) == 1 and _children(dirs, prefix + next(iter(children)) + "/"):
            prefix += next(iter(children)) + "/"
            continue
        return {"train": prefix}


def _list_images(tree: FileTree) -> tuple[list[str], dict[str, list[tuple[str, int]]]]:
    """Class names (sorted train folders) and, per split, (relative path, label) of every image file."""
    prefixes = _split_prefixes(tree.dirs, str(tree.origin))
    images = sorted(p for p in tree.files if PurePosixPath(p).suffix.lower() in IMAGE_EXTENSIONS)
    if not images:
        raise CnnlabError(
            f"no images found in {tree.origin} (looked for {', '.join(IMAGE_EXTENSIONS)}): check the path"
        )
    classes = sorted(_children(tree.dirs, prefixes["train"]))
    if not classes:
        raise CnnlabError(f"no class folders in {tree.origin}: put the images of each class in their own subfolder")
    index = {c: i for i, c in enumerate(classes)}
    splits: dict[str, list[tuple[str, int]]] = {}
    for split, prefix in prefixes.items():
        extra = sorted(_children(tree.dirs, prefix) - index.keys())
        if extra:
            raise CnnlabError(
                f"{tree.origin}: {split} class folder(s) {', '.join(extra)} have no train counterpart: "
                "rename or remove them"
            )
        entries = [
            (p, index[p[len(prefix) :].split("/")[0]])
            for p in images
            if p.startswith(prefix) and "/" in p[len(prefix) :]
        ]
        splits[split] = entries
        empty = sorted(set(_children(tree.dirs, prefix)) - {classes[label] for _, label in entries})
        if empty:
            raise CnnlabError(
                f"{tree.origin}: class folder {prefix}{empty[0]} has no images: add images or remove the folder"
            )
    if len(classes) < 2:  # one class trains to a meaningless 100%
        raise CnnlabError(
            f"{tree.origin} has only one class folder ({classes[0]}): a classifier needs at least two class folders"
        )
    return classes, splits


LABELS_FILES = ("labels.csv", "labels.txt")
_SPLIT_WORDS = ("train", "test")


def find_labels_file(tree: FileTree) -> str | None:
    """The labels file at the top of the tree, or in its lone wrapper folder (an archive of one folder)."""
    prefix = ""
    while not any(prefix + name in tree.files for name in LABELS_FILES):
        children = _children(tree.dirs, prefix)
        top_files = [p for p in tree.files if p.startswith(prefix) and "/" not in p[len(prefix) :]]
        if len(children) != 1 or top_files:
            return None
        prefix += next(iter(children)) + "/"
    return next(prefix + name for name in LABELS_FILES if prefix + name in tree.files)


def _read_text(src: Source, where: str) -> str:
    """The text of a labels file; one that is not UTF-8 (Latin-1 `été`) is refused rather than read with its
    labels changed to `\ufffd` (a class silently renamed)."""
    data = src if isinstance(src, bytes) else src.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise CnnlabError(f"{where} line {line} is not UTF-8 text ({e.reason}); save the file as UTF-8") from None


def _class_order(names: set[str]) -> list[str]:
    """Numeric labels in numeric order (2 before 10; "01" before "1", one order whatever the set's), names
    alphabetically."""
    if all(n.lstrip("-").isdecimal() and len(n) <= 30 for n in names):  # int() fails on '²' and on 4,300 digits
        return sorted(names, key=lambda n: (int(n), n))
    return sorted(names)


def _list_labelled(tree: FileTree, labels_file: str) -> tuple[list[str], dict[str, list[tuple[str, int]]]]:
    """Classes and split entries from a labels file: `filename,label[,split]` or whitespace-separated lines, paths
    relative to the labels file's folder; blank lines, `#` comments and a `filename,label` header are skipped."""
    where = f"{tree.origin}: {labels_file}"
    folder = labels_file.rpartition("/")[0]
    base = folder + "/" if folder else ""
    rows: list[tuple[int, str, str, str]] = []
    seen = False  # a header is the first line that is not blank or a comment
    for number, line in enumerate(_read_text(tree.files[labels_file], where).splitlines(), 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        # a quoted field may hold a comma ("img/a,b.png",cat); csv reads the quotes
        parts = next(csv.reader([text]), []) if "," in text else text.split()
        fields = [f.strip().strip('"').strip() for f in parts]
        header, seen = not seen, True
        if header and len(fields) >= 2 and (fields[0].lower() in HEADS[0] or fields[1].lower() in HEADS[1]):
            continue  # a header row
        if len(fields) not in (2, 3) or not all(fields):
            raise CnnlabError(
                f"{where} line {number}: expected 'filename,label' or 'filename,label,split', got {text[:80]!r}; "
                "fix the line (a labels file at a folder's top gives each image's label: rename it if it is not one)"
            )
        split = fields[2].lower() if len(fields) == 3 else "train"
        if split not in _SPLIT_WORDS:
            raise CnnlabError(f"{where} line {number}: split must be train or test, got {fields[2]!r}; fix the line")
        name = fields[0].replace("\\", "/")  # a labels file written on Windows: img\a.png
        rows.append((number, posixpath.normpath(base + name), fields[1], split))
    if not rows:
        raise CnnlabError(f"{where} lists no images: add 'filename,label' lines")
    missing = [(n, path) for n, path, _, _ in rows if path not in tree.files]
    if missing:
        number, path = missing[0]
        raise CnnlabError(
            f"{where} names {len(missing)} image(s) not in the folder, the first {path[len(base) :]!r} (line "
            f"{number}): add the images or remove their lines"
        )
    first: dict[str, int] = {}
    for number, path, _, _ in rows:
        if path in first:
            raise CnnlabError(
                f"{where} line {number}: {path[len(base) :]!r} is listed again (first on line {first[path]}); an "
                "image has one label and one split (a test image also trained on inflates test accuracy): remove "
                "one of the lines"
            )
        first[path] = number
    classes = _class_order({label for _, _, label, split in rows if split == "train"})
    unknown = next(((n, label) for n, _, label, split in rows if label not in classes), None)
    if unknown:
        raise CnnlabError(
            f"{where} line {unknown[0]}: test label {unknown[1]!r} has no training images; add some or remove the line"
        )
    if len(classes) < 2:
        raise CnnlabError(f"{where} has only one class ({classes[0]}): a classifier needs at least two classes")
    index = {c: i for i, c in enumerate(classes)}
    splits = {s: [(path, index[label]) for _, path, label, split in rows if split == s] for s in _SPLIT_WORDS}
    return classes, splits


def _open(src: Source) -> Image.Image:
    return Image.open(io.BytesIO(src) if isinstance(src, bytes) else src)


def _probe(sources: list[Source]) -> list[tuple[bool, tuple[int, int]] | None]:
    """(is grayscale, (width, height)) from each header, or None where the file is unreadable."""
    out: list[tuple[bool, tuple[int, int]] | None] = []
    for src in sources:
        try:
            with _open(src) as im:
                out.append((im.mode in GREY_MODES, shown_size(im)))
        except Exception:  # Pillow raises many types for bad files; all mean "unreadable"
            out.append(None)
    return out


def _decode(job: tuple[list[Source], str, tuple[int, int]]) -> tuple[np.ndarray, list[bool]]:
    """Decode to `mode` at `size` (w, h); returns the stacked readable images and which ones were readable."""
    sources, mode, size = job
    arrays, ok = [], []
    for src in sources:
        try:
            with _open(src) as im:
                shrink_early(im, mode, size)
                im = eight_bit(upright(im), mode)
                if im.size != size:
                    im = im.resize(size, Image.Resampling.BILINEAR)
                arrays.append(np.asarray(im, np.uint8))
                ok.append(True)
        except Exception:
            ok.append(False)
    channels = 1 if mode == "L" else 3
    stack = np.stack(arrays) if arrays else np.zeros((0, size[1], size[0]), np.uint8)
    return stack.reshape(len(arrays), size[1], size[0], channels), ok


def _chunks(items: list[T], n: int) -> list[list[T]]:
    return [items[i : i + n] for i in range(0, len(items), n)] or [[]]


def _default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _pool(count: int, workers: int) -> Executor | None:
    if workers < 2 or count < POOL_MIN_IMAGES:
        return None
    # on Linux fork starts workers in milliseconds (spawn re-imports torch in each); elsewhere keep the safe default.
    # A forked worker holds the cache's lock with its parent: it must die with it (a load killed with kill -9 left
    # workers that kept the next load waiting forever)
    method = "fork" if sys.platform.startswith("linux") else None
    return ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context(method), initializer=die_with_parent, initargs=(os.getpid(),)
    )


def _map(pool: Executor | None, fn: Callable[[T], R], jobs: Iterable[T]) -> list[R]:
    if pool is None:
        return [fn(j) for j in jobs]
    futures = [pool.submit(fn, j) for j in jobs]
    failpoint("decode-pool")  # this process killed while its workers decode: they must not outlive it
    return [f.result() for f in futures]


def _listing(names: list[str]) -> str:
    more = len(names) - WARN_LIST_MAX
    return ", ".join(names[:WARN_LIST_MAX]) + (f" and {more} more" if more > 0 else "")


def read_image_folder(tree: FileTree, size: tuple[int, int] | None = None) -> Decoded:
    """Decode a folder dataset; `size` (H, W) forces one size, else the most common size is used.

    A labels file at the top (see `LABELS_FILES`) gives the classes; otherwise the class folders do. Images neither
    gives a class (not listed, or outside the class folders) and unreadable images are named in one warning each;
    a split without a `test/` folder (or `test` lines) is empty.
    """
    labels_file = find_labels_file(tree)
    classes, splits = _list_labelled(tree, labels_file) if labels_file else _list_images(tree)
    used = {path for items in splits.values() for path, _ in items}
    unused = sorted(p for p in tree.files if PurePosixPath(p).suffix.lower() in IMAGE_EXTENSIONS and p not in used)
    where = f"not listed in {labels_file}" if labels_file else "outside the class folders"
    notes = [f"{len(unused)} image(s) in {tree.origin} {where} are not used: {_listing(unused)}"] if unused else []
    return decode_images(tree, classes, splits, size, notes)


def decode_images(
    tree: FileTree,
    classes: list[str],
    splits: dict[str, list[tuple[str, int]]],
    size: tuple[int, int] | None = None,
    notes: list[str] | None = None,
) -> Decoded:
    """Decode the (path in `tree`, label) entries of each split ("train", "test") to one mode and size; `notes`
    are said with the data (on every load, the cached ones too), before those of unreadable images."""
    entries = [(split, path, label) for split, items in splits.items() for path, label in items]
    sources = [tree.files[path] for _, path, _ in entries]
    workers = _default_workers()
    chunk = max(256, math.ceil(len(sources) / (4 * workers)))
    pool = _pool(len(sources), workers)
    try:
        headers = [h for part in _map(pool, _probe, _chunks(sources, chunk)) for h in part]
        readable = [h for h in headers if h is not None]
        if not readable:
            raise CnnlabError(
                f"no readable images in {tree.origin}: all {len(headers)} image files failed to decode; check the files"
            )
        mode = "L" if all(gray for gray, _ in readable) else "RGB"
        wh = Counter(s for _, s in readable).most_common(1)[0][0] if size is None else (size[1], size[0])
        keep = [i for i, h in enumerate(headers) if h is not None]
        parts = _map(pool, _decode, [(c, mode, wh) for c in _chunks([sources[i] for i in keep], chunk)])
    finally:
        if pool:
            pool.shutdown()
    ok = [flag for _, flags in parts for flag in flags]
    decoded = [keep[j] for j, flag in enumerate(ok) if flag]
    nhwc = np.concatenate([a for a, _ in parts])
    skipped = sorted(set(range(len(entries))) - set(decoded))
    notes = list(notes or [])
    if skipped:
        notes.append(
            f"skipped {len(skipped)} unreadable image(s) in {tree.origin}: "
            + _listing([entries[i][1] for i in skipped])
        )
    split_of = np.array([entries[i][0] for i in decoded])
    labels = np.array([entries[i][2] for i in decoded], np.int64)
    train, test = split_of == "train", split_of == "test"
    lacking = sorted(set(range(len(classes))) - set(labels[train].tolist()))
    if lacking:
        raise CnnlabError(
            f"{tree.origin}: class {classes[lacking[0]]} has no readable training images: add some or remove the folder"
        )

    def nchw(mask: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(nhwc[mask].transpose(0, 3, 1, 2))

    return Decoded(nchw(train), labels[train], nchw(test), labels[test], classes, notes)


# ------------------------------------------------------------------------------------------ Oxford 17 flowers

FLOWERS17_CLASSES = (
    "daffodil",
    "snowdrop",
    "lily valley",
    "bluebell",
    "crocus",
    "iris",
    "tigerlily",
    "tulip",
    "fritillary",
    "sunflower",
    "daisy",
    "colts' foot",
    "dandelion",
    "cowslip",
    "buttercup",
    "windflower",
    "pansy",
)
FLOWERS17_PER_CLASS = 80
FLOWERS17_TEST_PER_CLASS = 20  # the size of the official test splits (40 train, 20 val, 20 test per class)
FLOWERS17_SIZE = (224, 224)  # decoded size unless size= is given: AlexNet's and VGG's input


def flowers17_entries(tree: FileTree) -> dict[str, list[tuple[str, int]]]:
    """Train/test entries of 17flowers.tgz: jpg/image_0001.jpg ... image_1360.jpg, 80 consecutive images per class
    in the order of FLOWERS17_CLASSES. The test split is 20 images per class drawn by a seeded stratified split
    (seed 0), the same every time; the official datasplits.mat (a MATLAB file) is not used."""
    import torch

    from cnnlab.data.splits import stratified_split

    total = FLOWERS17_PER_CLASS * len(FLOWERS17_CLASSES)
    paths = [f"jpg/image_{i:04d}.jpg" for i in range(1, total + 1)]
    missing = [p for p in paths if p not in tree.files]
    if missing:
        raise CnnlabError(
            f"{tree.origin} lacks {len(missing)} of the {total} flower images, the first {missing[0]}: it is not "
            "the Oxford 17 flowers archive (17flowers.tgz); delete it so it is downloaded again, or replace it"
        )
    labels = torch.arange(total) // FLOWERS17_PER_CLASS
    train, test = stratified_split(labels, FLOWERS17_TEST_PER_CLASS * len(FLOWERS17_CLASSES), seed=0)
    return {
        "train": [(paths[i], int(labels[i])) for i in train.tolist()],
        "test": [(paths[i], int(labels[i])) for i in test.tolist()],
    }


def read_flowers17(tree: FileTree, size: tuple[int, int] | None = None) -> Decoded:
    """Decode the Oxford 17 flowers archive (Nilsback & Zisserman 2006) at `size` (default 224x224, aspect ratio
    not kept: the photos vary in size)."""
    return decode_images(tree, list(FLOWERS17_CLASSES), flowers17_entries(tree), size or FLOWERS17_SIZE)
