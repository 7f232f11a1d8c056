"""The `cnnlab` command: parses arguments, calls the library, maps CnnlabError to exit status 2.

Each capability keeps its commands in its own module here with a `register(subparsers)` function."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from cnnlab.cli import analysis, explain, study, train, tune
from cnnlab.errors import CnnlabError

COMMAND_MODULES = (analysis, train, study, tune, explain)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block), exit status 2 as for every bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="cnnlab", description="A workbench for convolutional neural networks.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 1 check found wrong cells, 2 bad input)."""
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except CnnlabError as e:
        print(f"cnnlab: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a read-only folder, a full disk: say which file and why, in one line
        where = f"{e.filename}: " if e.filename else ""
        print(f"cnnlab: error: {where}{e.strerror or e}; free some space or choose a writable location", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cnnlab: interrupted", file=sys.stderr)
        return 130
