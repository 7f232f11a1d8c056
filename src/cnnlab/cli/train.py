"""Commands on training runs: train, eval, predict, lr-find, demo, runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from cnnlab.cli.common import config_flags, run_config, typed, warn
from cnnlab.errors import CnnlabError
from cnnlab.resources import stem
from cnnlab.rundir.config import TTA_VIEWS
from cnnlab.rundir.layout import CONFIG

TTA_HELP = f"test-time augmentation: {', '.join(TTA_VIEWS)} (default: the run's)"


def cmd_train(args: argparse.Namespace) -> int:
    from cnnlab.rundir.view import summary_text
    from cnnlab.train import RunDir, train
    from cnnlab.train.distributed import env_rank

    # On --resume, every setting given is laid over the run's own and compared with it by `train`, which refuses
    # changes it cannot honour (only RunConfig.RESUMABLE: epochs, patience, gl-alpha, data-dir, device, log-every).
    run = RunDir(Path(args.out)) if args.resume and args.out else None
    saved = run.config() if run is not None and run.exists() else None
    config = run_config(args, saved, str(run.path / CONFIG) if run is not None else "")
    if args.nproc is not None:  # checked here once, rather than by every rank
        from cnnlab.train.distributed import check_sync_bn
        from cnnlab.train.launch import Launch, launch
        from cnnlab.train.setup import check_global_batch, pick_device

        where = Launch(args.nproc, args.nnodes, args.rdzv_endpoint, args.rdzv_timeout)
        where.check()
        check_sync_bn(config.sync_bn, args.nproc * args.nnodes, pick_device(config.device))
        check_global_batch(config.batch_size, args.nproc * args.nnodes)
        return launch(where, without_launch_options(args.argv))
    out = args.out or f"runs/{stem(config.model)}-{config.data.replace(':', '-').replace('/', '_')}-s{config.seed}"
    summary = train(config, out, resume=args.resume, progress=args.progress, rendezvous_timeout=args.rdzv_timeout)
    if env_rank() != 0:
        return 0  # rank 0 reports the run
    print(summary_text(out, summary))
    return 0


LAUNCH_OPTIONS = ("--nproc", "--nnodes", "--rdzv-endpoint")  # for the launcher; each rank runs without them


def without_launch_options(argv: list[str]) -> list[str]:
    """The `train` command's own arguments without the launch options: what each rank runs."""
    out: list[str] = []
    skip = False
    for a in argv[argv.index("train") + 1 :]:
        if skip:
            skip = False
        elif a in LAUNCH_OPTIONS:
            skip = True
        elif not a.startswith(tuple(o + "=" for o in LAUNCH_OPTIONS)):
            out.append(a)
    return out


def cmd_eval(args: argparse.Namespace) -> int:
    from cnnlab.train.inference import evaluate_run, load_run, views_warning

    run = load_run(args.run)
    r = evaluate_run(run, tta=args.tta)
    warn(views_warning(run))
    precision = ", in bf16 as the run trained" if r["precision"] == "bf16" else ""
    print(f"test accuracy: {r['test_accuracy']:.4f} ({r['test_size']} images{precision}), loss {r['test_loss']:.4f}")
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
    from cnnlab.imagefile import check_topk, format_top

    check_topk(args.top)
    if Path(args.run).is_file():  # an exported model: onnxruntime alone, no PyTorch imported
        from cnnlab.export.runtime import OnnxModel, predict_onnx

        model = OnnxModel(args.run)
        one = lambda image: predict_onnx(model, [image], args.top, tta=args.tta)[0]
        views = lambda: model.card.views_warning(args.run)
    else:
        from cnnlab.train.inference import load_run, predict, views_warning

        run = load_run(args.run)
        one = lambda image: predict(run, [image], args.top, tta=args.tta)[0]
        views = lambda: views_warning(run)
    results, failed = [], []
    for image in args.images:  # an unreadable image does not cost the others their lines
        try:
            results.append(one(image))
        except CnnlabError as e:
            failed.append(str(e))
    if not results:
        raise CnnlabError(failed[0])  # a setting every image fails on (--tta), or the one image given
    warn(views())
    for r in results:
        print(f"{r['image']}: {format_top(r['top'])}")
    if failed:
        raise CnnlabError(f"{len(failed)} of {len(args.images)} images not predicted: {failed[0]}")
    return 0


# flags that shape a run's epochs, schedule or outputs, which the range test does not have (it sets the lr itself at
# every update): given on the command line they are refused rather than ignored; from an experiment file they are
# simply not used, so a recipe can be swept as it is
NOT_SWEPT = ("lr", "epochs", "schedule", "step_size", "gamma", "decay", "decay_per", "warmup_epochs", "patience",
             "gl_alpha", "monitor", "ema", "lookahead", "tta", "progressive", "log_every")  # fmt: skip


def cmd_lr_find(args: argparse.Namespace) -> int:
    from cnnlab.train.lrfind import SWEEP, check_sweep, lr_find

    check_sweep(SWEEP[0], SWEEP[1], args.steps)  # before the data loads
    if given := [f"--{k.replace('_', '-')}" for k in NOT_SWEPT if k in vars(args)]:
        raise CnnlabError(
            f"lr-find does not use {', '.join(given)}: it sweeps the lr from 1e-7 to 10 over --steps updates of "
            "one model, with no epochs, schedule or outputs; drop them"
        )
    print(lr_find(run_config(args), steps=args.steps).render())
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from cnnlab.demo import comparison_table, run_demo

    summaries = run_demo(args.out, args.epochs)
    print(comparison_table(summaries))
    print(f"run directories: {args.out}/ (inspect with `cnnlab eval {args.out}/mnist-cnn`)")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from cnnlab.rundir import runs_below

    runs = runs_below(args.folder)
    print(runs if runs else f"no run directories in {args.folder}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser(
        "train",
        allow_abbrev=False,  # --nproc relaunches these arguments: they must mean the same to the launcher and ranks
        help="train a model on a dataset into a run directory",
        description="Settings come from flags or an experiment TOML file (flags override it).",
    )
    t.add_argument("experiment", nargs="?", help="experiment TOML with RunConfig keys (model, data, epochs, ...)")
    groups = config_flags(t)
    output, run = groups["output"], groups["run"]
    output.add_argument("--out", help="the run directory (default: runs/MODEL-DATA-sSEED)")
    output.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    run.add_argument(
        "--nproc",
        type=typed(int, "--nproc"),
        help="train with N processes on this machine (data-parallel, launched through torchrun)",
    )
    run.add_argument(
        "--nnodes",
        type=typed(int, "--nnodes"),
        default=1,
        help="with --nproc: machines taking part, each running the same command (default 1)",
    )
    run.add_argument("--rdzv-endpoint", metavar="HOST:PORT", help="with --nnodes: where the machines meet")
    run.add_argument(
        "--rdzv-timeout",
        type=typed(float, "--rdzv-timeout"),
        default=120.0,
        metavar="SECONDS",
        help="with several processes: how long a rank waits for the others to join (default 120)",
    )
    output.add_argument(
        "--progress",
        default=None,
        action=argparse.BooleanOptionalAction,
        help="per-batch progress bar (default: when stderr is a terminal)",
    )
    t.set_defaults(func=cmd_train)

    r = sub.add_parser(
        "runs",
        help="the runs below a folder: model, data, epochs, accuracies, and whether each finished, runs or can resume",
        description="Reads each run's files (config, checkpoint manifest, summary) without locking or changing them; "
        "a run being written shows its process. Run directories are found up to four levels down (STUDY/runs/NAME).",
    )
    r.add_argument("folder", nargs="?", default="runs", help="where to look (default: runs, where train writes)")
    r.set_defaults(func=cmd_runs)

    e = sub.add_parser("eval", help="test accuracy, per-class accuracy and confusion matrix of a run")
    e.add_argument("run", help="a run directory with a checkpoint")
    e.add_argument("--tta", help=TTA_HELP)
    e.set_defaults(func=cmd_eval)

    pr = sub.add_parser(
        "predict", help="top-k classes for image files, with a run's model or an ONNX file from `cnnlab export`"
    )
    pr.add_argument("run", help="a run directory, or an .onnx file (run on onnxruntime, without PyTorch)")
    pr.add_argument("images", nargs="+", help="image files")
    pr.add_argument("--top", type=typed(int, "--top"), default=3, help="how many classes to show per image (default 3)")
    pr.add_argument("--tta", help=TTA_HELP)
    pr.set_defaults(func=cmd_predict)

    lf = sub.add_parser("lr-find", help="LR range test: suggests a learning rate for a training setup")
    lf.add_argument("experiment", nargs="?", help="experiment TOML with RunConfig keys, as `cnnlab train` takes")
    config_flags(lf, hidden=NOT_SWEPT)
    lf.add_argument(
        "--steps",
        type=typed(int, "--steps"),
        default=100,
        help="updates in the sweep, the lr growing from 1e-7 to 10 (default 100, 30 to 10,000)",
    )
    lf.set_defaults(func=cmd_lr_find)

    d = sub.add_parser("demo", help="the main job: train two zoo models on digits (offline) and compare them")
    d.add_argument("--out", default="runs/demo", help="where the runs and the report go (default runs/demo)")
    d.add_argument(
        "--epochs", type=typed(int, "--epochs"), help="epochs per model (default 10; 1 checks an installation quickly)"
    )
    d.set_defaults(func=cmd_demo)
