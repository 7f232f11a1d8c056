"""Commands that look inside a network: gradcam, features, filters, and the classic image-filter lab (filter)."""

from __future__ import annotations

import argparse
from pathlib import Path

from cnnlab.cli.common import out_path, typed
from cnnlab.errors import CnnlabError


def cmd_gradcam(args: argparse.Namespace) -> int:
    from cnnlab.explain.api import gradcam
    from cnnlab.explain.images import save_png

    if args.batch_size < 1:
        raise CnnlabError(f"--batch-size must be at least 1, got {args.batch_size}")
    out = out_path(args.out, "--out", folder=True)
    result = gradcam(args.run, args.images, args.layer, args.target, args.method, args.batch_size)
    used = set()
    print(result.header())
    for i, (image, tile) in enumerate(zip(args.images, result.tiles)):
        stem = Path(image).stem if Path(image).stem not in used else f"{Path(image).stem}-{i}"
        used.add(stem)
        print(f"{image}: {result.line(i)} -> {save_png(tile, out / f'{stem}-gradcam.png')}")
    if len(result.tiles) > 1:
        print(f"grid: {result.save(out / 'gradcam-grid.png')}")
    print(result.footer())
    return 0


def cmd_features(args: argparse.Namespace) -> int:
    from cnnlab.explain.api import features

    out = out_path(args.out or f"features-{args.layer}.png", "--out", folder=False)
    picture = features(args.run, args.image, args.layer)
    print(f"{picture.save(out)}: {picture.text}")
    return 0


def cmd_filters(args: argparse.Namespace) -> int:
    from cnnlab.explain.api import filters

    picture = filters(args.run, args.layer, args.channels)
    out = out_path(args.out or f"filters-{picture.layer}.png", "--out", folder=False)
    print(f"{picture.save(out)}: {picture.text}")
    return 0


def cmd_filter(args: argparse.Namespace) -> int:
    from cnnlab.explain.api import filter as image_filter

    out = out_path(args.out or f"{Path(args.image).stem}-{Path(args.kernel).stem}.png", "--out", folder=False)
    picture = image_filter(args.image, args.kernel)
    print(f"{picture.save(out)}: {picture.text}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    g = sub.add_parser(
        "gradcam",
        help="Grad-CAM heatmaps over images for a run's model, with a deletion check",
        description="Writes OUT/<image>-gradcam.png per image and OUT/gradcam-grid.png for several, and "
        "prints the deletion AUC of each map next to two baselines without a model: random order and brightest "
        "pixels first.",
    )
    g.add_argument("run", help="a run directory with a checkpoint")
    g.add_argument("images", nargs="+", help="image files")
    g.add_argument(
        "--layer",
        help="conv layer or block to explain (default: the last conv layer with maps over 1x1, or the inception "
        "block that joins it to other branches)",
    )
    which = g.add_mutually_exclusive_group()
    which.add_argument("--class", dest="target", metavar="K", help="class to explain, by name or index")
    which.add_argument(
        "--predicted",
        dest="target",
        action="store_const",
        const=None,
        help="explain each image's predicted class (the default)",
    )
    g.add_argument(
        "--method", choices=("gradcam", "gradcam++"), default="gradcam", help="Grad-CAM or Grad-CAM++ (default gradcam)"
    )
    g.add_argument("--out", default="gradcam", help="output folder (default ./gradcam)")
    g.add_argument(
        "--batch-size", type=typed(int, "--batch-size"), default=32, help="images explained at once (default 32)"
    )
    g.set_defaults(func=cmd_gradcam)

    f = sub.add_parser("features", help="grid PNG of one layer's feature maps for an image")
    f.add_argument("run", help="a run directory with a checkpoint")
    f.add_argument("image", help="an image file")
    f.add_argument("--layer", required=True, help="any layer with (C, H, W) output, e.g. conv1 or relu2")
    f.add_argument("--out", help="PNG path (default features-LAYER.png)")
    f.set_defaults(func=cmd_features)

    k = sub.add_parser("filters", help="grid PNG of a conv layer's learned kernels")
    k.add_argument("run", help="a run directory with a checkpoint")
    k.add_argument("--layer", help="conv layer (default: the first)")
    k.add_argument(
        "--channels",
        choices=("mean", "each"),
        default="mean",
        help="layers not reading 3 channels: mean over input channels, or one tile per input channel",
    )
    k.add_argument("--out", help="PNG path (default filters-LAYER.png)")
    k.set_defaults(func=cmd_filters)

    c = sub.add_parser("filter", help="apply a classic kernel (sobel-x, blur, ...) to an image: the edge-detection lab")
    c.add_argument("image", help="an image file")
    c.add_argument(
        "--kernel", required=True, help="sobel-x|sobel-y|sharpen|outline|blur|emboss or a text file of numbers"
    )
    c.add_argument("--out", help="PNG path (default IMAGE-KERNEL.png)")
    c.set_defaults(func=cmd_filter)
