"""cnnlab tune (TPE + Hyperband) against Keras Tuner RandomSearch: same MNIST space, same data, several seeds.

Keras Tuner runs the tutorial's RandomSearch: 5 trials of 5 epochs, 25 epochs in all. cnnlab searches
examples/spaces/mnist-cnn.toml (the same space: conv layers 1-5 with 32-256 filters, dropout 0-0.5, dense layers
1-5 with 32-256 units, learning rate 1e-5..1e-3 log) with `--budget`, the epochs the whole study may train
(pruned trials' epochs counted): first half of Keras Tuner's epochs, then the study goes on to all of them.
The goal: Keras Tuner's best validation accuracy (or better) within half the epochs. One search is mostly
luck (five random learning rates decide it), so each side runs once per seed. Both see the same images, padded
to 32x32 and normalised alike: cnnlab's MNIST splits for that seed (validation = a stratified 10% of the
training set) with at most --limit images each.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/tune_vs_kerastuner.py --data-dir ../shared/datasets

Writes bench/results/tune_vs_kerastuner.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import tempfile
import time
import tomllib
from pathlib import Path

import numpy as np
from timing import load, machine

REPO = Path(__file__).resolve().parents[1]
SPACE = REPO / "examples" / "spaces" / "mnist-cnn.toml"


def mnist_arrays(data_dir: str, limit: int, seed: int) -> dict[str, np.ndarray]:
    """The splits cnnlab trains on (10% validation, --limit per split), as normalised NHWC float32 arrays."""
    from cnnlab.data import load_dataset

    data = load_dataset("mnist", data_dir=data_dir, val=0.1, limit=limit, seed=seed).adapt((1, 32, 32), "pad")
    out = {}
    for split in ("train", "val", "test"):
        x, y = data.split(split)
        x = (x.float().numpy() / 255 - data.mean[0]) / data.std[0]
        out[f"{split}_x"], out[f"{split}_y"] = x.transpose(0, 2, 3, 1).astype(np.float32), y.numpy()
    return out


def keras_tuner(
    arrays: dict[str, np.ndarray], trials: int, epochs: int, batch_size: int, seed: int, work: Path, threads: int
) -> dict:
    import keras
    import keras_tuner as kt
    import tensorflow as tf
    from keras import layers

    tf.config.threading.set_intra_op_parallelism_threads(threads)  # the thread count cnnlab's side computes on
    tf.config.threading.set_inter_op_parallelism_threads(1)
    keras.utils.set_random_seed(seed)

    def build_model(hp: kt.HyperParameters) -> keras.Model:
        model = keras.Sequential([keras.Input((32, 32, 1))])
        for i in range(hp.Int("conv_layers", 1, 5)):
            model.add(layers.Conv2D(hp.Int(f"filters_{i}", 32, 256, step=32), 3, padding="same", activation="relu"))
            model.add(layers.MaxPooling2D(2))
        model.add(layers.Flatten())
        model.add(layers.Dropout(hp.Float("dropout", 0.0, 0.5)))
        for i in range(hp.Int("dense_layers", 1, 5)):
            model.add(layers.Dense(hp.Int(f"units_{i}", 32, 256, step=32), activation="relu"))
        model.add(layers.Dense(10))
        model.compile(
            keras.optimizers.Adam(hp.Float("lr", 1e-5, 1e-3, sampling="log")),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        return model

    tuner = kt.RandomSearch(
        build_model,
        objective="val_accuracy",
        max_trials=trials,
        seed=seed,
        directory=str(work),
        project_name="keras-tuner",
        overwrite=True,
    )
    t0 = time.perf_counter()
    tuner.search(
        arrays["train_x"],
        arrays["train_y"],
        epochs=epochs,
        batch_size=batch_size,
        verbose=0,
        validation_data=(arrays["val_x"], arrays["val_y"]),
    )
    seconds = time.perf_counter() - t0
    best = tuner.oracle.get_best_trials(1)[0]
    _, test_acc = tuner.get_best_models(1)[0].evaluate(arrays["test_x"], arrays["test_y"], verbose=0)
    return {
        "trials": trials,
        "epochs": trials * epochs,
        "best_val_accuracy": float(best.score),
        "best_test_accuracy": float(test_acc),
        "best_params": best.hyperparameters.values,
        "seconds": round(seconds, 1),
    }


def cnnlab_tune(data_dir: str, limit: int, budgets: tuple[int, ...], seed: int, work: Path) -> list[dict]:
    """One study, run to each budget in turn (a rerun with a larger --budget continues it); what each found."""
    import optuna
    import tomli_w

    from cnnlab.train import RunDir
    from cnnlab.tune import epochs_trained, ranked, tune

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = tomllib.loads(SPACE.read_text())
    space["train"]["seed"] = seed
    path = work / f"space-seed{seed}.toml"
    path.write_text(tomli_w.dumps(space))
    out, results, t0 = work / f"cnnlab-seed{seed}", [], time.perf_counter()
    for budget in budgets:
        study, sdir = tune(
            path,
            out,
            trials=1000,
            sampler="tpe",
            pruner="hyperband",
            data_dir=data_dir,
            limit=limit,
            budget=budget,
            log=lambda s: print(f"  cnnlab {s}", flush=True),
        )
        best = ranked(study)[0]
        trials = study.get_trials()
        results.append(
            {
                "budget": budget,
                "epochs": epochs_trained(study),
                "trials": len(trials),
                "pruned": sum(t.state.name == "PRUNED" for t in trials),
                "best_val_accuracy": best.value,
                "best_test_accuracy": RunDir(sdir.trial_dir(best.number)).summary()["test_accuracy"],
                "best_trial": best.number,
                "best_epochs": len(best.intermediate_values),
                "best_params": best.params,
                "seconds": round(time.perf_counter() - t0, 1),
            }
        )
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=os.environ.get("CNNLAB_DATA", str(REPO.parent / "shared" / "datasets")))
    p.add_argument("--limit", type=int, default=3000, help="at most N images in each of train, validation and test")
    p.add_argument("--trials", type=int, default=5, help="Keras Tuner trials")
    p.add_argument("--epochs", type=int, default=5, help="epochs per trial")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="compute threads for both sides")
    p.add_argument("--out", default=str(REPO / "bench" / "results" / "tune_vs_kerastuner.json"))
    args = p.parse_args()
    for flag, value in (
        ("--limit", args.limit),
        ("--trials", args.trials),
        ("--epochs", args.epochs),
        ("--threads", args.threads),
    ):
        if value < 1:
            p.error(f"{flag} must be at least 1, got {value}")
    import torch

    torch.set_num_threads(args.threads)
    load_before = load()
    budget = args.trials * args.epochs
    batch_size = tomllib.loads(SPACE.read_text())["train"]["batch_size"]  # the space's, for both searches
    budgets = (budget // 2, budget)
    runs = []
    with tempfile.TemporaryDirectory() as d:
        for seed in args.seeds:
            arrays = mnist_arrays(args.data_dir, args.limit, seed)
            print(f"seed {seed}: Keras Tuner RandomSearch, {args.trials} trials x {args.epochs} epochs", flush=True)
            with multiprocessing.get_context("spawn").Pool(1) as pool:  # TensorFlow and torch in one process crash
                ktr = pool.apply(
                    keras_tuner, (arrays, args.trials, args.epochs, batch_size, seed, Path(d), args.threads)
                )
            print(f"seed {seed}: cnnlab tune (TPE + Hyperband), --budget {budgets[0]} then {budgets[1]}", flush=True)
            half, full = cnnlab_tune(args.data_dir, args.limit, budgets, seed, Path(d))
            runs.append({"seed": seed, "keras_tuner": ktr, "cnnlab_half_budget": half, "cnnlab_full_budget": full})

    rows = [
        ("Keras Tuner RandomSearch", "keras_tuner"),
        (f"cnnlab, --budget {budgets[0]}", "cnnlab_half_budget"),
        (f"cnnlab, --budget {budgets[1]}", "cnnlab_full_budget"),
    ]
    print(f"\n{'seed':<6}{'search':<28}{'trials':>7}{'epochs':>8}{'best val acc':>14}{'test acc':>10}{'seconds':>9}")
    for run in runs:
        for name, key in rows:
            r = run[key]
            print(
                f"{run['seed']:<6}{name:<28}{r['trials']:>7}{r['epochs']:>8}{r['best_val_accuracy']:>14.4f}"
                f"{r['best_test_accuracy']:>10.4f}{r['seconds']:>9.0f}"
            )
    mean = {key: float(np.mean([run[key]["best_val_accuracy"] for run in runs])) for _, key in rows}
    wins = sum(
        run["cnnlab_half_budget"]["best_val_accuracy"] >= run["keras_tuner"]["best_val_accuracy"] for run in runs
    )
    ratios = {
        "epochs_half_budget": round(
            float(np.mean([run["cnnlab_half_budget"]["epochs"] / run["keras_tuner"]["epochs"] for run in runs])), 3
        ),
        "mean_best_val_accuracy_half_budget": round(mean["cnnlab_half_budget"] / mean["keras_tuner"], 4),
        "mean_best_val_accuracy_full_budget": round(mean["cnnlab_full_budget"] / mean["keras_tuner"], 4),
    }
    print("mean best val acc: " + ", ".join(f"{name} {mean[key]:.4f}" for name, key in rows))
    print(f"cnnlab with half the epochs matched or beat Keras Tuner in {wins} of {len(runs)} seeds")
    print("ratio cnnlab / Keras Tuner: " + ", ".join(f"{k} {v}" for k, v in ratios.items()))
    sizes = {k: len(arrays[f"{k}_y"]) for k in ("train", "val", "test")}
    result = {
        "machine": machine(load_before, load()),
        "threads": args.threads,
        "data": f"MNIST limited to {args.limit}: {sizes['train']} train, {sizes['val']} validation, "
        f"{sizes['test']} test images, padded to 32x32",
        "space": str(SPACE.relative_to(REPO)),
        "batch_size": batch_size,
        "epochs_per_trial": args.epochs,
        "budgets": list(budgets),
        "runs": runs,
        "mean_best_val_accuracy": mean,
        "cnnlab_half_budget_wins": wins,
        "ratio_cnnlab_over_keras_tuner": ratios,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
