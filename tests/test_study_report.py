"""`compare` studies on real MNIST and the HTML report, rendered in a real headless Chromium."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cnnlab.errors import CnnlabError
from cnnlab.rundir.layout import study_run
from cnnlab.study import load_study, run_study
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
    assert "| run | model | data | train/val/test |" in md and "parity-frozen" in md and "Expected:" in md
    assert md.splitlines()[2] == (  # digits-10 is tested on 10 digits, the others on even/odd
        "the runs use different data (mnist, mnist:parity): their accuracies are on different test sets"
    )
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
    train(study.runs[0].config, study_run(out, "a"), log=lambda s: None)
    train(study.runs[1].config, study_run(out, "b-sgd"), log=lambda s: None, stop_after=1)  # "killed" after epoch 1
    logs: list[str] = []
    run_study(study, out, log=logs.append)
    assert [line for line in logs if line.startswith("[")] == [
        "[1/3] a: complete, skipped",
        "[2/3] b-sgd: resuming",
        "[3/3] b-adam: training",
    ]
    assert RunDir(study_run(out, "b-sgd")).summary()["epochs_run"] == 3


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
    assert "report.html, plots/*.png (4 files) and 2 run directories" in r.stdout  # lr-0.05's, and the curves
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


def test_a_study_that_changed_does_not_overwrite_its_runs(parity, tmp_path):
    changed = write_toml(tmp_path / "p.toml", (STUDIES / "parity.toml").read_text().replace("seed = 0", "seed = 1"))
    before = {p: p.read_bytes() for p in (parity / "runs" / "digits-10").rglob("*") if p.is_file()}
    r = cli("compare", changed, "--data-dir", DATA, "--limit", "400", "--epochs", "2", "--out", str(parity))
    assert r.returncode == 2 and "seed = 0, the study now says 1" in r.stderr
    assert before == {p: p.read_bytes() for p in (parity / "runs" / "digits-10").rglob("*") if p.is_file()}


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


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> dict[str, Path]:
    """Three one-epoch-or-so runs: mnist-cnn on MNIST, lenet5-modern on digits, and mnist-cnn on MNIST asked for 3
    epochs whose lr grows 100,000x per epoch, so its loss goes non-finite in epoch 2 (val_loss ~1e14 in epoch 1)."""
    out = tmp_path_factory.mktemp("mixed")
    mnist = ["--model", "mnist-cnn", "--data", "mnist", "--data-dir", DATA, "--limit", "300"]
    args = {
        "mnist": [*mnist, "--epochs", "1"],
        "digits": ["--model", "lenet5-modern", "--data", "digits", "--epochs", "1"],
        "diverged": [*mnist, "--epochs", "3", "--optimizer", "sgd", "--lr", "0.05", "--schedule", "step"]
        + ["--step-size", "1", "--gamma", "100000"],
    }
    for name, given in args.items():
        r = cli("train", *given, "--out", str(out / name))
        assert r.returncode == 0, r.stderr[-2000:]
    assert RunDir(out / "diverged").summary()["stopped"] == "non-finite loss"
    return {name: out / name for name in args}


def test_runs_on_different_data_get_a_data_column_and_a_note_above_the_table(mixed, tmp_path):
    """Accuracies on different test sets side by side read as a comparison: the table says they are not one."""
    from cnnlab.report import run_table, write_report

    note = "the runs use different data (mnist, digits): their accuracies are on different test sets"
    text = str(run_table([mixed["mnist"], mixed["digits"]])).splitlines()
    assert text[0] == note and text[1].split()[:4] == ["run", "model", "data", "train/val/test"]
    assert text[3].split()[:3] == ["mnist", "mnist-cnn", "mnist"] and text[4].split()[2] == "digits"
    report = write_report([mixed["mnist"], mixed["digits"]], tmp_path / "r.html", gradcam=0).read_text()
    assert f'<p class="notes">{note}</p><table class="runs">' in report and ">data</th>" in report
    same = str(run_table([mixed["mnist"], mixed["diverged"]]))  # both on MNIST: no data column, no note
    assert same.startswith("run ") and " data " not in same.splitlines()[0]
    assert not write_report([mixed["mnist"]], tmp_path / "one.html", gradcam=0).read_text().count(">data</th>")


def test_a_run_stopped_early_shows_the_epochs_asked_for_and_why_and_its_loss_on_a_log_axis(mixed):
    """It read "best epoch 1/1", as if finished; and its val loss of ~1e14 on a linear axis flattened the others."""
    from cnnlab.display.curves import curves_figure
    from cnnlab.report import run_table

    table = run_table([mixed["mnist"], mixed["diverged"]])
    lines = str(table).splitlines()
    assert lines[0].split()[-1] == "stopped"
    assert "  1/1  " in lines[2] and lines[2].endswith("  -")  # finished: nothing to say
    assert "  1/3  " in lines[3] and lines[3].endswith("  after epoch 1: non-finite loss")
    assert [(r["epochs_run"], r["epochs"], r["stopped"]) for r in table.rows][1] == (1, 3, "non-finite loss")
    assert "stopped" not in str(run_table(mixed["mnist"]))  # every run finished: no such column
    metrics = {name: RunDir(mixed[name]).metrics() for name in ("mnist", "diverged")}
    assert metrics["diverged"][0]["val_loss"] > 1e10
    loss = curves_figure(metrics).axes[0]
    assert (loss.get_yscale(), loss.get_ylabel()) == ("log", "loss (log scale)")
    alone = curves_figure({"mnist": metrics["mnist"]}).axes[0]
    assert (alone.get_yscale(), alone.get_ylabel()) == ("linear", "loss")


def test_accuracies_short_of_all_or_above_none_never_print_as_100_or_0_percent(mixed):
    """49,999 right of 50,000 printed as 100.00%, which says none was wrong."""
    from cnnlab.report import render_table, run_row

    row = run_row(mixed["mnist"])
    values = [49_999 / 50_000, 1.0, 1 / 50_000, 0.0, 0.5]
    rows = [{**row, "train_accuracy": v, "test_accuracy": v} for v in values]
    shown = [line.split()[3:5] for line in render_table(rows).splitlines()[2:]]
    assert shown == [[p, p] for p in ("99.99%", "100.00%", "0.01%", "0.00%", "50.00%")]


def test_a_study_whose_every_run_failed_exits_2_and_names_only_what_it_wrote(tmp_path, capsys):
    """It printed 'wrote ... plots/*.png' over an empty plots/ and exited 0, as if the study had worked."""
    study = write_toml(
        tmp_path / "sweep.toml",
        digits_study(
            "lr sweep", 'epochs = 1\noptimizer = "sgd"\n[[runs]]\nname = "lr-{lr}"\ngrid = { lr = [1e6, 1e7] }\n'
        ),
    )
    out = tmp_path / "out"
    code, printed, err = cli_as_terminal(["compare", study, "--out", str(out), "--gradcam", "0"], capsys)
    assert code == 2 and err.splitlines()[-1].startswith(
        "cnnlab: error: every run of the study failed (none kept weights); lr-1000000.0 stopped: non-finite loss; "
        "loss became nan at lr 1e+06"
    ), err
    wrote = printed.strip().splitlines()[-1]
    assert wrote == f"wrote {out}/table.md, table.csv, report.html and 2 run directories in {out}/runs/"
    assert (out / "table.md").is_file() and (out / "report.html").is_file() and not any((out / "plots").iterdir())


def test_a_truncated_init_from_file_is_not_told_to_download_again(mixed, tmp_path, capsys):
    """Only torchvision weights were downloaded, into the torch hub cache; a file given by path is the user's."""
    weights = next((mixed["mnist"] / "checkpoints").rglob("*.safetensors")).read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(weights[:5000])
    argv = ["train", "--model", "mnist-cnn", "--data", "digits", "--epochs", "1", "--init-from", str(cut)]
    code, _, err = cli_as_terminal([*argv, "--out", str(tmp_path / "run")], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert (
        err.strip().endswith(
            "is not a readable checkpoint (SafetensorError); give a complete file (it may be truncated or damaged)"
        )
        and "download" not in err
    )
    hub = tmp_path / "torch" / "hub" / "checkpoints"  # a cut download in the cache: delete it, it comes again
    hub.mkdir(parents=True)
    (hub / "resnet18-f37072fd.pth").write_bytes(weights[:1000])
    r = subprocess.run(
        [sys.executable, "-m", "cnnlab.cli", "train", "--model", "resnet18", "--data", "digits", "--epochs", "1"]
        + ["--init-from", "torchvision:ResNet18_Weights.IMAGENET1K_V1", "--out", str(tmp_path / "tv")],
        capture_output=True,
        text=True,
        env={**os.environ, "TORCH_HOME": str(tmp_path / "torch"), "CNNLAB_OFFLINE": "1"},
        timeout=300,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip().splitlines()[-1].endswith("delete it and let it download again, or put a good copy there")


def test_a_table_row_reads_best_over_asked_epochs_and_seconds_to_a_tenth() -> None:
    """The cells of one row, literally: best epoch 3 of 5 asked (4 run), 12.34 s as 12.3 s, 0.999 as 99.90%."""
    from cnnlab.report import render_table

    row = {"run": "a", "model": "m", "data": "digits", "train_size": 10, "val_size": 2, "test_size": 3,
           "train_accuracy": 0.999, "test_accuracy": 0.5, "best_epoch": 3, "epochs_run": 4, "epochs": 5,
           "train_seconds": 12.34, "trainable_params": 7, "params": 9, "macs": 1500, "stopped": "completed"}  # fmt: skip
    line = render_table([row]).splitlines()[-1].split()
    assert line == ["a", "m", "10/2/3", "99.90%", "50.00%", "3/5", "12.3", "s", "7/9", "1.50k"], line


def test_a_study_asking_for_more_epochs_trains_its_finished_runs_on(tmp_path):
    """A finished run is complete only for the epochs it was trained for: the same study with --epochs raised resumes
    it to the new count (epochs is a setting a resume may change), and then skips it."""
    path = write_toml(tmp_path / "s.toml", digits_study("more epochs", 'epochs = 1\n[[runs]]\nname = "a"\n'))
    out = tmp_path / "out"
    run_study(load_study(path), out, log=lambda s: None)
    assert RunDir(study_run(out, "a")).summary()["epochs_run"] == 1
    for said in ("resuming", "complete, skipped"):
        logs: list[str] = []
        assert run_study(load_study(path, {"epochs": 2}), out, log=logs.append) == [study_run(out, "a")]
        assert logs[0] == f"[1/1] a: {said}", logs
        assert RunDir(study_run(out, "a")).summary()["epochs_run"] == 2


def test_a_run_started_from_an_earlier_one_names_it_by_absolute_path_under_a_relative_out(tmp_path, monkeypatch):
    """`compare` writes to runs/studies/STUDY by default, a relative path: a run whose init_from is '@NAME' records
    the earlier run's directory as an absolute path, so the run (its config, a resume, `cnnlab report`) still finds
    its source from another working directory."""
    monkeypatch.chdir(tmp_path)
    study = digits_study("chain", 'epochs = 1\n[[runs]]\nname = "a"\n[[runs]]\nname = "b"\ninit_from = "@a"\n')
    run_study(load_study(write_toml(tmp_path / "s.toml", study)), "out", log=lambda s: None)
    assert RunDir(tmp_path / "out" / "runs" / "b").config().init_from == str(tmp_path.resolve() / "out" / "runs" / "a")


def test_a_dry_run_gives_each_runs_state_and_only_the_settings_the_study_changes(tmp_path):
    """`compare --dry-run`'s rows: new runs, then done ones, a finished run asked for more epochs as resumable, and a
    run directory trained with other settings as a conflict; the settings are those that differ from the defaults."""
    from cnnlab.study.runner import describe

    text = digits_study("plan", 'epochs = 1\n[[runs]]\nname = "a"\n[[runs]]\nname = "b"\nseed = 3\n')
    study = load_study(write_toml(tmp_path / "s.toml", text))
    out = tmp_path / "out"
    rows = describe(study, out)
    assert [(r["name"], r["state"]) for r in rows] == [("a", "new"), ("b", "new")]
    assert rows[1]["settings"]["seed"] == 3 and rows[1]["settings"]["model"] == "mlp"
    assert "seed" not in rows[0]["settings"] and "lr" not in rows[0]["settings"] and "data" not in rows[0]["settings"]
    run_study(study, out, log=lambda s: None)
    assert [r["state"] for r in describe(study, out)] == ["done", "done"]
    assert [r["state"] for r in describe(load_study(tmp_path / "s.toml", {"epochs": 2}), out)] == ["partial"] * 2
    reseeded = load_study(write_toml(tmp_path / "t.toml", text.replace("seed = 3", "seed = 4")))
    assert [r["state"] for r in describe(reseeded, out)] == ["done", "conflict"]


def test_a_run_on_a_folder_without_a_test_split_is_one_line_in_eval_and_a_note_in_its_report(tmp_path, capsys):
    """A course's own image folder of class folders alone has no test images: `eval` printed `test accuracy: nan
    (0 images)` with every class at 0.0000 and exit 0, and the report drew empty confusion and per-class plots
    under `nan%`; now eval (CLI and Python) says so in one line, and the report's section says so instead."""
    import tarfile

    from cnnlab.report import write_report
    from cnnlab.rundir import RunConfig
    from cnnlab.train.inference import evaluate_run

    folder = tmp_path / "pets"
    with tarfile.open(SHARED / "datasets" / "cifar10-jpg.tar.gz") as tar:
        wanted = [m for m in tar if m.name.startswith(("train/cat/", "train/dog/")) and m.name[-8:-4] < "0020"]
        tar.extractall(folder, members=wanted, filter="data")
    out = tmp_path / "run"
    train(RunConfig(model="mlp", data=f"folder:{folder}", epochs=1), out, log=lambda s: None, progress=False)
    code, printed, _ = cli_as_terminal(["train", "--out", str(out), "--resume", "--no-progress"], capsys)
    assert code == 0 and "  test_accuracy: - (the data has no test split)\n" in printed, printed  # was None
    said = f"{out} has no test images to evaluate on: its data, folder:{folder}, has no test split"
    with pytest.raises(CnnlabError, match=f"^{said}"):
        evaluate_run(out)
    code, printed, err = cli_as_terminal(["eval", str(out)], capsys)
    assert (code, printed, err.count("\n")) == (2, "", 1) and said in err, err
    write_report([out], tmp_path / "report.html")
    page = (tmp_path / "report.html").read_text()
    assert said in page and "nan" not in page and "confusion matrix" not in page
