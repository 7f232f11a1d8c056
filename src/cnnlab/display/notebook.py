"""Whether this process is a Jupyter kernel: the one place that asks, without importing IPython itself."""

from __future__ import annotations

import sys


def in_notebook() -> bool:
    """True inside a Jupyter kernel (ZMQInteractiveShell). IPython is only looked at when something already
    imported it, so plain Python and terminals never load it."""
    if "IPython" not in sys.modules:
        return False
    shell = sys.modules["IPython"].get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"
