"""Reading the TOML files users write (networks, experiments, studies, search spaces), with one-line errors."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from difflib import get_close_matches
from pathlib import Path
from typing import Any

from cnnlab.errors import CnnlabError


def read_toml(path: str | Path, what: str, hint: str = "") -> dict[str, Any]:
    """Parse `path`; a missing file or bad syntax raises CnnlabError naming `what` the file should be."""
    return parse_toml(read_text(path, what, hint), path)


def read_text(path: str | Path, what: str, hint: str = "") -> str:
    """The text of the TOML file `path`, read apart from parsing where the text itself is kept (a run keeps its
    network file's); a missing file or one that is no text raises CnnlabError naming `what` the file should be."""
    p = Path(path)
    if not p.is_file():
        raise CnnlabError(f"{what} {str(p)!r} not found" + (f"; {hint}" if hint else ""))
    try:
        return p.read_text()
    except UnicodeDecodeError as e:
        raise CnnlabError(f"{p}: not valid TOML ({e}); fix the file") from None


def parse_toml(text: str, path: str | Path) -> dict[str, Any]:
    """`text` as TOML; bad syntax raises CnnlabError naming `path`, the file it was read from."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise CnnlabError(f"{path}: not valid TOML ({e}); fix the file") from None
    except RecursionError:  # tomllib parses nested arrays and inline tables recursively
        raise CnnlabError(f"{path}: arrays or inline tables nested too deeply to parse; flatten the file") from None


def check_keys(
    table: dict[str, Any], accepted: Iterable[str], where: str, what: str = "key", listing: str = ""
) -> None:
    """Refuse a key outside `accepted`, naming the closest accepted one: a misspelt key would otherwise be ignored
    and its default used without a word (`inputs = [1, 8, 8]` for `input`). `listing` replaces the list of accepted
    keys where it would be too long for one line."""
    allowed = list(accepted)
    unknown = [k for k in table if k not in allowed]
    if not unknown:
        return
    key = unknown[0]
    close = get_close_matches(key, allowed, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    more = f" (and {len(unknown) - 1} more: {', '.join(unknown[1:])})" if len(unknown) > 1 else ""
    raise CnnlabError(
        f"unknown {what} {key!r} in {where}{more}: {hint}({listing or 'accepted: ' + ', '.join(allowed)})"
    )
