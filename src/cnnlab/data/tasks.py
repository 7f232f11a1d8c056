"""Label tasks derived from a dataset, named 'DATASET:TASK' (e.g. 'mnist:parity').

A task maps each original class to a new class index, or to DROP to leave its samples out; add one with
`register_task`, and `load_dataset("DATASET:TASK")` finds it by name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from difflib import get_close_matches

import numpy as np

from cnnlab.errors import CnnlabError

DROP = -1


@dataclass(frozen=True)
class Task:
    """A relabelling: `mapping(original class names)` gives each original class its new index (or DROP)."""

    name: str
    classes: tuple[str, ...]
    mapping: Callable[[list[str]], list[int]]

    def apply(self, x: np.ndarray, y: np.ndarray, original: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Relabel `y` and drop the samples whose class maps to DROP."""
        table = np.asarray(self.mapping(original), np.int64)
        new_y = table[y]
        keep = new_y != DROP
        return (x, new_y) if keep.all() else (x[keep], new_y[keep])


_TASKS: dict[str, Task] = {}


def register_task(
    *names: str, classes: tuple[str, ...]
) -> Callable[[Callable[[list[str]], list[int]]], Callable[[list[str]], list[int]]]:
    """Register `mapping(original class names) -> new index per class` under each 'DATASET:TASK' name."""

    def decorate(mapping: Callable[[list[str]], list[int]]) -> Callable[[list[str]], list[int]]:
        for name in names:
            if name in _TASKS:
                raise ValueError(f"task {name!r} registered twice")
            _TASKS[name] = Task(name, classes, mapping)
        return mapping

    return decorate


def list_tasks() -> list[str]:
    """Registered task names ('DATASET:TASK'), in registration order."""
    return list(_TASKS)


def get_task(name: str) -> Task:
    """The task called `name`; an unknown one gets an error listing close matches."""
    try:
        return _TASKS[name]
    except KeyError:
        close = get_close_matches(name, list(_TASKS), n=3)
        hint = f"did you mean {', '.join(close)}?" if close else f"known tasks: {', '.join(_TASKS)}"
        raise CnnlabError(f"unknown task {name!r}: {hint}") from None


@register_task("mnist:parity", "digits:parity", classes=("even", "odd"))
def _parity(original: list[str]) -> list[int]:
    return [int(name) % 2 for name in original]
