"""``xpnet evaluate / predict / models / summary / --help`` run as a user would, on one
small trained run, and ``load_run``'s errors on folders that are not runs."""

import subprocess
import sys

import numpy
import pytest

from xpnet.train import runfolder

pytestmark = pytest.mark.needs_data("mnist5k", "digits")


def xpnet(*args, timeout=120, cwd=None):
    """Run ``python -m xpnet ARGS`` and return the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "xpnet", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """An MLP trained 2 epochs on digits (97% or so)."""
    path = tmp_path_factory.mktemp("cli") / "digits-mlp"
    done = xpnet("train", "--model", "mlp", "--data", "digits", "--epochs", "2",
                 "--run-dir", path, "--no-curves", "--no-tensorboard")
    assert done.returncode == 0, done.stderr
    return path


def test_evaluate_prints_accuracy_and_confusion_matrix(run):
    done = xpnet("evaluate", run)
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert out[0] == f"run: {run}  checkpoint: best (epoch 2)"
    assert out[1] == "test set: 360 images, 10 classes"
    accuracy = next(line for line in out if line.startswith("accuracy: "))
    assert "top-5" not in done.stdout  # 10 classes: top-1 only
    rows = out[out.index("confusion matrix (rows: true class, columns: predicted class):")
               + 2:]
    matrix = numpy.array([[int(v) for v in r.split()[1:]] for r in rows])
    assert matrix.shape == (10, 10) and matrix.sum() == 360
    assert accuracy == f"accuracy: {100 * numpy.trace(matrix) / 360:.2f}%"


def test_evaluate_last_checkpoint_on_val_with_ten_crops(run):
    done = xpnet("evaluate", run, "--checkpoint", "last", "--split", "val", "--ten-crop")
    assert done.returncode == 0, done.stderr
    assert ("val set: 144 images, 10 classes, test-time crops (5 crops, padding 1, no "
            "mirrors: trained without flips)") in done.stdout
    # reference: the mean softmax of the 5 crops of the image zero-padded by 1 (no crops
    # and no flips in training: small shifts, no mirrors)
    from xpnet import Tensor, no_grad
    from xpnet import functions as F
    from xpnet.data.transforms import ten_crop

    loaded = runfolder.load_run(run, "last")
    x, y = loaded.dataset("val").arrays()
    crops = ten_crop(numpy.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))), 8)[:5]
    with no_grad():
        probs = sum(F.softmax(loaded.model(Tensor(c)), axis=1).data
                    for c in crops)
    expected = f"accuracy: {100 * (probs.argmax(axis=1) == y).mean():.2f}%"
    assert expected in done.stdout.splitlines()


def test_crop_plan_follows_the_training_augmentation():
    from xpnet.train import crop_plan

    assert crop_plan(["none"], 32) == (1, False)
    assert crop_plan(["crop-flip"], 32) == (4, True)
    assert crop_plan(["elastic", "flip"], 28) == (1, True)


def test_predict_png_and_npy(run, tmp_path):
    from PIL import Image

    x, y = runfolder.load_run(run).dataset("test").get_batch(numpy.arange(2))
    png, npy = tmp_path / "a.png", tmp_path / "b.npy"
    # 8x8 grey digits drawn 4x larger: predict converts back to the model's 8x8
    Image.fromarray((x[0, 0] * 255).round().astype(numpy.uint8)).resize(
        (32, 32), Image.NEAREST).save(png)
    numpy.save(npy, x[1, 0])
    done = xpnet("predict", run, png, npy, "--top", "3")
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert out[0].startswith(f"{png}: ") and out[4].startswith(f"{npy}: ")
    assert out[4] == f"{npy}: {y[1]}"  # an exact test image is classified right
    probs = [float(line.split()[-1].rstrip("%")) for line in out[5:8]]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 100.01


def test_predict_refuses_an_array_of_the_wrong_shape(run, tmp_path):
    bad = tmp_path / "bad.npy"
    numpy.save(bad, numpy.zeros((28, 28), numpy.float32))
    done = xpnet("predict", run, bad)
    assert done.returncode == 1
    assert done.stderr == (f"xpnet: error: {bad}: an array of shape (1, 28, 28); the model "
                           "takes (1, 8, 8)\n")


def test_models_lists_the_zoo_with_parameter_counts():
    done = xpnet("models")
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line.split() for line in done.stdout.splitlines()[1:]}
    for name in ("mlp", "perceptron", "lenet5", "cifar_convnet", "alexnet", "maxout_mnist",
                 "dropconnect_mnist"):
        assert name in rows
    assert rows["lenet5"][1:3] == ["1x28x28", "61,706"]
    assert rows["perceptron"][1:3] == ["1x28x28", "7,850"]


def test_summary_tabulates_layers_with_a_given_shape():
    done = xpnet("summary", "lenet5")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("lenet5 for inputs (1, 28, 28), 10 classes")
    assert "61,706" in done.stdout and "Conv2d" in done.stdout
    other = xpnet("summary", "mlp", "--input-shape", "3", "8", "8", "--classes", "4",
                  "--model-options", '{"hidden": [7]}')
    assert other.returncode == 0, other.stderr
    assert f"{192 * 7 + 7 + 7 * 4 + 4:,}" in other.stdout


def test_help_is_a_subprocess_away():
    done = xpnet("train", "--help")
    assert done.returncode == 0 and "examples:" in done.stdout
    assert "--batch-size" in done.stdout and "--resume" in done.stdout


@pytest.mark.parametrize("command", ["evaluate", "predict", "models", "summary",
                                     "visualize", "report"])
def test_every_command_has_help_with_examples(command, capsys):
    from xpnet.cli import main

    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "example" in out and f"xpnet {command}" in out


def test_load_run_names_what_is_missing(tmp_path, run):
    with pytest.raises(FileNotFoundError, match="no such run folder"):
        runfolder.load_run(tmp_path / "nope")
    with pytest.raises(ValueError, match="is not an xpnet run folder: it has no config.json"):
        runfolder.load_run(tmp_path)
    empty = tmp_path / "empty"
    config, info = runfolder.read_config(run)
    runfolder.write_config(empty, config, info)
    with pytest.raises(FileNotFoundError, match=r"no best checkpoint .* it has none yet"):
        runfolder.load_run(empty)


def test_threads_option_sets_xpnet_threads_and_refuses_zero(capsys):
    from xpnet import cpu
    from xpnet.cli import main
    from xpnet.cpu import threads

    before = threads._settings.num_threads
    try:
        assert main(["summary", "lenet5", "--threads", "3"]) == 0
        assert cpu.get_num_threads() == 3
    finally:
        cpu.set_num_threads(before)
    assert main(["summary", "lenet5", "--threads", "0"]) == 2
    assert "--threads: expected a whole number >= 1, got '0'" in capsys.readouterr().err
