"""cnnlab: a workbench for convolutional neural networks.

Notebook use::

    import cnnlab
    model = cnnlab.create_model("resnet18-cifar", num_classes=10)
    cnnlab.summarize(model, (3, 32, 32))        # a table in Jupyter; print(report.render("table")) elsewhere
    cnnlab.gradcam("runs/mnist", ["digit.png"]) # pictures that show inline; also features, filters, filter
"""

from cnnlab.analysis import summarize
from cnnlab.errors import CnnlabError
from cnnlab.explain.api import features, filters, gradcam
from cnnlab.explain.api import filter as filter  # not in __all__: a star import must not hide the builtin
from cnnlab.zoo import create_model, list_models, model_info

__all__ = ["CnnlabError", "create_model", "features", "filters", "gradcam", "list_models", "model_info", "summarize"]
__version__ = "0.1.0"
