"""The wheel installs and works outside the checkout: built from a copy of the source, installed into a fresh virtual
environment, run from a folder that is not the repository, with the shipped files reached by name."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, shared_dataset


def run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{args} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def installed() -> Iterator[tuple[Path, Path, dict[str, str]]]:
    """(the fresh venv's bin folder, a working folder outside the checkout, the environment to run in). In a folder
    of its own, not pytest's numbered ones, which a concurrent pytest session may clean away during this long test."""
    with tempfile.TemporaryDirectory(prefix="cnnlab-package-") as folder:
        yield _install(Path(folder))


def _install(tmp: Path) -> tuple[Path, Path, dict[str, str]]:
    source = tmp / "source"  # a copy, so the build leaves nothing (build/, *.egg-info) in the checkout
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    run([*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(tmp), str(source)], tmp, env)
    (wheel,) = tmp.glob("cnnlab-*.whl")
    venv = tmp / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp, env)
    python = venv / "bin" / "python"
    run([*pip, "--python", str(python), "install", "-q", "--no-deps", "--no-index", str(wheel)], tmp, env)
    # torch and the other dependencies come from this test's own environment rather than a reinstall: a path line
    # in a .pth file adds its site-packages after the venv's own, without running the .pth files there (so an
    # editable install of the checkout in it is not picked up)
    purelib = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp, env)
    deps = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    Path(purelib.stdout.strip(), "dev-dependencies.pth").write_text("\n".join(deps) + "\n")
    work = tmp / "work"
    work.mkdir()
    return venv / "bin", work, env


def test_installed_wheel_runs_demo_and_a_named_recipe(installed: tuple[Path, Path, dict[str, str]]) -> None:
    bin_dir, work, env = installed
    # one interpreter (torch imports once) for where cnnlab comes from and what ships inside the installed package
    code = "import cnnlab, cnnlab.cli; print(cnnlab.__file__); cnnlab.cli.main(['recipes'])"
    where, *listed = run([str(bin_dir / "python"), "-c", code], work, env).stdout.splitlines()
    assert Path(where).is_relative_to(bin_dir.parent), f"cnnlab imported from {where}, not from the installed wheel"
    assert not Path(where).is_relative_to(REPO)
    assert any(row.startswith("recipe:mnist-99 ") and "MNIST to 99.0%" in row for row in listed), listed

    cnnlab = str(bin_dir / "cnnlab")
    plan = run([cnnlab, "compare", "study:cifar10-architectures", "--dry-run"], work, env).stdout
    assert "airbench-cifar-s" in plan and "whiten=frozen" in plan  # the study's relative recipe path resolved

    demo = run([cnnlab, "demo", "--epochs", "1", "--out", "demo"], work, env).stdout
    for model in ("mnist-cnn", "lenet5-modern"):
        summary = json.loads((work / "demo" / model / "summary.json").read_text())
        assert summary["epochs_run"] == 1 and f"{summary['test_accuracy']:.2%}" in demo, demo

    data = str(shared_dataset("mnist").parent)
    args = ["train", "recipe:mnist-99", "--limit", "600", "--epochs", "1", "--data-dir", data, "--out", "fast"]
    run([cnnlab, *args], work, env)
    config = (work / "fast" / "config.toml").read_text()  # the recipe's settings, with the flags laid over them
    assert 'model = "mnist-fast"' in config and "limit = 600" in config and 'optimizer = "sgd"' in config
    assert json.loads((work / "fast" / "summary.json").read_text())["epochs_run"] == 1


def test_wheel_holds_the_package_and_every_shipped_file(installed: tuple[Path, Path, dict[str, str]]) -> None:
    """Every file under src/cnnlab/examples is in the wheel (a kind of file the package-data globs miss fails here),
    and nothing from tests, bench or the repository's examples link."""
    (wheel,) = installed[1].parent.glob("cnnlab-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    root = REPO / "src" / "cnnlab" / "examples"
    in_tree = {f"cnnlab/examples/{p.relative_to(root)}" for p in root.rglob("*") if p.is_file()}
    assert {n for n in names if n.startswith("cnnlab/examples/")} == in_tree
    assert "cnnlab/examples/studies/parity.toml" in in_tree and "cnnlab/py.typed" in names
    assert not [n for n in names if n.startswith(("tests/", "bench/", "examples/"))]
