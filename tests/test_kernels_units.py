"""The edge-detection lab's kernels and panels (explain/kernels.py) straight from small images, found untested by a
mutation run (2026-12-06): each panel's label and pixels, how edge detectors and brightness-keeping kernels are
shown, kernels given as numbers, and every refusal whole. Values are worked out by hand in a comment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from cnnlab.errors import CnnlabError
from cnnlab.explain.images import display_scale, grid, to_image
from cnnlab.explain.kernels import KERNELS, filter_lab, filter_panels, get_kernel, numbers_kernel, read_kernel_file
from cnnlab.imagefile import LUMA

# a 3x5 colour image: red 255 in the left two columns, blue 255 in the right three; green 0 everywhere
IMAGE = torch.zeros(3, 3, 5, dtype=torch.uint8)
IMAGE[0, :, :2] = 255
IMAGE[2, :, 2:] = 255


def refusal(call) -> str:
    with pytest.raises(CnnlabError) as e:
        call()
    return str(e.value)


def test_an_edge_detector_is_shown_as_the_size_of_its_response_on_gray_and_each_colour() -> None:
    """sobel-x sums to 0: each panel is |response| over its largest, labelled with bars; the input is the image
    itself in 0..1 and the gray plane is the luma-weighted sum."""
    panels = filter_panels(IMAGE, *get_kernel("sobel-x"))
    assert [label for label, _ in panels] == [
        "input",
        "|gray * sobel-x|",
        "|R * sobel-x|",
        "|G * sobel-x|",
        "|B * sobel-x|",
    ]
    assert np.array_equal(panels[0][1], IMAGE.permute(1, 2, 0).numpy() / 255.0)
    # along a row, red is 1 1 0 0 0: sobel-x (right minus left, rows weighted 1 2 1 and replicated at the edges)
    # gives 0, -4, -4, 0, 0; shown |.| / 4 = 0 1 1 0 0 in every row; green is flat: all 0, not 0/0
    assert np.allclose(panels[2][1], [[0, 1, 1, 0, 0]] * 3)
    assert np.array_equal(panels[3][1], np.zeros((3, 5)))
    # gray = 0.299 R + 0.114 B: 0.299 on the left, 0.114 on the right, so its edge is the same two columns
    assert np.allclose(panels[1][1], [[0, 1, 1, 0, 0]] * 3)
    assert np.allclose(LUMA, (0.299, 0.587, 0.114), atol=1e-3)


def test_a_kernel_that_keeps_brightness_is_clipped_to_0_1_and_a_grey_image_has_one_panel() -> None:
    """sharpen sums to 1: its overshoot at an edge is clipped (5 - 1 = 4 becomes 1, -1 becomes 0); a grey image
    shows the input and its gray panel only, unbarred."""
    grey = torch.zeros(1, 3, 4, dtype=torch.uint8)
    grey[0, :, :2] = 255  # 1 1 0 0: sharpen gives 1, 2, -1, 0 along a row (the centre 5, the four sides -1)
    panels = filter_panels(grey, *get_kernel("sharpen"))
    assert [label for label, _ in panels] == ["input", "gray * sharpen"]
    assert np.array_equal(panels[0][1], np.repeat(grey.permute(1, 2, 0).numpy() / 255.0, 3, axis=2))
    assert np.allclose(panels[1][1], [[1, 1, 0, 0]] * 3)
    blur = filter_panels(grey, *get_kernel("blur"))[1][1]  # weights 1/16 2/16 1/16: 1, 3/4, 1/4, 0 along a row
    assert np.allclose(blur, [[1, 0.75, 0.25, 0]] * 3)


def test_a_kernel_summing_to_almost_nothing_of_its_weights_counts_as_an_edge_detector() -> None:
    # weights 500 and -499.9999 (in float32): the sum 9.2e-5 is under 1e-6 of the 1,000 they add up to in size
    nearly = numbers_kernel([[0, 0, 0], [500, 0, -499.9999], [0, 0, 0]])
    assert filter_panels(IMAGE, "k", nearly)[1][0] == "|gray * k|"
    assert filter_panels(IMAGE, "k", numbers_kernel(np.zeros((3, 3))))[1][0] == "|gray * k|"  # all 0: sum 0 of 0
    assert filter_panels(IMAGE, "k", numbers_kernel(np.eye(3) / 3))[1][0] == "gray * k"  # sums to 1 of 1


def test_kernels_by_name_by_numbers_and_from_files(tmp_path: Path) -> None:
    name, kernel = get_kernel("blur")
    assert name == "blur" and torch.equal(kernel, torch.tensor(KERNELS["blur"]))
    assert get_kernel([[0, 0, 0], [0, 1, 0], [0, 0, 0]])[0] == "3x3 kernel"
    trained = torch.ones(3, 3, requires_grad=True)  # a tensor from a notebook, still in an autograd graph
    assert torch.equal(numbers_kernel(trained), torch.ones(3, 3))
    two_rows = tmp_path / "two.txt"
    two_rows.write_text("1 2 3 4\n5 6 7 8 9\n")
    assert refusal(lambda: read_kernel_file(two_rows)) == (
        f"kernel file {two_rows}: row 1 has 4 numbers; a 3x3 kernel needs 3 per row (or put all numbers on one line)"
    )
    assert torch.equal(read_kernel_file(_written(tmp_path, "1 2 3 4 5 6 7 8 9")), torch.arange(1.0, 10).view(3, 3))


def _written(folder: Path, text: str) -> Path:
    path = folder / "k.txt"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: get_kernel("sobel"), "unknown kernel 'sobel': use one of " + ", ".join(KERNELS) + " or a text file of numbers"),
        (lambda d: numbers_kernel({"a": 1}), "a kernel is a name (" + ", ".join(KERNELS) + "), a text file of numbers or k rows of k numbers, got dict {'a': 1}"),
        (lambda d: numbers_kernel(np.ones((3, 5))), "a kernel must be k rows of k numbers, k odd (3x3, 5x5, ...), got shape (3, 5)"),
        (lambda d: numbers_kernel(np.ones((5, 3))), "a kernel must be k rows of k numbers, k odd (3x3, 5x5, ...), got shape (5, 3)"),
        (lambda d: numbers_kernel(np.ones(9)), "a kernel must be k rows of k numbers, k odd (3x3, 5x5, ...), got shape (9,)"),
        (lambda d: numbers_kernel(np.ones((2, 2))), "a kernel must be k rows of k numbers, k odd (3x3, 5x5, ...), got shape (2, 2)"),
        (lambda d: numbers_kernel([[1, 2, 3], [4, float("nan"), 6], [7, 8, 9]]), "the kernel holds an infinite or NaN value; use finite numbers"),
        (lambda d: read_kernel_file(_written(d, "1 2 3 4")), "kernel file {d}/k.txt holds 4 numbers; a kernel needs an odd square count (9 for 3x3, 25 for 5x5, ...)"),
        (lambda d: read_kernel_file(d), "cannot read kernel file {d} (IsADirectoryError)"),
    ],
)  # fmt: skip
def test_each_kernel_refusal_is_said_whole(tmp_path: Path, make, message: str) -> None:
    assert refusal(lambda: make(tmp_path)) == message.replace("{d}", str(tmp_path))


def test_a_thing_that_is_no_kernel_is_named_by_its_first_60_characters() -> None:
    numbers = set(range(100, 200))  # no rows: its repr, {100, 101, ...}, cut after 60 characters
    assert refusal(lambda: numbers_kernel(numbers)).endswith(f"got set {str(numbers)[:60]}")


def test_the_lab_is_its_panels_side_by_side_each_labelled() -> None:
    name, kernel = get_kernel("blur")
    panels = filter_panels(IMAGE, name, kernel)
    scale = display_scale(3, 5)
    want = grid([to_image(image, scale) for _, image in panels], [label for label, _ in panels], cols=5)
    assert np.array_equal(np.asarray(filter_lab(IMAGE, name, kernel)), np.asarray(want))


def test_a_kernel_file_that_is_not_text_is_refused(tmp_path: Path) -> None:
    binary = tmp_path / "k.bin"
    binary.write_bytes(b"1 2 \xff")
    assert refusal(lambda: read_kernel_file(binary)) == (
        f"kernel file {binary} is not a text file; write the kernel as rows of numbers"
    )
