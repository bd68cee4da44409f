"""train_run and resume_run: the run folder they write, the pre-processing inside the model,
exact resume, the perceptron through the Trainer, and run folders of xpnet 0.1."""

import json
import shutil
import warnings
from pathlib import Path

import numpy
import pytest

from xpnet import Tensor, no_grad
from xpnet.data import DataLoader
from xpnet.data.preprocessing import Standardize
from xpnet.models.multiclass_perceptron import MulticlassPerceptron
from xpnet.train import RunConfig, RunExistsError, evaluate, load_run, resume_run, train_run
from xpnet.train.builders import LOSSES, fit_sample, open_splits
from xpnet.train.callbacks import Callback
from xpnet.train.checkpoint import load_checkpoint

pytestmark = pytest.mark.needs_data("digits")

FAST = {"tensorboard": False, "curves": False, "log_every": 5}
V1 = Path(__file__).parent / "data" / "runs_v1"


def _mlp(**changes):
    return RunConfig.resolve({"model": "mlp", "data": "digits", "epochs": 2, "limit_train": 400,
                              "model_options": {"hidden": [16]}, **FAST, **changes})


def _weights(run_dir, name="last"):
    tensors, _ = load_checkpoint(Path(run_dir) / name)
    return {k: v for k, v in tensors.items() if k.startswith("model.")}


def test_train_run_writes_the_folder_and_the_model_takes_raw_pixels(tmp_path):
    lines = []
    result = train_run(_mlp(), tmp_path / "run", log=lines.append)
    assert result.run_dir == tmp_path / "run" and len(result.history) == 2
    assert result.test["count"] == 360 and result.test["accuracy"] > 0.2  # chance: 0.1
    assert lines[0].startswith("training mlp on digits: 360 train / 40 val / 360 test")
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["run_format"] == 2 and config["loss"] == "cross_entropy"
    assert config["augment"] == ["none"] and config["input_shape"] == [1, 8, 8]
    run = load_run(tmp_path / "run")
    assert isinstance(run.model[0], Standardize) and run.model[0].fitted
    assert {"model.0.mean", "model.0.std"} <= set(_weights(tmp_path / "run"))  # saved with it
    # the statistics come from the training split only
    train = run.dataset("train")
    x = fit_sample(train, 0)
    numpy.testing.assert_allclose(run.model[0].mean.ravel(), x.mean(axis=(0, 2, 3)), rtol=1e-5)
    again = evaluate(run.model, DataLoader(run.dataset("test"), 100, shuffle=False),
                     num_classes=10)
    assert again["accuracy"] == result.test["accuracy"]


def test_a_new_run_refuses_a_folder_that_holds_one(tmp_path):
    train_run(_mlp(epochs=1), tmp_path / "run")
    with pytest.raises(RunExistsError, match="already holds a run; continue it with"):
        train_run(_mlp(epochs=1), tmp_path / "run")


class _Stop(Callback):
    """Raise KeyboardInterrupt after a given step (its checkpoint saved)."""

    order = 200

    def __init__(self, step):
        self.step = step

    def on_batch_end(self, state):
        if state.step == self.step:
            raise KeyboardInterrupt


def test_resume_run_gives_the_weights_of_a_run_never_stopped(tmp_path):
    config = _mlp(epochs=3, augment="affine", checkpoint_every=4, schedule="exp")
    full = train_run(config, tmp_path / "full")
    with pytest.raises(KeyboardInterrupt):
        # 6 batches an epoch: step 16 is batch 4 of epoch 3, saved (every 4 steps)
        train_run(config, tmp_path / "cut", callbacks=[_Stop(16)])
    lines = []
    resumed = resume_run(tmp_path / "cut", log=lines.append)
    assert any(line.endswith("at step 16 (epoch 3, batch 5)") for line in lines), lines
    assert _weights(tmp_path / "cut").keys() == _weights(tmp_path / "full").keys()
    for key, value in _weights(tmp_path / "full").items():
        numpy.testing.assert_array_equal(_weights(tmp_path / "cut")[key], value)
    assert resumed.test == full.test
    more = resume_run(tmp_path / "cut", epochs=4)
    assert len(more.history) == 4


def test_the_perceptron_trains_by_rosenblatts_rule_through_the_trainer(tmp_path):
    """Batch 1, plain SGD on the perceptron criterion: the same weights, bit for bit, as
    MulticlassPerceptron.train_epoch visiting the examples in the loader's order."""
    config = RunConfig.resolve({"model": "perceptron", "data": "digits", "epochs": 2,
                                "limit_train": 300, **FAST})
    assert (config.batch_size, config.momentum, config.loss) == (1, 0.0, "perceptron")
    train_run(config, tmp_path / "p")
    splits = open_splits(config)
    x, y = splits.train.arrays()
    x = Standardize().fit(fit_sample(splits.train, 0)).transform(x)
    reference = MulticlassPerceptron(64, 10)
    for epoch in range(2):
        order = numpy.random.default_rng([0, epoch]).permutation(len(x))
        reference.train_epoch(x, y, order, eta=config.lr)
    weights = _weights(tmp_path / "p")
    numpy.testing.assert_array_equal(weights["model.1.weight"], reference.weight.data)
    numpy.testing.assert_array_equal(weights["model.1.bias"], reference.bias.data)


def test_the_perceptron_stops_when_an_epoch_has_no_error(tmp_path):
    rng = numpy.random.default_rng(0)
    centres = rng.normal(0, 4, (3, 1, 2, 2))
    x = numpy.concatenate([c + 0.2 * rng.standard_normal((40, 1, 2, 2)) for c in centres])
    y = numpy.repeat(numpy.arange(3), 40)
    numpy.savez(tmp_path / "blobs.npz", x_train=x.astype(numpy.float32), y_train=y,
                x_test=x[::4].astype(numpy.float32), y_test=y[::4])
    config = RunConfig.resolve({"model": "perceptron", "data": str(tmp_path / "blobs.npz"),
                                "epochs": 50, **FAST})
    result = train_run(config, tmp_path / "run")
    assert result.converged and result.history[-1]["train_accuracy"] == 1.0
    assert len(result.history) < 50


def test_a_test_split_of_another_shape_is_refused_before_training(tmp_path):
    x = numpy.zeros((20, 1, 4, 4), numpy.float32)
    numpy.savez(tmp_path / "odd.npz", x_train=x, y_train=numpy.arange(20) % 2,
                x_test=numpy.zeros((4, 1, 5, 5), numpy.float32), y_test=numpy.arange(4) % 2)
    with pytest.raises(ValueError, match=r"the test images are \(1, 5, 5\), the training "):
        train_run(RunConfig.resolve({"model": "mlp", "data": str(tmp_path / "odd.npz"),
                                     **FAST}), tmp_path / "run")
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------ xpnet 0.1 folders
@pytest.mark.parametrize("name", ["mlp_zca", "perceptron", "mlp_affine"])
def test_run_folders_of_xpnet_0_1_load_and_evaluate_as_they_did(name):
    expected = json.loads((V1 / "expected.json").read_text())[name]
    for checkpoint, split, key in (("best", "test", "best_test"), ("last", "val", "last_val")):
        run = load_run(V1 / name, checkpoint)
        result = evaluate(run.model, DataLoader(run.dataset(split), 256, shuffle=False),
                          LOSSES["cross_entropy"], num_classes=run.num_classes)
        assert round(100 * result["accuracy"], 2) == expected[key]["accuracy"]
        assert round(result["loss"], 4) == expected[key]["loss"]
    with no_grad():  # raw pixels in: the pre-processing is the model's first layers
        assert run.model(Tensor(run.dataset("test").arrays()[0][:2])).shape == (2, 10)


def test_a_run_of_xpnet_0_1_resumes_and_its_perceptron_says_why_not(tmp_path):
    shutil.copytree(V1 / "mlp_affine", tmp_path / "mlp")
    result = resume_run(tmp_path / "mlp", epochs=3)
    assert [r["epoch"] for r in result.history] == [1, 2, 3]
    assert json.loads((tmp_path / "mlp" / "config.json").read_text())["run_format"] == 2
    load_run(tmp_path / "mlp", "best")  # a new last beside an old best: both read
    shutil.copytree(V1 / "perceptron", tmp_path / "p")
    with pytest.raises(ValueError, match="own perceptron loop.*cannot be resumed"):
        resume_run(tmp_path / "p", epochs=3)


# ------------------------------------------------------------------ a careless or hostile world
def _files(run_dir):
    """Every file of a run folder and its bytes (to show that nothing was lost)."""
    return {p.relative_to(run_dir).as_posix(): p.read_bytes()
            for p in sorted(Path(run_dir).rglob("*")) if p.is_file()}


def test_a_folder_in_use_is_refused_and_left_as_it_was(tmp_path):
    from xpnet.train.errors import RunLockedError
    from xpnet.train.lock import RunLock

    train_run(_mlp(epochs=1), tmp_path / "run")
    before = _files(tmp_path / "run")
    with RunLock(tmp_path / "run"), pytest.raises(RunLockedError, match="is in use: another"):
        resume_run(tmp_path / "run", epochs=2)  # as another process would
    assert _files(tmp_path / "run") == before
    with RunLock(tmp_path / "new"), pytest.raises(RunLockedError, match="is in use"):
        train_run(_mlp(epochs=1), tmp_path / "new")
    assert not (tmp_path / "new" / "config.json").exists()
    assert len(resume_run(tmp_path / "run", epochs=2).history) == 2  # free again


def test_a_resume_cleans_what_a_crash_left_and_reports_the_verified_step(tmp_path):
    run = tmp_path / "run"
    train_run(_mlp(epochs=1), run)  # 6 steps
    stale = run / ".last.safetensors.x1y2z3w4.tmp"
    stale.write_bytes(b"half a save")
    record = json.loads((run / "last.json").read_text())
    record["meta"]["step"] = 999  # a sidecar behind (or ahead of) its checkpoint
    (run / "last.json").write_text(json.dumps(record))
    lines = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the sidecar is repaired before it is read
        resume_run(run, epochs=2, log=lines.append)
    assert lines[0] == ("removed 1 temporary file(s) of interrupted saves: "
                        ".last.safetensors.x1y2z3w4.tmp")
    assert lines[1] == (f"{run / 'last'}.json rewritten from the verified record in "
                        "last.safetensors (a save had been interrupted between its two renames)")
    assert f"resuming from {run / 'last.safetensors'} at step 6 (epoch 2)" in lines
    assert not stale.exists()


def test_a_resume_that_dies_at_its_start_keeps_the_history(tmp_path, monkeypatch):
    import xpnet.train.callbacks.history as history

    run = tmp_path / "run"
    train_run(_mlp(epochs=1), run)
    before = (run / "history.jsonl").read_bytes()

    def dies(record):
        raise KeyboardInterrupt  # while the kept records are written again

    monkeypatch.setattr(history, "_line", dies)
    with pytest.raises(KeyboardInterrupt):
        resume_run(run, epochs=2)
    assert (run / "history.jsonl").read_bytes() == before


def test_a_checkpoint_of_nonfinite_weights_does_not_evaluate(tmp_path):
    from xpnet.train import load_state, save_state

    run = tmp_path / "run"
    train_run(_mlp(epochs=1), run)
    state, meta = load_state(run / "best")
    state["model"]["2.weight"][0, 0] = numpy.nan
    save_state(run / "best", state, meta)
    with pytest.raises(FloatingPointError) as info:
        load_run(run)
    assert str(info.value) == (f"{run / 'best.safetensors'}: 2.weight holds NaN/inf weights "
                               "(the run diverged); it cannot evaluate or predict")


def test_an_empty_test_split_is_refused_before_training(tmp_path):
    x = numpy.zeros((20, 1, 4, 4), numpy.float32)
    numpy.savez(tmp_path / "e.npz", x_train=x, y_train=numpy.arange(20) % 2,
                x_test=x[:0], y_test=numpy.zeros(0, numpy.int64))
    with pytest.raises(ValueError) as info:
        train_run(RunConfig.resolve({"model": "mlp", "data": str(tmp_path / "e.npz"),
                                     **FAST}), tmp_path / "run")
    assert str(info.value) == (f"{tmp_path / 'e.npz'}: the test split has no examples, so the "
                               "run could report no test accuracy")
    assert not (tmp_path / "run").exists()


def _bugs(root, val_classes):
    """An image tree: ant red, bee green, cat blue; a validation tree of some of them."""
    Image = pytest.importorskip("PIL.Image")
    rng = numpy.random.default_rng(0)
    for split, names, n in (("train", ("ant", "bee", "cat"), 12), ("val", val_classes, 4)):
        for k, name in enumerate(("ant", "bee", "cat")):
            if name not in names:
                continue
            (root / split / name).mkdir(parents=True)
            for j in range(n):
                a = rng.integers(0, 30, (8, 8, 3))
                a[..., k] += 200  # one colour a class
                Image.fromarray(a.astype(numpy.uint8)).save(root / split / name / f"{j}.png")


def test_image_tree_splits_are_labelled_by_the_training_classes(tmp_path):
    _bugs(tmp_path / "bugs", ("bee", "cat"))
    config = RunConfig.resolve({"model": "perceptron", "data": str(tmp_path / "bugs"),
                                "epochs": 3, "val_fraction": 0.0, **FAST})
    result = train_run(config, tmp_path / "run")  # 224 x 224 images: the default size
    assert load_run(tmp_path / "run").classes == ["ant", "bee", "cat"]
    assert result.test["count"] == 8 and result.test["accuracy"] == 1.0  # bee, cat as trained
    shutil.rmtree(tmp_path / "bugs")
    _bugs(tmp_path / "bugs", ("bee", "cat"))
    (tmp_path / "bugs" / "val" / "dog").mkdir()
    shutil.copy(tmp_path / "bugs" / "val" / "bee" / "0.png", tmp_path / "bugs" / "val" / "dog")
    with pytest.raises(ValueError, match=r"val: class folder dog not among the 3 classes"):
        train_run(config, tmp_path / "run2")
    assert not (tmp_path / "run2").exists()
