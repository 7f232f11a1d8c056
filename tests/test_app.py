"""The demo app (`cnnlab app`) on a real run trained briefly on real MNIST: explain_image gives predict's numbers and
the gradcam/features commands' pictures; the page, served by the real command and used in headless Chromium, shows
`cnnlab predict`'s top-k for an uploaded digit, classifies a drawing, and answers a non-image upload with one line;
bad input to the command is one line and exit 2."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnlab.app import NEEDS_GRADIO, explain_image
from cnnlab.app.image import drawing
from cnnlab.app.serve import where
from cnnlab.cli import main
from cnnlab.errors import CnnlabError
from cnnlab.explain import load_run
from cnnlab.train import RunConfig, train
from cnnlab.train.inference import predict
from cnnlab.train.setup import prepare
from tests.conftest import REPO, SHARED, snapshot

ARTIFACTS = REPO / "artifacts"
NAME = "run <img src=x>_my_ *best* & co"
TOP_LINE = re.compile(r"^\S+ \d+\.\d%(, \S+ \d+\.\d%){2}$")  # three classes as `cnnlab predict` prints them


@pytest.fixture(scope="module")
def mnist(tmp_path_factory) -> dict:
    """LeNet-5 (1x32x32: MNIST's 28x28 digits padded, as LeCun did) trained one epoch on 1,000 real MNIST digits, and
    four of its test digits as PNG files."""
    tmp = tmp_path_factory.mktemp("app")
    config = RunConfig(
        model="lenet5-modern",
        data="mnist",
        data_dir=str(SHARED / "datasets"),
        limit=1000,
        epochs=1,
        val_split=0,
        seed=0,
    )
    run = tmp / NAME  # a folder name with markup in it: the page must show it as text
    train(config, run, log=lambda _: None)
    data, _, _ = prepare(config)
    digits = [tmp / f"digit{i}.png" for i in range(4)]
    for i, path in enumerate(digits):
        Image.fromarray(data.test_x[i, 0].numpy(), "L").save(path)
    return {"run": run, "dir": tmp, "digits": digits}


def cli_line(capsys, *args: object) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of the cnnlab command run in this process."""
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out.strip(), err.strip()


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


def test_explain_image_gives_predicts_numbers_and_the_commands_pictures(mnist, capsys):
    run = load_run(mnist["run"])
    for path in mnist["digits"]:
        e = explain_image(run, path)
        assert e.top == predict(mnist["run"], [path])[0]["top"]
        with Image.open(path) as im:  # a Pillow image and an array go the same way as the file
            assert explain_image(run, im).top == e.top
            assert explain_image(run, np.asarray(im)).top == e.top
    # Grad-CAM at the last conv layer of maps larger than 1x1 (c3's 10x10: c5's 1x1 maps drew a flat overlay), the
    # feature maps at the first
    assert (e.cam_layer, e.feature_layer) == ("c3", "c1")
    path = mnist["digits"][-1]
    assert cli_line(capsys, "gradcam", mnist["run"], path, "--out", mnist["dir"] / "cam")[0] == 0
    with Image.open(mnist["dir"] / "cam" / f"{path.stem}-gradcam.png") as im:
        assert np.array_equal(pixels(e.gradcam), pixels(im))
    features = mnist["dir"] / "features.png"
    assert cli_line(capsys, "features", mnist["run"], path, "--layer", "c1", "--out", features)[0] == 0
    with Image.open(features) as im:
        assert np.array_equal(pixels(e.features), pixels(im))
    assert e.seen.size == (128, 128) and not pixels(e.seen)[:8].any()  # 32x32, enlarged 4x: the padding is black

    # an RGB image of another size is brought to 1x28x28 as predict brings it
    with Image.open(path) as im:
        im.convert("RGB").resize((56, 40)).save(mnist["dir"] / "rgb.png")
    rgb = mnist["dir"] / "rgb.png"
    assert explain_image(run, rgb, topk=5).top == predict(mnist["run"], [rgb], topk=5)[0]["top"]


def test_a_drawing_is_inverted_and_adapted_as_predict_adapts(mnist):
    run = load_run(mnist["run"])
    path = mnist["digits"][0]
    digit = np.asarray(Image.open(path))
    canvas = 255 - digit  # the canvas gives dark strokes on white
    assert explain_image(run, drawing(canvas, invert=True)).top == predict(mnist["run"], [path])[0]["top"]
    Image.fromarray(canvas).save(mnist["dir"] / "dark-on-white.png")
    kept = predict(mnist["run"], [mnist["dir"] / "dark-on-white.png"])[0]["top"]
    assert explain_image(run, drawing(canvas, invert=False)).top == kept
    with pytest.raises(CnnlabError, match="the canvas is empty; draw something on it first"):
        drawing(np.full((280, 280), 255, np.uint8), invert=True)
    with pytest.raises(CnnlabError, match="must be uint8"):
        explain_image(run, digit.astype(np.float32) / 255)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_bad_input_to_app_is_one_line_and_exit_2(mnist, capsys, tmp_path):
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    shutil.copy(mnist["run"] / "config.toml", unfinished)
    before = snapshot(unfinished, mnist["run"])
    status, _, predict_error = cli_line(capsys, "predict", unfinished, mnist["digits"][0])
    assert status == 2 and "has no checkpoint yet" in predict_error
    assert cli_line(capsys, "app", unfinished, "--port", free_port()) == (2, "", predict_error)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli_line(capsys, "app", mnist["run"], "--port", port) == (
            2,
            "",
            f"cnnlab: error: port {port} on 127.0.0.1 is in use; choose another --port",
        )
    for args, message in [
        (["--port", "0"], "--port must be 1..65535, got 0"),
        (["--host", "192.0.2.1"], "cannot listen on 192.0.2.1 port"),  # TEST-NET-1: not this machine
        (["--host", ""], "--host is given an empty value"),  # it bound every interface, and said "reachable at "
        (["--top", "0", "--port", free_port()], "--top must be at least 1, got 0"),
    ]:
        status, out, err = cli_line(capsys, "app", mnist["run"], *args)
        assert status == 2 and not out and message in err and "\n" not in err, err
    assert snapshot(unfinished, mnist["run"]) == before
    from cnnlab.app.serve import check_port

    with pytest.raises(CnnlabError, match=r"^--host '' is empty; give 127.0.0.1"):  # serve() from Python too
        check_port("", free_port())


def test_the_page_says_when_its_run_has_not_finished(tmp_path):
    """A run killed or still training has checkpoints but no summary: the page serves its checkpoint and says so;
    a --top beyond the classes is said as the classes there are."""
    from cnnlab.app.page import _intro

    train(RunConfig(model="mnist-cnn", data="digits", epochs=3, limit=300), tmp_path / "r", log=print, stop_after=2)
    run = load_run(tmp_path / "r")
    from cnnlab.app.page import build_page

    shown = {b.elem_id: b for b in build_page(run, 20).blocks.values() if getattr(b, "elem_id", None)}
    assert shown["top"].label == "top 10, as cnnlab predict prints them"  # --top 20 of 10 classes: the 10
    intro = _intro(run, 10)
    assert (
        f"**Not finished:** the run stopped, or is still training; this page uses its checkpoint of epoch {run.run.checkpoint.epoch}."
        in intro
    )
    assert run.run.checkpoint.epoch in (1, 2) and "so the top 10 here are" in intro
    train(RunConfig(model="mnist-cnn", data="digits", epochs=3, limit=300), tmp_path / "r", log=print, resume=True)
    assert "Not finished" not in _intro(load_run(tmp_path / "r"), 3)


def test_the_app_says_who_can_reach_it():
    assert (
        where("127.0.0.1", 7860) == "http://127.0.0.1:7860 (localhost only; --host 0.0.0.0 to share it on the network)"
    )
    assert where("::1", 80).startswith("http://[::1]:80 (localhost only;")
    assert where("0.0.0.0", 8000).startswith("http://0.0.0.0:8000 (every network interface: anyone who can reach")
    assert where("10.1.2.3", 8000) == "http://10.1.2.3:8000 (reachable from the network at 10.1.2.3)"


def test_without_gradio_the_app_names_the_extra_and_the_rest_works(mnist):
    script = (
        "import sys; sys.modules['gradio'] = None\n"  # as if gradio were not installed
        "from cnnlab.cli import main\n"
        f"assert main(['predict', {str(mnist['run'])!r}, {str(mnist['digits'][0])!r}]) == 0\n"
        f"sys.exit(main(['app', {str(mnist['run'])!r}]))\n"
    )
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and r.stderr.strip() == f"cnnlab: error: {NEEDS_GRADIO}", r.stderr
    assert r.stdout.startswith(f"{mnist['digits'][0]}: ")


@pytest.fixture
def server(mnist, tmp_path):
    """`cnnlab app RUN --port FREE` in its own process group; yields its URL once it says it serves, then stops
    the whole group."""
    port = free_port()
    env = {**os.environ, "GRADIO_TEMP_DIR": str(tmp_path / "gradio")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnnlab", "app", str(mnist["run"]), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        said = ""
        while not said.endswith("stops it\n") and (line := proc.stdout.readline()):  # warnings may come first
            said += line
        assert f"serving {mnist['run']} at http://127.0.0.1:{port} (localhost only;" in said, said
        yield f"http://127.0.0.1:{port}/"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        proc.stdout.close()
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)  # nothing of the group is left


def test_the_page_in_headless_chromium(mnist, server, tmp_path, capsys):
    from playwright.sync_api import sync_playwright

    not_image = tmp_path / "not_an_image.png"
    not_image.write_text("this is not an image")
    digit = mnist["digits"][1]
    status, printed, _ = cli_line(capsys, "predict", mnist["run"], digit)
    assert status == 0
    expected = printed.removeprefix(f"{digit}: ")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1200, "height": 1000})
        outside: list[str] = []  # the page must need nothing beyond the app itself

        def local_only(route) -> None:
            if route.request.url.startswith(server):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        page.route("**/*", local_only)
        page.goto(server)
        page.get_by_text("10 classes, input 1x32x32").wait_for()
        heading = page.locator("h2").first
        assert heading.inner_text() == f"{NAME}: lenet5-modern on mnist"  # the name as text, not markup
        assert heading.locator("img, em, strong").count() == 0
        top = page.locator("#top textarea")
        message = page.locator("#message")

        # a drawing on the canvas
        page.get_by_role("tab", name="Draw").click()
        page.locator("#canvas button[aria-label='Brush']").click()
        box = page.locator("#canvas canvas").first.bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] * 0.25
        page.mouse.move(x, y)
        page.mouse.down()
        for step in range(1, 11):
            page.mouse.move(x, y + step * box["height"] * 0.05)
        page.mouse.up()
        page.locator("#classify").click()
        page.wait_for_function("document.querySelector('#top textarea').value !== ''", timeout=60_000)
        assert TOP_LINE.match(top.input_value()) and message.inner_text().strip() == ""
        page.locator("#gradcam img").wait_for(timeout=60_000)
        assert page.locator("#gradcam img").count() == 1

        # a file that is not an image: one line, no results
        page.get_by_role("tab", name="Upload").click()
        page.locator("#upload input[type=file]").set_input_files(str(not_image))
        page.wait_for_function("document.querySelector('#message').innerText.includes('Error')", timeout=60_000)
        assert message.inner_text().strip() == (
            "Error: not_an_image.png is not a readable image (UnidentifiedImageError); give a PNG or JPEG file"
        )
        assert top.input_value() == ""

        # the app still answers: a real test digit gets `cnnlab predict`'s numbers
        page.locator("#upload button[aria-label='Clear']").click()
        page.locator("#upload input[type=file]").set_input_files(str(digit))
        page.wait_for_function("document.querySelector('#top textarea').value !== ''", timeout=60_000)
        assert top.input_value() == expected and message.inner_text().strip() == ""
        top1 = expected.split(",")[0].split()[0]
        assert (
            page.locator("#gradcam-caption").inner_text().strip() == f"Grad-CAM of the top class, {top1}, at layer c3"
        )
        for picture in ("#seen", "#gradcam", "#features"):
            # the pictures are fetched after the numbers arrive: wait for each to decode, fail if it never does
            page.wait_for_function(
                "s => { const i = document.querySelector(s + ' img'); return i && i.complete && i.naturalWidth > 100 }",
                arg=picture,
                timeout=60_000,
            )
        for picture in ("seen", "gradcam", "features"):  # each caption above its picture, not drawn over it
            said = page.locator(f"#{picture}-caption").bounding_box()
            shown = page.locator(f"#{picture} img").bounding_box()
            assert said["y"] + said["height"] <= shown["y"] + 1, (picture, said, shown)
        page.screenshot(path=str(ARTIFACTS / "app.png"), full_page=True)
        browser.close()
    assert outside == []


def test_a_colour_runs_picture_of_the_image_is_in_colour(tmp_path):
    """The app was tested on digits only: a CIFAR run shows the image as the model sees it in its three channels,
    enlarged, equal to the pixels predict feeds it."""
    from cnnlab.explain.images import display_scale

    net = tmp_path / "net.toml"
    net.write_text('input = [3, 32, 32]\n[[layers]]\ntype = "conv"\nfilters = 4\nkernel = 3\nactivation = "relu"\n'
                   '[[layers]]\ntype = "adaptive-avgpool"\n[[layers]]\ntype = "flatten"\n[[layers]]\ntype = "dense"\n'
                   'units = "num_classes"\n')  # fmt: skip
    data = f"folder:{SHARED / 'datasets' / 'cifar10-jpg.tar.gz'}"
    train(RunConfig(model=str(net), data=data, limit=100, epochs=1, val_split=0), tmp_path / "run", log=lambda _: None)
    run = load_run(tmp_path / "run")
    photo = run.data().test_x[0]
    e = explain_image(run, photo.permute(1, 2, 0).numpy())
    scale = display_scale(32, 32)
    assert e.seen.mode == "RGB" and e.seen.size == (32 * scale, 32 * scale)
    shown = np.asarray(e.seen)[::scale, ::scale].transpose(2, 0, 1)
    assert np.array_equal(shown, photo.numpy())
    from cnnlab.app.page import build_page

    ids = {b.elem_id for b in build_page(run).blocks.values() if getattr(b, "elem_id", None)}
    assert "upload" in ids and not ids & {"canvas", "invert", "classify"}  # a colour run gets no drawing canvas


def test_the_pages_upload_handler_gives_predicts_numbers_and_its_probabilities(mnist):
    """What gradio calls on an upload, without a browser: the top-k line and the probabilities label hold `cnnlab
    predict`'s numbers (the label all k of them), the Grad-CAM caption names the top class, and the drawing is
    inverted by default as MNIST's digits are white on black."""
    from cnnlab.app.page import build_page
    from cnnlab.imagefile import format_top

    run = load_run(mnist["run"])
    page = build_page(run, 3)
    shown = {b.elem_id: b for b in page.blocks.values() if getattr(b, "elem_id", None)}
    assert shown["probabilities"].num_top_classes == 3 and shown["invert"].value is True
    upload = next(f for f in page.fns.values() if f.name == "from_file")
    path = mnist["digits"][2]
    top = predict(mnist["run"], [path])[0]["top"]
    message, line, label, *pictures = upload.fn(str(path))
    assert (message, line, label) == ("", format_top(top), dict(top))
    assert pictures[0::2] == [
        "**the image as the model sees it**",
        f"**Grad-CAM of the top class, {top[0][0]}, at layer c3**",
        "**feature maps of the first conv layer, c1**",
    ]
    e = explain_image(run, path, 3)  # each picture under its own caption
    for given, picture in zip(pictures[1::2], (e.seen, e.gradcam, e.features), strict=True):
        assert np.array_equal(pixels(given), pixels(picture))


def test_a_bad_upload_named_with_markup_is_one_line_of_text(mnist, tmp_path):
    """The error names the uploaded file (gradio's temporary path shortened to its name); a name that is markup is
    shown as text, not run as HTML in the message box."""
    from cnnlab.app.page import build_page

    upload = next(f for f in build_page(load_run(mnist["run"]), 3).fns.values() if f.name == "from_file")
    bad = tmp_path / "<img src=x onerror=alert(1)>.png"
    bad.write_text("this is not an image")
    message, line, label, *pictures = upload.fn(str(bad))
    assert message == (
        "<p><b>Error:</b> &lt;img src=x onerror=alert(1)&gt;.png is not a readable image (UnidentifiedImageError); "
        "give a PNG or JPEG file</p>"
    )
    assert (line, label, pictures[1::2]) == ("", None, [None, None, None])


def test_the_app_names_localhost_and_every_interface_as_it_should():
    assert where("localhost", 7860) == (
        "http://localhost:7860 (localhost only; --host 0.0.0.0 to share it on the network)"
    )
    assert where("0.0.0.0", 8000) == (
        "http://0.0.0.0:8000 (every network interface: anyone who can reach this machine can use it; "
        "here: http://127.0.0.1:8000)"
    )
    assert where("::", 8000).startswith("http://[::]:8000 (every network interface: ")


def test_the_port_check_takes_ipv6():
    """`--host ::1` is checked on an IPv6 socket (an IPv4 one refused it as no address of this machine)."""
    from cnnlab.app.serve import check_port

    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
            port6 = s.getsockname()[1]
    except OSError:
        pytest.skip("this machine has no IPv6 loopback")
    check_port("::1", port6)


def test_the_port_check_takes_a_port_just_closed_by_a_server():
    """A port whose last server has just closed it (TIME_WAIT, as after Ctrl+C and a restart of `cnnlab app`) is
    free to the server, which binds with SO_REUSEADDR, so it is free here."""
    from cnnlab.app.serve import check_port

    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        conn, _ = server.accept()
        conn.close()  # the server's side closes first: its port waits in TIME_WAIT
    client.recv(1)
    client.close()
    check_port("127.0.0.1", port)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/net/tcp is Linux's")
def test_the_page_listens_on_the_loopback_address_it_names(server):
    """The line says "localhost only": the listening socket is bound to 127.0.0.1, not to every interface."""
    port = int(server.rstrip("/").rsplit(":", 1)[1])
    listening = set()
    for table in (Path("/proc/net/tcp"), Path("/proc/net/tcp6")):
        for row in (table.read_text() if table.exists() else "").splitlines()[1:]:
            local, state = row.split()[1], row.split()[3]
            address, local_port = local.rsplit(":", 1)
            if state == "0A" and int(local_port, 16) == port:  # 0A: LISTEN
                listening.add(address)
    assert listening == {"0100007F"}, listening  # 127.0.0.1 as the kernel writes it
