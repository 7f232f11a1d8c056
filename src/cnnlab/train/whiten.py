"""Patch-whitening initialisation of a model's first conv, computed from training images.

A first conv whose filters decorrelate the k x k input patches and give them unit variance hands the rest of the
net inputs in which every direction is equally visible, and a frozen one costs no training at all; that is a
large part of why airbench reaches 94% on CIFAR-10 in seconds. The method follows airbench's
``init_whitening_conv`` (Keller Jordan 2024, "94% on CIFAR-10 in 3.29 seconds on a single GPU",
github.com/KellerJordan/cifar10-airbench), which takes it from tysam-code's hlb-CIFAR10 and David Page's
"How to train your ResNet" (myrtle.ai, 2018). Written here from that description:

1. every k x k patch of the images that the conv takes (k, its dilation and stride are the conv's), flattened
   to D = C*k*k values: with stride 2 a 2x2 conv tiles the image, and its outputs are whitened exactly on the
   patches it sees, from a quarter of the work;
2. their covariance (centred, accumulated in float64 in chunks, so thousands of images need little memory);
3. its eigen-decomposition (``torch.linalg.eigh``), largest eigenvalue first;
4. filter i = eigenvector i / sqrt(eigenvalue i + eps): PCA whitening, with eps keeping near-constant
   directions (flat image regions) from being blown up into noise; a direction with no variance at all (copies
   of one grey channel) takes the filter of one that has.

A conv with 2*D filters gets each filter and its negation (airbench's 24 = 2*3*2*2 for RGB), so that a GELU or
ReLU after it passes both signs of every direction; a conv with D or fewer filters gets the leading ones.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from cnnlab.analysis.receptive import conv_output
from cnnlab.errors import CnnlabError, option, speaking_to_cli

_CHUNK_VALUES = 1 << 22  # patch values unfolded at a time (~32 MB in float64)
NULL_VARIANCE = 1e-9  # of the largest eigenvalue: below it a direction holds no signal, only float64 rounding


def first_conv(model: nn.Module) -> nn.Conv2d:
    """The model's first nn.Conv2d in module order, refused unless it is also the first layer with parameters.

    Module order is registration order, which is forward order in the zoo's models; whitening a conv that sees
    features rather than pixels would whiten the wrong thing, hence the refusal."""
    name = getattr(model, "model_name", type(model).__name__)
    if not any(isinstance(m, nn.Conv2d) for m in model.modules()):
        raise CnnlabError(f"{option('whiten')} needs a model whose first layer is a conv; {name} has no Conv2d layer")
    for module in model.modules():
        if next(module.parameters(recurse=False), None) is None:
            continue
        if not isinstance(module, nn.Conv2d):
            raise CnnlabError(
                f"{option('whiten')} needs a model whose first layer is a conv; {name} starts with "
                f"{type(module).__name__}"
            )
        if module.groups != 1:
            raise CnnlabError(f"{option('whiten')} needs an ungrouped first conv; {name}'s has groups={module.groups}")
        return module
    raise AssertionError("unreachable: a Conv2d always has a weight")  # pragma: no cover


def patch_covariance(
    images: torch.Tensor,
    kernel_size: tuple[int, int],
    dilation: tuple[int, int] = (1, 1),
    stride: tuple[int, int] = (1, 1),
) -> tuple[torch.Tensor, int]:
    """(D x D float64 covariance of the k x k patches a conv with this dilation and stride takes, number of
    patches); D = C*kh*kw in conv-weight order."""
    n, c, h, w = images.shape
    dims = c * kernel_size[0] * kernel_size[1]
    rows = math.prod(
        max(0, conv_output(size, k, s, 0, d)) for size, k, s, d in zip((h, w), kernel_size, stride, dilation)
    )
    count = n * rows
    if count < dims:
        raise CnnlabError(
            f"whitening needs at least {dims} patches of {kernel_size[0]}x{kernel_size[1]} to estimate a "
            f"{dims}x{dims} covariance; {n} image(s) of {h}x{w} give {count}: pass more training images"
        )
    work = images.device if images.device.type in ("cpu", "cuda") else torch.device("cpu")  # float64 support
    total = torch.zeros(dims, dtype=torch.float64, device=work)
    outer = torch.zeros(dims, dims, dtype=torch.float64, device=work)
    step = max(1, _CHUNK_VALUES // (rows * dims))
    for start in range(0, n, step):
        chunk = images[start : start + step].to(work, torch.float64)
        patches = F.unfold(chunk, kernel_size, dilation=dilation, stride=stride).transpose(1, 2).reshape(-1, dims)
        total += patches.sum(0)
        outer += patches.T @ patches
    mean = total / count
    return (outer / count - torch.outer(mean, mean)).cpu(), count


def whitening_filters(images: torch.Tensor, conv: nn.Conv2d, eps: float = 5e-4) -> torch.Tensor:
    """Weights of `conv`'s shape whose outputs on the patches of `images` are decorrelated with unit variance."""
    kernel = (conv.kernel_size[0], conv.kernel_size[1])
    dilation, stride = (conv.dilation[0], conv.dilation[1]), (conv.stride[0], conv.stride[1])
    cov, _ = patch_covariance(images, kernel, dilation, stride)
    eigenvalues, eigenvectors = torch.linalg.eigh(cov)  # ascending; columns are eigenvectors
    eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.flip(1)
    filters = (eigenvectors / (eigenvalues.clamp(min=0) + eps).sqrt()).T  # row i: direction i, scaled
    # A direction the images never vary in (grey digits copied into three channels: R - G is 0 everywhere) takes a
    # copy of a direction they do vary in, the r of them in turn. Scaled by 1/sqrt(eps), its filter would cancel
    # only in exact arithmetic: in bf16 the rounding is noise 45 times the pixels, and training blows up. A zero
    # filter would leave a channel that batch norm (eps 1e-12) divides by nothing. CIFAR's weakest direction has
    # 1e-5 of the largest one's variance and keeps its own filter; copies leave 1e-16.
    rank = max(1, int((eigenvalues > NULL_VARIANCE * eigenvalues[0]).sum()))  # images of one colour: rank 0
    filters[rank:] = filters[torch.arange(rank, len(filters)) % rank]
    dims, out = filters.shape[0], conv.out_channels
    if out == 2 * dims:
        filters = torch.cat([filters, -filters])
    elif out <= dims:
        filters = filters[:out]
    else:
        none = "--whiten none" if speaking_to_cli() else "whiten='none'"
        raise CnnlabError(
            f"whitening fills a conv with at most {dims} filters or exactly {2 * dims} (+/- pairs) for "
            f"{conv.in_channels}x{kernel[0]}x{kernel[1]} patches; this one has {out}: use {none}, or a model "
            "built for it (the airbench nets)"
        )
    return filters.reshape(conv.weight.shape).to(conv.weight.dtype)


def whiten_first_conv(model: nn.Module, images: torch.Tensor, trainable: bool = False, eps: float = 5e-4) -> nn.Conv2d:
    """Initialise the model's first conv by patch whitening on `images` and return it.

    `images` are training images as the model sees them: float (N, C, H, W), normalised like the training
    batches, not augmented (airbench uses 5,000). Its bias, if any, is zeroed. With ``trainable=False`` weight and
    bias are frozen (requires_grad False), as airbench does; deterministic for the same images.
    """
    conv = first_conv(model)
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise CnnlabError(f"whitening needs a batch of images (N, C, H, W), got {shape}")
    if not images.is_floating_point():
        raise CnnlabError(
            f"whitening needs model inputs (float, normalised), got {images.dtype} pixels: convert them the way "
            "training batches are converted (cnnlab.data.augment.to_inputs)"
        )
    if images.shape[1] != conv.in_channels:
        raise CnnlabError(
            f"whitening images have {images.shape[1]} channel(s) but the first conv takes {conv.in_channels}"
        )
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
        raise CnnlabError(f"whitening eps must be a positive number, got {eps!r}")
    if not torch.isfinite(images).all():
        raise CnnlabError("whitening images contain NaN or infinite values")
    weight = whitening_filters(images, conv, float(eps))
    with torch.no_grad():
        conv.weight.copy_(weight)
        if conv.bias is not None:
            conv.bias.zero_()
    conv.weight.requires_grad_(trainable)
    if conv.bias is not None:
        conv.bias.requires_grad_(trainable)
    return conv
