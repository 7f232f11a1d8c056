"""Weight initialisation schemes for conv and linear layers (biases start at zero)."""

from __future__ import annotations

from torch import nn

from cnnlab.errors import CnnlabError

SCHEMES = {
    "zeros": lambda w, std: nn.init.zeros_(w),
    "normal": lambda w, std: nn.init.normal_(w, 0.0, std),
    "xavier-uniform": lambda w, std: nn.init.xavier_uniform_(w),
    "xavier-normal": lambda w, std: nn.init.xavier_normal_(w),
    "he-normal": lambda w, std: nn.init.kaiming_normal_(w, nonlinearity="relu"),
    "he-uniform": lambda w, std: nn.init.kaiming_uniform_(w, nonlinearity="relu"),
}
ALIASES = {
    "glorot-uniform": "xavier-uniform",
    "glorot-normal": "xavier-normal",
    "kaiming-normal": "he-normal",
    "kaiming-uniform": "he-uniform",
}


def initialize(model: nn.Module, scheme: str, std: float = 0.01) -> None:
    """Re-initialise every conv/linear weight with `scheme`; 'default' keeps PyTorch's (or the family's) own."""
    scheme = ALIASES.get(scheme, scheme)
    if scheme == "default":
        return
    if scheme not in SCHEMES:
        raise CnnlabError(f"unknown init {scheme!r}; use default, {', '.join(SCHEMES)}")
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            SCHEMES[scheme](m.weight, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
