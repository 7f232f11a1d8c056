"""Per-layer cost: MACs, parameter counts and the formulas behind them.

One MAC is one multiply-accumulate of a convolution or linear layer. Pooling, activations, batch norm,
dropout and additions count zero MACs. Modules of our own define `macs(input_shape, output_shape)`
(LeNet-5's subsampling and RBF layers) and `analysis_kind` ("conv", "dense", "pool").
"""

from __future__ import annotations

import math

from torch import nn

from cnnlab.analysis.receptive import size_formula


def _pair(v: int | tuple) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[-1]))


def kind_of(module: nn.Module) -> str:
    """'conv', 'dense', 'pool' or 'other': used for the conv-versus-dense shares."""
    own = getattr(module, "analysis_kind", None)
    if own:
        return own
    if isinstance(module, nn.modules.conv._ConvNd):
        return "conv"
    if isinstance(module, nn.Linear):
        return "dense"
    if isinstance(
        module,
        (
            nn.modules.pooling._MaxPoolNd,
            nn.modules.pooling._AvgPoolNd,
            nn.modules.pooling._AdaptiveAvgPoolNd,
            nn.modules.pooling._AdaptiveMaxPoolNd,
        ),
    ):
        return "pool"
    return "other"


def layer_macs(module: nn.Module, input_shape: tuple[int, ...], output_shape: tuple[int, ...]) -> tuple[int, str]:
    """MACs of one call (batch of one) and the formula that gives them."""
    if hasattr(module, "macs") and callable(module.macs):
        return module.macs(input_shape, output_shape)
    if isinstance(module, nn.Conv2d):
        c_out, h, w = output_shape
        kh, kw = _pair(module.kernel_size)
        per = module.in_channels // module.groups
        n = h * w * c_out * per * kh * kw
        cin = "(C_in/groups)" if module.groups > 1 else "C_in"
        return n, f"H_out*W_out*C_out*{cin}*k_h*k_w = {h}*{w}*{c_out}*{per}*{kh}*{kw} = {n:,}"
    if isinstance(module, nn.Linear):
        rows = math.prod(output_shape[:-1]) if len(output_shape) > 1 else 1
        n = rows * module.in_features * module.out_features
        lead = f"{rows}*" if rows > 1 else ""
        return n, f"{'positions*' if rows > 1 else ''}in*out = {lead}{module.in_features}*{module.out_features} = {n:,}"
    return 0, "0 (only conv and linear layers multiply-accumulate)"


def layer_params_formula(module: nn.Module) -> str:
    """How the layer's own parameter count comes about."""
    n = sum(p.numel() for p in module.parameters(recurse=False))
    if isinstance(module, nn.Conv2d):
        kh, kw = _pair(module.kernel_size)
        per = module.in_channels // module.groups
        bias = " + 1" if module.bias is not None else ""
        cin = "C_in/groups" if module.groups > 1 else "C_in"
        return f"(k_h*k_w*{cin}{bias})*C_out = ({kh}*{kw}*{per}{bias})*{module.out_channels} = {n:,}"
    if isinstance(module, nn.Linear):
        bias = " + 1" if module.bias is not None else ""
        return f"(in{bias})*out = ({module.in_features}{bias})*{module.out_features} = {n:,}"
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.affine:  # affine=False: no weights
        return f"2*C (scale and shift; running mean/var are buffers) = 2*{module.num_features} = {n:,}"
    if n == 0:
        return "0 (no weights)"
    # each tensor by name, so that one tensor does not read "3 = 3" (a PReLU's slopes: "weight 3 = 3")
    shapes = " + ".join(
        f"{name} {'*'.join(str(s) for s in p.shape) or '1'}" for name, p in module.named_parameters(recurse=False)
    )
    return f"{shapes} = {n:,}"


def shape_formula(
    module: nn.Module,
    input_shape: tuple[int, ...],
    output_shape: tuple[int, ...],
    geometry: list[tuple[int, int, int, int, bool]] | None = None,
) -> str:
    """Why the output has its spatial size, as arithmetic that evaluates to the size it claims.

    `geometry` is (kernel, stride, padding, dilation, ceil) per spatial axis (height, width) of a window layer.
    """
    if isinstance(module, nn.Linear):
        return f"out_features = {module.out_features}"
    if len(output_shape) != 3 or len(input_shape) != 3:
        return "same as input" if tuple(input_shape) == tuple(output_shape) else ""
    channels = f", C_out = {output_shape[0]}" if isinstance(module, nn.modules.conv._ConvNd) else ""
    h, w = input_shape[1:]
    oh, ow = output_shape[1:]
    if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        return f"adaptive pooling: H_out = {oh}, W_out = {ow} (its output_size)"
    if geometry is None or not hasattr(module, "kernel_size"):
        return "same as input" if tuple(input_shape) == tuple(output_shape) else ""
    if hasattr(module, "same_padding"):  # TensorFlow 'same' at any stride
        s, sw = geometry[0][1], geometry[1][1]
        text = f"padding 'same' (TensorFlow): H_out = ceil(H/s) = ceil({h}/{s}) = {oh}"
        if (w, sw) != (h, s):
            text += f"; W_out = ceil({w}/{sw}) = {ow}"
        return text + channels
    if getattr(module, "padding", 0) == "same":
        return f"padding 'same': H_out = H_in = {oh}{f', W_out = W_in = {ow}' if ow != oh else ''}{channels}"
    (k, s, p, d, ceil), geo_w = geometry
    rounding = "ceil" if ceil else "floor"
    generic = f"{rounding}((H + 2p - {'(d*(k-1)+1)' if d > 1 else 'k'})/s) + 1"
    text = f"{generic} = {size_formula(h, k, s, p, d, ceil)}"
    if (w, geo_w) != (h, geometry[0]):
        text += f"; W_out = {size_formula(w, *geo_w)}"
    return text + channels
