"""Smoke tests of the convolutional examples: one short epoch each, real MNIST-5k."""

import runpy
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

pytestmark = [pytest.mark.slow, pytest.mark.needs_data("mnist5k")]


def load(name):
    return runpy.run_path(str(EXAMPLES / name), run_name="example_under_test")


def test_mnist_lenet_one_epoch_learns(capsys):
    result = load("mnist_lenet.py")["main"](["--epochs", "1"])
    out = capsys.readouterr().out
    assert "augmentation: none" in out and "final test accuracy" in out
    assert len(result["history"]) == 1
    assert result["test_accuracy"] > 0.7  # chance is 0.1; 8 epochs reach ~0.97


def test_elastic_flag_changes_only_the_data(capsys):
    mod = load("mnist_lenet.py")
    plain = mod["train_lenet"](seed=3, epochs=1, verbose=False)
    elastic = mod["train_lenet"](seed=3, epochs=1, elastic=True, alpha=34.0, sigma=4.0,
                                 verbose=False)
    # same weights and order, distorted digits: a different (higher) training loss
    assert elastic["history"][0]["train_loss"] > plain["history"][0]["train_loss"]
    assert elastic["test_accuracy"] > 0.5
    mod["main"](["--epochs", "1", "--elastic", "--alpha", "20", "--sigma", "5"])
    assert "augmentation: elastic alpha 20.0 sigma 5.0" in capsys.readouterr().out


def test_elastic_vs_plain_prints_the_table(capsys):
    mod = load("elastic_vs_plain.py")
    results = mod["main"](["--seeds", "0", "--epochs", "1"])
    out = capsys.readouterr().out
    assert set(results) == {"plain", "elastic"}
    assert "| plain | " in out and "| elastic | " in out and "wins by" in out
    rows = [line for line in out.splitlines() if line.startswith(("| plain", "| elastic"))]
    assert len(rows) == 2 and all(line.count("|") == 5 for line in rows)
