"""The model zoo: classic CNN families, one file each, registered by name."""

from cnnlab.zoo import airbench, alexnet, googlenet, lenet, resnet, simple, vgg  # noqa: F401  (registers the families)
from cnnlab.zoo.registry import ModelInfo, create_model, list_models, model_info, register_model

__all__ = ["ModelInfo", "create_model", "list_models", "model_info", "register_model"]
