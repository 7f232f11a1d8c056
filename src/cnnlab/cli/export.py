"""The export command: a run's model as an ONNX or TorchScript file (predicting with one is `cnnlab predict`)."""

from __future__ import annotations

import argparse

from cnnlab.cli.common import out_path, warn
from cnnlab.rundir.config import TTA_VIEWS


def cmd_export(args: argparse.Namespace) -> int:
    from cnnlab.export.exporter import export_run

    out = out_path(args.out, "--out", folder=False)
    card = export_run(args.run, out, args.format, tta=args.tta)
    c, h, w = card.input_shape
    opset = f", opset {card.opset}" if card.opset else ""
    print(f"wrote {out} ({args.format}{opset}, {out.stat().st_size:,} bytes)")
    print(
        f"  input: float32 N x {c} x {h} x {w} ({card.channel_order}), any N; output: logits over {len(card.classes)} classes"
    )
    print(f"  test-time augmentation in the graph: {card.tta}; preprocessing and classes in the file's metadata")
    if args.format == "onnx":
        print(f"  predict without PyTorch: cnnlab predict {out} IMAGE...")
    warn(card.views_warning(str(out)))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser(
        "export",
        help="write a run's model as an ONNX or TorchScript file, with its preprocessing and classes",
        description="The file computes the run's logits (with its test-time augmentation views) from inputs "
        "prepared as its metadata says; `cnnlab predict FILE.onnx IMAGE...` runs one on onnxruntime alone.",
    )
    e.add_argument("run", help="a run directory with a checkpoint")
    e.add_argument("--out", required=True, help="the file to write (replaced whole, or left as it was)")
    e.add_argument(
        "--format",
        default="onnx",
        help="onnx (default; opset 18, dynamic batch) or torchscript (torch.jit, deprecated by PyTorch 2.14)",
    )
    e.add_argument(
        "--tta",
        help=f"test-time augmentation views in the graph: {', '.join(TTA_VIEWS)} (default: the run's)",
    )
    e.set_defaults(func=cmd_export)
