"""Helpers shared by the command modules: argument types and the RunConfig flags."""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
from collections.abc import Callable
from dataclasses import Field, fields
from pathlib import Path
from typing import TYPE_CHECKING

from cnnlab.errors import CnnlabError, echoed
from cnnlab.rundir.layout import check_outside_runs

if TYPE_CHECKING:
    from cnnlab.rundir import RunConfig


def warn(warning: str | None) -> None:
    """A warning on stderr, so that stdout stays the command's results."""
    if warning is not None:
        print("warning: " + warning, file=sys.stderr)


def parse_shape(text: str) -> tuple[int, int, int]:
    """'3,32,32' or '3x32x32' -> (3, 32, 32)."""
    parts = text.replace("x", ",").replace("X", ",").split(",")
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise CnnlabError(f"--input must be C,H,W with three positive integers (e.g. 3,32,32), got {echoed(text)}")
    return shape  # type: ignore[return-value]


def out_path(path: str, flag: str, folder: bool) -> Path:
    """Where a command will write (a folder, or a file when folder=False), refused before anything is written if
    something already there is in the way: a file where a folder is needed or the reverse, or a file as a parent."""
    p = Path(path)
    blocker = next((q for q in p.parents if q.exists()), None)  # the nearest existing parent
    if blocker is not None and not blocker.is_dir():
        raise CnnlabError(f"{flag} {p}: {blocker} is a file, not a folder; choose another {flag}")
    if folder and p.exists() and not p.is_dir():
        raise CnnlabError(f"{flag} {p} is an existing file, not a folder; choose a folder path for {flag}")
    if not folder and p.is_dir():
        raise CnnlabError(f"{flag} {p} is an existing folder, not a file; give a file path (e.g. one inside it)")
    check_outside_runs(p, flag)
    return p


# '_' in a number as it groups thousands (--limit 10_000); Python's int() and float() also take 1_0 for 10, a typo
GROUPED = re.compile(r"[+-]?\d{1,3}(_\d{3})+([.eE].*)?")


def typed(conv: type, flag: str) -> Callable[[str], object]:
    """An argparse type converting with `conv`; floats must be finite (--lr inf would train on NaN losses)."""

    def parse(text: str) -> object:
        kind = {"int": "an integer", "float": "a number"}.get(conv.__name__, f"a {conv.__name__}")
        number = conv in (int, float)
        try:
            if number and "_" in text and not GROUPED.fullmatch(text.strip()):
                raise ValueError(text)
            value = conv(text)
        except ValueError:
            grouping = " ('_' groups digits by three, as in 10_000)" if number and "_" in text else ""
            raise argparse.ArgumentTypeError(f"{flag} takes {kind}{grouping}, got {echoed(text)}") from None
        if conv is float and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{flag} takes a finite number, got {echoed(text)}")
        return value

    return parse


def typed_or_off(conv: type, flag: str) -> Callable[[str], object]:
    """`typed`, or the word off, which RunConfig reads as unset (--patience off: early stopping switched off where a
    flag left out would keep a resumed run's value)."""
    from cnnlab.rundir.config import OFF

    one = typed(conv, flag)

    def parse(text: str) -> object:
        if text == OFF:
            return text
        try:
            return one(text)
        except argparse.ArgumentTypeError:
            kind = "an integer" if conv is int else "a finite number"  # as `typed` says of inf and nan
            raise argparse.ArgumentTypeError(f"{flag} takes {kind} or {OFF}, got {echoed(text)}") from None

    return parse


# list-of-number settings that are not one value per channel: their metavar and the form their error names
NUMBER_FORMS = {"progressive": ("H,F", "H,F, e.g. 20,0.5")}


def numbers(flag: str, form: str = "one, or one per channel") -> Callable[[str], list[float]]:
    """An argparse type for comma-separated finite numbers, e.g. --mean 0.4914,0.4822,0.4465; `form` says how many."""
    one = typed(float, flag)

    def parse(text: str) -> list[float]:
        try:
            return [one(part) for part in text.split(",")]
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(
                f"{flag} takes finite numbers separated by commas ({form}), got {echoed(text)}"
            ) from None

    return parse


def flag_help(f: Field) -> str:
    """A RunConfig field's --help line: its help, its allowed values and its default (argparse's %-escaped)."""
    help, choices = f.metadata.get("help", ""), f.metadata.get("choices", ())
    text = help + (f" {{{', '.join(choices)}}}" if choices and ", ".join(choices) not in help else "")
    if f.default is not None and "default:" not in help:
        default = ("yes" if f.default else "no") if isinstance(f.default, bool) else f.default
        text += f" (default: {default})"
    return text.replace("%", "%%")


def config_flags(p: argparse.ArgumentParser, hidden: tuple[str, ...] = ()) -> dict[str, argparse._ArgumentGroup]:
    """One flag per RunConfig field (defaults suppressed, so only what the user gave overrides a TOML file), in
    the help groups the fields name; returns the groups, so a command can add its own flags to them. The
    `hidden` fields' flags are parsed (so that the command can refuse them by name) but not listed in --help."""

    from cnnlab.rundir.config import GROUPS, SWITCHED_OFF, RunConfig

    groups = {name: p.add_argument_group(title) for name, title in GROUPS.items()}
    for f in fields(RunConfig):
        flag = "--" + f.name.replace("_", "-")
        kind = str(f.type)
        g = groups[f.metadata.get("group", "output")]
        shown = argparse.SUPPRESS if f.name in hidden else flag_help(f)
        if f.name == "options":
            option_flag(g, default=argparse.SUPPRESS, help=shown)
        elif f.name in ("input", "augment"):
            g.add_argument(
                flag,
                default=argparse.SUPPRESS,
                metavar="C,H,W" if f.name == "input" else "A,B",
                type=(lambda t: list(parse_shape(t)))
                if f.name == "input"
                else (lambda t: [a for a in t.split(",") if a]),
                help=shown,
            )
        elif kind.startswith("list[float]"):
            metavar, form = NUMBER_FORMS.get(f.name, ("X[,X...]", "one, or one per channel"))
            g.add_argument(flag, default=argparse.SUPPRESS, metavar=metavar, type=numbers(flag, form), help=shown)
        elif kind.startswith("bool"):
            g.add_argument(flag, default=argparse.SUPPRESS, action=argparse.BooleanOptionalAction, help=shown)
        else:
            conv = int if kind.startswith("int") else float if kind.startswith("float") else str
            parse = typed_or_off(conv, flag) if f.name in SWITCHED_OFF else typed(conv, flag)
            g.add_argument(flag, default=argparse.SUPPRESS, type=parse, help=shown)
    return groups


def option_flag(
    p: argparse.ArgumentParser | argparse._ArgumentGroup,
    default: object = None,
    help: str = "a model option, repeatable (e.g. kernel5=5); `cnnlab models` lists each model's",
) -> None:
    """--option KEY=VALUE, repeatable: the zoo builder's options (values parsed as bool, int, float, list, string)."""

    def parse_option(text: str) -> tuple[str, object]:  # the zoo (and PyTorch) imported only when the flag is given
        from cnnlab.zoo.registry import parse_option

        return parse_option(text)

    p.add_argument(
        "--option",
        dest="options",
        action="append",
        type=parse_option,
        default=default,
        metavar="KEY=VALUE",
        help=help,
    )


def model_options(args: argparse.Namespace) -> dict:
    """The --option pairs given, as a dict (the last of a repeated key wins)."""
    return dict(getattr(args, "options", None) or [])


def given_settings(args: argparse.Namespace) -> dict:
    """The settings the user gave: the experiment file's keys, overridden by the flags given on the command line."""
    from cnnlab.rundir import RunConfig
    from cnnlab.rundir.config import read_experiment

    flags = {f.name: getattr(args, f.name) for f in fields(RunConfig) if hasattr(args, f.name)}
    if "options" in flags:
        flags["options"] = model_options(args)
    if not args.experiment:
        return flags
    file = read_experiment(args.experiment)
    if "options" in flags and isinstance(file.get("options"), dict):  # --option adds to the file's options
        flags["options"] = {**file["options"], **flags["options"]}
    return {**file, **flags}


def run_config(args: argparse.Namespace, base: RunConfig | None = None, base_file: str = "") -> RunConfig:
    """The run's settings: `base` (default: RunConfig's defaults; read from `base_file`) with what the user gave
    on top. A bad value is named as the user gave it: a flag as a flag, a file's key with its file."""
    from cnnlab.rundir import RunConfig

    given = given_settings(args)
    values = {**({f.name: getattr(base, f.name) for f in fields(RunConfig)} if base else {}), **given}
    config = RunConfig.from_dict(values, args.experiment or "flags")
    flags = [f.name for f in fields(RunConfig) if f.name in vars(args)]
    sources = {name: base_file for name in (base.recorded() if base else {})}
    sources |= {name: str(args.experiment) for name in given if args.experiment}
    config.validate({name: file for name, file in sources.items() if name not in flags})  # once: train() keeps it
    if "RANK" not in os.environ:  # torchrun's ranks leave the lines to their launcher: one each, not N + 1
        for line in config.unused(flags):
            warn(line)
    return config
