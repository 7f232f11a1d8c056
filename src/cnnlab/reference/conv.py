"""2-D convolution in NumPy, written to be read next to torch.nn.functional.conv2d (same layouts, same result).

Like every deep-learning library this is cross-correlation (the kernel is not flipped):

    out[n, o, y, x] = bias[o] + sum over c, i, j of  in_pad[n, g*Cg + c, y*S + i*D, x*S + j*D] * weight[o, c, i, j]

where g = o // (C_out / groups) is the group of output channel o and Cg = C_in / groups is the number of input
channels each filter sees. Rather than four nested loops over outputs, it loops over the kernel taps (i, j): each
tap meets one strided slice of the padded input, and multiplying that slice by the tap's weights (summed over the
group's channels) adds that tap's share to every output at once.
"""

from __future__ import annotations

import numpy as np

from cnnlab.errors import CnnlabError
from cnnlab.reference.window import output_size, pair, tap


def conv2d(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
) -> np.ndarray:
    """Convolve x (N, C_in, H, W) with weight (C_out, C_in/groups, kH, kW) -> (N, C_out, H_out, W_out).

    groups splits the channels into independent convolutions (groups = C_in is a depthwise convolution)."""
    x, weight = np.asarray(x, dtype=np.float64), np.asarray(weight, dtype=np.float64)
    if x.ndim != 4 or weight.ndim != 4:
        raise CnnlabError(
            f"conv2d takes x as N,C,H,W and weight as C_out,C_in/groups,kH,kW; got {x.shape}, {weight.shape}"
        )
    n, c_in, h, w = x.shape
    c_out, c_group, kh, kw = weight.shape
    if groups < 1 or c_in % groups or c_out % groups:
        raise CnnlabError(f"groups={groups} must divide both C_in={c_in} and C_out={c_out}")
    if c_group != c_in // groups:
        raise CnnlabError(
            f"weight has {c_group} input channels per filter; C_in/groups = {c_in}/{groups} needs {c_in // groups}"
        )
    (sh, sw), (ph, pw), (dh, dw) = pair(stride, "stride"), pair(padding, "padding"), pair(dilation, "dilation")
    h_out = output_size(h, kh, sh, ph, dh)  # floor((H + 2P - D*(K-1) - 1)/S) + 1
    w_out = output_size(w, kw, sw, pw, dw)

    # Zero padding on the two spatial axes only.
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    # Give the groups an axis of their own: input (N, G, C_in/G, Hp, Wp), weight (G, C_out/G, C_in/G, kH, kW).
    padded = padded.reshape(n, groups, c_group, h + 2 * ph, w + 2 * pw)
    weight = weight.reshape(groups, c_out // groups, c_group, kh, kw)

    out = np.zeros((n, groups, c_out // groups, h_out, w_out))
    for i in range(kh):
        for j in range(kw):
            # Tap (i, j) reads padded pixel (y*S + i*D, x*S + j*D) for every output (y, x).
            seen = padded[:, :, :, tap(i * dh, sh, h_out), tap(j * dw, sw, w_out)]  # (N, G, C_in/G, H_out, W_out)
            # Multiply by this tap's weight and sum over the group's input channels c.
            out += np.einsum("ngcyx,goc->ngoyx", seen, weight[:, :, :, i, j])
    out = out.reshape(n, c_out, h_out, w_out)
    if bias is not None:
        out += np.asarray(bias, dtype=np.float64).reshape(1, c_out, 1, 1)  # one bias per output channel
    return out
