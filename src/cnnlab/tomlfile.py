"""Reading the TOML files users write (networks, experiments), with one-line errors."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from cnnlab.errors import CnnlabError


def read_toml(path: str | Path, what: str, hint: str = "") -> dict[str, Any]:
    """Parse `path`; a missing file or bad syntax raises CnnlabError naming `what` the file should be."""
    p = Path(path)
    if not p.is_file():
        raise CnnlabError(f"{what} {str(p)!r} not found" + (f"; {hint}" if hint else ""))
    try:
        return tomllib.loads(p.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise CnnlabError(f"{p}: not valid TOML ({e}); fix the file") from None
    except RecursionError:  # tomllib parses nested arrays and inline tables recursively
        raise CnnlabError(f"{p}: arrays or inline tables nested too deeply to parse; flatten the file") from None
