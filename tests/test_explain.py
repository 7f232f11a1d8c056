"""Seeing inside: Grad-CAM on a CNN trained on real MNIST looks at the strokes and beats random deletion; the
gradcam/features/filters/filter commands write the pictures they promise and refuse bad input in one line."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnnlab.errors import CnnlabError
from cnnlab.explain import load_run
from cnnlab.explain.deletion import deletion_check
from cnnlab.explain.filters import conv_kernels, filter_grid
from cnnlab.explain.gallery import gradcam_gallery
from cnnlab.explain.gradcam import grad_cam
from cnnlab.explain.kernels import apply_kernel, filter_lab, get_kernel, read_kernel_file
from cnnlab.train import RunConfig, train
from cnnlab.train.inference import predict
from cnnlab.train.setup import prepare
from cnnlab.zoo import create_model
from tests.conftest import DIGITS_NET, SHARED, TOML_NET, cli_as_terminal, write_toml

CLI = [sys.executable, "-m", "cnnlab.cli"]
STROKE = 64  # a pixel brighter than this (of 255) belongs to the digit


@pytest.fixture(scope="module")
def mnist(tmp_path_factory):
    """mnist-cnn trained briefly on 1,500 real MNIST digits, its test digits, and three of them as PNG files."""
    tmp = tmp_path_factory.mktemp("explain")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp / "cache"))
        config = RunConfig(
            model="mnist-cnn",
            data="mnist",
            data_dir=str(SHARED / "datasets"),
            limit=1500,
            epochs=2,
            val_split=0,
            seed=0,
        )
        summary = train(config, tmp / "run", log=lambda _: None)
        data, _, _ = prepare(config)
        for i in range(3):
            Image.fromarray(data.test_x[i, 0].numpy(), "L").save(tmp / f"digit{i}.png")
        yield {"run": tmp / "run", "dir": tmp, "x": data.test_x, "y": data.test_y, "summary": summary}


def stroke_mass(heatmaps: torch.Tensor, pixels: torch.Tensor) -> tuple[float, float]:
    """(mean fraction of heatmap mass on stroke pixels, mean fraction of the image the strokes cover)."""
    mask = (pixels[:, 0] > STROKE).float()
    mass = (heatmaps * mask).sum((1, 2)) / heatmaps.sum((1, 2)).clamp(min=1e-12)
    return float(mass.mean()), float(mask.mean())


def digit_mass(heatmaps: torch.Tensor, pixels: torch.Tensor, reach: int = 2) -> tuple[float, float]:
    """The same for the digit's region: stroke pixels and those within `reach` pixels of a stroke (a 7x7 map
    cannot draw thinner than that); everything else is the empty background."""
    strokes = (pixels[:, :1] > STROKE).float()
    region = torch.nn.functional.max_pool2d(strokes, 2 * reach + 1, stride=1, padding=reach)[:, 0]
    mass = (heatmaps * region).sum((1, 2)) / heatmaps.sum((1, 2)).clamp(min=1e-12)
    return float(mass.mean()), float(region.mean())


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=300)


def png_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        assert im.format == "PNG"
        return im.size


def test_gradcam_looks_at_strokes_and_beats_random_deletion(mnist):
    assert mnist["summary"]["test_accuracy"] > 0.85
    run = load_run(mnist["run"])
    pixels = mnist["x"][:128]
    cam = grad_cam(run.model, run.to_input(pixels))
    assert cam.layer == "conv3" and cam.heatmaps.shape == (128, 28, 28)
    assert cam.heatmaps.min() >= 0 and torch.allclose(cam.heatmaps.amax((1, 2)), torch.ones(128))
    assert torch.equal(cam.targets, cam.predicted)
    mass, area = stroke_mass(cam.heatmaps, pixels)
    print(
        f"\ntest accuracy {mnist['summary']['test_accuracy']:.4f}; conv3 gradcam: mass on strokes {mass:.3f}, "
        f"stroke area {area:.3f}"
    )
    assert mass > 1.4 * area
    region_mass, region_area = digit_mass(cam.heatmaps, pixels)
    print(f"conv3 gradcam: mass on the digit region {region_mass:.3f}, region area {region_area:.3f}")
    assert region_mass > 0.5 > region_area  # most of the mass on the digit, though it covers under half the image
    finer = grad_cam(run.model, run.to_input(pixels), "conv2")
    mass2, _ = stroke_mass(finer.heatmaps, pixels)
    print(f"conv2 gradcam: mass on strokes {mass2:.3f}")
    assert mass2 > 2.5 * area
    check = deletion_check(run.probabilities, pixels, cam.heatmaps, cam.targets)
    print(
        f"deletion AUC {check.saliency_auc.mean():.3f}, random {check.random_auc.mean():.3f}, brightest first "
        f"{check.bright_auc.mean():.3f}"
    )
    assert check.saliency_auc.mean() < 0.8 * check.random_auc.mean()
    # on black backgrounds ink alone beats random order by far: the bar random order sets is low (README)
    assert check.bright_auc.mean() < check.saliency_auc.mean()
    assert check.saliency.shape == (128, 21) and torch.allclose(check.saliency[:, 0], check.random[:, 0])
    assert torch.allclose(check.bright[:, 0], check.random[:, 0])


def test_gradcam_explains_a_chosen_class_with_gradcam_plus_plus(mnist):
    run = load_run(mnist["run"])
    assert run.class_index("7") == 7
    with pytest.raises(CnnlabError, match="neither a class name nor an index 0..9"):
        run.class_index("cat")
    cam = grad_cam(run.model, run.to_input(mnist["x"][:4]), "conv2", target=run.class_index("3"), method="gradcam++")
    assert cam.targets.tolist() == [3, 3, 3, 3] and cam.heatmaps.shape == (4, 28, 28)
    plain = grad_cam(run.model, run.to_input(mnist["x"][:4]), "conv2", target=3)
    assert not torch.allclose(cam.heatmaps, plain.heatmaps, atol=1e-3)  # the method reaches the maps


def test_a_prediction_or_explanation_from_python_names_its_arguments_not_the_commands_flags(tmp_path):
    """cnnlab.gradcam(run, images, target="zebra") said `--class 'zebra' is neither ...`, and method=, tta= and
    lr_find's steps= named --method, --tta and --steps: flags a notebook never typed. predict(topk=0) listed no
    class and topk=-1 all but the least likely (a slice), where `cnnlab predict --top 0` is refused."""
    from cnnlab.explain.api import gradcam
    from cnnlab.rundir import RunConfig
    from cnnlab.train import train
    from cnnlab.train.inference import predict
    from cnnlab.train.lrfind import lr_find

    out = tmp_path / "run"
    net = write_toml(tmp_path / "net.toml", DIGITS_NET)
    train(RunConfig(model=net, data="digits", epochs=1), out, log=lambda s: None, progress=False)
    pixels = np.zeros((1, 8, 8), np.uint8)
    with pytest.raises(CnnlabError, match=r"^target 'zebra' is neither a class name nor an index 0..9; classes: 0,"):
        gradcam(out, pixels, target="zebra")
    with pytest.raises(CnnlabError, match=r"^method 'cam' is not one of gradcam"):
        gradcam(out, pixels, method="cam")
    with pytest.raises(CnnlabError, match=r"^steps must be a whole number from 30"):
        lr_find(RunConfig(model="mnist-cnn", data="digits"), steps=3)
    for topk in (0, -1, 2.5):
        with pytest.raises(CnnlabError, match=rf"^topk must be at least 1, got {topk}$"):
            predict(out, pixels, topk=topk)
    with pytest.raises(CnnlabError, match=r"^tta 'bogus' is not one of none, flip"):
        predict(out, pixels, tta="bogus")
    assert [len(p["top"]) for p in predict(out, [pixels, pixels], topk=12)] == [10, 10]


def test_gradcam_cli_writes_overlays_grid_and_deletion_figures(mnist):
    d = mnist["dir"]
    r = run_cli("gradcam", mnist["run"], d / "digit0.png", d / "digit1.png", d / "digit2.png", "--out", d / "cams")
    assert r.returncode == 0, r.stderr
    for i in range(3):
        assert png_size(d / "cams" / f"digit{i}-gradcam.png") == (140, 140)  # 28 x 5
    assert png_size(d / "cams" / "gradcam-grid.png") == (292, 324)  # 2x2 tiles of 140 + 16 label, gaps of 4
    assert "at layer conv3" in r.stdout and r.stdout.count("(random ") == 4
    assert "mean deletion AUC over 3 image(s)" in r.stdout


def test_features_and_filters_cli(mnist):
    d = mnist["dir"]
    r = run_cli("features", mnist["run"], d / "digit0.png", "--layer", "relu1", "--out", d / "features.png")
    assert r.returncode == 0, r.stderr
    assert png_size(d / "features.png") == (364, 364)  # 32 maps of 28x28, doubled: 6x6 tiles of 56, gaps of 4
    r = run_cli("filters", mnist["run"], "--layer", "conv1", "--out", d / "filters.png")
    assert r.returncode == 0, r.stderr
    assert "32 kernels of 1x3x3" in r.stdout and png_size(d / "filters.png") == (226, 226)  # 6x6 tiles of 33


def test_filters_of_an_rgb_layer_are_in_colour_and_other_layers_per_channel(tmp_path):
    net = create_model(write_toml(tmp_path / "net.toml", TOML_NET), num_classes=10)
    name, w = conv_kernels(net, None)
    assert name == "conv1" and w.shape == (4, 3, 3, 3)
    colour = filter_grid(w)
    assert colour.size == (78, 78)  # 2x2 tiles of 33, gaps of 4
    tile = np.asarray(colour.crop((4, 4, 37, 37)), dtype=np.int16)
    assert np.abs(tile[..., 0] - tile[..., 1]).max() > 0  # not gray
    _, w2 = conv_kernels(net, "conv2")
    assert filter_grid(w2, "each").size == (152, 226)  # 4 columns, 6 rows
    assert filter_grid(w2, "mean").size == (115, 78)  # 3 columns, 2 rows
    with pytest.raises(CnnlabError, match="'relu1' is not a convolutional layer; conv layers: conv1, conv2"):
        conv_kernels(net, "relu1")


def test_classic_kernels_numerically(tmp_path):
    edge = torch.zeros(1, 6, 6)
    edge[:, :, 3:] = 1  # dark left, bright right: a vertical edge between columns 2 and 3
    sx = apply_kernel(edge, get_kernel("sobel-x")[1])[0]
    assert sx[:, 2:4].eq(4).all() and sx[:, [0, 1, 4, 5]].eq(0).all()
    assert apply_kernel(edge, get_kernel("sobel-y")[1]).eq(0).all()
    flat = torch.full((1, 5, 5), 0.7)
    for name in ("sobel-x", "sobel-y", "outline"):
        assert apply_kernel(flat, get_kernel(name)[1]).abs().max() < 1e-6
    for name in ("blur", "sharpen", "emboss"):
        assert torch.allclose(apply_kernel(flat, get_kernel(name)[1]), flat)
    (tmp_path / "k5.txt").write_text(
        "\n".join(" ".join(["0"] * 5) for _ in range(2))
        + "\n0 0 1 0 0\n"
        + "\n".join(" ".join(["0"] * 5) for _ in range(2))
    )
    k5 = read_kernel_file(tmp_path / "k5.txt")
    assert k5.shape == (5, 5) and torch.equal(apply_kernel(edge, k5), edge)  # the identity kernel
    (tmp_path / "flat.txt").write_text("-1 0 1 -2 0 2 -1 0 1")
    assert torch.equal(read_kernel_file(tmp_path / "flat.txt"), get_kernel("sobel-x")[1])


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "holds no numbers"),
        ("1 2 3\n4 x 6\n7 8 9", "'x' is not a number"),
        ("1 2 3 4", "holds 4 numbers; a kernel needs an odd square count"),
        ("1 2\n3 4 5 6 7\n8 9", "row 1 has 2 numbers; a 3x3 kernel needs 3 per row"),
        ("1 nan 0 0 0 0 0 0 0", "infinite or NaN"),
        ("0 0 0\n0 1_0 0\n0 0 0", "'1_0' is not a number ('_' is neither a digit nor a separator;"),  # was 10
        ("0 0 0\n0 " + "x" * 5000 + " 0\n0 0 0", "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...' (5,000 characters) is not"),
    ],
)
def test_bad_kernel_files_are_one_line_errors(tmp_path, text, message):
    (tmp_path / "k.txt").write_text(text)
    with pytest.raises(CnnlabError) as e:
        read_kernel_file(tmp_path / "k.txt")
    assert message in str(e.value) and "\n" not in str(e.value)


def test_a_kernel_files_underscore_error_advises_what_a_kernel_file_reads(tmp_path):
    """A kernel file's 1_0 is refused with the advice matrix files get, which said 'separate numbers by spaces or
    commas'; a `filter --kernel` file's numbers are whitespace-separated, so a file rewritten as advised, 1,0, failed
    again ('1,0' is not a number). The advice is what both files read: spaces."""
    (tmp_path / "k.txt").write_text("0 0 0\n0 1_0 0\n0 0 0")
    with pytest.raises(CnnlabError) as e:
        read_kernel_file(tmp_path / "k.txt")
    assert "commas" not in str(e.value) and "separate numbers by spaces)" in str(e.value), str(e.value)


def test_filter_cli_puts_input_gray_and_channels_side_by_side(tmp_path):
    rgb = torch.zeros(40, 60, 3, dtype=torch.uint8)
    rgb[:, 30:] = torch.tensor([200, 100, 50], dtype=torch.uint8)
    Image.fromarray(rgb.numpy(), "RGB").save(tmp_path / "edge.png")
    r = run_cli("filter", tmp_path / "edge.png", "--kernel", "sobel-x", "--out", tmp_path / "lab.png")
    assert r.returncode == 0, r.stderr
    assert png_size(tmp_path / "lab.png") == (1224, 184)  # 5 panels of 60x40 x 4 in a row, a label, gaps of 4
    lab = filter_lab(torch.from_numpy(rgb.numpy()).permute(2, 0, 1), *get_kernel("blur"))
    assert lab.size == (1224, 184)
    # one channel: no R, G, B panels
    grey = filter_lab(torch.from_numpy(rgb[..., :1].numpy()).permute(2, 0, 1), *get_kernel("blur"))
    assert grey.size == (492, 184)  # 2 panels of 240 with their gaps: R, G and B would repeat the gray one
    import cnnlab

    assert cnnlab.filter(rgb[..., 0][None], "blur").text == "input, then blur on the image"


def test_gradcam_gallery_for_the_report(mnist):
    data = gradcam_gallery(mnist["run"], n=4, seed=1)
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "PNG" and im.size == (292, 324)
    assert gradcam_gallery(mnist["run"], n=4, seed=1) == data


def decoded(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as im:
        assert im.format == "PNG"
        return np.asarray(im.convert("RGB"))


def test_python_explanations_show_inline_and_are_the_pictures_the_commands_write(mnist):
    """cnnlab.gradcam/features/filters/filter return pictures with _repr_png_ (what Jupyter shows); on the same
    images they are exactly the files the commands write, from image files or from pixels already at hand."""
    import cnnlab

    d = mnist["dir"]
    files = [d / f"digit{i}.png" for i in range(3)]
    r = run_cli("gradcam", mnist["run"], *files, "--out", d / "api-cams")
    assert r.returncode == 0, r.stderr
    run = load_run(mnist["run"])
    cams = cnnlab.gradcam(run, mnist["x"][:3])
    with Image.open(d / "api-cams" / "gradcam-grid.png") as written:
        assert np.array_equal(decoded(cams._repr_png_()), np.asarray(written.convert("RGB")))
    assert repr(cams).splitlines()[0] == r.stdout.splitlines()[0]
    assert repr(cams).splitlines()[-1] == r.stdout.splitlines()[-1]  # the same mean deletion AUC
    from_files = cnnlab.gradcam(mnist["run"], files, target=7, method="gradcam++")
    assert from_files.cam.targets.tolist() == [7, 7, 7] and "cam 7" in " ".join(from_files.labels)

    r = run_cli("features", mnist["run"], files[0], "--layer", "relu2", "--out", d / "api-features.png")
    picture = cnnlab.features(run, mnist["x"][0], layer="relu2")
    assert r.stdout.strip().endswith(picture.text) and picture.text == "64 feature maps of 14x14 from layer relu2"
    with Image.open(d / "api-features.png") as written:
        assert np.array_equal(decoded(picture._repr_png_()), np.asarray(written.convert("RGB")))

    kernels = cnnlab.filters(mnist["run"])
    assert kernels.layer == "conv1" and decoded(kernels._repr_png_()).shape[:2] == (
        226,
        226,
    )  # 6x6 tiles of 33, gaps of 4
    lab = cnnlab.filter(mnist["x"][0], "sobel-x")
    assert lab.save(d / "lab.png") == d / "lab.png" and decoded(lab._repr_png_()).shape[1] == lab.image.width
    with pytest.raises(CnnlabError, match=r"images must be N x 1x28x28 pixels"):
        cnnlab.gradcam(run, torch.zeros(2, 3, 32, 32, dtype=torch.uint8))


def test_pixels_in_the_layouts_notebooks_hold_them_give_the_same_answers(mnist):
    """MNIST as Keras and NumPy hold it (N x 28 x 28, or one 28 x 28 digit) and channels-last pixels (N x 28 x 28 x
    1, as Keras' CIFAR arrays are N x 32 x 32 x 3) are the same images as N x 1 x 28 x 28: the same predictions,
    numbered on across the items of a list, and the same Grad-CAM; a shape no layout fits is one line naming them."""
    import cnnlab

    run = load_run(mnist["run"])
    x = mnist["x"][:3]
    expected = predict(run, x)
    assert [r["image"] for r in expected] == ["image 0", "image 1", "image 2"]

    def read(results: list[dict]) -> tuple[list, list]:
        return [(r["image"], c) for r in results for c, _ in r["top"]], [p for r in results for _, p in r["top"]]

    def same(results: list[dict]) -> bool:  # a batch of 3 and three of 1 round the last float bits otherwise
        (labels, probabilities), (want, want_probabilities) = read(results), read(expected)
        return labels == want and probabilities == pytest.approx(want_probabilities, abs=1e-6)

    assert same(predict(run, x[:, 0])) and same(predict(run, x[:, 0].numpy()))
    assert same(predict(run, list(x[:, 0]))) and same(predict(run, [x[0, 0], x[1:, 0]]))
    assert predict(run, x.permute(0, 2, 3, 1).numpy()) == expected
    assert torch.equal(run.pixels(x[0, 0]), x[:1]) and torch.equal(run.pixels(x[0].permute(1, 2, 0)), x[:1])
    assert torch.equal(cnnlab.gradcam(run, x[:, 0]).cam.heatmaps, cnnlab.gradcam(run, x).cam.heatmaps)  # one batch
    with pytest.raises(
        CnnlabError,
        match=r"^images must be N x 1x28x28 pixels \(the model's input; one image may be 28x28x1 or 28x28, and N of "
        r"them N x 28x28\), got \(28, 27\); give image files",
    ):
        run.pixels(torch.zeros(28, 27, dtype=torch.uint8))
    with pytest.raises(CnnlabError, match=r"^images must be N x 1x28x28 pixels .*, got \(1, 3, 28, 28\)"):
        predict(run, torch.zeros(2, 3, 28, 28, dtype=torch.uint8))  # colour images, not 3 digits each


def test_only_the_layout_of_colour_pixels_moves():
    """For a 3 x 32 x 32 model: H x W x C pixels are permuted, C x H x W taken as they are, and grey layouts (H x W,
    N x H x W) are refused, since their channels would be a guess; so are sizes other than the model's."""
    from cnnlab.train.inference import channels_first

    hwc = torch.arange(32 * 32 * 3, dtype=torch.int32).reshape(32, 32, 3).to(torch.uint8)
    chw = hwc.permute(2, 0, 1)
    assert torch.equal(channels_first(hwc, (3, 32, 32)), chw[None])
    assert torch.equal(channels_first(chw.contiguous(), (3, 32, 32)), chw[None])
    assert channels_first(hwc, (3, 32, 32))[0, 1, 0, 0] == hwc[0, 0, 1]
    assert torch.equal(channels_first(hwc[None].repeat(2, 1, 1, 1), (3, 32, 32)), chw[None].repeat(2, 1, 1, 1))
    for shape in [(32, 32), (5, 32, 32), (3, 28, 28), (2, 32, 32, 1)]:
        with pytest.raises(
            CnnlabError,
            match=r"^images must be N x 3x32x32 pixels \(the model's input; one image may "
            r"be 32x32x3\), got",
        ):
            channels_first(torch.zeros(shape, dtype=torch.uint8), (3, 32, 32))


def test_python_explanations_take_the_images_a_notebook_has(mnist):
    """One path, a NumPy array, a list of single images: the same maps as the uint8 tensor; floats are refused in
    one line (0..1 read as 0..255 pixels would explain a black image)."""
    import cnnlab

    run, x = load_run(mnist["run"]), mnist["x"][:2]
    want = cnnlab.gradcam(run, x).cam.heatmaps
    for given in (x.numpy(), [x[0], x[1]], [x[0].numpy(), x[1].numpy()]):
        assert torch.equal(cnnlab.gradcam(run, given).cam.heatmaps, want)
    one_file = mnist["dir"] / "digit0.png"
    assert torch.equal(cnnlab.gradcam(run, one_file).cam.heatmaps, cnnlab.gradcam(run, [one_file]).cam.heatmaps)
    assert len(cnnlab.gradcam(run, str(one_file)).cam.targets) == 1
    assert cnnlab.features(run, x[0].numpy(), layer="relu2").text == cnnlab.features(run, x[0], layer="relu2").text
    assert cnnlab.filter(x[0].numpy(), "blur").image == cnnlab.filter(x[0], "blur").image
    for bad in (x.float() / 255, (x.float() / 255).numpy()):
        with pytest.raises(
            CnnlabError, match=r"^images must be uint8 pixels \(0..255\), got (torch.)?float32; convert"
        ):
            cnnlab.gradcam(run, bad)
    from_file = run.pixels(one_file)
    assert torch.equal(run.pixels([one_file, x[0]]), torch.cat([from_file, x[:1]]))  # a list may mix them
    with Image.open(one_file) as im:  # a Pillow image, adapted as its file is
        assert torch.equal(run.pixels(im), from_file) and torch.equal(
            run.pixels([im, im]), from_file.repeat(2, 1, 1, 1)
        )
        assert cnnlab.filter(im, "blur").image == cnnlab.filter(one_file, "blur").image
        assert torch.equal(cnnlab.gradcam(run, im).cam.heatmaps, cnnlab.gradcam(run, one_file).cam.heatmaps)
    for bad, named in ((5, "int"), ([one_file, None], "NoneType"), ({"a": 1}, "dict")):
        with pytest.raises(CnnlabError, match=rf"^images must be image files, Pillow images or uint8 .* got {named}$"):
            cnnlab.gradcam(run, bad)
    with pytest.raises(CnnlabError, match=r"^no images given; give image files, Pillow images or uint8 pixels$"):
        cnnlab.gradcam(run, [])


def test_the_filter_lab_takes_an_image_in_the_layouts_a_notebook_holds(tmp_path):
    """cnnlab.filter, like predict and gradcam: H x W x C (NumPy, Pillow, Keras) and grey H x W are the C x H x W
    image's lab; a batch, or planes that are not 1 or 3, are one line naming the layouts."""
    import cnnlab

    rgb = torch.randint(0, 256, (3, 20, 30), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    want = cnnlab.filter(rgb, "sobel-x")
    assert cnnlab.filter(rgb.permute(1, 2, 0).numpy(), "sobel-x").image == want.image
    assert (
        cnnlab.filter(rgb.permute(1, 2, 0), "sobel-x").text
        == want.text
        == "input, then sobel-x on the grayscale image and on R, G, B"
    )
    grey = rgb[:1]
    assert cnnlab.filter(grey[0].numpy(), "blur").image == cnnlab.filter(grey, "blur").image
    assert cnnlab.filter(grey.permute(1, 2, 0), "blur").image == cnnlab.filter(grey, "blur").image
    assert cnnlab.filter(grey, "blur").image != cnnlab.filter(rgb, "blur").image
    for bad in (rgb[None], torch.zeros(20, 30, 4, dtype=torch.uint8), torch.zeros(5, dtype=torch.uint8)):
        with pytest.raises(
            CnnlabError,
            match=r"^an image must be uint8 pixels of one image with 1 or 3 channels \(C x H "
            rf"x W, H x W x C, or grey H x W\), got {re.escape(str(tuple(bad.shape)))}; for one image",
        ):
            cnnlab.filter(bad, "blur")


def test_predict_takes_the_images_a_notebook_has(mnist):
    """predict, like the explanations: pixels (one image, N of them, NumPy), a Pillow image, one path as a string
    (not its characters); each result named by its path or its place."""
    run, x = load_run(mnist["run"]), mnist["x"][:2]
    one_file = mnist["dir"] / "digit0.png"
    by_file = predict(run, [one_file])[0]["top"]
    assert predict(run, str(one_file)) == [{"image": str(one_file), "top": by_file}]
    with Image.open(one_file) as im:
        assert predict(run, im) == [{"image": "image 0", "top": by_file}]
    by_pixels = predict(run, x)
    assert [r["image"] for r in by_pixels] == ["image 0", "image 1"]
    assert predict(run, x.numpy()) == by_pixels and predict(run, [x[0], x[1]]) == by_pixels
    assert predict(run, x[1]) == [{"image": "image 0", "top": by_pixels[1]["top"]}]
    probs = run.probabilities(x)
    assert [top[0][0] for top in (r["top"] for r in by_pixels)] == [run.classes[i] for i in probs.argmax(1).tolist()]


@pytest.mark.parametrize("case", ["unknown layer", "bad image", "bad kernel file", "non-conv layer for filters"])
def test_bad_input_exits_2_with_one_line(mnist, case, capsys):
    d = mnist["dir"]
    (d / "notes.txt").write_text("not an image")
    (d / "bad-kernel.txt").write_text("1 2 3 4")
    args, text = {
        "unknown layer": (
            ["gradcam", mnist["run"], d / "digit0.png", "--layer", "conv9", "--out", d / "x"],
            "--layer 'conv9' is not a layer of the model; conv layers: conv1, conv2, conv3",
        ),
        "bad image": (["gradcam", mnist["run"], d / "notes.txt", "--out", d / "x"], "is not a readable image"),
        "bad kernel file": (["filter", d / "digit0.png", "--kernel", d / "bad-kernel.txt"], "holds 4 numbers"),
        "non-conv layer for filters": (
            ["filters", mnist["run"], "--layer", "fc1"],
            "'fc1' is not a convolutional layer; conv layers: conv1, conv2, conv3",
        ),
    }[case]
    code, _, err = cli_as_terminal(list(map(str, args)), capsys)  # in-process: no interpreter to start
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and text in err, err


def test_gradcam_of_a_run_with_test_time_views_explains_the_class_predict_gives(tmp_path):
    """A run evaluated with flip views: Grad-CAM's labels, its default class and the deletion check took one plain
    forward pass, so on some images it named another class than `cnnlab predict` (13 of 200 on a resnet20 of
    CIFAR-10). They take the run's averaged views now; the map is still of the image as it is."""
    from cnnlab.explain.api import gradcam

    net = write_toml(tmp_path / "net.toml", TOML_NET.replace("[3, 16, 16]", "[1, 8, 8]"))
    train(RunConfig(model=net, data="digits", epochs=1, limit=200, lr=0.003, tta="flip"), tmp_path / "r", log=print)
    run = load_run(tmp_path / "r")
    pixels = run.data().test_x[:120]
    views = run.probabilities(pixels).argmax(1)
    with torch.no_grad():
        plain = run.model(run.to_input(pixels)).argmax(1)
    assert (plain != views).any()  # the case at stake: the plain view disagrees with the run's views somewhere
    g = gradcam(run, pixels)
    assert torch.equal(g.cam.predicted, views) and torch.equal(g.cam.targets, views)
    assert [label.split()[1] for label in g.labels] == [run.classes[int(k)] for k in views]


def test_the_filter_lab_takes_a_kernel_as_numbers_from_python(tmp_path):
    """A notebook's cnnlab.filter(image, [[0, -1, 0], [-1, 5, -1], [0, -1, 0]]) (or an array, or a tensor) was a
    TypeError (unhashable type: 'list'): a kernel had to be written to a text file first. Numbers that are no odd
    square of finite values are one line, as the same in a kernel file are."""
    from cnnlab.explain.api import filter as image_filter
    from cnnlab.explain.kernels import get_kernel

    sharpen = [[0, -1, 0], [-1, 5, -1], [0, -1, 0]]
    for numbers in (sharpen, np.array(sharpen), torch.tensor(sharpen)):
        assert torch.equal(get_kernel(numbers)[1], get_kernel("sharpen")[1])
    pixels = np.random.default_rng(0).integers(0, 256, (3, 12, 12), dtype=np.uint8)
    picture = image_filter(pixels, np.full((5, 5), 1 / 25))
    assert picture.text == "input, then 5x5 kernel on the grayscale image and on R, G, B"
    for bad, said in (
        ([[1, 2], [3, 4]], "a kernel must be k rows of k numbers, k odd (3x3, 5x5, ...), got shape (2, 2)"),
        ([[1, 2, 3], [4, 5]], "a kernel is a name (sobel-x, sobel-y, sharpen, outline, blur, emboss), a text file"),
        (np.full((3, 3), np.inf), "the kernel holds an infinite or NaN value; use finite numbers"),
    ):
        with pytest.raises(CnnlabError, match=re.escape(said)):
            image_filter(pixels, bad)


def test_features_of_several_images_is_one_line_not_the_first_alone(tmp_path):
    """features(run, test_x[:3], layer=...) or a list of files showed the first image's maps and passed over the
    rest without a word; it shows one image's, and says so."""
    from cnnlab.explain.api import features
    from cnnlab.rundir import RunConfig
    from cnnlab.train import train

    out = tmp_path / "run"
    train(RunConfig(model=write_toml(tmp_path / "n.toml", DIGITS_NET), data="digits", epochs=1), out, progress=False)
    pixels = np.zeros((3, 1, 8, 8), np.uint8)
    with pytest.raises(
        CnnlabError, match=r"^features shows the maps of one image, got 3; give one \(e.g. images\[0\]\)$"
    ):
        features(out, pixels, layer="conv1")
    assert features(out, pixels[0], layer="conv1").text == "4 feature maps of 8x8 from layer conv1"
