"""Files that ship inside the package, named `KIND:NAME` (recipe:mnist-99, study:parity, net:lenet-like, ...), so
they work from any directory once cnnlab is installed, not only from a checkout.

They live in cnnlab/examples/ (the repository's examples/ links there), one folder per kind; a study names its
recipe relative to itself (`../recipes/x.toml`), so the layout inside the package is the layout of the checkout."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from cnnlab.errors import CnnlabError


@dataclass(frozen=True)
class Kind:
    """One kind of shipped file: its folder under cnnlab/examples and the file endings it holds."""

    folder: str
    suffixes: tuple[str, ...]
    what: str  # how an error calls a file of this kind
    plural: str


KINDS = {
    "recipe": Kind("recipes", (".toml",), "an experiment file", "recipes"),
    "study": Kind("studies", (".toml",), "a study file", "studies"),
    "net": Kind("nets", (".toml",), "a network file", "nets"),
    "space": Kind("spaces", (".toml",), "a search space file", "spaces"),
    "table": Kind("tables", (".md", ".csv"), "a table file", "tables"),
    "matrix": Kind("matrices", (".txt",), "a matrix file", "matrices"),
}


def examples_root() -> Path:
    """cnnlab/examples as a real folder (pip installs packages unpacked; a study's relative recipe needs a path)."""
    return Path(str(files("cnnlab").joinpath("examples")))


def shipped(kind: str) -> dict[str, Path]:
    """Every shipped file of `kind`, by name (the file name without its ending), sorted."""
    spec = KINDS[kind]
    folder = examples_root() / spec.folder
    found = folder.iterdir() if folder.is_dir() else []
    return {p.stem: p for p in sorted(found, key=lambda p: p.stem) if p.is_file() and p.suffix in spec.suffixes}


def named_kind(text: str | Path) -> str | None:
    """The KIND of a `KIND:NAME` argument, or None for a plain path."""
    prefix, sep, _ = str(text).partition(":")
    return prefix if sep and prefix in KINDS else None


def resolve(text: str | Path, kind: str) -> Path:
    """The file a user's argument names: `KIND:NAME` of a shipped file, or else the path as given.

    A name of another kind (study:parity where a recipe is wanted) or one that does not ship is a one-line error
    listing what ships."""
    given = named_kind(text)
    if given is None:
        return Path(text)
    name = str(text).partition(":")[2]
    if given != kind:
        raise CnnlabError(
            f"{text} is a shipped {given}, not a {kind}: give {kind}:NAME or a path to {KINDS[kind].what}"
        )
    available = shipped(kind)
    name = name if name in available else Path(name).stem if Path(name).suffix in KINDS[kind].suffixes else name
    if name not in available:
        listed = ", ".join(available) or "none"
        raise CnnlabError(f"unknown {kind} {name!r}; shipped {KINDS[kind].plural}: {listed} (or give a path to a file)")
    return available[name]


def stem(text: str | Path) -> str:
    """A short name for output folders and studies: NAME of `KIND:NAME`, else the file name without its ending."""
    return str(text).partition(":")[2] if named_kind(text) else Path(text).stem


def description(path: Path) -> str:
    """The first line of a shipped file's leading comment, or of its `title`, for listings."""
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("#"):
            return line.lstrip("#").strip()
        if line.startswith("title"):
            return line.partition("=")[2].strip().strip('"')
        if line:
            break
    return ""
