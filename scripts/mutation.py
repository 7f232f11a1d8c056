"""Mutation score of the suite on the modules whose logic is pure and fast to test (#18), with mutmut 3.

Each module is mutated in a scratch copy of the checkout (mutmut writes its mutants/ folder beside the code), against
the test files that exercise it; the score is killed / (killed + survived + timed out): a timeout counts against the
score, since on a busy machine a slow test is not a killed mutant (run it on a quiet machine). Survivors are listed so
each can be killed by a test or explained as equivalent. Not part of `make test` (it runs the tests
once per mutant); writes bench/results/mutation.json.

    .venv/bin/python scripts/mutation.py [MODULE ...]
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# module -> the test files that exercise it
MODULES = {
    "src/cnnlab/analysis/macs.py": ["tests/test_analysis.py", "tests/test_properties.py"],
    "src/cnnlab/analysis/receptive.py": ["tests/test_analysis.py", "tests/test_properties.py"],
    "src/cnnlab/analysis/grade.py": ["tests/test_check.py", "tests/test_check_keras.py"],
    "src/cnnlab/train/optim.py": ["tests/test_schedules.py"],
    "src/cnnlab/train/diagnose.py": [
        "tests/test_train.py::test_zero_init_is_diagnosed_as_stuck_at_chance",
        "tests/test_train.py::test_exploding_gradients_and_dead_relus_are_diagnosed_and_a_healthy_run_is_not",
        "tests/test_train.py::test_a_large_gradient_norm_is_exploding_only_when_the_epoch_learnt_nothing",
        "tests/test_train.py::test_vgg16_on_raw_cifar10_pixels_with_sgd_is_diagnosed_stuck_at_chance",
    ],
    "src/cnnlab/data/splits.py": ["tests/test_data_pipeline.py"],
    "src/cnnlab/tune/algorithms.py": [
        "tests/test_tune.py::test_every_sampler_samples_the_conditional_space",
        "tests/test_tune.py::test_hyperband_runs_one_bracket_for_small_searches",
        "tests/test_tune.py::test_median_pruner_stops_a_trial_below_the_median_after_its_warm_up_epoch",
    ],
}


def scratch_copy() -> Path:
    """The checkout's code, tests and examples in a temporary folder (the datasets stay beside the repo)."""
    root = Path(tempfile.mkdtemp(prefix="cnnlab-mutation-"))
    dest = root / REPO.name
    shutil.copytree(REPO, dest, ignore=shutil.ignore_patterns(".venv", ".git", ".test-cache", "runs", "mutants"))
    (root / "shared").symlink_to(REPO.parent / "shared")
    return dest


def mutate(module: str, tests: list[str]) -> dict:
    """Run mutmut on one module and read its per-mutant results."""
    work = scratch_copy()
    config = {
        "only_mutate": [module],
        "pytest_add_cli_args_test_selection": tests,
        "also_copy": ["examples"],
        "timeout_multiplier": 40.0,
    }
    with open(work / "pyproject.toml", "a") as f:
        f.write("\n[tool.mutmut]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in config.items()))
    mutmut = [str(Path(sys.executable).with_name("mutmut"))]
    start = time.monotonic()
    subprocess.run([*mutmut, "run"], cwd=work, capture_output=True, text=True)
    listed = subprocess.run([*mutmut, "results", "--all", "true"], cwd=work, capture_output=True, text=True).stdout
    status = {}
    for line in listed.splitlines():
        name, _, state = line.strip().rpartition(": ")
        if name:
            status[name] = state
    killed = sum(s == "killed" for s in status.values())
    timeouts = sum(s == "timeout" for s in status.values())
    survived = sorted(n for n, s in status.items() if s == "survived")
    diffs = {n: subprocess.run([*mutmut, "show", n], cwd=work, capture_output=True, text=True).stdout for n in survived}
    shutil.rmtree(work.parent, ignore_errors=True)
    scored = killed + len(survived) + timeouts
    return {
        "mutants": len(status),
        "killed": killed,
        "survived": len(survived),
        "timeout": timeouts,
        "other": {
            s: sum(v == s for v in status.values()) for s in set(status.values()) - {"killed", "timeout", "survived"}
        },
        "score": round(killed / scored, 4) if scored else None,
        "seconds": round(time.monotonic() - start, 1),
        "survivors": diffs,
    }


def cpu_name() -> str:
    """The CPU model as lscpu names it (figures depend on it)."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


def main(argv: list[str]) -> int:
    chosen = {m: t for m, t in MODULES.items() if not argv or any(a in m for a in argv)}
    out = REPO / "bench" / "results" / "mutation.json"
    results = json.loads(out.read_text()) if out.exists() else {}
    results["cpu"] = cpu_name()
    for module, tests in chosen.items():
        r = mutate(module, tests)
        results[module] = r
        score = "-" if r["score"] is None else f"{r['score']:.1%}"
        print(
            f"{module}: {r['mutants']} mutants, {r['killed']} killed, {r['survived']} survived, {r['timeout']} timed out: "
            f"{score} ({r['seconds']} s)"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"written {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
