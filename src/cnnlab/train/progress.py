"""A per-batch progress bar with ETA and running loss/accuracy on terminals; silence elsewhere (epoch lines suffice)."""

from __future__ import annotations

import os
import sys


class Progress:
    def __init__(self, total: int, enabled: bool | None = None) -> None:
        self.total = total
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.bar = None

    def start(self, epoch: int, epochs: int) -> None:
        if self.enabled:
            from tqdm import tqdm

            width = os.get_terminal_size(sys.stderr.fileno()).columns if sys.stderr.isatty() else 0
            self.bar = tqdm(
                total=self.total,
                desc=f"epoch {epoch}/{epochs}",
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
