"""A figure in a notebook cell's output that is redrawn in place: the live curves of `train` in Jupyter.

Imported only inside a Jupyter kernel (cnnlab.train.progress asks display.in_notebook first)."""

from __future__ import annotations

from IPython.display import Image, display


class LiveImage:
    """One output slot: the first `show` displays a PNG, later ones replace it (display_id), not append."""

    def __init__(self) -> None:
        self.handle = None

    def show(self, png: bytes) -> None:
        if self.handle is None:
            self.handle = display(Image(png), display_id=True)
        else:
            self.handle.update(Image(png))
