"""How results look outside a terminal: HTML tables and figures for Jupyter and the report, the curves plot, and
the notebook-only live display of a training run.

It sits at the bottom with atomic.py (it imports nothing else of cnnlab), so the run directory, the analysis, the
report and the tuner can all give their results a `_repr_html_` built from the rows their terminal text uses.
Nothing here imports IPython; `live` does, and only a Jupyter kernel imports it (see `in_notebook`).
"""

from cnnlab.display.html import bullets, figure, lines, table
from cnnlab.display.notebook import in_notebook

__all__ = ["bullets", "figure", "in_notebook", "lines", "table"]
