"""The `cnnlab` command: parses arguments, calls the library, maps CnnlabError to exit status 2.

Each capability keeps its commands in its own module here with a `register(subparsers)` function."""

from __future__ import annotations

import argparse
import errno
import os
import sys
import warnings
from collections.abc import Callable, Sequence

from safetensors import SafetensorError

from cnnlab.cli import analysis, app, data, explain, export, reference, shipped, study, train, tune
from cnnlab.errors import CnnlabError, OtherRankError, cli_voice

COMMAND_MODULES = (analysis, shipped, train, export, study, tune, explain, app, reference, data)
WRITE_ERRNOS = {errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EFBIG}  # failures that only a write can meet


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block), exit status 2 as for every bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"cnnlab: error: {message} (see {self.prog} --help)\n")  # every error line starts alike


EMPTY_MEANS_NONE = ("--augment",)  # `--augment ''` turns a recipe's augmentation off


def check_no_empty(argv: Sequence[str]) -> None:
    """Refuse an empty argument ('' from a shell variable never set) by name: commands took it for the default
    (`--input ''` the model's input, `--out ''` a file in the current folder) and silently did something else."""
    for i, arg in enumerate(argv):
        flag, eq, value = arg.partition("=")
        if arg.startswith("--") and eq and not value.strip() and flag not in EMPTY_MEANS_NONE:
            raise CnnlabError(f"{flag} is given an empty value; give one, or omit {flag} for its default")
        if arg.strip():
            continue
        before = argv[i - 1] if i else ""
        if before.startswith("--") and "=" not in before:
            if before in EMPTY_MEANS_NONE:
                continue
            raise CnnlabError(f"{before} is given an empty value; give one, or omit {before} for its default")
        raise CnnlabError(f"argument {i + 1} ({arg!r}) is empty; give a value there, or leave it out")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="cnnlab", description="A workbench for convolutional neural networks.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
    return p


def os_error_message(e: OSError) -> str:
    """One line for a file the system refused (read-only, disk full, no permission): which file, why, what to do."""
    name = f" {e.filename}" if e.filename is not None else ""
    reason = e.strerror or str(e) or type(e).__name__
    if e.errno in WRITE_ERRNOS:
        return f"cannot write{name}: {reason}; write somewhere else (e.g. another --out) or free some space"
    return f"cannot read or write{name}: {reason}; check the path and its permissions"


def _fail(message: str) -> int:
    print("cnnlab: error: " + " ".join(message.split("\n")), file=sys.stderr)
    return 2


def _reader_gone() -> int:
    """The program reading our output stopped (`cnnlab models | head -1`): end quietly, as Unix tools do. Python
    flushes stdout again at exit, so what is left goes to /dev/null instead of a second broken pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # a stdout without a file descriptor (a notebook, a test's capture)
        pass
    finally:
        os.close(devnull)
    return 141  # 128 + SIGPIPE: the status a shell reports for `git log | head -1`


def _warning_line(message: Warning | str, category: type[Warning], *_: object, **__: object) -> None:
    """A warning (the library's, or a dependency's) as the commands say theirs: one `warning:` line on stderr,
    without Python's file, line number and source line. A ResourceWarning is not said: it is the garbage collector's
    notice of an object something left open (an event loop a library made), not about the command, and Python
    hides it too outside development mode (under pytest it showed in whichever command ran when it was collected)."""
    if issubclass(category, ResourceWarning):
        return
    print("warning: " + " ".join(str(message).split()), file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 1 check found wrong cells, 2 bad input)."""
    try:
        with warnings.catch_warnings(), cli_voice():  # messages name flags, not Python arguments
            warnings.showwarning = _warning_line
            given = list(sys.argv[1:] if argv is None else argv)
            check_no_empty(given)
            args = build_parser().parse_args(given)  # inside: an argument type may raise CnnlabError
            args.argv = given  # as given, for a command that relaunches itself
            func: Callable[[argparse.Namespace], int] = args.func
            status = func(args)
        sys.stdout.flush()  # a reader that went away shows here, not in the interpreter's exit
        return status
    except BrokenPipeError:  # before OSError, which it is
        return _reader_gone()
    except OtherRankError:
        return 2  # another rank's failure, which that rank or torchrun reports
    except CnnlabError as e:
        return _fail(str(e))
    except OSError as e:
        return _fail(os_error_message(e))
    except SafetensorError as e:  # safetensors reports a full disk or a damaged file as its own error, not OSError
        return _fail(f"cannot write or read a checkpoint: {e}; free some space, or choose another --out")
    except RecursionError:
        return _fail("the input is nested too deeply to process (RecursionError); flatten the file or network")
    except MemoryError:
        return _fail("out of memory (MemoryError); use a smaller model, input size, batch size or dataset")
    except KeyboardInterrupt:
        if "LOCAL_RANK" not in os.environ:  # a rank torchrun started leaves the line to its launcher: one, not N + 1
            print("cnnlab: interrupted", file=sys.stderr)
        return 130
