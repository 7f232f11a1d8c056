"""`--precision auto`: bf16 autocast where the hardware runs it fast, fp32 elsewhere.

On CUDA, bf16 where the GPU supports it. On the CPU, PyTorch's oneDNN kernels run bf16 fast only on CPUs with bf16
instructions: AMX (amx_bf16, Intel Xeon since Sapphire Rapids) or AVX512-BF16 (avx512_bf16, AMD EPYC since Zen 4,
where a training step ran 1.5x faster in bf16); without them bf16 is emulated and slower than fp32. So auto asks for
the flags and then measures what training does: a 3x3 conv's forward and backward in each precision decides (a
matmul probe says 2.4x where the convs gain 1.3-1.8x), and the choice with its reason is recorded in the run."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import torch


def _cpuinfo(key: str) -> str | None:
    """The first value of `key` in /proc/cpuinfo (None where there is no such file or line)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            name, sep, value = line.partition(":")
            if sep and name.strip() == key:
                return value.strip()
    except OSError:
        pass
    return None


def cpu_flags() -> set[str]:
    return set((_cpuinfo("flags") or "").split())


def cpu_model() -> str:
    """The CPU's model name (for benchmark records)."""
    import platform

    return _cpuinfo("model name") or platform.processor() or "unknown CPU"


def cpu_family_model() -> str:
    """The CPU's family and model numbers, e.g. "25/1" (AMD Zen 3) or "25/17" (Zen 4), for benchmark records: the
    model name alone ("AMD EPYC") does not tell the generations apart, and their speeds differ by 2x."""
    return f"{_cpuinfo('cpu family') or '?'}/{_cpuinfo('model') or '?'}"


BF16_INSTRUCTIONS = ("amx_bf16", "avx512_bf16")
# bf16 is chosen where the probe runs it this much faster than fp32: a smaller gain is within what a busy machine's
# noise moves the probe by, and bf16 costs accuracy the speed has to pay for
BF16_MARGIN = 1.3


def autocast(device_type: str, precision: str) -> torch.autocast:
    """bf16 autocast around a run's forward passes when it runs in bf16 (losses are then taken in fp32); a no-op
    in fp32. Training and evaluation share it, so a run is scored in the precision it trained in."""
    return torch.autocast(device_type, dtype=torch.bfloat16, enabled=precision == "bf16")


def conv_rate(bf16: bool, batch: int = 64, channels: int = 64, side: int = 16, reps: int = 3) -> float:
    """GFLOP/s of a 3x3 conv's forward and backward (input and weight gradients) on the CPU, channels-last as the
    engine runs it, in fp32 or under bf16 autocast; best of `reps` after a warm-up (about 0.2 s for both)."""
    x = torch.randn(batch, channels, side, side).to(memory_format=torch.channels_last).requires_grad_()
    w = torch.randn(channels, channels, 3, 3).to(memory_format=torch.channels_last).requires_grad_()
    best = float("inf")
    for i in range(reps + 1):
        t = time.perf_counter()
        probe_step(x, w, bf16)
        if i:
            best = min(best, time.perf_counter() - t)
    return probe_flops(batch, channels, side) / best / 1e9


def probe_step(x: torch.Tensor, w: torch.Tensor, bf16: bool) -> torch.Tensor:
    """The probe's work, timed by `conv_rate`: the conv in the run's autocast for that precision, then both
    gradients; returns the conv's output (bf16 under bf16)."""
    with autocast("cpu", "bf16" if bf16 else "fp32"):
        y = torch.nn.functional.conv2d(x, w, padding=1)
    y.sum().backward()
    return y


def probe_flops(batch: int, channels: int, side: int) -> int:
    """Floating-point operations of the probe: a 3x3 conv, `channels` in and out on side x side images with
    padding 1, 2 per multiply-add, and its two gradients (input and weight), each as many as the forward."""
    return 3 * 2 * batch * channels * channels * 9 * side * side


@lru_cache(maxsize=4)
def resolve(precision: str, device: str) -> tuple[str, str]:
    """(fp32 or bf16, why) for a run's --precision on `device` ("cpu" or "cuda...")."""
    if precision != "auto":
        return precision, "asked for"
    if device.startswith("cuda"):
        ok = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        return ("bf16", "CUDA GPU with bf16") if ok else ("fp32", "this GPU has no fast bf16")
    return cpu_choice(cpu_flags(), cpu_model(), conv_rate)


def cpu_choice(flags: set[str], model: str, rate: Callable[[bool], float]) -> tuple[str, str]:
    """(fp32 or bf16, why) on a CPU `model` with these /proc/cpuinfo `flags`: fp32 without bf16 instructions (no
    probe), else bf16 where `rate(bf16=True)`, the probe's GFLOP/s, beats `rate(bf16=False)` by more than
    BF16_MARGIN."""
    have = [f for f in BF16_INSTRUCTIONS if f in flags]
    if not have:
        return "fp32", f"{model} has no bf16 instructions (AMX or AVX512-BF16): bf16 would run slower than fp32"
    fp32, bf16 = rate(False), rate(True)
    measured = f"bf16 conv {bf16:.0f} GFLOP/s against {fp32:.0f} fp32"
    if bf16 > BF16_MARGIN * fp32:
        return "bf16", f"{have[0]}: {measured}"
    return "fp32", f"{have[0]}, but {measured}"


def of_run(precision: str, device: str, recorded: object = None) -> tuple[str, str]:
    """(fp32 or bf16, why) for a run that already has a checkpoint: with --precision auto, the choice the checkpoint
    `recorded` ({"used", "why"}), not a new probe, since a busy machine can flip the probe, and a resumed half or an
    evaluation in another precision would not give the numbers of the run that did not stop. Without a record (a new
    run), `resolve`."""
    if precision == "auto" and isinstance(recorded, dict) and recorded.get("used") in ("fp32", "bf16"):
        return recorded["used"], str(recorded.get("why", "recorded by the run"))
    return resolve(precision, device)
