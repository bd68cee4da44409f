"""``xpnet train`` run as a user would: files of the run folder, the final lines, TOML
configs with overrides, and kill -9 during epoch 3 then ``--resume`` (same weights)."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy
import pytest

from xpnet.data.preprocessing import Standardize
from xpnet.train import runfolder

pytestmark = pytest.mark.needs_data("mnist5k", "digits")

FAST = ["--no-curves", "--no-tensorboard"]
PAUSING = Path(__file__).with_name("pausing_cli.py")  # xpnet, paused at a step


def xpnet(*args, timeout=120, cwd=None):
    """Run ``python -m xpnet ARGS`` and return the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "xpnet", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def model_sha256(run_dir, name="last"):
    """Per-tensor SHA-256 of the model's weights, from the checkpoint's JSON record."""
    record = json.loads((run_dir / f"{name}.json").read_text())
    return {k: v["sha256"] for k, v in record["tensors"].items() if k.startswith("model.")}


def test_train_writes_the_run_folder_and_ends_with_accuracy_and_folder(tmp_path):
    run = tmp_path / "mlp"
    done = xpnet("train", "--model", "mlp", "--data", "digits", "--epochs", "2",
                 "--run-dir", run, "--log-every", "5")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[-1] == f"run folder: {run}"
    assert lines[-2].startswith("test accuracy: ")
    value = lines[-2].removeprefix("test accuracy: ")
    assert value.endswith("%") and len(value.split(".")[1]) == 3  # two decimals and %
    assert float(value[:-1]) > 80.0
    assert lines[-3].startswith("best checkpoint: epoch ")
    assert "\r" not in done.stderr  # a log, not a terminal: no carriage returns
    assert "epoch 2/2" in done.stderr

    config = json.loads((run / "config.json").read_text())
    assert config["model"] == "mlp" and config["data"] == "digits"
    assert config["input_shape"] == [1, 8, 8] and config["num_classes"] == 10
    assert config["classes"] == [str(k) for k in range(10)]
    assert config["epochs"] == 2 and config["seed"] == 0 and config["device"] == "cpu"
    assert config["optimizer"] == "sgd" and config["lr"] == 0.05
    assert config["augment"] == ["none"]  # elastic is the default for 28x28 digits only
    assert "xpnet_version" in config
    records = [json.loads(r) for r in (run / "history.jsonl").read_text().splitlines()]
    epochs = [r for r in records if r["kind"] == "epoch"]
    assert [r["epoch"] for r in epochs] == [1, 2]
    assert {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr"} <= set(epochs[0])
    assert any(r["kind"] == "step" for r in records)
    for name in ("last", "best"):
        assert (run / f"{name}.safetensors").is_file() and (run / f"{name}.json").is_file()
    assert (run / "curves.png").is_file()  # matplotlib is a test dependency
    assert any((run / "tensorboard").glob("events.out.tfevents.*"))  # written by xpnet

    loaded = runfolder.load_run(run)
    assert loaded.model.training is False and isinstance(loaded.model[0], Standardize)
    assert loaded.classes == config["classes"] and len(loaded.dataset("val")) == 144
    # the pre-processing saved with the model was fitted on the training split only
    train = loaded.dataset("train")
    x_train = train.get_batch(numpy.arange(len(train)))[0]
    assert config["preprocess"] == ["standardize"]
    numpy.testing.assert_allclose(loaded.model[0].mean.ravel(), x_train.mean(axis=(0, 2, 3)),
                                  rtol=1e-5)
    numpy.testing.assert_allclose(loaded.model[0].std.ravel(), x_train.std(axis=(0, 2, 3)),
                                  rtol=1e-5)


def test_default_run_folder_name_and_refusal_to_overwrite(tmp_path):
    done = xpnet("train", "--model", "perceptron", "--data", "digits", "--epochs", "1",
                 cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (run,) = (tmp_path / "runs").iterdir()
    assert run.name.startswith("perceptron-digits-")
    assert done.stdout.strip().splitlines()[-1] == f"run folder: runs/{run.name}"
    again = xpnet("train", "--model", "perceptron", "--data", "digits", "--run-dir", run)
    assert again.returncode == 2
    assert again.stderr.strip() == (f"xpnet: error: {run} already holds a run; continue it "
                                    f"with 'xpnet train --resume {run}' or choose another "
                                    "--run-dir")


def test_toml_config_with_command_line_overrides(tmp_path):
    toml = tmp_path / "run.toml"
    toml.write_text('model = "mlp"\ndata = "digits"\nepochs = 3\nbatch-size = 32\n'
                    'lr = 0.02\nschedule = "exp"\ngamma = 0.5\naugment = ["affine"]\n'
                    'preprocess = "standardize,clip"\nlimit_train = 400\n'
                    'tensorboard = false\ncurves = false\n'
                    '[model_options]\nhidden = [16]\n')
    run = tmp_path / "cfg"
    done = xpnet("train", "--config", toml, "--epochs", "2", "--lr", "0.1", "--run-dir", run)
    assert done.returncode == 0, done.stderr
    config = json.loads((run / "config.json").read_text())
    assert config["epochs"] == 2 and config["lr"] == 0.1  # the command line wins
    assert config["batch_size"] == 32 and config["schedule"] == "exp"  # from the file
    assert config["augment"] == ["affine"] and config["preprocess"] == ["standardize", "clip"]
    assert config["model_options"] == {"hidden": [16]}
    lrs = [json.loads(r)["lr"] for r in (run / "history.jsonl").read_text().splitlines()
           if '"kind": "epoch"' in r]
    assert lrs == [0.1, 0.05]  # exp schedule, gamma 0.5 from the file
    loaded = runfolder.load_run(run, "last")
    assert [p.shape for p in loaded.model.parameters()][0] == (16, 64)  # buffers aside
    assert len(loaded.dataset("train")) + len(loaded.dataset("val")) == 400
    assert not (run / "curves.png").exists() and not (run / "tensorboard").exists()


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_kill_9_during_epoch_3_then_resume_gives_the_same_weights(tmp_path):
    common = ["train", "--model", "mlp", "--data", "digits", "--epochs", "4",
              "--batch-size", "64", "--augment", "affine", "--schedule", "step",
              "--step-size", "1", "--checkpoint-every", "5", *FAST]
    full, cut = tmp_path / "full", tmp_path / "cut"
    done = xpnet(*common, "--run-dir", full)
    assert done.returncode == 0, done.stderr

    # 21 batches an epoch: step 50 is batch 8 of epoch 3, after the save at step 45
    victim = subprocess.Popen([sys.executable, str(PAUSING), "50", *common, "--run-dir",
                               str(cut)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in victim.stdout:
            if line.strip() == "PAUSED":
                break
        else:
            raise AssertionError(victim.stderr.read())
        os.kill(victim.pid, signal.SIGKILL)
        assert victim.wait(timeout=30) == -signal.SIGKILL
    finally:
        if victim.poll() is None:
            victim.kill()
        victim.stdout.close()
        victim.stderr.close()
    meta = json.loads((cut / "last.json").read_text())["meta"]
    assert (meta["epoch"], meta["step"]) == (2, 50)  # in epoch 3 (0-based 2), step 50
    assert model_sha256(cut) != model_sha256(full)

    resumed = xpnet("train", "--resume", cut)
    assert resumed.returncode == 0, resumed.stderr
    assert (f"resuming from {cut / 'last.safetensors'} at step 50 (epoch 3, batch 9)"
            in resumed.stdout.splitlines())
    assert model_sha256(cut) == model_sha256(full)
    assert resumed.stdout.splitlines()[-2] == done.stdout.splitlines()[-2]  # test accuracy
    epochs = [json.loads(r)["epoch"] for r in (cut / "history.jsonl").read_text().splitlines()
              if '"kind": "epoch"' in r]
    assert epochs == [1, 2, 3, 4]


def test_resume_can_extend_epochs_but_not_change_settings(tmp_path):
    run = tmp_path / "r"
    assert xpnet("train", "--model", "perceptron", "--data", "digits", "--epochs", "1",
                 "--run-dir", run).returncode == 0
    refused = xpnet("train", "--resume", run, "--lr", "0.5")
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "--lr cannot change" in refused.stderr
    more = xpnet("train", "--resume", run, "--epochs", "2")
    assert more.returncode == 0, more.stderr
    assert json.loads((run / "config.json").read_text())["epochs"] == 2
    assert json.loads((run / "last.json").read_text())["meta"]["epoch"] == 2
