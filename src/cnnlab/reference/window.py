"""The sliding window that convolution and pooling share: how many outputs it gives, which settings are legal,
and which input pixels one kernel tap meets.

Along one axis, a kernel of K taps with dilation D spans D*(K-1) + 1 input pixels. After P zeros of padding on
each side the input is H + 2P long, and the window fits at starts 0, S, 2S, ... while start + span <= H + 2P, so

    output size = floor((H + 2P - D*(K-1) - 1) / S) + 1
"""

from __future__ import annotations

from cnnlab.errors import CnnlabError

Pair = tuple[int, int]


def pair(value: int | tuple[int, int], name: str) -> Pair:
    """One setting for (height, width): a single int is used for both, as PyTorch does."""
    if isinstance(value, int):
        return value, value
    if len(value) != 2:
        raise CnnlabError(f"{name} must be one integer or a (height, width) pair, got {value!r}")
    return int(value[0]), int(value[1])


def span(kernel: int, dilation: int = 1) -> int:
    """Input pixels a dilated kernel covers: D*(K-1) + 1 (its taps sit D apart)."""
    return dilation * (kernel - 1) + 1


def check_window(size: int, kernel: int, stride: int, padding: int, dilation: int = 1, axis: str = "") -> None:
    """Refuse settings that give no output (or make no sense) with a one-line CnnlabError that says which."""
    where = f" ({axis})" if axis else ""
    if kernel < 1:
        raise CnnlabError(f"kernel size must be at least 1{where}, got {kernel}")
    if stride < 1:
        raise CnnlabError(f"stride must be at least 1{where}, got {stride}")
    if dilation < 1:
        raise CnnlabError(f"dilation must be at least 1{where}, got {dilation} (1 means no gaps between taps)")
    if padding < 0:
        raise CnnlabError(f"padding must be 0 or more{where}, got {padding}")
    if span(kernel, dilation) > size + 2 * padding:
        dilated = f" (spanning {span(kernel, dilation)} with dilation {dilation})" if dilation > 1 else ""
        raise CnnlabError(
            f"kernel {kernel}{dilated} is larger than the padded input{where}: {size} + 2*{padding} = "
            f"{size + 2 * padding}; use a smaller kernel or dilation, or more padding"
        )


def output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """floor((H + 2P - D*(K-1) - 1) / S) + 1: how many window positions fit along one axis."""
    check_window(size, kernel, stride, padding, dilation)
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def output_size_formula(
    size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1, axis: str = "H"
) -> str:
    """The output-size formula with these numbers put in, for a student to check a hand calculation; `axis` names
    the input's size in it (H for rows, W for columns)."""
    out = output_size(size, kernel, stride, padding, dilation)
    return (
        f"floor(({axis} + 2P - D*(K-1) - 1)/S) + 1 = floor(({size} + 2*{padding} - {dilation}*({kernel}-1) - 1)/"
        f"{stride}) + 1 = {out}"
    )


def tap(offset: int, stride: int, count: int) -> slice:
    """The padded-input positions one kernel tap meets, one per output: offset, offset + S, ..., (count of them).

    For tap k of a dilated kernel the offset is k*D; output o then reads padded pixel o*S + k*D."""
    return slice(offset, offset + stride * (count - 1) + 1, stride)
