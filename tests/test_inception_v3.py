"""Inception v3 beyond its layout (tested in test_zoo_torchvision): aux heads in training, torchvision's ImageNet
weights through --init-from (a locally made checkpoint under the canonical file name, no network)."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from cnnlab.analysis import summarize
from cnnlab.cli import main
from cnnlab.errors import CnnlabError
from cnnlab.rundir import open_run
from cnnlab.train.optim import training_loss
from cnnlab.transfer import resolve_source
from cnnlab.transfer.apply import load_matching
from cnnlab.zoo import create_model
from cnnlab.zoo.googlenet import GoogLeNetOutputs
from cnnlab.zoo.inception_v3 import InceptionOutputs

WEIGHTS = "torchvision:Inception_V3_Weights.IMAGENET1K_V1"


def test_summary_counts_match_torchvisions_published_figures() -> None:
    """What `cnnlab summary inception_v3` prints: the default 299x299 input, 5.71 G MACs (torchvision's `_ops` for
    these weights, in its GFLOPS that count one multiply-add once), 27,161,264 parameters with the aux head."""
    meta = torchvision.models.Inception_V3_Weights.IMAGENET1K_V1.meta
    s = summarize("inception_v3")
    assert s.input_shape == (3, 299, 299) and s.output_shape == (1000,)
    assert s.macs == 5_713_216_096 and abs(s.macs / 1e9 - meta["_ops"]) / meta["_ops"] < 0.001
    assert s.params == 23_834_568
    with_aux = summarize("inception_v3", options={"aux_logits": True})
    assert with_aux.params == meta["num_params"] == 27_161_264 and with_aux.macs == s.macs  # the head runs in training


def test_aux_losses_are_added_with_each_models_weight() -> None:
    """Each model says how much its aux heads count; only the weight is read from it, so meta-device models do."""
    ce = nn.CrossEntropyLoss()
    with torch.device("meta"):
        googlenet = create_model("googlenet", num_classes=10, aux_logits=True)
        inception = create_model("inception_v3", num_classes=10, aux_logits=True)
    torch.manual_seed(0)
    main_logits, aux1, aux2, y = torch.randn(4, 10), torch.randn(4, 10), torch.randn(4, 10), torch.randint(0, 10, (4,))
    out = GoogLeNetOutputs(main_logits, aux2, aux1)
    loss, logits = training_loss(googlenet, ce, out, y)
    assert logits is main_logits
    assert torch.allclose(loss, ce(main_logits, y) + 0.3 * (ce(aux1, y) + ce(aux2, y)))  # Szegedy et al. 2014
    loss, _ = training_loss(inception, ce, InceptionOutputs(main_logits, aux1), y)
    assert torch.allclose(loss, ce(main_logits, y) + 0.4 * ce(aux1, y))
    assert torch.equal(training_loss(inception, ce, main_logits, y)[0], ce(main_logits, y))  # eval-style output


def test_aux_head_refuses_a_grid_too_small_for_it_in_one_line() -> None:
    """torchvision's head would fail deep in avg_pool2d; ours says which input it needs (eval mode needs no head)."""
    with torch.device("meta"):
        model = create_model("inception_v3", num_classes=10, aux_logits=True)
        assert model.eval()(torch.empty(2, 3, 75, 75)).shape == (2, 10)
        with pytest.raises(CnnlabError, match=r"at least 17x17, got 3x3: train it on 299x299 inputs") as e:
            model.train()(torch.empty(2, 3, 75, 75))
        assert "\n" not in str(e.value)
        assert model.train()(torch.empty(2, 3, 299, 299)).aux_logits.shape == (2, 10)


def test_a_model_with_aux_heads_trains_through_the_cli(tmp_path, capsys) -> None:
    """Before #15 the engine took every output for logits, and a model with aux heads crashed in its first step."""
    argv = ["train", "--model", "googlenet", "--option", "aux_logits=true", "--data", "digits", "--input", "3,32,32"]
    argv += ["--limit", "20", "--epochs", "1", "--batch-size", "10", "--no-progress", "--out", str(tmp_path / "run")]
    assert main(argv) == 0
    run = open_run(tmp_path / "run")
    assert any(k.startswith("aux1.") for k in run.weights) and run.summary["test_accuracy"] is not None


@pytest.fixture
def inception_weights(tmp_path, monkeypatch):
    """A torch hub cache holding a torchvision-format Inception v3 checkpoint (aux head included, as the real one)
    under its canonical file name, with non-trivial BN statistics."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("CNNLAB_OFFLINE", "1")
    resolve_source.cache_clear()
    torch.manual_seed(3)
    tv = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False)
    for m in tv.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    path = tmp_path / "torch" / "hub" / "checkpoints" / "inception_v3_google-0cc3c7bd.pth"
    path.parent.mkdir(parents=True)
    torch.save(tv.state_dict(), path)
    yield tv
    resolve_source.cache_clear()


def test_torchvision_inception_weights_load_with_their_input_scaling(inception_weights) -> None:
    source = resolve_source(WEIGHTS)
    assert source.model == "inception_v3" and source.input_shape == [3, 299, 299]
    # torchvision feeds these weights ImageNet-normalised pixels through transform_input=True; cnnlab normalises with
    # 0.5 / 0.5 instead: the same numbers reach the first conv, so the outputs agree.
    assert source.mean == [0.5, 0.5, 0.5] and source.std == [0.5, 0.5, 0.5]
    tv = inception_weights.eval()
    tv.transform_input = True
    pixels = torch.rand(2, 3, 75, 75)
    imagenet = torchvision.transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    with torch.device("meta"):
        ours = create_model("inception_v3", aux_logits=True)
    ours.load_state_dict(source.state_dict(), strict=True, assign=True)
    with torch.no_grad():
        expected, got = tv(imagenet(pixels)), ours.eval()((pixels - 0.5) / 0.5)
    assert (got - expected).abs().max().item() <= 1e-4

    # into a 10-class model without the aux head, as `--init-from` loads it (the generic path runs in test_transfer)
    model = create_model("inception_v3", num_classes=10)
    info = load_matching(model, source.state_dict(), WEIGHTS)
    assert info["replaced"] == ["fc.bias", "fc.weight"] and info["missing"] == []
    assert info["loaded"] == len(model.state_dict()) - 2  # everything else; the checkpoint's AuxLogits is not used
    state = inception_weights.state_dict()
    for k in ("Conv2d_1a_3x3.conv.weight", "Mixed_7c.branch_pool.bn.running_var", "Mixed_6e.branch7x7dbl_5.bn.bias"):
        assert torch.equal(model.state_dict()[k], state[k]), k
