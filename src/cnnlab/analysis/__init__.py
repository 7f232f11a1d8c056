"""Layer analysis: shapes, parameters, MACs and receptive fields, and grading of hand-made tables."""

from cnnlab.analysis.render import render, to_dict
from cnnlab.analysis.summary import LayerRow, ModelSummary, summarize

__all__ = ["LayerRow", "ModelSummary", "summarize", "render", "to_dict"]
