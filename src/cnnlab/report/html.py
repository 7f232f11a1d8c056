"""One self-contained HTML file (images embedded as data URIs, no scripts, no network) for runs and studies."""

from __future__ import annotations

import datetime
import html
import re
from pathlib import Path
from typing import TYPE_CHECKING

from cnnlab.atomic import write_bytes, write_text
from cnnlab.display import figure
from cnnlab.display.curves import curves_png
from cnnlab.errors import CnnlabError, option
from cnnlab.report import plots
from cnnlab.report.collect import Group, collect
from cnnlab.report.tables import RunTable, percent, run_row
from cnnlab.rundir import RunDir

if TYPE_CHECKING:
    from cnnlab.train.inference import LoadedRun

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1150px;color:#222;padding:0 1em}
table{border-collapse:collapse;margin:1em 0;font-size:14px}th,td{border:1px solid #ccc;padding:4px 8px}
th{background:#f0f3f7}pre{background:#f7f7f7;padding:8px;overflow-x:auto;font-size:12px}
img{max-width:100%;border:1px solid #eee;margin:4px 0}.notes{background:#fffbe6;padding:8px;border-left:4px solid #e6c200}
details{margin:0.5em 0}h2{border-bottom:2px solid #ddd;padding-bottom:4px}
"""


class Figures:
    """Collects every plot of a report: embedded as data URIs, and also written as PNG files when asked."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    def img(self, png: bytes, alt: str, name: str) -> str:
        stem = re.sub(r"[^A-Za-z0-9_.+-]+", "-", name).strip("-")
        stem = next(
            f"{stem}-{i}" if i else stem
            for i in range(len(self.files) + 1)
            if (f"{stem}-{i}" if i else stem) + ".png" not in self.files
        )
        self.files[stem + ".png"] = png
        return figure(png, alt)


def _weightless_section(name: str, path: Path) -> str:
    """A run that kept no weights: why it stopped, and nothing to evaluate."""
    summary = RunDir(path).summary()
    parts = [
        f"<h3>{html.escape(name)}</h3>",
        f"<p>{html.escape(str(path))}: no weights were kept, so nothing was tested; stopped: "
        f"{html.escape(summary['stopped'])}</p>",
    ]
    parts += [f'<p class="notes">diagnosis: {html.escape(f)}</p>' for f in summary.get("diagnosis") or []]
    return "\n".join(parts)


def _run_section(name: str, run: LoadedRun, gradcam: int, fig: Figures) -> str:
    from cnnlab.analysis import summarize
    from cnnlab.train.inference import no_test_images
    from cnnlab.transfer import frozen

    summary = run.run.summary or {}
    parts = [f"<h3>{html.escape(name)}</h3>"]
    if len(run.data().test_y):
        parts += _test_parts(name, run, summary, gradcam, fig)
    else:  # a folder of class folders alone: no test split to score (nan on 0 images, empty plots, before)
        parts.append(f"<p>{html.escape(no_test_images(run))}; stopped: {html.escape(summary['stopped'])}</p>")
    with frozen(run.model, run.run.config.freeze) as model:  # trainable vs frozen, as `cnnlab summary RUN`
        layers = summarize(model, run.input_shape).render("table")
    parts.append(
        f"<details><summary>settings (the run config)</summary><pre>{html.escape(run.run.config_text)}</pre></details>"
    )
    parts.append(f"<details><summary>layer summary</summary><pre>{html.escape(layers)}</pre></details>")
    return "\n".join(parts)


def _test_parts(name: str, run: LoadedRun, summary: dict, gradcam: int, fig: Figures) -> list[str]:
    """The run's scores on its test images: accuracy, diagnosis, confusion matrix, per-class accuracy, examples
    and (`gradcam` of them) a Grad-CAM gallery."""
    from cnnlab.train.inference import evaluate_run

    ev = evaluate_run(run, with_images=True)
    path = run.run.path
    parts = [
        f"<p>{html.escape(str(path))}: test accuracy "
        f"{percent(ev['test_accuracy'])} on {ev['test_size']} images; stopped: {html.escape(summary['stopped'])}</p>",
    ]
    for finding in summary.get("diagnosis") or []:
        parts.append(f'<p class="notes">diagnosis: {html.escape(finding)}</p>')
    parts.append(
        fig.img(
            plots.confusion(ev["confusion"], ev["classes"], f"{name}: confusion matrix"),
            f"{name}: confusion matrix (rows true, columns predicted)",
            f"{name}-confusion",
        )
    )
    parts.append(
        fig.img(
            plots.per_class(ev["per_class_accuracy"], ev["classes"], f"{name}: per-class accuracy"),
            f"{name}: per-class test accuracy",
            f"{name}-per-class",
        )
    )
    parts.append(
        fig.img(
            plots.samples(ev["images"], ev["labels"], ev["predictions"], ev["classes"]),
            f"{name}: test images, predicted / true (wrong in red)",
            f"{name}-samples",
        )
    )
    if gradcam:
        from cnnlab.explain.gallery import gallery_png

        try:
            png, layer = gallery_png(run, ev["images"], ev["labels"], n=gradcam, name=str(path))
            parts.append(fig.img(png, f"{name}: Grad-CAM at layer {layer}, predicted class", f"{name}-gradcam"))
        except CnnlabError as e:  # e.g. an MLP has no conv layer to explain
            parts.append(f"<p>Grad-CAM: {html.escape(str(e))}</p>")
    return parts


def _group(group: Group, gradcam: int, heading: bool, fig: Figures) -> tuple[str, list[dict]]:
    """The group's HTML and its table rows; each run is opened once, and let go before the next."""
    from cnnlab.train.inference import load_run

    rows, metrics, sections = [], {}, []
    for name, path in group.runs.items():
        if RunDir(path).kept_no_weights():
            rows.append(run_row(path, name))
            sections.append(_weightless_section(name, path))
            continue
        run = load_run(path)
        rows.append(run_row(run, name))
        metrics[name] = run.run.metrics
        if group.detailed is None or name in group.detailed:
            sections.append(_run_section(name, run, gradcam, fig))
    parts = [f"<h2>{html.escape(group.title)}</h2>"] if heading else []
    if group.notes:
        parts.append(f'<div class="notes"><b>Expected:</b> {html.escape(group.notes)}</div>')
    parts.append(RunTable(rows, group.unfinished)._repr_html_())
    parts += [fig.img(png, caption, caption) for caption, png in group.plots.items()]
    if metrics:  # none when no run of the group kept weights
        parts.append(
            fig.img(
                curves_png(metrics),
                f"{group.title}: loss and accuracy per epoch (train solid, validation dashed)",
                "curves",
            )
        )
    return "\n".join(parts + sections), rows


def write_report(
    paths: str | Path | list[str | Path],
    out: str | Path,
    title: str = "cnnlab report",
    gradcam: int = 8,
    plots_dir: str | Path | None = None,
) -> Path:
    """Write the report for runs and study directories to `out` (atomically); `gradcam` images per run (0: none);
    with `plots_dir`, every plot is also written there as a PNG file."""
    return write_report_rows(paths, out, title, gradcam, plots_dir)[0]


def write_report_rows(
    paths: str | Path | list[str | Path],
    out: str | Path,
    title: str = "cnnlab report",
    gradcam: int = 8,
    plots_dir: str | Path | None = None,
) -> tuple[Path, list[dict], list[str]]:
    """write_report, also returning the table rows of every run shown (so `compare` opens each run once) and the
    names of the PNG files written to `plots_dir` (none when no run has curves or weights to plot)."""
    if gradcam < 0:
        raise CnnlabError(f"{option('gradcam')} must be 0 or more images, got {gradcam}")
    out = Path(out)
    if out.is_dir():
        raise CnnlabError(f"{option('out')} {out} is a directory; give the path of the .html file to write")
    if out.is_file() and out.suffix.lower() not in (".html", ".htm"):  # a run's summary.json, a study file, ...
        raise CnnlabError(f"{option('out')} {out} is an existing file that is not an HTML report; give a .html path")
    groups = collect(paths)
    shown = [g for g in groups if g.runs]
    fig = Figures()
    built = [_group(g, gradcam, len(shown) > 1 or g.title != title, fig) for g in shown]
    body = "\n".join(b for b, _ in built)
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    doc = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1><p>generated by cnnlab on {stamp}</p>"
        f"{body}</body></html>"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text(out, doc)
    if plots_dir is not None:
        Path(plots_dir).mkdir(parents=True, exist_ok=True)
        for name, png in fig.files.items():
            write_bytes(Path(plots_dir) / name, png)
    return out, [row for _, rows in built for row in rows], list(fig.files) if plots_dir is not None else []
