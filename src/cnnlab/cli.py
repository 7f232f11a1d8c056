"""The `cnnlab` command: parses arguments, calls the library, maps CnnlabError to exit status 2."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
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
    in_channels = args.in_channels if args.in_channels is not None else (shape[0] if shape else None)
    try:
        summary = summarize(args.model, shape, num_classes=args.num_classes, in_channels=in_channels)
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


def _config_flags(p: argparse.ArgumentParser) -> None:
    """One flag per RunConfig field (defaults suppressed, so only what the user gave overrides a TOML file)."""
    from dataclasses import fields

    from cnnlab.train.config import RunConfig

    for f in fields(RunConfig):
        flag = "--" + f.name.replace("_", "-")
        kind = str(f.type)
        if f.name in ("input", "augment"):
            p.add_argument(flag, default=argparse.SUPPRESS, metavar="A,B",
                           type=(lambda t: list(parse_shape(t))) if f.name == "input" else (lambda t: [a for a in t.split(",") if a]))
        elif kind.startswith("bool"):
            p.add_argument(flag, default=argparse.SUPPRESS, action=argparse.BooleanOptionalAction)
        else:
            conv = int if kind.startswith("int") else float if kind.startswith("float") else str
            p.add_argument(flag, default=argparse.SUPPRESS, type=_typed(conv, flag))


def _typed(conv: type, flag: str) -> Callable[[str], object]:
    def parse(text: str) -> object:
        try:
            return conv(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} takes a {conv.__name__}, got {text!r}") from None
    return parse


def _run_config(args: argparse.Namespace):
    from dataclasses import fields

    from cnnlab.train.config import RunConfig

    given = {f.name: getattr(args, f.name) for f in fields(RunConfig) if hasattr(args, f.name)}
    if args.experiment:
        base = RunConfig.from_toml(args.experiment)
        return RunConfig.from_dict({**base.__dict__, **given}, args.experiment)
    return RunConfig.from_dict(given)


def cmd_train(args: argparse.Namespace) -> int:
    from cnnlab.train import RunConfig, RunDir, train

    if args.resume and args.out and RunDir(Path(args.out)).exists():
        saved = RunDir(Path(args.out)).config()
        overrides = {k: v for k, v in _run_config(args).__dict__.items() if k in RunConfig.RESUMABLE and hasattr(args, k)}
        config = RunConfig.from_dict({**saved.__dict__, **overrides})
    else:
        config = _run_config(args)
    out = args.out or f"runs/{Path(config.model).stem}-{config.data.replace(':', '-').replace('/', '_')}-s{config.seed}"
    summary = train(config, out, resume=args.resume, progress=args.progress)
    print(f"run: {out}")
    for key in ("test_accuracy", "val_accuracy", "train_accuracy", "epochs_run", "train_seconds", "params", "stopped"):
        value = summary[key]
        print(f"{key:>15}: {value:.4f}" if isinstance(value, float) and key.endswith("accuracy") else f"{key:>15}: {value}")
    for finding in summary["diagnosis"]:
        print(f"      diagnosis: {finding}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from cnnlab.train.inference import evaluate_run

    r = evaluate_run(args.run)
    print(f"test accuracy: {r['test_accuracy']:.4f} ({r['test_size']} images), loss {r['test_loss']:.4f}")
    width = max(len(c) for c in r["classes"])
    print("per-class accuracy:")
    for c, a in zip(r["classes"], r["per_class_accuracy"]):
        print(f"  {c:<{width}}  {a:.4f}")
    print("confusion matrix (rows: true, columns: predicted):")
    cells = max(len(str(v)) for row in r["confusion"] for v in row)
    for c, row in zip(r["classes"], r["confusion"]):
        print(f"  {c:<{width}}  " + " ".join(f"{v:>{cells}}" for v in row))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from cnnlab.train.inference import predict

    if args.top < 1:
        raise CnnlabError(f"--top must be at least 1, got {args.top}")
    for r in predict(args.run, args.images, args.top):
        print(r["image"] + ": " + ", ".join(f"{c} {p:.1%}" for c, p in r["top"]))
    return 0


def cmd_lr_find(args: argparse.Namespace) -> int:
    from cnnlab.train.lrfind import lr_find

    if args.steps < 2:
        raise CnnlabError(f"--steps must be at least 2, got {args.steps}")
    print(lr_find(_run_config(args), steps=args.steps).render())
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from cnnlab.demo import comparison_table, run_demo

    summaries = run_demo(args.out)
    print(comparison_table(summaries))
    print(f"run directories: {args.out}/ (inspect with `cnnlab eval {args.out}/mnist-cnn`)")
    return 0


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

    t = sub.add_parser("train", help="train a model on a dataset into a run directory",
                       description="Settings come from flags or an experiment TOML file (flags override it).")
    t.add_argument("experiment", nargs="?", help="experiment TOML with RunConfig keys (model, data, epochs, ...)")
    _config_flags(t)
    t.add_argument("--out", help="run directory (default runs/MODEL-DATA-sSEED)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    t.add_argument("--progress", default=None, action=argparse.BooleanOptionalAction,
                   help="per-batch progress bar (default: when stderr is a terminal)")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="test accuracy, per-class accuracy and confusion matrix of a run")
    e.add_argument("run")
    e.set_defaults(func=cmd_eval)

    pr = sub.add_parser("predict", help="top-k classes for image files, with a run's model")
    pr.add_argument("run")
    pr.add_argument("images", nargs="+")
    pr.add_argument("--top", type=int, default=3)
    pr.set_defaults(func=cmd_predict)

    lf = sub.add_parser("lr-find", help="LR range test: suggests a learning rate for a training setup")
    lf.add_argument("experiment", nargs="?")
    _config_flags(lf)
    lf.add_argument("--steps", type=int, default=100)
    lf.set_defaults(func=cmd_lr_find)

    d = sub.add_parser("demo", help="the main job: train two zoo models on digits (offline) and compare them")
    d.add_argument("--out", default="runs/demo")
    d.set_defaults(func=cmd_demo)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 1 check found wrong cells, 2 bad input)."""
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except CnnlabError as e:
        print(f"cnnlab: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cnnlab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
