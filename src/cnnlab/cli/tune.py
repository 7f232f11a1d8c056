"""The tune command: hyperparameter search over a TOML space, study summaries, retraining the best trial."""

from __future__ import annotations

import argparse
import sys

from cnnlab.cli.common import typed
from cnnlab.errors import CnnlabError


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def cmd_tune(args: argparse.Namespace) -> int:
    import optuna

    from cnnlab.tune import open_study, render_summary, retrain_best, tune
    from cnnlab.tune.plots import write_plots

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if (args.space is None) == (args.summary is None):
        raise CnnlabError("give a space file to search, or --summary STUDY_DIR to report on a study (not both)")
    if args.top < 1:
        raise CnnlabError(f"--top must be at least 1 (the best trials to list), got {args.top}")
    retrain = {"limit": args.limit, "epochs": args.epochs} if args.summary is not None else {}
    if any(v is not None for v in retrain.values()) and not args.retrain_best:
        raise CnnlabError(
            "with --summary, --limit and --epochs set what --retrain-best trains the best configuration on (the "
            "study's own are fixed); add --retrain-best, or leave them out"
        )
    if args.summary is None:
        if args.limit == "all":
            raise CnnlabError(
                "--limit all is for --summary STUDY_DIR --retrain-best; a search takes a number of images"
            )
        _, sdir = tune(
            args.space,
            args.out,
            trials=args.trials,
            timeout=args.timeout,
            sampler=args.sampler,
            pruner=args.pruner,
            storage=args.storage,
            study_name=args.study,
            data_dir=args.data_dir,
            limit=args.limit,
            epochs=args.epochs,
            budget=args.budget,
            log=_log,
        )
        study_dir = str(sdir.path)
    else:
        study_dir = args.summary
    study, space, sdir = open_study(study_dir)
    print(render_summary(study, space.metric, sdir.url(), top=args.top))
    for path in write_plots(study_dir):
        print(f"plot: {path}")
    if args.retrain_best:
        summary = retrain_best(study_dir, log=_log, **retrain)
        print(f"best configuration retrained on train+val: {sdir.best}")
        print(
            f"  test_accuracy: {summary['test_accuracy']:.4f} ({summary['test_size']} images), "
            f"{summary['epochs_run']} epochs, {summary['params']:,} params"
        )
    return 0


def _limit(text: str) -> int | str:
    """--limit: a number of images, or `all` (every image, for a retraining)."""
    if text.strip().lower() == "all":
        return "all"
    try:
        return typed(int, "--limit")(text)
    except argparse.ArgumentTypeError as e:
        raise argparse.ArgumentTypeError(f"{e} (or all, with --summary --retrain-best)") from None


def register(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser(
        "tune",
        help="hyperparameter search (Optuna) over a TOML space; one run directory per trial",
        description="Search SPACE.toml, or report on a study with --summary STUDY_DIR. Trials are "
        "counted over all workers of a study; rerunning the command continues it.",
    )
    t.add_argument("space", nargs="?", help="search space TOML ([train], [objective], [params.NAME], [network])")
    t.add_argument("--trials", type=typed(int, "--trials"), default=20, help="trials in the study in all (default 20)")
    t.add_argument("--timeout", type=typed(float, "--timeout"), help="start no new trial after S seconds")
    t.add_argument(
        "--budget",
        type=typed(int, "--budget"),
        metavar="EPOCHS",
        help="epochs the whole study may train, pruned trials' epochs included; the trial running "
        "when it is spent ends there",
    )
    t.add_argument("--sampler", help="random | tpe | gp | cmaes (default: the study's, for a new one tpe)")
    t.add_argument("--pruner", help="hyperband | median | none (default: the study's, for a new one hyperband)")
    t.add_argument(
        "--storage",
        help="database URL shared by workers, e.g. postgresql://user@host:5432/db "
        "(default: SQLite in the study directory)",
    )
    t.add_argument("--study", help="study name (default: the space file's name)")
    t.add_argument("--out", help="study directory (default runs/tune-SPACE)")
    t.add_argument("--data-dir", help="data root for the trials")
    t.add_argument(
        "--limit",
        type=_limit,
        help="at most N images in each split (overrides [train]); with --summary --retrain-best, what the best "
        "configuration is retrained on (N or all; default the study's)",
    )
    t.add_argument(
        "--epochs",
        type=typed(int, "--epochs"),
        help="epochs per trial (overrides [train]); with --summary --retrain-best, the retraining's",
    )
    t.add_argument("--summary", metavar="STUDY_DIR", help="print the best trials of a study and write its plots")
    t.add_argument("--top", type=typed(int, "--top"), default=10, help="best trials to list (default 10)")
    t.add_argument(
        "--retrain-best",
        action="store_true",
        help="train the best configuration on train+val into STUDY_DIR/best and report test accuracy",
    )
    t.set_defaults(func=cmd_tune)
