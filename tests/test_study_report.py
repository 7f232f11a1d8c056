"""`compare` studies on real MNIST and the HTML report, rendered in a real headless Chromium."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from cnnlab.errors import CnnlabError
from cnnlab.study import load_study, run_study
from cnnlab.study.runner import run_dir
from cnnlab.train import RunDir, train
from tests.conftest import EXAMPLES, REPO, SHARED, cli_as_terminal, write_toml

DATA = str(SHARED / "datasets")
STUDIES = EXAMPLES / "studies"
ARTIFACTS = REPO / "artifacts"


def digits_study(title: str, rest: str) -> str:
    """A study of small MLPs on the 8x8 digits: `rest` continues its [defaults] table."""
    return f'title = "{title}"\n[defaults]\ndata = "digits"\nmodel = "mlp"\ninput = [1, 8, 8]\n' + rest


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnnlab.cli", *args], capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def parity(tmp_path_factory) -> Path:
    """The shipped parity study, shrunk with --limit and --epochs, run through the CLI."""
    out = tmp_path_factory.mktemp("parity")
    r = cli(
        "compare",
        str(STUDIES / "parity.toml"),
        "--data-dir",
        DATA,
        "--limit",
        "400",
        "--epochs",
        "2",
        "--out",
        str(out),
        "--gradcam",
        "4",
    )
    assert r.returncode == 0, r.stderr[-2000:]
    return out


def test_compare_writes_tables_report_and_runs(parity):
    rows = list(csv.DictReader((parity / "table.csv").open()))
    assert [r["run"] for r in rows] == ["digits-10", "parity-scratch", "parity-frozen", "parity-finetune"]
    frozen = rows[2]
    assert int(frozen["trainable_params"]) == 147_842 and int(frozen["params"]) == 240_514
    assert int(frozen["macs"]) == 7_598_848 and frozen["train_size"] == "400"
    pngs = sorted(p.name for p in (parity / "plots").glob("*.png"))
    assert "curves.png" in pngs and "parity-frozen-confusion.png" in pngs and "digits-10-gradcam.png" in pngs
    assert len(pngs) == 1 + 4 * 4
    md = (parity / "table.md").read_text()
    assert "| run | model | train/val/test |" in md and "parity-frozen" in md and "Expected:" in md
    # the report's layer summary of the frozen run shows what `cnnlab summary RUN` shows: frozen features
    assert "trainable 147,842, frozen 92,672" in (parity / "report.html").read_text()
    for name in ("digits-10", "parity-finetune"):
        assert RunDir(parity / "runs" / name).summary()["epochs_run"] == 2
    assert RunDir(parity / "runs" / "parity-frozen").config().init_from == str(
        (parity / "runs" / "digits-10").resolve()
    )


def test_compare_again_skips_complete_runs(parity):
    before = {p: p.stat().st_mtime_ns for p in (parity / "runs").rglob("*.safetensors")}
    r = cli(
        "compare",
        str(STUDIES / "parity.toml"),
        "--data-dir",
        DATA,
        "--limit",
        "400",
        "--epochs",
        "2",
        "--out",
        str(parity),
        "--gradcam",
        "0",
    )
    assert r.returncode == 0 and r.stderr.count("complete, skipped") == 4, r.stderr
    assert before == {p: p.stat().st_mtime_ns for p in (parity / "runs").rglob("*.safetensors")}


def test_interrupted_study_resumes(tmp_path):
    study = load_study(
        write_toml(
            tmp_path / "s.toml",
            digits_study(
                "two runs",
                """epochs = 3
[[runs]]
name = "a"
[[runs]]
name = "b-{optimizer}"
grid = { optimizer = ["sgd", "adam"] }
""",
            ),
        )
    )
    assert [r.name for r in study.runs] == ["a", "b-sgd", "b-adam"]
    out = tmp_path / "out"
    train(study.runs[0].config, run_dir(out, "a"), log=lambda s: None)
    train(study.runs[1].config, run_dir(out, "b-sgd"), log=lambda s: None, stop_after=1)  # "killed" after epoch 1
    logs: list[str] = []
    run_study(study, out, log=logs.append)
    assert [line for line in logs if line.startswith("[")] == [
        "[1/3] a: complete, skipped",
        "[2/3] b-sgd: resuming",
        "[3/3] b-adam: training",
    ]
    assert RunDir(run_dir(out, "b-sgd")).summary()["epochs_run"] == 3


def test_a_run_that_kept_no_weights_is_tabulated_and_reported_from_its_summary(tmp_path):
    """An lr sweep whose largest lr blows up in the first epoch: the study still ends with its table and report;
    that run's row has no accuracies and no MACs, and its report section says why (one line of diagnosis)."""
    study = write_toml(
        tmp_path / "sweep.toml",
        digits_study(
            "lr sweep",
            """epochs = 1
optimizer = "sgd"
[[runs]]
name = "lr-{lr}"
grid = { lr = [0.05, 1e6] }
""",
        ),
    )
    out = tmp_path / "out"
    r = cli("compare", str(study), "--out", str(out), "--gradcam", "0")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-2000:]
    rows = {row["run"]: row for row in csv.DictReader((out / "table.csv").open())}
    assert float(rows["lr-0.05"]["test_accuracy"]) > 0.5 and int(rows["lr-0.05"]["macs"]) > 0
    blown = rows["lr-1000000.0"]
    assert blown["test_accuracy"] == blown["train_accuracy"] == blown["macs"] == "" and blown["epochs_run"] == "0"
    assert int(blown["params"]) == int(rows["lr-0.05"]["params"])
    html = (out / "report.html").read_text()
    assert "no weights were kept, so nothing was tested; stopped: non-finite loss" in html
    line = next(line for line in (out / "table.md").read_text().splitlines() if "lr-1000000.0" in line)
    assert "0/0" not in line and line.split("|")[6].strip() == "-"  # no epoch ended, so no best one
    alone = cli("report", str(out / "runs" / "lr-1000000.0"), "--out", str(tmp_path / "alone.html"))
    assert alone.returncode == 0 and alone.stderr == "", alone.stderr
    assert "<img" not in (tmp_path / "alone.html").read_text()  # no curves: it never finished an epoch


@pytest.mark.parametrize(
    "text, message",
    [
        ('[[runs]]\nname = "a"\nmodle = "mlp"\n', "unknown setting 'modle'"),
        ('title = "x"\n', "no [[runs]]"),
        ('[[runs]]\nmodel = "mlp"\n', "has no name"),
        ('[[runs]]\nname = "a"\ninit_from = "@b"\n[[runs]]\nname = "b"\n', "@b, which is not an earlier run"),
        ('[[runs]]\nname = "a"\ngrid = { lr = 0.1 }\n', "grid must map settings to non-empty lists"),
        ('[[runs]]\nname = "a"\ngrid = { lr = [0.1, 0.2] }\n', "run name(s) a repeat"),
        ('[[runs]]\nname = "a"\nlr = -1.0\n', "run 'a': --lr must be a positive number"),
        ('colour = 1\n[[runs]]\nname = "a"\n', "unknown key 'colour'"),
        ('[[runs]]\nname = "a"\nrecipe = "nowhere.toml"\n', "run 'a': recipe "),
        ('[[runs]]\nname = "a"\nrecipe = 3\n', "recipe must be the path of an experiment file, got 3"),
    ],
)
def test_bad_study_files_are_one_line_errors(tmp_path, text, message, capsys):
    path = write_toml(tmp_path / "bad.toml", text)
    code, _, err = cli_as_terminal(["compare", path, "--out", str(tmp_path / "out")], capsys)  # in-process: faster
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert message in err


def test_a_study_that_changed_does_not_overwrite_its_runs(parity, tmp_path):
    changed = write_toml(tmp_path / "p.toml", (STUDIES / "parity.toml").read_text().replace("seed = 0", "seed = 1"))
    before = {p: p.read_bytes() for p in (parity / "runs" / "digits-10").rglob("*") if p.is_file()}
    r = cli("compare", changed, "--data-dir", DATA, "--limit", "400", "--epochs", "2", "--out", str(parity))
    assert r.returncode == 2 and "seed = 0, the study now says 1" in r.stderr
    assert before == {p: p.read_bytes() for p in (parity / "runs" / "digits-10").rglob("*") if p.is_file()}


def test_a_recipe_sits_beneath_the_study_settings(tmp_path):
    """recipe = FILE (relative to the study) gives a run the recipe's settings; the study's own keys win."""
    (tmp_path / "recipes").mkdir()
    write_toml(tmp_path / "recipes" / "fast.toml", 'model = "mnist-fast"\noptimizer = "sgd"\nlr = 0.8\nepochs = 5\n')
    study = load_study(
        write_toml(
            tmp_path / "s.toml",
            '[defaults]\nrecipe = "recipes/fast.toml"\nlr = 0.1\n[[runs]]\nname = "a"\n[[runs]]\nname = "b"\nlr = 0.2\n',
        ),
        {"epochs": 2},
    )
    a, b = (r.config for r in study.runs)
    assert (a.model, a.optimizer, a.lr, a.epochs) == ("mnist-fast", "sgd", 0.1, 2)
    assert (b.model, b.lr) == ("mnist-fast", 0.2)


def test_every_shipped_study_plans(tmp_path):
    expected = {
        "parity": 4,
        "init": 4,
        "cifar10-architectures": 4,
        "batchnorm": 2,
        "vgg-mnist-transfer": 4,
        "resnet-plain-cifar": 4,
        "flowers": 8,
    }
    for name, count in expected.items():
        study = load_study(STUDIES / f"{name}.toml", {"data_dir": DATA})
        assert len(study.runs) == count and study.expected, name
        for run in study.runs:
            assert "{data_dir}" not in run.config.data
    with pytest.raises(CnnlabError, match="unknown setting"):
        load_study(STUDIES / "init.toml", {"colour": 1})


def test_report_renders_in_headless_chromium(parity, tmp_path):
    from playwright.sync_api import sync_playwright

    report = tmp_path / "report.html"
    extra = RunDir(parity / "runs" / "parity-scratch").path
    r = cli("report", str(parity), str(extra), "--out", str(report), "--gradcam", "2")
    assert r.returncode == 0, r.stderr
    html = report.read_text()
    assert "http://" not in html and "https://" not in html and "<script" not in html  # self-contained
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        failed: list[str] = []
        page.on("requestfailed", lambda req: failed.append(req.url))
        page.goto(report.as_uri())
        table = page.locator("table.runs").first
        assert table.is_visible() and "parity-frozen" in table.inner_text()
        box = table.bounding_box()
        assert box and box["width"] > 400 and box["height"] > 80
        images = page.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.alt])")
        # per study: curves; per run: confusion, per-class, samples, Grad-CAM (4 + 1 runs)
        assert len(images) == 2 + 5 * 4 and all(ok and width > 100 for ok, width, _ in images), images
        assert any("Grad-CAM" in alt for _, _, alt in images) and not failed
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        browser.close()
    assert (ARTIFACTS / "report.png").stat().st_size > 50_000


def test_runs_given_together_share_one_table_and_unfinished_ones_are_named(parity, tmp_path):
    """Run directories named together are compared: one table, one plot of overlaid curves. A run with no summary
    (killed, or still training) is named under its table rather than ending the report or vanishing from it."""
    from cnnlab.report import run_table, write_report
    from cnnlab.rundir import RunConfig

    runs = parity / "runs"
    config = RunConfig(model="mlp", data="digits", input=[1, 8, 8], epochs=3, limit=300)
    train(config, tmp_path / "killed", log=lambda _: None, stop_after=1)  # as a kill -9 after epoch 1 leaves it
    given = [runs / "parity-scratch", runs / "parity-frozen", tmp_path / "killed"]
    table = run_table(given)
    assert [r["run"] for r in table.rows] == ["parity-scratch", "parity-frozen"]
    assert str(table).endswith("\nnot finished, so not in the table: killed\n")
    report = write_report(given, tmp_path / "r.html", gradcam=0).read_text()
    assert report.count('<table class="runs">') == 1 and report.count("<figcaption>runs: loss and accuracy") == 1
    assert '<p class="notes">not finished, so not in the table: killed</p>' in report
    # a study whose run lost its summary: named under the study's table
    study = tmp_path / "study"
    subprocess.run(["cp", "-r", str(parity), str(study)], check=True)
    (study / "runs" / "parity-frozen" / "summary.json").unlink()
    report = write_report([study], tmp_path / "s.html", gradcam=0).read_text()
    assert "not finished, so not in the table: parity-frozen" in report
    assert ">parity-scratch</td>" in report and ">parity-frozen</td>" not in report
    with pytest.raises(CnnlabError, match=r"^nothing to report: none of the given runs has finished; finish them"):
        run_table(tmp_path / "killed")
