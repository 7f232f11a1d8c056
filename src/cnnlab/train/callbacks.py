"""The engine's small callback set (after fastai's and Lightning's): code that watches or steers a run without
touching the loop. Override only what you need; every hook is optional."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cnnlab.train.setup import Setup


class Callback:
    def on_setup(self, setup: Setup) -> None:
        """Data, model, loaders and optimiser are built (and, on resume, restored)."""

    def on_epoch_end(self, row: dict[str, Any]) -> str | None:
        """An epoch is checkpointed; `row` is its metrics row. Return a reason to end the run there (as an early
        stop does: the best checkpoint is tested and a summary written), or raise to stop it resumably."""
        return None


class EpochFunction(Callback):
    """A plain function as an on_epoch_end callback (the `on_epoch=` argument of `train`)."""

    def __init__(self, fn: Callable[[dict[str, Any]], str | None]) -> None:
        self.fn = fn

    def on_epoch_end(self, row: dict[str, Any]) -> str | None:
        return self.fn(row)
