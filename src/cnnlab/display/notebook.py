"""Whether this process is a Jupyter kernel: the one place that asks, without importing IPython itself."""

from __future__ import annotations

import sys


def in_notebook() -> bool:
    """True inside a Jupyter kernel (a ZMQInteractiveShell, or a subclass of it such as Colab's shell). IPython is
    only looked at when something already imported it, so plain Python and terminals never load it."""
    if "IPython" not in sys.modules:
        return False
    shell = sys.modules["IPython"].get_ipython()
    return shell is not None and any(c.__name__ == "ZMQInteractiveShell" for c in type(shell).__mro__)
