"""The `cnnlab` command: parses arguments, calls the library, maps CnnlabError to exit status 2."""
from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from cnnlab.errors import CnnlabError, ShapeError


def parse_shape(text: str) -> tuple[int, int, int]:
    """'3,32,32' or '3x32x32' -> (3, 32, 32)."""
    parts = text.replace("x", ",").replace("X", ",").split(",")
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise CnnlabError(f"--input must be C,H,W with three positive integers (e.g. 3,32,32), got {text!r}")
    return shape  # type: ignore[return-value]


def cmd_models(args: argparse.Namespace) -> int:
    import torch

    from cnnlab.zoo import create_model, list_models, model_info

    rows = [("name", "family", "input (C,H,W)", "classes", "params")]
    for name in list_models(args.pattern):
        info = model_info(name)
        with torch.device("meta"):
            params = sum(p.numel() for p in create_model(name).parameters())
        rows.append((name, info.family, "x".join(map(str, info.input_size)), str(info.num_classes), f"{params:,}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.rjust(w) if i == 4 else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip())
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from cnnlab.analysis import ModelSummary, render, summarize

    shape = parse_shape(args.input) if args.input else None
    try:
        summary = summarize(args.model, shape, num_classes=args.num_classes, in_channels=args.in_channels)
    except ShapeError as e:
        if e.rows and args.format != "json":
            partial = ModelSummary(args.model, shape or e.rows[0].input_shape, e.rows, 0, 0)
            print(render(partial, args.format, args.convention).split("\nInput ")[0], flush=True)
        raise
    print(render(summary, args.format, args.convention), end="")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from cnnlab.analysis import summarize
    from cnnlab.analysis.grade import grade, read_table

    table = read_table(args.table)
    summary = summarize(args.model, parse_shape(args.input) if args.input else None, num_classes=args.num_classes)
    result = grade(table, summary)
    print(result.render())
    return result.exit_code


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cnnlab", description="A workbench for convolutional neural networks.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    m = sub.add_parser("models", help="list the model zoo: name, family, default input, parameters")
    m.add_argument("pattern", nargs="?", default="*", help="glob filter, e.g. 'resnet*'")
    m.set_defaults(func=cmd_models)

    s = sub.add_parser("summary", help="layer-by-layer shapes, parameters, MACs and receptive fields")
    s.add_argument("model", help="zoo name (see `cnnlab models`) or path to a .toml network")
    s.add_argument("--input", help="C,H,W (default: the model's own input size)")
    s.add_argument("--num-classes", type=int, help="output classes (default: the model's)")
    s.add_argument("--in-channels", type=int, help="input channels (default: from --input or the model's)")
    s.add_argument("--format", choices=["table", "markdown", "csv", "json"], default="table")
    s.add_argument("--convention", choices=["torch", "keras"], default="torch",
                   help="keras: HWC shapes and notes where Keras semantics differ")
    s.set_defaults(func=cmd_summary)

    c = sub.add_parser("check", help="grade a hand-made layer table (markdown or CSV) against the real model")
    c.add_argument("table", help="markdown or CSV file with columns such as layer, shape, size, parameters, MACs")
    c.add_argument("--model", required=True, help="zoo name or path to a .toml network")
    c.add_argument("--input", help="C,H,W (default: the model's own input size)")
    c.add_argument("--num-classes", type=int)
    c.set_defaults(func=cmd_check)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 1 check found wrong cells, 2 bad input)."""
    args = build_parser().parse_args(argv)
    if getattr(args, "in_channels", None) is None and getattr(args, "input", None) and args.command == "summary":
        args.in_channels = parse_shape(args.input)[0] if _valid(args.input) else None
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except CnnlabError as e:
        print(f"cnnlab: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cnnlab: interrupted", file=sys.stderr)
        return 130


def _valid(text: str) -> bool:
    try:
        parse_shape(text)
        return True
    except CnnlabError:
        return False


if __name__ == "__main__":
    sys.exit(main())
