"""How training shows its progress: a per-batch bar with ETA and running loss/accuracy on terminals, a notebook bar
and live loss/accuracy curves in Jupyter, silence elsewhere (the epoch lines suffice).

IPython, ipywidgets and the notebook bar are imported only when display.in_notebook() says this is a Jupyter
kernel, so plain Python and terminals never load them."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cnnlab.display import in_notebook
from cnnlab.rundir import RunDir
from cnnlab.train.callbacks import Callback


class Progress:
    def __init__(self, total: int, enabled: bool | None = None) -> None:
        self.total = total
        self.notebook = in_notebook()
        self.enabled = (sys.stderr.isatty() or self.notebook) if enabled is None else enabled
        self.bar = None

    def start(self, epoch: int, epochs: int) -> None:
        if not self.enabled:
            return
        desc = f"epoch {epoch}/{epochs}"
        if self.notebook:
            from tqdm.auto import tqdm as notebook_tqdm  # a widget bar (text when ipywidgets is missing)

            self.bar = notebook_tqdm(total=self.total, desc=desc, leave=False)
            return
        from tqdm import tqdm

        width = os.get_terminal_size(sys.stderr.fileno()).columns if sys.stderr.isatty() else 0
        self.bar = tqdm(
            total=self.total,
            desc=desc,
            leave=False,
            file=sys.stderr,
            **({} if width else {"ncols": 100, "nrows": 20}),
        )  # a 0x0 terminal would hide the bar

    def wants_update(self, step: int) -> bool:
        """Reading the loss syncs the device, so only do it when the bar will show it."""
        return self.bar is not None and (step % 10 == 0 or step == self.total)

    def update(self, step: int, loss: float, acc: float) -> None:
        if self.bar is None:
            return
        self.bar.n = step
        self.bar.set_postfix(loss=f"{loss:.4f}", acc=f"{acc:.2%}", refresh=False)
        self.bar.refresh()

    def finish(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class LiveCurves(Callback):
    """In a notebook: the run's loss and accuracy curves in the cell's output, redrawn after every epoch."""

    def __init__(self, out: str | Path) -> None:
        from cnnlab.display.live import LiveImage

        self.out = Path(out)
        self.rows: list[dict[str, Any]] = []
        self.image = LiveImage()

    def on_setup(self, setup: Any) -> None:
        self.rows = RunDir(self.out).metrics()  # a resumed run's curves start from its first epoch, not this one

    def on_epoch_end(self, row: dict[str, Any]) -> None:
        from cnnlab.display.curves import curves_png

        self.rows = [r for r in self.rows if r["epoch"] < row["epoch"]] + [row]
        self.image.show(curves_png({self.out.name: self.rows}))


def live_callbacks(out: str | Path, progress: bool | None) -> list[Callback]:
    """What a run adds to its callbacks to show itself: live curves in a notebook unless progress=False."""
    return [LiveCurves(out)] if progress is not False and in_notebook() else []


def default_log() -> Callable[[str], None]:
    """Where a run's lines go when the caller gives no `log`: stderr, or in a notebook stdout (which Jupyter does
    not paint as an error)."""
    stream = sys.stdout if in_notebook() else sys.stderr
    return lambda line: print(line, file=stream, flush=True)
