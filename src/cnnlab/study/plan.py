"""Reading a study file into an ordered list of runs.

    title = "..."                 # what the study asks
    expected = "..."              # what a user should see (printed after the table, shown in the report)
    [defaults]                    # RunConfig keys shared by every run
    recipe = "../recipes/x.toml"  # (in [defaults] or a run) an experiment file (or recipe:NAME) whose settings sit
                                  # beneath the study's
    [[runs]]                      # one run, or a grid: grid = { init = ["zeros", "he-normal"] }
    name = "init-{init}"          # {field} placeholders are filled from the run's settings
    init_from = "@digits"         # '@NAME' is the run directory of an earlier run of this study

`{data_dir}` in any string setting is the data root (--data-dir, else [defaults] data_dir, else the default root).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnlab.data.dataset import check_dataset_name
from cnnlab.errors import CnnlabError, option
from cnnlab.resources import resolve
from cnnlab.rundir import RunConfig
from cnnlab.rundir.config import SETTINGS, read_experiment
from cnnlab.tomlfile import check_keys, read_toml

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")
STUDY_KEYS = ("title", "expected", "defaults", "runs")


@dataclass
class PlannedRun:
    name: str
    config: RunConfig
    after: list[str] = field(default_factory=list)  # runs whose weights this one starts from


@dataclass
class Study:
    path: Path
    title: str
    expected: str
    runs: list[PlannedRun]


def load_study(path: str | Path, overrides: dict[str, Any] | None = None) -> Study:
    """Parse, expand grids, apply `overrides` (e.g. data_dir, limit, epochs) to every run, validate each config."""
    path = resolve(path, "study")
    if Path(path).is_dir():
        raise CnnlabError(
            f"{path} is a folder, not a study file; `cnnlab compare` runs a study file (study:NAME or a .toml), "
            f"and `cnnlab report {path}` tabulates runs and study directories already made"
        )
    doc = read_toml(path, "study file")
    check_keys(doc, STUDY_KEYS, str(path))
    for key in ("title", "expected"):
        if not isinstance(doc.get(key, ""), str):
            raise CnnlabError(f"{path}: {key} must be text (in quotes), got {doc[key]!r}")
    if not isinstance(doc.get("defaults", {}), dict):
        raise CnnlabError(
            f"{path}: defaults must be a table of settings ([defaults] above them), got {doc['defaults']!r}"
        )
    runs = doc.get("runs")
    if not isinstance(runs, list) or not runs:
        raise CnnlabError(f"{path}: no [[runs]]; add at least one run table with a name")
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    defaults = {**doc.get("defaults", {}), **{k: v for k, v in overrides.items() if k == "data_dir"}}
    data_dir = str(defaults.get("data_dir") or _default_root())
    planned: list[PlannedRun] = []
    for i, spec in enumerate(runs, start=1):
        if not isinstance(spec, dict) or "name" not in spec:
            raise CnnlabError(f"{path}: run #{i} has no name; give every [[runs]] a name")
        spec = dict(spec)
        grid = spec.pop("grid", {})
        if not isinstance(grid, dict) or any(not isinstance(v, list) or not v for v in grid.values()):
            raise CnnlabError(f"{path}: run {spec['name']!r}: grid must map settings to non-empty lists")
        for combo in itertools.product(*grid.values()):
            settings = {**defaults, **spec, **dict(zip(grid, combo)), **overrides}
            recipe = settings.pop("recipe", None)
            base = _recipe(path, recipe, spec["name"]) if recipe is not None else {}
            sources = {k: str(recipe) for k in base if k not in settings}  # a bad value is named where it was written
            settings = {**base, **settings}
            sources |= {k: f"{path} run {spec['name']!r}" for k in settings if k not in overrides and k not in sources}
            if not isinstance(settings["name"], str):
                raise CnnlabError(f"{path}: run #{i}: name must be text (in quotes), got {settings['name']!r}")
            name = _fill(settings.pop("name"), settings, path)
            planned.append(_plan(path, name, settings, data_dir, planned, sources))
    names = [r.name for r in planned]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise CnnlabError(f"{path}: run name(s) {', '.join(dupes)} repeat; use {{field}} placeholders in grid names")
    return Study(path, str(doc.get("title", path.stem)), str(doc.get("expected", "")).strip(), planned)


def _default_root() -> Path:
    from cnnlab.data.sources import data_root

    return data_root(None)


def _recipe(path: Path, recipe: Any, run: str) -> dict[str, Any]:
    """An experiment file's settings (recipe:NAME, or a path relative to the study file): the study's own keys are
    laid over them."""
    if not isinstance(recipe, str) or not recipe:
        raise CnnlabError(f"{path}: run {run!r}: recipe must be the path of an experiment file, got {recipe!r}")
    return read_experiment(
        recipe, f"{path}: run {run!r}: recipe", "give recipe:NAME or its path relative to the study file", path.parent
    )


def _fill(text: str, settings: dict[str, Any], path: Path) -> str:
    try:
        return text.format(**settings)
    except (KeyError, IndexError) as e:
        raise CnnlabError(f"{path}: cannot fill {text!r}: {e} is not a setting of this run") from None
    except (ValueError, AttributeError, TypeError) as e:  # "{model.x}", "{model[a]}", "{lr:d}"
        raise CnnlabError(f"{path}: cannot fill {text!r}: {e}; use plain {{setting}} placeholders") from None


def _check_model(name: str) -> None:
    """An unknown zoo model or a missing or empty network file, found before any run of the study trains."""
    from cnnlab.zoo.registry import is_spec_path, model_info
    from cnnlab.zoo.spec import load_spec

    load_spec(name) if is_spec_path(name) else model_info(name)


def _plan(
    path: Path,
    name: str,
    settings: dict[str, Any],
    data_dir: str,
    earlier: list[PlannedRun],
    sources: dict[str, str] | None = None,
) -> PlannedRun:
    if not NAME.fullmatch(name):
        raise CnnlabError(f"{path}: run name {name!r} must be letters, digits, '-', '_', '.' or '+'")
    settings = {k: (v.replace("{data_dir}", data_dir) if isinstance(v, str) else v) for k, v in settings.items()}
    after = []
    source = settings.get("init_from")
    if isinstance(source, str) and source.startswith("@"):
        ref = source[1:]
        if ref not in [r.name for r in earlier]:
            raise CnnlabError(f"{path}: run {name!r} starts from @{ref}, which is not an earlier run of this study")
        after.append(ref)
    config = RunConfig.from_dict(settings, f"{path} run {name!r}")
    sources = sources or {}
    try:  # the whole study is checked before its first run starts; a bad value named where it was given
        config.validate(sources)
    except CnnlabError as e:
        # a setting not from a file was given for every run (a flag, or load_study's overrides); validate names
        # those of a file by file and key, and an override as its reader gives it (`--limit`, or `limit`)
        first = re.match(r"(?:--)?([a-z][a-z0-9_-]*)(?![\w.-])", str(e))  # a setting, not a file (lr.toml: ...)
        name = first.group(1).replace("-", "_") if first else ""
        overridden = first is not None and name in SETTINGS and name not in sources
        raise CnnlabError(_said_of_flag(option(name), str(e)[first.end() :], path) if overridden else str(e)) from None
    try:
        _check_model(config.model)
    except CnnlabError as e:
        raise CnnlabError(f"{path} run {name!r}: {e}") from None
    try:
        check_dataset_name(config.data)
    except CnnlabError as e:
        where = sources.get("data")
        raise CnnlabError(f"{where}: {e}" if where else _said_of_flag(option("data"), str(e), path)) from None
    return PlannedRun(name, config, after)


def _said_of_flag(flag: str, message: str, path: Path) -> str:
    """A bad value given by a flag that overrides every run's setting (`compare --epochs -1`, or load_study's
    `overrides` from Python), named by that flag (or key) and the runs it was given for, as one from the file is
    by the file and the run (`study.toml run 'a': lr must be ...`): `--epochs, given for every run of study.toml:
    must be a positive integer, got -1`."""
    return f"{flag}, given for every run of {path}: {message.lstrip()}"
