"""The recipes command: the files that ship inside the package, by the KIND:NAME that any command accepts."""

from __future__ import annotations

import argparse


def cmd_recipes(args: argparse.Namespace) -> int:
    from cnnlab.resources import KINDS, description, shipped

    kinds = list(KINDS) if args.kind == "all" else [args.kind]
    rows = [(f"{kind}:{name}", description(path)) for kind in kinds for name, path in shipped(kind).items()]
    width = max(len(name) for name, _ in rows)
    for name, about in rows:
        print(f"{name.ljust(width)}  {about}".rstrip())
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from cnnlab.resources import KINDS

    r = sub.add_parser(
        "recipes",
        help="list the recipes that ship (train recipe:NAME); --kind study|net|space|table|matrix|all lists the others",
        description="Every file listed is usable by name from any directory: `cnnlab train recipe:mnist-99`, "
        "`cnnlab compare study:parity`, `cnnlab summary net:lenet-like`, `cnnlab tune space:mnist-cnn`, "
        "`cnnlab check table:lenet-like-published --model net:lenet-like`, `cnnlab conv matrix:edge4x5 ...`.",
    )
    r.add_argument("--kind", choices=[*KINDS, "all"], default="recipe", help="which files to list (default: recipe)")
    r.set_defaults(func=cmd_recipes)
