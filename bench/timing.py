"""What the benchmarks share: a clock that leaves the test evaluations out, the stop signal, the summary row of a
contender, a contender run in a process of its own, the machine's description, and the flags of the side-by-side
speed scripts and their alternating timer. Imported by the scripts beside it (run as `python bench/NAME.py`)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def positive(text: str) -> int:
    """An argparse type: a whole number of at least 1 (0 repeats printed "nanx", 0 threads torch's default)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def speed_arguments(ap: argparse.ArgumentParser, repeat: int) -> None:
    """--repeat (the best of these is kept), --threads and --out (a JSON file), for the side-by-side speed scripts."""
    ap.add_argument("--repeat", type=positive, default=repeat)
    ap.add_argument("--threads", type=positive, default=None, help="torch threads (default: torch's own choice)")
    ap.add_argument("--out", default=None, help="write the results as JSON here")


def best_alternating(ways: dict[str, Callable[[], T]], repeat: int) -> tuple[dict[str, float], dict[str, T]]:
    """Each way run in turn, `repeat` rounds, so that a busy machine slows them alike: the best seconds of each
    and what its last run returned (for the script to check that the ways agree)."""
    best, results = dict.fromkeys(ways, float("inf")), {}
    for _ in range(repeat):
        for name, way in ways.items():
            t = time.perf_counter()
            results[name] = way()
            best[name] = min(best[name], time.perf_counter() - t)
    return best, results


def use_threads(args: argparse.Namespace) -> None:
    """Apply --threads, when given."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)


def machine_line() -> str:
    """The CPU (with its family/model numbers: "AMD EPYC" alone does not tell Zen 3 from Zen 4), the threads torch
    computes on and its bf16 instructions (AMX, AVX512-BF16), for a speed script's output."""
    import torch

    from cnnlab.train.precision import BF16_INSTRUCTIONS, cpu_family_model, cpu_flags, cpu_model

    flags = ", ".join(f"{f}: {f in cpu_flags()}" for f in BF16_INSTRUCTIONS)
    return f"{cpu_model()} (family/model {cpu_family_model()}), {torch.get_num_threads()} threads, {flags}"


def race_arguments(ap: argparse.ArgumentParser, contenders: tuple[str, ...], seed: int) -> None:
    """The flags every time-to-accuracy script takes: --epochs-max, --only, --threads, --torch-workers, --seed."""
    ap.add_argument("--epochs-max", type=int, default=8, help="stop and report 'not reached' after this many epochs")
    ap.add_argument("--only", default=",".join(contenders), help="comma-separated subset of " + ",".join(contenders))
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="compute threads for every contender")
    ap.add_argument("--torch-workers", type=int, default=0, help="DataLoader num_workers of the plain PyTorch loop")
    ap.add_argument("--seed", type=int, default=seed)


def device_arguments(ap: argparse.ArgumentParser) -> None:
    """--device and --no-compile, for the time-to-accuracy scripts whose cnnlab contenders can train on a GPU."""
    ap.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="where cnnlab's contenders train (cuda: channels-last, bf16 autocast, torch.compile; CPU peers skipped)",
    )
    ap.add_argument("--no-compile", action="store_true", help="--device cuda without torch.compile (eager)")


def require_device(ap: argparse.ArgumentParser, device: str) -> None:
    """--device cuda on a machine without CUDA: one line, exit 2 (the parser's)."""
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            ap.error("--device cuda: this machine has no CUDA device; run on the CPU with --device cpu")


def device_flags(args: argparse.Namespace) -> list[str]:
    """--device (and --no-compile) again, for a worker's command line."""
    return ["--device", args.device] + (["--no-compile"] if args.no_compile else [])


def off_device(name: str, cpu_only: tuple[str, ...], device: str) -> str | None:
    """Why a CPU-only peer does not run with --device (Keras and the plain loop are measured on the CPU), or None."""
    return f"a CPU contender (not run with --device {device})" if name in cpu_only and device != "cpu" else None


def on_device(config: Any, args: argparse.Namespace) -> Any:
    """A RunConfig on --device, compiled there unless --no-compile: on the CPU compiling costs more than it gains
    (README, Benchmarks), so a CPU run stays eager."""
    import dataclasses

    return dataclasses.replace(config, device=args.device, compile=args.device != "cpu" and not args.no_compile)


def named_contenders(ap: argparse.ArgumentParser, only: str, contenders: tuple[str, ...]) -> list[str]:
    """--only as a list, refused in one line (the parser's) when it names a contender the script lacks or none."""
    names = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in names if n not in contenders]
    if unknown:
        ap.error(f"--only: unknown contender(s) {', '.join(unknown)}; choose from {', '.join(contenders)}")
    if not names:
        ap.error(f"--only names no contender; choose from {', '.join(contenders)}")
    return names


def check_race(ap: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """The race's numbers and --recipe checked in the parent, in one line (the parser's): a worker given --threads 0
    or a recipe that is not RunConfig JSON died with a traceback, and the parent then wrote a JSON of failed rows
    over the committed results."""
    for flag, value, least in (
        ("--epochs-max", args.epochs_max, 1),
        ("--threads", args.threads, 1),
        ("--torch-workers", args.torch_workers, 0),
        ("--seed", args.seed, 0),
    ):
        if value < least:
            ap.error(f"{flag} must be at least {least}, got {value}")
    if getattr(args, "recipe", None):
        import dataclasses

        from cnnlab.rundir import RunConfig

        try:
            recipe = json.loads(args.recipe)
        except ValueError as e:
            ap.error(f'--recipe is not JSON ({e}); give an object of RunConfig keys, e.g. \'{{"precision": "bf16"}}\'')
        known = {f.name for f in dataclasses.fields(RunConfig)}
        if not isinstance(recipe, dict) or not set(recipe) <= known:
            wrong = sorted(set(recipe) - known) if isinstance(recipe, dict) else [type(recipe).__name__]
            ap.error(f"--recipe: {', '.join(wrong)} is not a RunConfig key; give an object of RunConfig keys")


class TargetReached(Exception):
    """Raised from an epoch-end callback to stop training once the target is reached."""


class Clock:
    """Wall time since start with the test evaluations taken out, plus per-epoch records."""

    def __init__(self, target: float, epochs_max: int) -> None:
        self.target, self.epochs_max = target, epochs_max
        self.start = time.perf_counter()
        self.excluded = 0.0
        self.epochs: list[dict] = []

    def wall(self) -> float:
        return time.perf_counter() - self.start - self.excluded

    def epoch_end(self, train_s: float, evaluate, **extra) -> bool:
        """Record an epoch (its loop time and the wall time so far), run the untimed test evaluation; True at target."""
        wall = self.wall()
        t = time.perf_counter()
        acc = float(evaluate())
        eval_s = time.perf_counter() - t
        self.excluded += eval_s
        self.epochs.append(
            {
                "epoch": len(self.epochs) + 1,
                "test_accuracy": acc,
                "train_s": round(train_s, 3),
                "wall_s": round(wall, 3),
                "eval_s": round(eval_s, 3),
                "load_1min": round(os.getloadavg()[0], 2),
                **extra,
            }
        )
        print(
            f"  epoch {len(self.epochs)}: test acc {acc:.2%}, loop {train_s:.1f}s, wall {wall:.1f}s "
            f"(eval {eval_s:.1f}s, excluded)",
            file=sys.stderr,
            flush=True,
        )
        return acc >= self.target


def summarise(name: str, label: str, result: dict, target: float) -> dict:
    """A contender's row: whether and when it reached `target`, its seconds per epoch, and everything it recorded."""
    epochs = result["epochs"]
    hit = next((e for e in epochs if e["test_accuracy"] >= target), None)
    loops = [e["train_s"] for e in epochs]
    return {
        "contender": name,
        "label": label,
        "target": target,
        "reached": hit is not None,
        "epochs_to_target": hit["epoch"] if hit else None,
        "wall_to_target_s": hit["wall_s"] if hit else None,
        "train_loop_to_target_s": round(sum(loops[: hit["epoch"]]), 3) if hit else None,
        "seconds_per_epoch": round(statistics.mean(loops), 3) if loops else None,
        "final_test_accuracy": epochs[-1]["test_accuracy"] if epochs else None,
        **result,
    }


def load() -> list[float]:
    """The 1, 5 and 15 minute load averages (a busy machine makes every figure worse)."""
    return [round(v, 2) for v in os.getloadavg()]


def run_worker(cmd: list[str], name: str, label: str, target: float) -> tuple[dict | None, int]:
    """Run one contender's worker process (`cmd`, which prints a `RESULT {json}` line) and return its summary row
    with the process's seconds and the load around it, or None and the exit status when it failed."""
    before, t = load(), time.perf_counter()
    proc = subprocess.run(
        cmd, check=False, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONHASHSEED": "0"}
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not lines:
        return None, proc.returncode
    row = summarise(name, label, json.loads(lines[-1][7:]), target)
    row.update(process_s=round(time.perf_counter() - t, 1), load_before=before, load_after=load())
    return row, 0


def machine(load_before: list[float], load_after: list[float]) -> dict:
    """The machine a benchmark ran on, for its JSON: CPU model and its bf16 instructions (figures differ by 2x
    between the CPUs these runs land on), versions, and the load averages before and after."""
    import torch

    from cnnlab.train.precision import BF16_INSTRUCTIONS, cpu_family_model, cpu_flags, cpu_model

    flags = cpu_flags()
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "cpu_family_model": cpu_family_model(),
        **{f: f in flags for f in BF16_INSTRUCTIONS},
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "load_before": load_before,
        "load_after": load_after,
    }


def keras_session(threads: int, seed: int) -> tuple[Any, float]:
    """Keras 3 on TensorFlow computing on `threads` threads, seeded; returns keras and the seconds its imports took
    (numpy's and PIL's with them: every contender's imports are left out of its time)."""
    os.environ["KERAS_BACKEND"] = "tensorflow"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    t = time.perf_counter()
    import keras
    import numpy  # noqa: F401
    import PIL.Image  # noqa: F401
    import tensorflow as tf

    import_s = time.perf_counter() - t
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    keras.utils.set_random_seed(seed)
    return keras, import_s


def keras_result(model, clock: Clock, data_s: float, import_s: float, threads: int, **settings: str) -> dict:
    """A Keras worker's result: its versions, parameters and `settings`, epochs, data and import seconds."""
    import keras
    import tensorflow as tf

    return {
        "settings": {
            "jit_compile": str(model.jit_compile),
            "keras": keras.__version__,
            "tensorflow": tf.__version__,
            "params": model.count_params(),
            **settings,
        },
        "epochs": clock.epochs,
        "data_s": round(data_s, 3),
        "import_s": round(import_s, 3),
        "threads": threads,
    }


def keras_fit(model, train: tuple, test: tuple, batch_size: int, epochs_max: int, clock: Clock) -> None:
    """Compile `model` as the course material does (Adam 1e-3, sparse cross-entropy), then model.fit with a callback
    that times each epoch's loop and scores the test set, untimed, until the target."""
    import keras

    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    x_test, y_test = test

    class Stopper(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            loop = time.perf_counter() - self.t0

            def acc():
                p = self.model.predict(x_test, batch_size=512, verbose=0)
                return (p.argmax(1) == y_test).mean()

            if clock.epoch_end(loop, acc):
                self.model.stop_training = True

    model.fit(*train, batch_size=batch_size, epochs=epochs_max, shuffle=True, verbose=0, callbacks=[Stopper()])


def torch_fit(model, train_loader, test_loader, test_size: int, epochs_max: int, clock: Clock) -> None:
    """The plain PyTorch loop a user writes (Adam 1e-3, cross-entropy), timing each epoch's loop and scoring the
    test set, untimed, until the target."""
    import torch
    import torch.nn.functional as F

    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    @torch.no_grad()
    def test_accuracy() -> float:
        model.eval()
        return sum((model(x).argmax(1) == y).sum().item() for x, y in test_loader) / test_size

    for _ in range(epochs_max):
        model.train()
        t0 = time.perf_counter()
        for x, y in train_loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
        if clock.epoch_end(time.perf_counter() - t0, test_accuracy):
            break


def cnnlab_fit(config, test_x, test_y, target: float, run_dir) -> tuple[Clock, dict]:
    """cnnlab.train.train with a callback that keeps the engine's live model and set-up time, scores the whole test
    set (with the run's own test-time augmentation and precision), untimed, after each epoch, and stops once the
    target is reached. Returns the clock and what the callback captured (model, normalize, prepare_s, precision)."""
    import torch

    from cnnlab.data import DeviceLoader
    from cnnlab.data.adapt import adapt
    from cnnlab.train import Callback, evaluate, train

    captured: dict = {}
    test_loader = None
    loss_fn = torch.nn.CrossEntropyLoss()

    def test_accuracy() -> float:
        nonlocal test_loader
        if test_loader is None:  # the test images adapted as the run adapts its own (e.g. a recipe's --input)
            images = adapt(test_x, captured["input_shape"], config.resize)
            test_loader = DeviceLoader(
                images, test_y, batch_size=500, shuffle=False, device=captured["device"], **captured["normalize"]
            )
        return evaluate(captured["model"], test_loader, loss_fn, config.tta, captured["precision"])[1]

    class Timed(Callback):
        def on_setup(self, setup) -> None:
            captured.update(
                model=setup.counted,
                normalize=setup.normalize,
                prepare_s=setup.seconds,
                precision=setup.precision,
                input_shape=tuple(setup.data.input_shape),
                device=setup.device,
            )

        def on_epoch_end(self, row: dict) -> None:
            if clock.epoch_end(row["seconds"], test_accuracy, train_accuracy=row["train_accuracy"], lr=row["lr_last"]):
                raise TargetReached

    clock = Clock(target, config.epochs)
    try:
        train(config, run_dir, callbacks=[Timed()], progress=False, log=lambda s: None)
    except TargetReached:
        pass
    return clock, captured
