"""User-facing errors: anything a user can cause raises CnnlabError with a message that says what to do."""

from __future__ import annotations


class CnnlabError(Exception):
    """An error caused by user input; the CLI prints it as one line and exits with status 2."""


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
