"""How results look: HTML tables and figures for Jupyter and the report, the same cells as aligned text for a
terminal (text.aligned), the curves plot, and the notebook-only live display of a training run.

It sits at the bottom with atomic.py (it imports nothing else of cnnlab), so the run directory, the analysis, the
report and the tuner can all give their results a `_repr_html_` built from the rows their terminal text uses.
Nothing here imports IPython; `live` does, and only a Jupyter kernel imports it (see `in_notebook`).
"""

from cnnlab.display.html import bullets, figure, lines, table
from cnnlab.display.notebook import in_notebook
from cnnlab.display.text import aligned

__all__ = ["aligned", "bullets", "figure", "in_notebook", "lines", "table"]
