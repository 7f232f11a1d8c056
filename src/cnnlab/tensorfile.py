"""Reading a pickled tensor file (torch.save's format) without running code in it, and without torch's warnings.

torch.load(weights_only=True) refuses a pickle that would build anything but tensors and containers, which is
what a foreign or hostile file gets; on the way it warns about the pickle's protocol (a file torch.save did not
write). The callers turn the refusal into one line of their own, so that warning would only add lines above it.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch


def load_tensors(path: Path, **kwargs: Any) -> Any:
    """torch.load(path, weights_only=True, **kwargs) with torch's warnings silenced; its errors propagate."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.load(path, weights_only=True, **kwargs)
