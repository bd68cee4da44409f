"""Measuring a trained model: loss, top-1 and top-5 accuracy, the confusion matrix,
test-time crops (AlexNet's ten crops) and class probabilities for new inputs."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy

from xpnet import backend
from xpnet import functions as F
from xpnet.data.transforms import ten_crop
from xpnet.function import no_grad
from xpnet.tensor import Tensor
from xpnet.train.metrics import Accumulator

__all__ = ["crop_plan", "evaluate", "evaluate_crops", "predict", "to_batch"]


def to_batch(x: Any, y: Any, device: str) -> tuple[Tensor, Any]:
    """A loader's (x, y) moved to ``device``: ``(Tensor(x), y)`` with y a raw array."""
    return Tensor(backend.to_device(x, device)), backend.to_device(y, device)


def evaluate(
    model: Any,
    loader: Iterable,
    loss_fn: Callable = F.softmax_cross_entropy,
    device: str = "cpu",
    num_classes: int | None = None,
    topk: int = 5,
    confusion: bool = True,
    accuracy: bool = True,
) -> dict[str, Any]:
    """Run ``model`` over ``loader`` in inference mode and measure it.

    The model is put in eval mode (dropout off) under :func:`xpnet.no_grad` and given back
    its previous mode afterwards.

    Args:
        model: a Module mapping a batch (N, ...) to scores (N, K).
        loader: yields ``(x, y)`` NumPy batches (a DataLoader, or any iterable).
        loss_fn: ``loss_fn(scores, y)`` -> a mean loss Tensor.
        device: where the model lives (``"cpu"``, ``"cuda"``).
        num_classes: K for the confusion matrix; taken from the scores when None.
        topk: k of the top-k accuracy, reported as ``top{k}`` when K > 10.
        confusion: whether to build the confusion matrix.
        accuracy: False for models that are not classifiers (only the loss is measured).

    Returns:
        ``{"loss", "count"}`` plus, for a classifier, ``"accuracy"``, ``"top5"`` (more than
        10 classes) and ``"confusion"`` (a (K, K) int64 NumPy array, rows = true class).

    Example:
        >>> r = evaluate(model, test_loader)
        >>> print(f"test accuracy: {100 * r['accuracy']:.2f}%")
    """
    acc = Accumulator(num_classes, topk=topk, confusion=confusion)
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            for x, y in loader:
                inputs, targets = to_batch(x, y, device)
                scores = model(inputs)
                loss = float(loss_fn(scores, targets).data)
                if accuracy:
                    acc.update(scores.data, targets, loss)
                else:
                    acc.count += len(targets)
                    acc.loss_sum += loss * len(targets)
    finally:
        model.train(was_training)
    if accuracy:
        out = acc.result()
    else:
        out = {"loss": acc.loss_sum / max(1, acc.count)}
    out["count"] = acc.count
    return out


def predict(model: Any, x: Any, device: str = "cpu", batch_size: int = 256) -> numpy.ndarray:
    """Class probabilities softmax(model(x)) for a batch of inputs, in eval mode.

    Args:
        model: a classifier taking the inputs as they are (a run's model takes raw pixels).
        x: (N, C, H, W) array.
        device: where the model lives.
        batch_size: examples per forward pass.

    Returns:
        NumPy (N, K) probabilities.
    """
    was_training = model.training
    model.eval()
    out = []
    try:
        with no_grad():
            for start in range(0, len(x), batch_size):
                batch = Tensor(backend.to_device(x[start:start + batch_size], device))
                out.append(backend.to_numpy(F.softmax(model(batch), axis=1).data))
    finally:
        model.train(was_training)
    return numpy.concatenate(out)


def crop_plan(augment: Sequence[str] | None, height: int) -> tuple[int, bool]:
    """(padding, mirror) of test-time crops for a model trained with ``augment``.

    Crops of the image zero-padded by H/8 (the shifts ``RandomCrop`` taught the network)
    when it was trained with random crops, else by 1 pixel; mirrored crops only when it
    was trained with flips (a mirrored digit is another symbol). AlexNet's ten crops are
    the case with both: four corners and the centre, and their mirrors.
    """
    augment = set(augment or ())
    pad = max(1, height // 8) if {"crop", "crop-flip"} & augment else 1
    return pad, bool({"flip", "crop-flip"} & augment)


def _crop_scores(model: Any, x: numpy.ndarray, device: str, pad: int, mirror: bool) -> Any:
    """Mean softmax over the corner and centre crops of x padded by ``pad`` (so crops keep
    x's size), and of its mirror when ``mirror``: (B, K)."""
    h, w = x.shape[2:]
    padded = numpy.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))  # (B, C, H+2p, W+2p)
    crops = ten_crop(padded, (h, w))  # (10, B, C, H, W): 5 crops, then 5 of the mirror
    crops = crops if mirror else crops[:5]
    total = None
    with no_grad():
        for crop in crops:  # each (B, C, H, W)
            probs = F.softmax(model(Tensor(backend.to_device(crop, device))), axis=1).data
            total = probs if total is None else total + probs
    return total / len(crops)


def evaluate_crops(model: Any, loader: Iterable, pad: int, mirror: bool,
                   device: str = "cpu", num_classes: int | None = None) -> dict[str, Any]:
    """:func:`evaluate` on the mean softmax of test-time crops (Krizhevsky et al. 2012).

    Each image is zero-padded by ``pad`` and cut into its four corner crops and its
    centre crop of the original size, and their mirrors with ``mirror``; the network's
    softmax is averaged over them. The loss is the cross-entropy of that average.

    Returns:
        As :func:`evaluate` (with the confusion matrix), plus ``"crops"``: a description.
    """
    acc = Accumulator(num_classes, confusion=True)
    was_training = model.training
    model.eval()
    try:
        for x, y in loader:
            probs = backend.to_numpy(_crop_scores(model, x, device, pad, mirror))
            picked = probs[numpy.arange(len(y)), y]
            acc.update(probs, y, float(-numpy.log(numpy.maximum(picked, 1e-12)).mean()))
    finally:
        model.train(was_training)
    result = acc.result()
    result["count"] = acc.count
    result["crops"] = f"{10 if mirror else 5} crops, padding {pad}" + (
        "" if mirror else ", no mirrors: trained without flips")
    return result
