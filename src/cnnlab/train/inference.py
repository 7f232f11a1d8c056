"""Using a finished run: test-set evaluation with per-class accuracy and confusion matrix, and top-k prediction."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from cnnlab.data import DeviceLoader, adapt
from cnnlab.errors import CnnlabError
from cnnlab.train.engine import evaluate, prepare
from cnnlab.train.optim import loss_function
from cnnlab.train.run import RunDir


def evaluate_run(path: str | Path, with_images: bool = False) -> dict[str, Any]:
    """Test accuracy, per-class accuracy and the confusion matrix (rows: true class, columns: predicted).

    with_images adds the test images as the model saw them before scaling (uint8 N,C,H,W), their labels and the
    predictions, for reports that show examples."""
    run = RunDir(Path(path))
    config = run.config()
    model, meta = run.load_model("best")
    data, _, _ = prepare(config)
    norm = {"scale": meta.get("scale", 1 / 255), **({"mean": meta["mean"], "std": meta["std"]} if meta.get("mean") else {})}
    loader = DeviceLoader(data.test_x, data.test_y, batch_size=512, shuffle=False, **norm)
    loss, acc, preds = evaluate(model, loader, loss_function(config))
    extra = {"images": data.test_x, "labels": data.test_y, "predictions": preds} if with_images else {}
    k = len(meta["classes"])
    confusion = torch.zeros(k, k, dtype=torch.long)
    confusion.index_put_((data.test_y, preds), torch.ones_like(preds), accumulate=True)
    per_class = (confusion.diag().float() / confusion.sum(1).clamp(min=1).float()).tolist()
    return {"test_accuracy": acc, "test_loss": loss, "test_size": len(data.test_y), "classes": meta["classes"],
            "per_class_accuracy": per_class, "confusion": confusion.tolist(), **extra}


def load_image(path: str | Path) -> torch.Tensor:
    """A uint8 (1, C, H, W) tensor from an image file."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise CnnlabError(f"image {p} not found")
    try:
        with Image.open(p) as im:
            im = im.convert("L" if im.mode in ("L", "1", "I;16", "I") else "RGB")
            arr = torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8)
            c = 1 if im.mode == "L" else 3
            return arr.view(im.height, im.width, c).permute(2, 0, 1).unsqueeze(0).contiguous()
    except (UnidentifiedImageError, OSError) as e:
        raise CnnlabError(f"{p} is not a readable image ({e.__class__.__name__}); give a PNG or JPEG file") from None


def predict(path: str | Path, images: list[str | Path], topk: int = 3) -> list[dict[str, Any]]:
    """Top-k classes with probabilities for each image, prepared the way the run's training data was."""
    run = RunDir(Path(path))
    model, meta = run.load_model("best")
    target = tuple(meta["input_shape"])
    adaptation = meta.get("adapt") or {}
    results = []
    for image in images:
        x = load_image(image)
        mode = "pad" if adaptation.get("mode") == "pad" and list(x.shape[-2:]) == adaptation["source_shape"][1:] else "resize"
        x = adapt(x, target, mode).float().mul_(meta.get("scale", 1 / 255))
        if meta.get("mean"):
            m = torch.tensor(meta["mean"]).view(1, -1, 1, 1)
            s = torch.tensor(meta["std"]).view(1, -1, 1, 1)
            x = (x - m) / s
        with torch.no_grad():
            probs = torch.softmax(model(x), 1)[0]
        top = probs.topk(min(topk, len(probs)))
        results.append({"image": str(image), "top": [(meta["classes"][i], p) for p, i in zip(top.values.tolist(), top.indices.tolist())]})
    return results
