"""``xpnet train --pretrain``: layer-wise pre-training before training, its records, the
checkpoint it leaves, resume without pre-training again, and its errors."""

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.needs_data("mnist5k", "digits")

SIGMOID_MLP = '{"activation": "sigmoid", "hidden": [24, 16]}'


def xpnet(*args, timeout=180):
    return subprocess.run([sys.executable, "-m", "xpnet", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


def train(run_dir, *extra):
    return xpnet("train", "--model", "mlp", "--model-options", SIGMOID_MLP, "--data",
                 "digits", "--run-dir", run_dir, "--no-curves", "--no-tensorboard", *extra)


@pytest.mark.parametrize("method", ["rbm", "autoencoder"])
def test_pretrain_then_train_then_resume(tmp_path, method):
    run = tmp_path / "run"
    done = train(run, "--pretrain", method, "--pretrain-epochs", "2", "--epochs", "1")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in (run / "pretrain.jsonl").read_text().splitlines()]
    # layers of the run's model: 0 is the pre-processing, 1 the Flatten
    assert [(r["layer"], r["epoch"]) for r in records] == [(2, 1), (2, 2), (4, 1), (4, 2)]
    assert all(r["method"] == method for r in records)
    # digits are standardised (the default pre-processing): linear first layer; the
    # second layer reads logistic codes in (0, 1)
    assert [r["visible"] for r in records[::2]] == ["linear", "logistic"]
    assert "pre-training layer 4 (" + method in done.stdout
    assert json.loads((run / "config.json").read_text())["pretrain"] == method
    assert "test accuracy:" in done.stdout
    again = xpnet("train", "--resume", run, "--epochs", "2")
    assert again.returncode == 0, again.stderr
    assert "pre-training" not in again.stdout  # the weights come from the checkpoint


def test_rbm_needs_logistic_units(tmp_path):
    done = xpnet("train", "--model", "mlp", "--data", "digits", "--pretrain", "rbm",
                 "--run-dir", tmp_path / "r", "--no-curves", "--no-tensorboard")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "method='rbm' needs logistic hidden units, but layer 2 is followed by ReLU" in (
        done.stderr)
    assert not (tmp_path / "r").exists()  # refused before anything is written


def test_perceptron_has_nothing_to_pretrain(tmp_path):
    done = xpnet("train", "--model", "perceptron", "--data", "digits", "--pretrain",
                 "autoencoder", "--run-dir", tmp_path / "r")
    assert done.returncode == 2
    assert ("pretrain autoencoder does not fit model perceptron: the model has no hidden "
            "dense layer to pre-train") in done.stderr
    assert not (tmp_path / "r").exists()


def test_unknown_pretrain_method(tmp_path):
    done = xpnet("train", "--pretrain", "dbn", "--run-dir", tmp_path / "r")
    assert done.returncode == 2 and "--pretrain" in done.stderr and "dbn" in done.stderr
