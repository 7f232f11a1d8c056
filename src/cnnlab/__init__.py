"""cnnlab: a workbench for convolutional neural networks.

Notebook use::

    import cnnlab
    model = cnnlab.create_model("resnet18-cifar", num_classes=10)
    cnnlab.summarize(model, (3, 32, 32))        # a table in Jupyter; print(report.render("table")) elsewhere
    cnnlab.gradcam("runs/mnist", ["digit.png"]) # pictures that show inline; also features, filters, filter

The names below are imported when first used (PEP 562), so that `cnnlab.export.runtime` (predicting with an exported
ONNX file on onnxruntime) can run where PyTorch is not installed.
"""

from importlib import import_module
from typing import Any

from cnnlab.errors import CnnlabError

_LAZY = {
    "summarize": "cnnlab.analysis",
    "create_model": "cnnlab.zoo",
    "list_models": "cnnlab.zoo",
    "model_info": "cnnlab.zoo",
    "gradcam": "cnnlab.explain.api",
    "features": "cnnlab.explain.api",
    "filters": "cnnlab.explain.api",
    "filter": "cnnlab.explain.api",  # not in __all__: a star import must not hide the builtin
}

__all__ = ["CnnlabError", "create_model", "features", "filters", "gradcam", "list_models", "model_info", "summarize"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'cnnlab' has no attribute {name!r}")
