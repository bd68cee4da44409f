"""Top-1, top-k, confusion matrix and the epoch accumulator, against plain loops."""

import numpy
import pytest

from xpnet.train.metrics import (
    Accumulator,
    accuracy,
    confusion_matrix,
    correct_topk,
    topk_accuracy,
)


def _loop_topk(scores, targets, k):
    hits = 0
    for s, t in zip(scores, targets, strict=True):
        order = sorted(range(len(s)), key=lambda c: -s[c])
        hits += t in order[:k]
    return hits


def test_topk_matches_a_loop():
    rng = numpy.random.default_rng(0)
    scores = rng.standard_normal((50, 12))
    targets = rng.integers(0, 12, 50)
    for k in (1, 3, 5, 12):
        assert correct_topk(scores, targets, k) == _loop_topk(scores, targets, k)
    assert accuracy(scores, targets) == _loop_topk(scores, targets, 1) / 50
    assert topk_accuracy(scores, targets, 5) == _loop_topk(scores, targets, 5) / 50
    assert topk_accuracy(scores, targets, 12) == 1.0


def test_confusion_matrix_matches_a_loop():
    rng = numpy.random.default_rng(1)
    p, t = rng.integers(0, 4, 40), rng.integers(0, 4, 40)
    m = confusion_matrix(p, t, 4)
    ref = numpy.zeros((4, 4), int)
    for a, b in zip(t, p, strict=True):
        ref[a, b] += 1
    numpy.testing.assert_array_equal(m, ref)
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix(numpy.array([5]), numpy.array([0]), 4)


def test_accumulator_sums_batches_and_adds_top5_above_10_classes():
    rng = numpy.random.default_rng(2)
    scores, targets = rng.standard_normal((30, 11)), rng.integers(0, 11, 30)
    acc = Accumulator(confusion=True)
    for i in range(0, 30, 8):
        acc.update(scores[i : i + 8], targets[i : i + 8], loss=1.0 + i)
    r = acc.result("val_")
    assert r["val_accuracy"] == accuracy(scores, targets)
    assert r["val_top5"] == topk_accuracy(scores, targets, 5)
    assert r["val_confusion"].sum() == 30
    assert r["val_loss"] == pytest.approx((8 * 1 + 8 * 9 + 8 * 17 + 6 * 25) / 30)
    small = Accumulator()
    small.update(scores[:, :10], targets % 10)
    assert "top5" not in small.result()
    restored = Accumulator()
    restored.load_state_dict(acc.state_dict())
    assert restored.result()["accuracy"] == r["val_accuracy"]


def test_shape_errors_name_the_function():
    with pytest.raises(ValueError, match="accuracy: expected targets"):
        accuracy(numpy.zeros((3, 2)), numpy.zeros(4, int))
