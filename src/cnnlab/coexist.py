"""Living beside other frameworks in one process (a notebook that ran Keras before cnnlab).

TensorFlow and Triton each carry their own LLVM. With TensorFlow loaded first, importing Triton (which TorchDynamo
does on import, and torch.optim imports TorchDynamo on its first step, as does a meta-device summary) aborts the
whole process: "LLVM ERROR: inconsistency in registered CommandLine options" (pytorch/pytorch#90166), so the
notebook's kernel dies. Triton only compiles GPU kernels; the other order is harmless."""

from __future__ import annotations

import sys


def keep_triton_from_tensorflow() -> None:
    """Where TensorFlow is loaded and Triton is not, make `import triton` fail (TorchDynamo then goes on without
    it) rather than abort the process. Called before cnnlab first touches TorchDynamo."""
    if "tensorflow" in sys.modules and "triton" not in sys.modules:
        sys.modules["triton"] = None  # type: ignore[assignment]  # the import system's "not importable" marker
