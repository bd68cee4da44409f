"""evaluate: loss, top-1 and top-5 accuracy and the confusion matrix of a model on a loader."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from xpnet import backend
from xpnet import functions as F
from xpnet.function import no_grad
from xpnet.tensor import Tensor
from xpnet.train.metrics import Accumulator


def to_batch(x: Any, y: Any, device: str, preprocess: Callable | None = None) -> tuple[Tensor, Any]:
    """Prepare a loader's (x, y): pre-process x on the host, move both to ``device``.

    Returns:
        ``(Tensor(x), y)`` with y a raw array (class indices or targets).
    """
    if preprocess is not None:
        x = preprocess(x)
    return Tensor(backend.to_device(x, device)), backend.to_device(y, device)


def evaluate(
    model: Any,
    loader: Iterable,
    loss_fn: Callable = F.softmax_cross_entropy,
    device: str = "cpu",
    preprocess: Callable | None = None,
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
        preprocess: applied to each x on the host before it is moved.
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
                inputs, targets = to_batch(x, y, device, preprocess)
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
