"""The model zoo: classic CNN families, one file each, registered by name."""

from cnnlab.zoo import (  # noqa: F401  (registers)
    airbench,
    alexnet,
    googlenet,
    inception_v3,
    lenet,
    resnet,
    resnet_cifar,
    simple,
    vgg,
)
from cnnlab.zoo.registry import ModelInfo, create_model, list_models, model_info, register_model

__all__ = ["ModelInfo", "create_model", "list_models", "model_info", "register_model"]
