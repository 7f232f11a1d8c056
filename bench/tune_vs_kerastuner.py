"""cnnlab tune (TPE + Hyperband) against Keras Tuner RandomSearch: same MNIST space, same data, same epoch budget.

Keras Tuner runs the tutorial's RandomSearch: 5 trials of 5 epochs, 25 epochs in all. cnnlab searches
examples/tune-mnist-cnn.toml (the same space: conv layers 1-5 with 32-256 filters, dropout 0-0.5, dense layers
1-5 with 32-256 units, learning rate 1e-5..1e-3 log) and adds trials to its study while a full-length trial still
fits in those 25 epochs, pruned trials' epochs counted. The goal: Keras Tuner's best validation accuracy (or
better) within half the epochs; the benchmark reports the best found within half the budget and the epochs
spent when Keras Tuner's best was matched. Both see the same images, padded to 32x32 and normalised alike:
cnnlab's MNIST splits (validation = a stratified 10% of the training set) with at most --limit images each.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/tune_vs_kerastuner.py --data-dir ../shared/datasets

Writes bench/results/tune_vs_kerastuner.json.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SPACE = REPO / "examples" / "tune-mnist-cnn.toml"


def mnist_arrays(data_dir: str, limit: int) -> dict[str, np.ndarray]:
    """The splits cnnlab trains on (seed 0, 10% validation, --limit per split), as normalised NHWC float32 arrays."""
    from cnnlab.data import load_dataset

    data = load_dataset("mnist", data_dir=data_dir, val=0.1, limit=limit, seed=0).adapt((1, 32, 32), "pad")
    out = {}
    for split in ("train", "val", "test"):
        x, y = data.split(split)
        x = (x.float().numpy() / 255 - data.mean[0]) / data.std[0]
        out[f"{split}_x"], out[f"{split}_y"] = x.transpose(0, 2, 3, 1).astype(np.float32), y.numpy()
    return out


def keras_tuner(arrays: dict[str, np.ndarray], trials: int, epochs: int, work: Path) -> dict:
    import keras
    import keras_tuner as kt
    from keras import layers

    keras.utils.set_random_seed(0)

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
        model.compile(keras.optimizers.Adam(hp.Float("lr", 1e-5, 1e-3, sampling="log")),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        return model

    tuner = kt.RandomSearch(build_model, objective="val_accuracy", max_trials=trials, seed=0,
                            directory=str(work), project_name="keras-tuner", overwrite=True)
    t0 = time.perf_counter()
    tuner.search(arrays["train_x"], arrays["train_y"], epochs=epochs, batch_size=128, verbose=0,
                 validation_data=(arrays["val_x"], arrays["val_y"]))
    seconds = time.perf_counter() - t0
    best = tuner.oracle.get_best_trials(1)[0]
    _, test_acc = tuner.get_best_models(1)[0].evaluate(arrays["test_x"], arrays["test_y"], verbose=0)
    return {"trials": trials, "epochs": trials * epochs, "best_val_accuracy": float(best.score),
            "best_test_accuracy": float(test_acc), "best_params": best.hyperparameters.values,
            "seconds": round(seconds, 1)}


def cnnlab_tune(data_dir: str, limit: int, budget: int, epochs: int, work: Path) -> dict:
    """Add trials to one study (each `tune` call continues it) while a full-length trial still fits the budget.

    Also returns the best value found as the epochs were spent (after each trial), to read off what half the
    budget gave and when Keras Tuner's best was matched."""
    import optuna

    from cnnlab.train import RunDir
    from cnnlab.tune import epochs_trained, open_study, tune

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    out, trials, spent = work / "cnnlab", 0, 0
    t0 = time.perf_counter()
    while spent + epochs <= budget:
        trials += 1
        study, _ = tune(SPACE, out, trials=trials, sampler="tpe", pruner="hyperband", data_dir=data_dir,
                        limit=limit, epochs=epochs, log=lambda s: print(f"  cnnlab {s}", flush=True))
        spent = epochs_trained(study)
    seconds = time.perf_counter() - t0
    study, _, sdir = open_study(out)
    curve, used, best = [], 0, None
    for t in sorted(study.get_trials(), key=lambda t: t.number):
        used += len(t.intermediate_values)
        if t.state.name == "COMPLETE" and (best is None or t.value > best.value):
            best = t
        curve.append({"trial": t.number, "state": t.state.name.lower(), "epochs": len(t.intermediate_values),
                      "epochs_spent": used, "best_val_accuracy": best.value if best else None})
    return {"trials": trials, "complete": sum(c["state"] == "complete" for c in curve),
            "pruned": sum(c["state"] == "pruned" for c in curve), "epochs": spent, "best_val_accuracy": best.value,
            "best_test_accuracy": RunDir(sdir.trial_dir(best.number)).summary()["test_accuracy"],
            "best_params": best.params, "seconds": round(seconds, 1), "curve": curve}


def best_within(curve: list[dict], epochs: float) -> float | None:
    """The best value found before the epochs spent passed `epochs`."""
    return max((c["best_val_accuracy"] for c in curve if c["epochs_spent"] <= epochs and c["best_val_accuracy"]),
               default=None)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=os.environ.get("CNNLAB_DATA", str(REPO.parent / "shared" / "datasets")))
    p.add_argument("--limit", type=int, default=3000, help="at most N images in each of train, validation and test")
    p.add_argument("--trials", type=int, default=5, help="Keras Tuner trials")
    p.add_argument("--epochs", type=int, default=5, help="epochs per trial")
    p.add_argument("--out", default=str(REPO / "bench" / "results" / "tune_vs_kerastuner.json"))
    args = p.parse_args()

    arrays = mnist_arrays(args.data_dir, args.limit)
    budget = args.trials * args.epochs
    with tempfile.TemporaryDirectory() as d:
        print(f"Keras Tuner RandomSearch: {args.trials} trials x {args.epochs} epochs", flush=True)
        with multiprocessing.get_context("spawn").Pool(1) as pool:  # TensorFlow and torch in one process crash
            ktr = pool.apply(keras_tuner, (arrays, args.trials, args.epochs, Path(d)))
        print(f"cnnlab tune (TPE + Hyperband): trials while epochs spent <= {budget}", flush=True)
        ours = cnnlab_tune(args.data_dir, args.limit, budget, args.epochs, Path(d))
    target = ktr["best_val_accuracy"]
    ours["best_val_accuracy_within_half_budget"] = best_within(ours["curve"], budget / 2)
    ours["epochs_to_match_keras_tuner"] = next(
        (c["epochs_spent"] for c in ours["curve"] if (c["best_val_accuracy"] or 0) >= target), None)
    half = ours["best_val_accuracy_within_half_budget"]
    ratios = {"best_val_accuracy": round(ours["best_val_accuracy"] / target, 4),
              "best_val_accuracy_within_half_budget": round(half / target, 4) if half else None,
              "epochs_to_match": (round(ours["epochs_to_match_keras_tuner"] / ktr["epochs"], 3)
                                  if ours["epochs_to_match_keras_tuner"] else None),
              "seconds": round(ours["seconds"] / ktr["seconds"], 3)}
    sizes = {k: len(arrays[f"{k}_y"]) for k in ("train", "val", "test")}
    result = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, shared with other work while measured",
              "data": f"MNIST limited to {args.limit}: {sizes['train']} train, {sizes['val']} validation, "
                      f"{sizes['test']} test images, padded to 32x32",
              "space": str(SPACE.relative_to(REPO)), "epochs_per_trial": args.epochs, "budget_epochs": budget,
              "keras_tuner": ktr, "cnnlab": ours, "ratio_cnnlab_over_keras_tuner": ratios}
    print(f"\n{'':<28}{'epochs':>8}{'best val acc':>14}{'test acc':>10}{'seconds':>9}")
    for name, r in (("Keras Tuner RandomSearch", ktr), ("cnnlab tune TPE+Hyperband", ours)):
        print(f"{name:<28}{r['epochs']:>8}{r['best_val_accuracy']:>14.4f}{r['best_test_accuracy']:>10.4f}{r['seconds']:>9.0f}")
    print(f"cnnlab within half the budget ({budget / 2:g} epochs): best val accuracy "
          + (f"{half:.4f}" if half else "none yet"))
    print("cnnlab matched Keras Tuner's best after "
          + (f"{ours['epochs_to_match_keras_tuner']} epochs" if ours["epochs_to_match_keras_tuner"] else "- (not matched)"))
    print("ratio cnnlab / Keras Tuner: " + ", ".join(f"{k} {v}" for k, v in ratios.items()))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
