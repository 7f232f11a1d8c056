"""User-facing errors: anything a user can cause raises CnnlabError with a message that says what to do."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

_CLI = contextvars.ContextVar("cnnlab_cli", default=False)


class CnnlabError(Exception):
    """An error caused by user input; the CLI prints it as one line and exits with status 2."""


ECHOED_WHOLE = 80  # characters of a user's cell an error line repeats whole; a longer one is shown by its start
ECHOED_START = 30


def echoed(text: str, quote: bool = True) -> str:
    """A user's cell (of a table, a matrix, its working) as a message repeats it: whole, in quotes unless `quote`
    is False; past ECHOED_WHOLE characters its start and its length (`'999...' (5,000 characters)`), so that a
    5,000-digit cell does not make its one line 5,000 characters long."""
    if len(text) <= ECHOED_WHOLE:
        return repr(text) if quote else text
    start = repr(text[:ECHOED_START]) if quote else text[:ECHOED_START]
    start = f"{start[:-1]}...{start[-1]}" if quote else f"{start}..."
    return f"{start} ({len(text):,} characters)"


class OtherRankError(CnnlabError):
    """In a data-parallel run, another rank's failure that stops this one too: rank 0's error handed to the
    others, or a rank that died (torchrun names it). That rank, or torchrun, reports it; this one stays silent."""


class ShapeError(CnnlabError):
    """A layer whose output would be empty; carries the rows analysed before it so a partial table can be shown,
    (`layer`) the row of the layer that cannot exist, when known, and the model's input shape (C, H, W)."""

    def __init__(
        self, message: str, rows: list | None = None, layer: object | None = None, input_shape: tuple = ()
    ) -> None:
        super().__init__(message)
        self.rows = rows or []
        self.layer = layer
        self.input_shape = input_shape


@contextmanager
def cli_voice() -> Iterator[None]:
    """While the CLI runs a command: messages name its flags (`--resume`) rather than the Python arguments."""
    token = _CLI.set(True)
    try:
        yield
    finally:
        _CLI.reset(token)


def speaking_to_cli() -> bool:
    """Whether a message is for the command line (inside `cli_voice`) rather than a Python caller."""
    return _CLI.get()


def option(name: str, python: str | None = None) -> str:
    """A setting as the reader of a message gives it: `--init-from` on the command line, `init_from` (or
    `python`, e.g. "resume=True") from Python, where a notebook calls train() and has no flags."""
    return f"--{name.replace('_', '-')}" if speaking_to_cli() else python or name.replace("-", "_")


def resume_option() -> str:
    """How a stopped run is continued, for the messages that say so: `--resume`, or `resume=True` in Python."""
    return option("resume", "resume=True")


def first_line(e: BaseException) -> str:
    """PyTorch's error `e` as one clause of a one-line message: its first line without the full stop, or its type
    where it says nothing."""
    text = str(e).strip()
    return text.splitlines()[0].rstrip(".") if text else type(e).__name__
