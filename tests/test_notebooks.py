"""The course notebooks in examples/notebooks run top to bottom in a real Jupyter kernel, on real data, with small
sizes from the environment; a failing cell fails the test. Their rich outputs (HTML tables, PNG figures, the
notebook progress bar) are checked in the executed notebook, against the terminal text of the same results."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import EXAMPLES, REPO, html_words, shared_dataset, text_words

NOTEBOOKS = sorted((EXAMPLES / "notebooks").glob("*.ipynb"))
SMALL = {"CNNLAB_NB_LIMIT": "100", "CNNLAB_NB_EPOCHS": "1", "CNNLAB_NB_TRIALS": "2"}
WIDGET = "application/vnd.jupyter.widget-view+json"


def test_five_course_notebooks_are_committed_without_outputs() -> None:
    assert [p.name[0] for p in NOTEBOOKS] == ["1", "2", "3", "4", "5"]
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert code, path
        assert all(c.outputs == [] and c.execution_count is None for c in code), f"{path.name} has outputs"


def execute(name: str, runs: Path, monkeypatch: pytest.MonkeyPatch) -> nbformat.NotebookNode:
    """Run the notebook in a fresh python3 kernel (this venv's ipykernel), in its own folder, as a user would; this
    checkout's src/ comes first on the kernel's path."""
    path = EXAMPLES / "notebooks" / f"{name}.ipynb"
    env = {
        **SMALL,
        "CNNLAB_DATA": str(shared_dataset("mnist").parent),
        "CNNLAB_NB_RUNS": str(runs),
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


def outputs(nb: nbformat.NotebookNode, start: str) -> dict[str, list[str]]:
    """The rich outputs of the code cell whose source starts with `start`: its displays and its result, by mime
    type, in order; "result" holds the cell's value's plain text (its last line's repr)."""
    cell = next(c for c in nb.cells if c.cell_type == "code" and c.source.startswith(start))
    found: dict[str, list[str]] = {}
    for out in cell.outputs:
        for mime, data in out.get("data", {}).items():
            found.setdefault(mime, []).append(data if isinstance(data, str) else str(data))
        if out.output_type == "execute_result":
            found["result"] = [out.data["text/plain"]]
    return found


def test_architectures_and_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import cnnlab
    from cnnlab.analysis.grade import check, read_table

    nb = execute("1-architectures-and-tables", tmp_path, monkeypatch)
    lenet = outputs(nb, 'cnnlab.summarize("lenet5")')
    text = cnnlab.summarize("lenet5").render()
    assert html_words(lenet["text/html"][0]) == text_words(text)
    assert lenet["result"][0].strip() == text.strip()
    graded = outputs(nb, 'check(read_table("table:lenet-like-published")')
    tables = EXAMPLES / "tables" / "lenet-like-published.md"
    text = check(read_table(tables), str(EXAMPLES / "nets" / "lenet-like.toml")).render()
    assert sorted(html_words(graded["text/html"][0])) == sorted(text.split())
    assert graded["result"][0].strip().endswith("19 of 24 cells right")


def test_mnist_and_transfer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cnnlab.report import run_table
    from cnnlab.rundir import open_run
    from cnnlab.rundir.view import summary_text

    nb = execute("2-mnist-and-transfer", tmp_path, monkeypatch)
    first = outputs(nb, "mnist = dict(")
    assert WIDGET in first  # the notebook progress bar
    assert first["image/png"]  # the live curves, redrawn in place after each epoch
    assert "test_accuracy" in first["text/html"][0] and first["result"][0].startswith("run: ")
    names = ("digits-10", "parity-scratch", "parity-frozen", "parity-finetune")
    table = outputs(nb, "run_table(")
    assert html_words(table["text/html"][0]) == text_words(str(run_table([tmp_path / n for n in names])))
    frozen = open_run(tmp_path / "parity-frozen")
    assert frozen.summary["trainable_params"] < frozen.summary["params"]
    assert outputs(nb, "open_run(")["result"] == [summary_text(frozen.path, frozen.summary)]
    # "Run All" again in the same folder: the cells reuse the finished runs (resume=True), so the table is the same
    again = execute("2-mnist-and-transfer", tmp_path, monkeypatch)
    assert outputs(again, "run_table(")["text/plain"] == table["text/plain"]
    cell = next(c for c in again.cells if c.source.startswith("mnist = dict("))
    assert "resuming" in "".join(o.get("text", "") for o in cell.outputs)


def test_cifar10_and_a_study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cnnlab.rundir import open_run

    nb = execute("3-cifar10-and-a-study", tmp_path, monkeypatch)
    assert open_run(tmp_path / "cifar10-70").config.model == "airbench-cifar-s"
    table = outputs(nb, "study = load_study(")
    assert {"vgg11-cifar", "vgg11_bn-cifar"} <= set(html_words(table["text/html"][-1]))
    cell = next(c for c in nb.cells if c.cell_type == "code" and c.source.startswith("study = load_study("))
    said = "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")
    assert "[1/2] vgg11-cifar: training" in said and "  vgg11_bn-cifar: epoch 1/1:" in said  # each bar's run named


def test_seeing_inside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    execute("4-seeing-inside", tmp_path, monkeypatch)
    nb = execute("4-seeing-inside", tmp_path, monkeypatch)  # run again in the same folder: the run is reused
    for cell in ("cams = ", "cnnlab.features(", "cnnlab.filters(", 'cnnlab.filter(digits[0], "sobel-x")'):
        assert outputs(nb, cell)["image/png"], cell
    assert "mean deletion AUC over 8 image(s)" in outputs(nb, "cams = ")["result"][0]
    assert "32 kernels of 1x3x3 from layer conv1" in outputs(nb, "cnnlab.filters(")["result"][0]


def test_hyperparameter_search(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cnnlab.tune import render_summary
    from cnnlab.tune.study import open_study

    nb = execute("5-hyperparameter-search", tmp_path, monkeypatch)
    shown = outputs(nb, "study_summary(")
    study, space, sdir = open_study(tmp_path / "tune")
    text = render_summary(study, space.metric, sdir.url())
    assert shown["result"] == [text]
    assert html_words(shown["text/html"][0].split("<figure>")[0]) == text.split()
    assert shown["text/html"][0].count("data:image/png;base64,") >= 1  # the optimisation history, at least


def test_a_subclassed_jupyter_shell_and_a_resumed_run_show_as_in_jupyter(tmp_path: Path) -> None:
    """Colab's shell subclasses Jupyter's: training there still shows the notebook bar and writes its lines to
    stdout. A resumed run's live curves start from its first epoch, not from the epoch it resumed at."""
    cells = [
        'ip = get_ipython()\nip.__class__ = type("Shell", (type(ip),), {})  # as google.colab\'s shell subclasses it\n'
        "from cnnlab.display import in_notebook\nprint(in_notebook())",
        "from cnnlab.train import RunConfig, train\nfrom cnnlab.train.progress import LiveCurves\n"
        'config = RunConfig(model="mnist-cnn", data="digits", epochs=3, limit=200)\n'
        'train(config, "run", stop_after=2)',
        'curves = LiveCurves("run")\ncurves.on_setup(None)\nprint([row["epoch"] for row in curves.rows])',
        'train(config, "run", resume=True)\nprint([row["epoch"] for row in curves.rows])',
        "from cnnlab.display.curves import curves_png\nfrom cnnlab.rundir import RunDir\n"
        'open("two-epochs.png", "wb").write(curves_png({"run": RunDir("run").metrics()[:2]}))',
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    env = {"PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        NotebookClient(
            nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(tmp_path)}}
        ).execute()

    def streams(cell: nbformat.NotebookNode, name: str) -> str:
        return "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == name)

    assert streams(nb.cells[0], "stdout").strip() == "True"
    trained = nb.cells[1]
    assert any(WIDGET in o.get("data", {}) for o in trained.outputs)  # the notebook bar
    assert "epoch 2/3" in streams(trained, "stdout") and streams(trained, "stderr") == ""
    figures = [o for o in trained.outputs if "image/png" in o.get("data", {})]
    assert len(figures) == 1, len(figures)  # the live curves: one figure, redrawn in place after each epoch
    shown = base64.b64decode(figures[0]["data"]["image/png"])
    assert shown == (tmp_path / "two-epochs.png").read_bytes()  # redrawn: both epochs, not the first one's
    assert streams(nb.cells[2], "stdout").strip() == "[1, 2]"
