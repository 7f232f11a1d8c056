"""Commands on models themselves: models, summary, check."""

from __future__ import annotations

import argparse

from cnnlab.cli.common import model_options, option_flag, parse_shape, typed
from cnnlab.errors import ShapeError


def cmd_models(args: argparse.Namespace) -> int:
    """The zoo, then the networks that ship as TOML files (net:NAME), each built on the meta device to count."""
    from fnmatch import fnmatch

    from cnnlab.analysis.summary import class_scores
    from cnnlab.display import aligned
    from cnnlab.resources import shipped
    from cnnlab.zoo import create_model, list_models, model_info
    from cnnlab.zoo.meta import meta_device
    from cnnlab.zoo.registry import describe_options

    rows = [("name", "family", "input (C,H,W)", "classes", "params", "options (--option KEY=VALUE, defaults)")]
    found = [(name, model_info(name).family, model_info(name).num_classes) for name in list_models(args.pattern)]
    found += [(f"net:{n}", "TOML network", None) for n in shipped("net") if fnmatch(f"net:{n}", args.pattern)]
    for name, family, classes in found:
        with meta_device():
            model = create_model(name)
        if classes is None:  # a network file's scores, as built ("-": no head, e.g. inception-naive, or none runs)
            classes = class_scores(model) or "-"
        params = sum(p.numel() for p in model.parameters())
        shape = "x".join(map(str, model.input_size))
        rows.append((name, family, shape, str(classes), f"{params:,}", describe_options(name)))
    print(aligned(rows[0], rows[1:], numeric=(4,)))
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from cnnlab.analysis import ModelSummary, render, summarize

    shape = parse_shape(args.input) if args.input else None
    try:  # a run: its trained model, with its frozen layers (summarize refuses shapes and options with it)
        summary = summarize(
            args.model, shape, num_classes=args.num_classes, in_channels=args.in_channels, options=model_options(args)
        )
    except ShapeError as e:
        if e.rows and args.format != "json":
            partial = ModelSummary(args.model, shape or e.rows[0].input_shape, e.rows, 0, 0)
            print(render(partial, args.format, args.convention).split("\nInput ")[0], flush=True)
        raise
    print(render(summary, args.format, args.convention), end="")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from cnnlab.analysis.grade import check, read_table

    table = read_table(args.table)
    shape = parse_shape(args.input) if args.input else None
    options = model_options(args)
    result = check(
        table,
        args.model,
        shape,
        num_classes=args.num_classes,
        flops=args.flops,
        convention=args.convention,
        options=options,
    )
    print(result.render())
    return result.exit_code


def register(sub: argparse._SubParsersAction) -> None:
    m = sub.add_parser("models", help="list the model zoo: name, family, default input, parameters")
    m.add_argument("pattern", nargs="?", default="*", help="glob filter, e.g. 'resnet*'")
    m.set_defaults(func=cmd_models)

    s = sub.add_parser("summary", help="layer-by-layer shapes, parameters, MACs and receptive fields")
    s.add_argument("model", help="zoo name (see `cnnlab models`), path to a .toml network, or a run directory")
    s.add_argument("--input", help="C,H,W (default: the model's own input size)")
    s.add_argument("--num-classes", type=typed(int, "--num-classes"), help="output classes (default: the model's)")
    s.add_argument(
        "--in-channels", type=typed(int, "--in-channels"), help="input channels (default: from --input or the model's)"
    )
    option_flag(s)
    s.add_argument(
        "--format",
        choices=["table", "markdown", "csv", "json"],
        default="table",
        help="how to print it (default table)",
    )
    s.add_argument(
        "--convention",
        choices=["torch", "keras"],
        default="torch",
        help="keras: HWC shapes, parameters counted as Keras does (batch norm 4C, 2C non-trainable) with "
        "Keras' Total/Trainable/Non-trainable footer, and notes where Keras semantics differ",
    )
    s.set_defaults(func=cmd_summary)

    c = sub.add_parser("check", help="grade a hand-made layer table (markdown or CSV) against the real model")
    c.add_argument(
        "table",
        help="markdown, CSV or Keras model.summary() text with columns such as layer, shape, size, parameters, "
        "connections, MACs, FLOPs",
    )
    c.add_argument("--model", required=True, help="zoo name or path to a .toml network")
    c.add_argument("--input", help="C,H,W (default: the model's own input size)")
    c.add_argument("--num-classes", type=typed(int, "--num-classes"), help="output classes (default: the model's)")
    option_flag(c)
    c.add_argument(
        "--flops",
        choices=["auto", "macs", "2macs"],
        default="auto",
        help="what a FLOPs column counts: MACs or 2 x MACs (default: detected from its values, else 2 x MACs)",
    )
    c.add_argument(
        "--convention",
        choices=["torch", "keras"],
        default="torch",
        help="keras: count parameters as Keras does, batch norm's moving mean and variance included (4C per "
        "layer, 2C non-trainable), as in a Keras model.summary()",
    )
    c.set_defaults(func=cmd_check)
