"""AlexNet: the 2012 paper's single-stream network, and torchvision's smaller "one weird trick" variant.

Two layouts exist because they answer different questions: `alexnet` reproduces the layer sizes of
Krizhevsky et al. (2012) so its parameter count and feature-map sizes match the paper, while `alexnet-tv`
matches torchvision's module indices so its ImageNet checkpoints load with ``strict=True``.
"""

from __future__ import annotations

import torch
from torch import nn

from cnnlab.zoo.registry import register_model

# Paper section 3.3: k=2, n=5, alpha=1e-4, beta=0.75. PyTorch's LocalResponseNorm (like Caffe's) divides
# alpha by `size`, so alpha=1e-4 here is the convention of the Caffe reference model; the paper's literal
# per-term coefficient would be alpha=5e-4. LRN has no parameters, so either choice leaves the count unchanged.
LRN_SIZE, LRN_ALPHA, LRN_BETA, LRN_K = 5, 1e-4, 0.75, 2.0


class AlexNet(nn.Module):
    """`features` -> optional `avgpool` -> flatten -> `classifier`, the shape every AlexNet variant shares."""

    def __init__(self, features: nn.Sequential, classifier: nn.Sequential, avgpool: nn.Module | None = None) -> None:
        super().__init__()
        self.features = features
        # The paper layout gets 6x6 maps from a 227x227 input by arithmetic; torchvision pools adaptively instead.
        self.avgpool = avgpool if avgpool is not None else nn.Identity()
        self.classifier = classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


def _lrn() -> nn.LocalResponseNorm:
    return nn.LocalResponseNorm(LRN_SIZE, alpha=LRN_ALPHA, beta=LRN_BETA, k=LRN_K)


@register_model(
    "alexnet",
    family="alexnet",
    input_size=(3, 227, 227),
    num_classes=1000,
    description="AlexNet as in Krizhevsky et al. 2012 (single stream, LRN), 62.4M params",
)
def alexnet(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5) -> AlexNet:
    """The paper's layer sizes (96-256-384-384-256 conv, 4096-4096 fc) merged into one stream.

    The original split the network over two GPUs; merging the halves gives the 62,378,344 parameters usually
    quoted for "AlexNet" (the grouped two-GPU version has fewer, because conv2/4/5 only see half the channels).
    Expects 227x227 input (the paper's "224" does not make the 11x11/4 arithmetic work): 227 -> 55 -> 27 -> 13 -> 6.
    Dropout sits in the first two fully connected layers, as in the paper.
    """
    features = nn.Sequential(
        nn.Conv2d(in_channels, 96, kernel_size=11, stride=4),
        nn.ReLU(inplace=True),
        _lrn(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(96, 256, kernel_size=5, padding=2),
        nn.ReLU(inplace=True),
        _lrn(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(256, 384, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(384, 384, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
    )
    classifier = nn.Sequential(
        nn.Linear(256 * 6 * 6, 4096),
        nn.ReLU(inplace=True),
        nn.Dropout(p=dropout),
        nn.Linear(4096, 4096),
        nn.ReLU(inplace=True),
        nn.Dropout(p=dropout),
        nn.Linear(4096, num_classes),
    )
    return AlexNet(features, classifier)


@register_model(
    "alexnet-tv",
    family="alexnet",
    input_size=(3, 224, 224),
    num_classes=1000,
    description="torchvision's AlexNet (64-192-384-256-256, no LRN); loads its checkpoints",
)
def alexnet_tv(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5) -> AlexNet:
    """torchvision's layout (Krizhevsky 2014, "One weird trick"): narrower convs, no LRN, adaptive 6x6 pool.

    Module indices match ``torchvision.models.alexnet`` (features.0/3/6/8/10, classifier.1/4/6), so its
    state dict loads unchanged; the adaptive pool lets it accept any input of at least 63x63.
    """
    features = nn.Sequential(
        nn.Conv2d(in_channels, 64, kernel_size=11, stride=4, padding=2),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(64, 192, kernel_size=5, padding=2),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(192, 384, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
    )
    classifier = nn.Sequential(
        nn.Dropout(p=dropout),
        nn.Linear(256 * 6 * 6, 4096),
        nn.ReLU(inplace=True),
        nn.Dropout(p=dropout),
        nn.Linear(4096, 4096),
        nn.ReLU(inplace=True),
        nn.Linear(4096, num_classes),
    )
    return AlexNet(features, classifier, avgpool=nn.AdaptiveAvgPool2d((6, 6)))
