"""Commands that look inside a network: gradcam, features, filters, and the classic image-filter lab (filter)."""

from __future__ import annotations

import argparse
from pathlib import Path

from cnnlab.cli.common import out_path, typed
from cnnlab.errors import CnnlabError


def cmd_gradcam(args: argparse.Namespace) -> int:
    from cnnlab.explain import load_run
    from cnnlab.explain.deletion import deletion_check
    from cnnlab.explain.gallery import cam_labels, overlays
    from cnnlab.explain.gradcam import grad_cam
    from cnnlab.explain.images import grid, save_png

    if args.batch_size < 1:
        raise CnnlabError(f"--batch-size must be at least 1, got {args.batch_size}")
    out = out_path(args.out, "--out", folder=True)
    run = load_run(args.run)
    pixels = run.read_images(args.images)
    target = None if args.target is None else run.class_index(args.target)
    cam = grad_cam(run.model, run.to_input(pixels), args.layer, target, args.method, args.batch_size)
    check = deletion_check(run.probabilities, pixels, cam.heatmaps, cam.targets)
    tiles = overlays(pixels, cam.heatmaps)
    labels = cam_labels(run, cam)
    used = set()
    print(f"{args.method} at layer {cam.layer}; deletion AUC: lower is better, random order is the baseline")
    for i, (image, tile, label) in enumerate(zip(args.images, tiles, labels)):
        stem = Path(image).stem if Path(image).stem not in used else f"{Path(image).stem}-{i}"
        used.add(stem)
        path = save_png(tile, out / f"{stem}-gradcam.png")
        print(
            f"{image}: {label}; deletion AUC {check.saliency_auc[i]:.3f} (random {check.random_auc[i]:.3f}) -> {path}"
        )
    if len(tiles) > 1:
        print(f"grid: {save_png(grid(tiles, labels), out / 'gradcam-grid.png')}")
    print(
        f"mean deletion AUC over {len(tiles)} image(s): {check.saliency_auc.mean():.3f} "
        f"(random {check.random_auc.mean():.3f})"
    )
    return 0


def cmd_features(args: argparse.Namespace) -> int:
    from cnnlab.explain import load_run
    from cnnlab.explain.features import feature_grid, feature_maps
    from cnnlab.explain.images import save_png

    out = out_path(args.out or f"features-{args.layer}.png", "--out", folder=False)
    run = load_run(args.run)
    maps = feature_maps(run.model, run.to_input(run.read_images([args.image])), args.layer)
    path = save_png(feature_grid(maps), out)
    print(f"{path}: {maps.shape[0]} feature maps of {maps.shape[1]}x{maps.shape[2]} from layer {args.layer}")
    return 0


def cmd_filters(args: argparse.Namespace) -> int:
    from cnnlab.explain import load_run
    from cnnlab.explain.filters import conv_kernels, filter_grid
    from cnnlab.explain.images import save_png

    name, weight = conv_kernels(load_run(args.run).model, args.layer)
    out = out_path(args.out or f"filters-{name}.png", "--out", folder=False)
    path = save_png(filter_grid(weight, args.channels), out)
    out_c, in_c, kh, kw = weight.shape
    print(f"{path}: {out_c} kernels of {in_c}x{kh}x{kw} from layer {name}")
    return 0


def cmd_filter(args: argparse.Namespace) -> int:
    from cnnlab.explain.images import save_png
    from cnnlab.explain.kernels import filter_lab
    from cnnlab.train.inference import load_image

    out = out_path(args.out or f"{Path(args.image).stem}-{Path(args.kernel).stem}.png", "--out", folder=False)
    path = save_png(filter_lab(load_image(args.image)[0], args.kernel), out)
    print(f"{path}: input, then {args.kernel} on the grayscale image and on R, G, B")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    g = sub.add_parser(
        "gradcam",
        help="Grad-CAM heatmaps over images for a run's model, with a deletion check",
        description="Writes OUT/<image>-gradcam.png per image and OUT/gradcam-grid.png for several, and "
        "prints the deletion AUC of each map next to a random-order baseline.",
    )
    g.add_argument("run")
    g.add_argument("images", nargs="+")
    g.add_argument("--layer", help="conv layer to explain (default: the last)")
    which = g.add_mutually_exclusive_group()
    which.add_argument("--class", dest="target", metavar="K", help="class to explain, by name or index")
    which.add_argument(
        "--predicted",
        dest="target",
        action="store_const",
        const=None,
        help="explain each image's predicted class (the default)",
    )
    g.add_argument("--method", choices=("gradcam", "gradcam++"), default="gradcam")
    g.add_argument("--out", default="gradcam", help="output folder (default ./gradcam)")
    g.add_argument("--batch-size", type=typed(int, "--batch-size"), default=32)
    g.set_defaults(func=cmd_gradcam)

    f = sub.add_parser("features", help="grid PNG of one layer's feature maps for an image")
    f.add_argument("run")
    f.add_argument("image")
    f.add_argument("--layer", required=True, help="any layer with (C, H, W) output, e.g. conv1 or relu2")
    f.add_argument("--out", help="PNG path (default features-LAYER.png)")
    f.set_defaults(func=cmd_features)

    k = sub.add_parser("filters", help="grid PNG of a conv layer's learned kernels")
    k.add_argument("run")
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
    c.add_argument("image")
    c.add_argument(
        "--kernel", required=True, help="sobel-x|sobel-y|sharpen|outline|blur|emboss or a text file of numbers"
    )
    c.add_argument("--out", help="PNG path (default IMAGE-KERNEL.png)")
    c.set_defaults(func=cmd_filter)
