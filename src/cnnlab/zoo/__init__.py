"""The model zoo: classic CNN families, one file each, registered by name."""
from cnnlab.zoo.registry import ModelInfo, create_model, list_models, model_info, register_model
from cnnlab.zoo import lenet, alexnet, vgg, googlenet, resnet, simple  # noqa: F401  (registers the families)

__all__ = ["ModelInfo", "create_model", "list_models", "model_info", "register_model"]
