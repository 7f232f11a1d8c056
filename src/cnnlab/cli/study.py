"""Commands on several runs: compare (run a study file) and report (one HTML file for runs and studies)."""

from __future__ import annotations

import argparse
import sys

from cnnlab.cli.common import out_path, typed
from cnnlab.resources import stem


def cmd_compare(args: argparse.Namespace) -> int:
    from cnnlab.errors import CnnlabError
    from cnnlab.study import load_study, run_study
    from cnnlab.study.outputs import all_failed, write_outputs
    from cnnlab.study.runner import describe

    overrides = {"data_dir": args.data_dir, "data": args.data, "limit": args.limit, "epochs": args.epochs}
    study = load_study(args.study, overrides)
    out = out_path(args.out or f"runs/studies/{stem(args.study)}", "--out", folder=True)
    if args.dry_run:
        for row in describe(study, out):
            settings = ", ".join(f"{k}={v}" for k, v in row["settings"].items())
            print(f"{row['name']:<24} {row['state']:<8} {settings}")
        return 0
    dirs = run_study(study, out, log=lambda s: print(s, file=sys.stderr, flush=True), progress=args.progress)
    print(f"{study.title}\n")
    table, plots = write_outputs(study, out, gradcam=args.gradcam)
    print(table)
    if study.expected:
        print(f"Expected: {study.expected}\n")
    pngs = f", plots/*.png ({len(plots)} files)" if plots else ""
    print(f"wrote {out}/table.md, table.csv, report.html{pngs} and {len(dirs)} run directories in {out}/runs/")
    if why := all_failed(dirs):  # nothing trained: a study that says so, not a success
        raise CnnlabError(why)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from cnnlab.report import write_report

    out = out_path(args.out, "--out", folder=False)
    plots = out_path(args.plots, "--plots", folder=True) if args.plots else None
    path = write_report(args.paths, out, title=args.title, gradcam=args.gradcam, plots_dir=plots)
    print(f"wrote {path}")
    return 0


def _images(text: str) -> int:
    """--gradcam N: checked while parsing, so a bad value stops `compare` before any training."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"--gradcam takes a number of images (0 or more), got {text!r}")
    return int(text)


def register(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser(
        "compare",
        help="run a study file of runs (or grids) and tabulate and report them",
        description="Runs each study run in order into OUT/runs/NAME, skipping finished runs and "
        "resuming interrupted ones; writes OUT/table.md, table.csv and report.html.",
    )
    c.add_argument("study", help="study TOML (see examples/studies/)")
    c.add_argument("--out", help="study directory (default runs/studies/STUDY)")
    c.add_argument("--data-dir", help="data root for every run (also fills {data_dir} in the study)")
    c.add_argument("--data", help="dataset for every run, replacing the study's (a stand-in; say so with the numbers)")
    c.add_argument("--limit", type=typed(int, "--limit"), help="images per split for every run, for a quick look")
    c.add_argument("--epochs", type=typed(int, "--epochs"), help="epochs for every run")
    c.add_argument("--gradcam", type=_images, default=8, help="Grad-CAM images per run in the report (0: none)")
    c.add_argument("--dry-run", action="store_true", help="list the runs, their state and settings; train nothing")
    c.add_argument(
        "--progress",
        default=None,
        action=argparse.BooleanOptionalAction,
        help="per-batch progress bar (default: when stderr is a terminal)",
    )
    c.set_defaults(func=cmd_compare)

    r = sub.add_parser("report", help="one self-contained HTML file for runs and study directories")
    r.add_argument("paths", nargs="+", metavar="RUN_OR_STUDY", help="run directories and study (compare) folders")
    r.add_argument("--out", default="report.html", help="the HTML file to write (default: report.html)")
    r.add_argument("--title", default="cnnlab report", help="the report's heading (default: cnnlab report)")
    r.add_argument("--gradcam", type=_images, default=8, help="Grad-CAM images per run (0: none)")
    r.add_argument("--plots", help="also write every plot as a PNG file into this folder")
    r.set_defaults(func=cmd_report)
