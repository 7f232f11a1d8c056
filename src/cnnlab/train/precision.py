"""`--precision auto`: bf16 autocast where the hardware runs it fast, fp32 elsewhere.

On CUDA, bf16 where the GPU supports it. On the CPU, PyTorch's oneDNN kernels run bf16 fast only with AMX
(amx_bf16 in the CPU flags); without it bf16 is often slower than fp32. So auto asks for the flag and then measures:
a short matmul probe in each precision decides, and the choice with its reason is recorded in the run."""

from __future__ import annotations

import time
from functools import lru_cache
from pathlib import Path

import torch


def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_model() -> str:
    """The CPU's model name (for benchmark records)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown CPU"


def _rate(dtype: torch.dtype, n: int = 512, reps: int = 4) -> float:
    """Matmul GFLOP/s in `dtype` on the CPU, best of `reps`."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


@lru_cache(maxsize=4)
def resolve(precision: str, device: str) -> tuple[str, str]:
    """(fp32 or bf16, why) for a run's --precision on `device` ("cpu" or "cuda...")."""
    if precision != "auto":
        return precision, "asked for"
    if device.startswith("cuda"):
        ok = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        return ("bf16", "CUDA GPU with bf16") if ok else ("fp32", "this GPU has no fast bf16")
    if "amx_bf16" not in cpu_flags():
        return "fp32", f"{cpu_model()} has no AMX: bf16 would run slower than fp32"
    fp32, bf16 = _rate(torch.float32), _rate(torch.bfloat16)
    if bf16 > 1.3 * fp32:
        return "bf16", f"AMX: bf16 matmul {bf16:.0f} GFLOP/s against {fp32:.0f} fp32"
    return "fp32", f"AMX, but bf16 matmul measured {bf16:.0f} GFLOP/s against {fp32:.0f} fp32"
