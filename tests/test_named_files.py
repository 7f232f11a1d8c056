"""Shipped files by name (recipe:NAME, study:NAME, net:NAME, space:NAME, table:NAME, matrix:NAME) from a folder that
is not the checkout: each gives what the same file gives by its path. Bad names: tests/test_bad_input.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnlab.cli import main
from cnnlab.errors import CnnlabError
from cnnlab.resources import KINDS, examples_root, resolve, shipped
from cnnlab.rundir import RunConfig
from cnnlab.study import load_study
from cnnlab.tune import load_space
from cnnlab.zoo import create_model
from tests.conftest import EXAMPLES, write_toml


def cli(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().out


@pytest.fixture(autouse=True)
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs from an empty folder, where the repository's relative examples/ paths do not exist."""
    monkeypatch.chdir(tmp_path)


def test_the_package_holds_the_repositorys_examples() -> None:
    assert examples_root().resolve() == EXAMPLES.resolve()  # examples/ is a link into the package: one copy
    for kind, spec in KINDS.items():
        on_disk = sorted(p.stem for p in (EXAMPLES / spec.folder).iterdir() if p.suffix in spec.suffixes)
        assert on_disk and list(shipped(kind)) == on_disk, kind


@pytest.mark.parametrize(
    "named, by_path",
    [
        (["summary", "net:lenet-like"], ["summary", "{ex}/nets/lenet-like.toml"]),
        (
            ["summary", "net:factorised-7x7", "--format", "csv"],
            ["summary", "{ex}/nets/factorised-7x7.toml", "--format", "csv"],
        ),
        (
            ["check", "table:lenet-like-published", "--model", "net:lenet-like"],
            ["check", "{ex}/tables/lenet-like-published.md", "--model", "{ex}/nets/lenet-like.toml"],
        ),
        (
            ["conv", "matrix:edge4x5", "--kernel", "matrix:sobel-x", "--padding", "1"],
            ["conv", "{ex}/matrices/edge4x5.txt", "--kernel", "{ex}/matrices/sobel-x.txt", "--padding", "1"],
        ),
        (
            ["compare", "study:cifar10-architectures", "--dry-run", "--out", "s"],
            ["compare", "{ex}/studies/cifar10-architectures.toml", "--dry-run", "--out", "s"],
        ),
    ],
    ids=["summary", "summary csv", "check", "conv", "compare"],
)
def test_a_name_gives_what_its_path_gives(named: list[str], by_path: list[str], capsys: pytest.CaptureFixture) -> None:
    by_path = [a.format(ex=EXAMPLES) for a in by_path]
    expected = cli(by_path, capsys)
    code, out = cli(named, capsys)
    for name, path in zip(named, by_path):  # where the output echoes the argument (a title), it echoes the name
        out = out.replace(name, path) if name.partition(":")[0] in KINDS else out
    assert out.strip() and (code, out.replace(str(EXAMPLES.resolve()), str(EXAMPLES))) == expected


def test_library_functions_take_names() -> None:
    recipes = EXAMPLES / "recipes"
    assert RunConfig.from_toml("recipe:mnist-99") == RunConfig.from_toml(recipes / "mnist-99.toml")
    # the file name as README's tables give it names the same recipe
    assert RunConfig.from_toml("recipe:mnist-99.toml") == RunConfig.from_toml("recipe:mnist-99")
    assert load_space("space:mnist-cnn").text == load_space(EXAMPLES / "spaces" / "mnist-cnn.toml").text
    assert [r.config for r in load_study("study:init").runs] == [
        r.config for r in load_study(EXAMPLES / "studies" / "init.toml").runs
    ]


def test_a_study_of_ones_own_takes_a_shipped_recipe_by_name(tmp_path: Path) -> None:
    """recipe:NAME in a study anywhere reads the shipped recipe; the study's own keys still win."""
    runs = '[[runs]]\nname = "a"\nlimit = 100\nrecipe = "{}"\n'
    named = load_study(write_toml(tmp_path / "named.toml", runs.format("recipe:cifar10-70")))
    relative = load_study(write_toml(tmp_path / "rel.toml", runs.format(EXAMPLES / "recipes" / "cifar10-70.toml")))
    assert named.runs[0].config == relative.runs[0].config
    assert named.runs[0].config.limit == 100 and named.runs[0].config.whiten == "frozen"


def test_recipes_lists_each_recipe_with_its_first_line(capsys: pytest.CaptureFixture) -> None:
    code, out = cli(["recipes"], capsys)
    rows = out.strip().splitlines()
    assert code == 0 and len(rows) == len(shipped("recipe"))
    for row, (name, path) in zip(rows, shipped("recipe").items()):
        first = path.read_text().splitlines()[0].lstrip("# ")
        assert row.split()[0] == f"recipe:{name}" and row.endswith(first)
    code, out = cli(["recipes", "--kind", "all"], capsys)
    assert [row.split()[0] for row in out.strip().splitlines()] == [
        f"{kind}:{name}" for kind in KINDS for name in shipped(kind)
    ]


def test_models_lists_the_shipped_networks(capsys: pytest.CaptureFixture) -> None:
    code, out = cli(["models", "net:*"], capsys)
    rows = out.strip().splitlines()[1:]
    assert code == 0 and [r.split()[0] for r in rows] == [f"net:{n}" for n in shipped("net")]
    for row in rows:
        model = create_model(row.split()[0])
        params = sum(p.numel() for p in model.parameters())
        assert row.split()[3:6:2] == ["x".join(map(str, model.input_size)), f"{params:,}"], row
    # the classes a network gives as built: resnet50-head's 10 were '-' (its file names no num_classes), and a
    # network that ends in feature maps, or cannot run on its own input, has none
    classes = {r.split()[0]: r.split()[4] for r in rows}
    assert classes["net:resnet50-head"] == "10" and classes["net:vgg16-cats-dogs"] == "2"
    assert classes["net:inception-naive"] == "-" and classes["net:dilated-chain"] == "-"


def test_an_unknown_name_lists_every_shipped_one() -> None:
    for kind in KINDS:
        with pytest.raises(CnnlabError) as e:
            resolve(f"{kind}:nope", kind)
        assert all(name in str(e.value) for name in shipped(kind)), kind
