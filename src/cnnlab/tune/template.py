"""Network templates: a TOML network whose values may name sampled parameters, unrolled for one trial.

    [[network.layers]]
    repeat = "$conv_layers"          # the block below, once per i in 0 .. conv_layers-1
    layers = [
      { type = "conv", filters = "$filters_{i}", kernel = 3, padding = "same", activation = "relu" },
      { type = "maxpool", size = 2 },
    ]

A string "$NAME" is replaced by parameter NAME; inside a repeat, "{i}" in any string is the repeat index,
so "$filters_{i}" picks the i-th per-layer parameter (the Keras Tuner naming, filters_0, filters_1, ...).
"""

from __future__ import annotations

from typing import Any

from cnnlab.errors import CnnlabError

MAX_REPEAT = 1000  # copies a repeat entry (or a for_each parameter) may make: a count of 2**63 ran out of memory


def expand(network: dict[str, Any], params: dict[str, Any], source: str = "network") -> dict[str, Any]:
    """The plain network spec (cnnlab.zoo.spec format) the template gives for these parameter values."""
    return {key: _value(v, params, None, f"{source}.{key}") for key, v in network.items()}


def _value(v: Any, params: dict[str, Any], i: int | None, where: str) -> Any:
    if isinstance(v, str):
        text = v.replace("{i}", str(i)) if i is not None else v
        if not text.startswith("$"):
            return text
        name = text[1:]
        if name not in params:
            raise CnnlabError(
                f"{where}: {v!r} names no parameter ({name!r} is not sampled here); "
                f"parameters: {', '.join(params) or 'none'}"
            )
        return params[name]
    if isinstance(v, list):
        return _list(v, params, i, where)
    if isinstance(v, dict):
        return {k: _value(x, params, i, f"{where}.{k}") for k, x in v.items()}
    return v


def _list(items: list, params: dict[str, Any], i: int | None, where: str) -> list:
    out: list = []
    for n, item in enumerate(items):
        here = f"{where}[{n + 1}]"
        if not (isinstance(item, dict) and "repeat" in item):
            out.append(_value(item, params, i, here))
            continue
        if set(item) != {"repeat", "layers"} or not isinstance(item["layers"], list):
            raise CnnlabError(
                f'{here}: a repeat entry has exactly two keys, repeat = "$NAME" (or a count) and layers = [...]'
            )
        count = _value(item["repeat"], params, i, f"{here}.repeat")
        if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= MAX_REPEAT:
            raise CnnlabError(f"{here}.repeat must be an integer from 0 to {MAX_REPEAT}, got {count!r}")
        for j in range(count):
            out.extend(_list(item["layers"], params, j, f"{here}.layers"))
    return out
