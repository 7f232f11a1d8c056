"""The cache command: what the data cache holds, and removing what no load will read again."""

from __future__ import annotations

import argparse
from pathlib import Path

from cnnlab.display import aligned
from cnnlab.errors import CnnlabError


def cmd_cache(args: argparse.Namespace) -> int:
    from cnnlab.data import cache_dir, entries
    from cnnlab.data.cache import remove

    if args.cache_dir and args.data_dir:
        raise CnnlabError("give --data-dir (its cache) or --cache-dir (a cache folder), not both")
    if args.data_dir and not Path(args.data_dir).expanduser().is_dir():
        raise CnnlabError(f"--data-dir {args.data_dir} is not a folder; give the data root whose cache to show")
    folder = Path(args.cache_dir).expanduser() if args.cache_dir else cache_dir(args.data_dir)
    if folder.exists() and not folder.is_dir():
        raise CnnlabError(f"--cache-dir {folder} is a file, not a folder; give the folder the data cache is in")
    found = entries(folder, verify=not args.quick and args.remove != "all")  # all go: no need to read them
    if not found:
        print(f"no data cache entries in {folder}")
        return 0
    gone = [e for e in found if args.remove == "all" or (args.remove == "stale" and e.stale)]
    for e in gone:
        remove(e)
    print(table(found, gone))
    stale = [e for e in found if e.stale and e not in gone]
    print(f"{len(found)} {'entry' if len(found) == 1 else 'entries'} in {folder}, {mb(found)}", end="")
    if gone:
        print(f"; removed {len(gone)}, {mb(gone)}")
    elif stale:
        where = (
            f" --cache-dir {args.cache_dir}" if args.cache_dir else f" --data-dir {args.data_dir}" * bool(args.data_dir)
        )
        print(f"; {len(stale)} stale ({mb(stale)}): `cnnlab cache{where} --remove stale` deletes them")
    else:
        print()
    return 0


def mb(entries: list) -> str:
    return f"{sum(e.size for e in entries) / 1e6:,.1f} MB"


def table(found: list, gone: list) -> str:
    """One row an entry: the data it decodes, its images, size, state (and whether it was removed), its files."""
    rows = []
    for e in found:
        source = e.sources[0] + f" and {len(e.sources) - 1} more" * (len(e.sources) > 1) if e.sources else "-"
        state = e.state + (", removed" if e in gone else "")
        image = "x".join(map(str, e.shape)) or "-"
        rows.append((e.label, f"{e.images:,}", image, f"{e.size / 1e6:,.1f}", state, source))
    return aligned(("data", "images", "image", "MB", "state", "from"), rows, numeric=(1, 2, 3))


def register(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser(
        "cache",
        help="list the decoded-data cache (size, state of each entry); --remove stale|all frees the disk",
        description="Each dataset is decoded once into uint8 arrays under the data root's cache/ (CIFAR-10: 184 "
        "MB; an image folder resized to 224x224 takes 49x its 32x32 size). An entry is stale when no load will "
        "read it again: its files changed or were removed since, it was written by an older cnnlab, or it is "
        "damaged (its bytes are checked as a load checks them: 0.1 s for MNIST and CIFAR-10). Removing any entry "
        "is safe: the next load decodes again.",
    )
    c.add_argument("--data-dir", help="the data root whose cache to show (default: $CNNLAB_DATA, else ~/.cache/cnnlab)")
    c.add_argument("--cache-dir", help="a cache folder given to load_dataset(cache_dir=...) instead")
    c.add_argument(
        "--remove",
        choices=["stale", "all"],
        help="delete the stale entries, or all (a load reading one at that moment decodes again)",
    )
    c.add_argument(
        "--quick",
        action="store_true",
        help="do not read the entries' arrays (a damaged entry then shows as current; a load still decodes it again)",
    )
    c.set_defaults(func=cmd_cache)
