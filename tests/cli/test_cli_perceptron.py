"""MulticlassPerceptron (Kesler's construction of Rosenblatt's rule) and
``xpnet train --model perceptron``."""

import json
import subprocess
import sys

import numpy
import pytest

from xpnet import Tensor
from xpnet.models.multiclass_perceptron import MulticlassPerceptron
from xpnet.models.zoo import build_model

pytestmark = pytest.mark.needs_data("digits")


def _blobs(n_per_class=30, k=4, d=5, spread=0.3, seed=0):
    rng = numpy.random.default_rng(seed)
    centres = rng.normal(0.0, 3.0, (k, d))
    x = numpy.concatenate([c + spread * rng.standard_normal((n_per_class, d)) for c in centres])
    y = numpy.repeat(numpy.arange(k), n_per_class)
    return x.astype(numpy.float32), y


def test_one_update_moves_the_true_and_the_winning_wrong_class_only():
    p = MulticlassPerceptron(3, 4)
    p.weight.data[2] = [1.0, 0.0, 0.0]  # class 2 wins on x below
    x = numpy.array([[2.0, 1.0, -1.0]], numpy.float32)
    errors = p.train_epoch(x, numpy.array([1]), eta=0.5)
    assert errors == 1
    numpy.testing.assert_array_equal(p.weight.data[1], 0.5 * x[0])  # w_t += eta x
    numpy.testing.assert_array_equal(p.weight.data[2], [1.0, 0.0, 0.0] - 0.5 * x[0])
    numpy.testing.assert_array_equal(p.weight.data[[0, 3]], 0.0)  # others untouched
    numpy.testing.assert_array_equal(p.bias.data, [0.0, 0.5, -0.5, 0.0])
    assert p.train_epoch(x, numpy.array([1]), eta=0.5) == 0  # now right: no change


def test_rule_matches_a_plain_loop_reference():
    x, y = _blobs(k=3, spread=2.0)  # overlapping: errors in every epoch
    order = numpy.random.default_rng(1).permutation(len(x))
    W, b = numpy.zeros((3, 5)), numpy.zeros(3)
    wrong = 0
    for n in order:
        k = int(numpy.argmax(W @ x[n] + b))
        if k != y[n]:
            wrong += 1
            W[y[n]] += x[n]
            b[y[n]] += 1
            W[k] -= x[n]
            b[k] -= 1
    p = MulticlassPerceptron(5, 3, dtype=numpy.float64)
    assert p.train_epoch(x, y, order) == wrong > 0
    numpy.testing.assert_allclose(p.weight.data, W, rtol=1e-12)
    numpy.testing.assert_allclose(p.bias.data, b, rtol=1e-12)


def test_converges_on_separable_classes_and_reports_errors_per_epoch():
    x, y = _blobs()
    seen = []
    result = MulticlassPerceptron(5, 4).fit(x, y, epochs=50,
                                            on_epoch=lambda e, n: seen.append((e, n)))
    assert result.converged and result.errors[-1] == 0
    assert result.errors[0] > 0
    assert seen == list(enumerate(result.errors, start=1))


def test_forward_gives_scores_whose_argmax_is_predict_and_flattens_images():
    p = MulticlassPerceptron(16, 3, rng=numpy.random.default_rng(0))
    x = numpy.random.default_rng(1).random((5, 1, 4, 4)).astype(numpy.float32)
    scores = p(Tensor(x)).data
    assert scores.shape == (5, 3)
    numpy.testing.assert_array_equal(scores.argmax(axis=1), p.predict(x))


def test_bad_arguments_name_the_class():
    with pytest.raises(ValueError, match="n_classes must be an int >= 2"):
        MulticlassPerceptron(4, 1)
    p = MulticlassPerceptron(4, 3)
    with pytest.raises(ValueError, match="expected examples of 4 values, got 5"):
        p.predict(numpy.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"classes must be in \[0, 3\)"):
        p.train_epoch(numpy.zeros((1, 4)), numpy.array([3]))


def test_zoo_builds_it():
    net = build_model("perceptron", (1, 28, 28), num_classes=10)
    assert isinstance(net, MulticlassPerceptron)
    assert net.num_parameters() == 7850


def test_xpnet_train_perceptron_uses_the_rule_and_prints_test_accuracy(tmp_path):
    run = tmp_path / "p"
    done = subprocess.run([sys.executable, "-m", "xpnet", "train", "--model", "perceptron",
                           "--data", "digits", "--epochs", "3", "--run-dir", str(run)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[-1] == f"run folder: {run}"
    assert lines[-2].startswith("test accuracy: ") and lines[-2].endswith("%")
    assert float(lines[-2][15:-1]) > 85.0  # digits are nearly linearly separable
    assert "epoch 3/3  train loss" in done.stderr
    config = json.loads((run / "config.json").read_text())  # Rosenblatt's rule: the defaults
    assert (config["batch_size"], config["momentum"], config["weight_decay"]) == (1, 0.0, 0.0)
    assert (config["loss"], config["schedule"], config["monitor"]) == (
        "perceptron", "none", "val_accuracy")
    records = [json.loads(r) for r in (run / "history.jsonl").read_text().splitlines()]
    epochs = [r for r in records if r["kind"] == "epoch"]
    assert [r["epoch"] for r in epochs] == [1, 2, 3]
    # train_accuracy counts the examples right when visited, before their update
    assert epochs[-1]["train_accuracy"] > epochs[0]["train_accuracy"]
    assert (run / "best.safetensors").is_file() and (run / "last.safetensors").is_file()
