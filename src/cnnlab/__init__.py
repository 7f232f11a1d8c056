"""cnnlab: a workbench for convolutional neural networks.

Notebook use::

    import cnnlab
    model = cnnlab.create_model("resnet18-cifar", num_classes=10)
    report = cnnlab.summarize(model, (3, 32, 32))
    print(report.render("table"))
"""

from cnnlab.analysis import summarize
from cnnlab.errors import CnnlabError
from cnnlab.zoo import create_model, list_models, model_info

__all__ = ["CnnlabError", "create_model", "list_models", "model_info", "summarize"]
__version__ = "0.1.0"
