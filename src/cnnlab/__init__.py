"""cnnlab: a workbench for convolutional neural networks.

Notebook use::

    import cnnlab
    model = cnnlab.create_model("resnet18-cifar", num_classes=10)
    report = cnnlab.summarize(model, (3, 32, 32))
    print(report.render("table"))

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
}

__all__ = ["CnnlabError", "create_model", "list_models", "model_info", "summarize"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'cnnlab' has no attribute {name!r}")
