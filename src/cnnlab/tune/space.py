"""The search-space file: fixed training settings, the parameters to sample and a network template.

    [train]                     # fixed RunConfig settings: data, epochs, batch_size, optimizer, ...
    data = "mnist"
    [objective]                 # optional: a metrics.csv column, and maximize | minimize
    metric = "val_accuracy"
    [params.conv_layers]        # type = "int" | "float" | "categorical"
    type = "int"
    low = 1
    high = 5
    [params.filters]            # for_each: one parameter per layer, filters_0 .. filters_{conv_layers-1}
    type = "int"
    low = 32
    high = 256
    step = 32
    for_each = "conv_layers"
    [params.lr]                 # a parameter named like a RunConfig setting sets that setting
    type = "float"
    low = 1e-5
    high = 1e-3
    log = true
    [network]                   # a TOML network (cnnlab.zoo.spec) with "$NAME" values; see cnnlab.tune.template

Parameters are sampled in file order, so a per-layer parameter exists only for the layers its count asked for,
as with `for i in range(hp.Int("conv_layers", 1, 5))` in a Keras Tuner build_model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnlab.errors import CnnlabError
from cnnlab.rundir.config import MONITORS, RunConfig
from cnnlab.tomlfile import check_keys
from cnnlab.tune.template import MAX_REPEAT, expand
from cnnlab.zoo.spec import NETWORK_KEYS

if TYPE_CHECKING:
    import optuna

TYPES = ("int", "float", "categorical")
KEYS = {
    "int": {"type", "low", "high", "step", "log", "for_each"},
    "float": {"type", "low", "high", "step", "log", "for_each"},
    "categorical": {"type", "choices", "for_each"},
}
SECTIONS = ("train", "objective", "params", "network")
RUN_SETTINGS = {f.name for f in fields(RunConfig)}


@dataclass(frozen=True)
class Param:
    """One declared parameter; with for_each it stands for NAME_0 .. NAME_{n-1}."""

    name: str
    type: str
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    choices: tuple | None = None
    for_each: str | None = None

    def suggest(self, trial: optuna.Trial, name: str) -> Any:
        if self.type == "int":
            return trial.suggest_int(name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        if self.type == "float":
            return trial.suggest_float(name, self.low, self.high, step=self.step, log=self.log)
        return trial.suggest_categorical(name, list(self.choices))

    def corner(self, high: bool) -> Any:
        """The lowest or highest value, to try the template on the extremes of the space."""
        if self.type == "categorical":
            return self.choices[-1 if high else 0]
        return self.high if high else self.low


@dataclass(frozen=True)
class Space:
    """A parsed, validated search space."""

    source: str
    text: str
    train: dict[str, Any]
    params: tuple[Param, ...]
    network: dict[str, Any]
    metric: str = "val_accuracy"
    direction: str = "maximize"

    @property
    def epochs(self) -> int:
        return int(self.train.get("epochs", RunConfig.epochs))

    def sample(self, trial: optuna.Trial) -> dict[str, Any]:
        """Sample every parameter in file order; per-layer ones as many times as their count says."""
        values: dict[str, Any] = {}
        for p in self.params:
            if p.for_each is None:
                values[p.name] = p.suggest(trial, p.name)
            else:
                for i in range(values[p.for_each]):
                    values[f"{p.name}_{i}"] = p.suggest(trial, f"{p.name}_{i}")
        return values

    def network_spec(self, values: dict[str, Any]) -> dict[str, Any]:
        return expand(self.network, values, f"{self.source}: network")

    def run_config(self, values: dict[str, Any], model: str, **overrides: Any) -> RunConfig:
        """The training settings of one trial: [train], the sampled RunConfig settings, then `overrides`."""
        sampled = {k: v for k, v in values.items() if k in RUN_SETTINGS}
        settings = {**self.train, **sampled, "model": model, "monitor": self.metric, **overrides}
        return RunConfig.from_dict(settings, self.source).validate()

    def corners(self) -> list[dict[str, Any]]:
        """All-low and all-high parameter values (every per-layer parameter present), for checking the template."""
        out = []
        for high in (False, True):
            values: dict[str, Any] = {}
            for p in self.params:
                names = [p.name] if p.for_each is None else [f"{p.name}_{i}" for i in range(values[p.for_each])]
                values.update({n: p.corner(high) for n in names})
            out.append(values)
        return out


def load_space(path: str | Path, **train_overrides: Any) -> Space:
    """Read and check a space file; `train_overrides` (limit, epochs, data_dir) replace its [train] values."""
    from cnnlab.resources import resolve
    from cnnlab.tomlfile import read_toml

    p = resolve(path, "space")
    raw = read_toml(p, "search space file", "write one like space:mnist-cnn (`cnnlab recipes --kind space`)")
    return parse_space(raw, p.read_text(), str(p), train_overrides)


def parse_space(raw: dict[str, Any], text: str, source: str, train_overrides: dict[str, Any] | None = None) -> Space:
    def fail(msg: str) -> CnnlabError:
        return CnnlabError(f"{source}: {msg}")

    check_keys(raw, SECTIONS, source, "section")
    for key in ("params", "network"):
        if not isinstance(raw.get(key), dict) or not raw[key]:
            raise fail(
                f"missing [{key}]"
                + (
                    " (at least one [params.NAME] table)"
                    if key == "params"
                    else " (a network template with [[network.layers]])"
                )
            )
    if "layers" not in raw["network"]:
        raise fail("[network] has no layers; list them as [[network.layers]] tables")
    check_keys(raw["network"], NETWORK_KEYS, f"{source} [network]")
    if not isinstance(raw.get("train", {}), dict):
        raise fail(f"train must be a table of settings ([train] above them), got {raw['train']!r}")
    train = dict(raw.get("train", {}))
    train.update({k: v for k, v in (train_overrides or {}).items() if v is not None})
    for key in ("model", "monitor"):
        if key in train:
            raise fail(
                f"[train] must not set {key}: "
                + (
                    "the network comes from [network]"
                    if key == "model"
                    else "the monitored metric is [objective] metric"
                )
            )
    RunConfig.from_dict(train, source).validate()
    metric, direction = _objective(raw.get("objective", {}), fail)
    if metric.startswith("val") and train.get("val_split", RunConfig.val_split) == 0:
        raise fail(f"[objective] metric {metric} needs a validation split, but [train] val_split is 0")
    params = _params(raw["params"], train, fail)
    for param in params:  # a value a trial could sample and training refuse, refused now instead
        if param.name in RUN_SETTINGS:
            for value in param.choices if param.type == "categorical" else (param.low, param.high):
                try:
                    RunConfig.from_dict({**train, param.name: value}, source).validate()
                except CnnlabError as e:
                    raise fail(f"[params.{param.name}] can sample {value!r}, which training refuses: {e}") from None
    space = Space(source, text, train, params, raw["network"], metric, direction)
    for values in space.corners():
        _check_network(space, values)
    return space


def _objective(obj: Any, fail: Any) -> tuple[str, str]:
    if not isinstance(obj, dict) or set(obj) - {"metric", "direction"}:
        raise fail("[objective] takes metric and direction only")
    metric = obj.get("metric", "val_accuracy")
    if metric not in MONITORS:
        raise fail(f"[objective] metric {metric!r} is not one of {', '.join(MONITORS)}")
    direction = obj.get("direction", "maximize" if metric.endswith("accuracy") else "minimize")
    if direction not in ("maximize", "minimize"):
        raise fail(f"[objective] direction must be maximize or minimize, got {direction!r}")
    return metric, direction


def _params(table: dict[str, Any], train: dict[str, Any], fail: Any) -> tuple[Param, ...]:
    out: list[Param] = []
    for name, spec in table.items():
        where = f"params.{name}"
        if not isinstance(spec, dict):
            raise fail(f'{where} must be a table with type = "int" | "float" | "categorical"')
        kind = spec.get("type")
        if kind not in TYPES:
            raise fail(f"{where}: unknown type {kind!r}; use one of {', '.join(TYPES)}")
        extra = sorted(set(spec) - KEYS[kind])
        if extra:
            raise fail(f"{where}: unknown key(s) {', '.join(extra)} for a {kind} parameter")
        if name in ("model", "monitor") or name in train:
            raise fail(f"{where}: {name} is " + ("set in [train]" if name in train else "not a searchable setting"))
        for_each = spec.get("for_each")
        if for_each is not None and not isinstance(for_each, str):
            raise fail(f"{where}: for_each must name an int parameter declared above it, got {for_each!r}")
        if for_each is not None:
            counts = {p.name: p for p in out if p.type == "int" and p.for_each is None and p.low >= 0}
            if for_each not in counts:
                raise fail(f"{where}: for_each = {for_each!r} must name a non-negative int parameter declared above it")
            if counts[for_each].high > MAX_REPEAT:
                raise fail(
                    f"{where}: for_each = {for_each!r} counts up to {counts[for_each].high}, but a per-layer "
                    f"parameter stands for at most {MAX_REPEAT} layers; lower [params.{for_each}] high"
                )
            if name in RUN_SETTINGS:
                raise fail(f"{where}: a per-layer parameter cannot be the training setting {name}")
        out.append(
            _categorical(spec, name, for_each, fail)
            if kind == "categorical"
            else _numeric(spec, kind, name, for_each, fail)
        )
    return tuple(out)


def _categorical(spec: dict[str, Any], name: str, for_each: str | None, fail: Any) -> Param:
    choices = spec.get("choices")
    if not isinstance(choices, list) or not choices:
        raise fail(f"params.{name}: missing choices = [...] (a non-empty list)")
    if not all(isinstance(c, (str, int, float, bool)) for c in choices):
        raise fail(f"params.{name}: choices must be strings, numbers or booleans")
    return Param(name, "categorical", choices=tuple(choices), for_each=for_each)


def _numeric(spec: dict[str, Any], kind: str, name: str, for_each: str | None, fail: Any) -> Param:
    where = f"params.{name}"
    number = int if kind == "int" else (int, float)
    for key in ("low", "high"):
        v = spec.get(key)
        if v is None:
            raise fail(f"{where}: missing {key}")
        if not isinstance(v, number) or isinstance(v, bool) or (isinstance(v, float) and not math.isfinite(v)):
            raise fail(f"{where}: {key} must be {'an integer' if kind == 'int' else 'a number'}, got {v!r}")
    low, high, step, log = spec["low"], spec["high"], spec.get("step"), spec.get("log", False)
    if low > high:
        raise fail(f"{where}: low {low} is greater than high {high}")
    if not isinstance(log, bool):
        raise fail(f"{where}: log must be true or false, got {log!r}")
    if log and low <= 0:
        raise fail(f"{where}: a log scale needs low > 0, got {low}")
    if step is not None:
        if not isinstance(step, number) or isinstance(step, bool) or step <= 0:
            raise fail(f"{where}: step must be a positive {'integer' if kind == 'int' else 'number'}, got {step!r}")
        if log:
            raise fail(f"{where}: step and log cannot be combined")
    return Param(
        name,
        kind,
        float(low) if kind == "float" else low,
        float(high) if kind == "float" else high,
        step,
        log,
        for_each=for_each,
    )


def _check_network(space: Space, values: dict[str, Any]) -> None:
    """Build the template at a corner of the space on the meta device: a layer shrinking to nothing fails here."""
    import tempfile

    import tomli_w

    from cnnlab.analysis import summarize

    spec = space.network_spec(values)
    with tempfile.TemporaryDirectory() as d:
        net = Path(d) / "net.toml"
        net.write_text(tomli_w.dumps(spec))
        try:
            summarize(str(net))
        except CnnlabError as e:
            shown = ", ".join(f"{k}={v}" for k, v in values.items())
            raise CnnlabError(
                f"{space.source}: [network] fails for {shown}: {str(e).replace(str(net) + ': ', '')}"
            ) from None
