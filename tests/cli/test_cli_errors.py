"""Bad arguments end with ONE line ``xpnet: error: ...`` on stderr and a non-zero exit,
never a traceback; ``--debug`` shows it; Ctrl-C keeps the checkpoint and says how to
resume."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from xpnet import backend
from xpnet.cli import main

pytestmark = pytest.mark.needs_data("mnist5k", "digits")

PAUSING = Path(__file__).with_name("pausing_cli.py")  # xpnet, paused at a step


def xpnet(*args, timeout=120, cwd=None):
    """Run ``python -m xpnet ARGS`` and return the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "xpnet", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def one_error_line(stderr):
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("xpnet: error: ")
    return lines[0].removeprefix("xpnet: error: ")


# the three the issue names, as a user meets them: a subprocess
def test_unknown_model(tmp_path):
    done = xpnet("train", "--model", "resnet50", "--run-dir", tmp_path / "r")
    assert done.returncode == 2
    assert one_error_line(done.stderr).startswith(
        "--model: unknown model 'resnet50'; expected one of perceptron, mlp, lenet5")
    assert not (tmp_path / "r").exists()


def test_missing_data_file(tmp_path):
    done = xpnet("train", "--data", tmp_path / "nowhere", "--run-dir", tmp_path / "r")
    assert done.returncode == 1
    message = one_error_line(done.stderr)
    assert f"cannot open '{tmp_path / 'nowhere'}': no such file or folder" in message
    assert "mnist5k" in message and ".npz" in message  # says what is accepted


def test_negative_learning_rate(tmp_path):
    done = xpnet("train", "--lr", "-0.1", "--run-dir", tmp_path / "r")
    assert done.returncode == 2
    assert one_error_line(done.stderr) == "--lr must be > 0, got -0.1"


# the others in-process (the same main, without the start-up cost)
def run_main(capsys, *args):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, one_error_line(captured.err)


@pytest.mark.parametrize("toml, expected", [
    ('epochs = "ten"\n', "epochs must be an integer, got a string ('ten')"),
    ("lr = true\n", "lr must be a number, got a boolean (True)"),
    ("batch_size = 0\n", "batch_size must be > 0, got 0"),
    ('schedule = "cosine"\n', "unknown schedule 'cosine'; expected one of none, step, exp, "
                              "plateau"),
    ('augment = ["elastic", "mixup"]\n', "unknown augment 'mixup'; expected some of none,"),
    ("learning_rate = 0.1\n", "unknown setting 'learning_rate'; known: augment,"),
    ("epochs = [\n", "not valid TOML"),
    ("model_options = 3\n", "model_options must be a table, got an integer (3)"),
])
def test_bad_toml(tmp_path, capsys, toml, expected):
    path = tmp_path / "run.toml"
    path.write_text(toml)
    code, message = run_main(capsys, "train", "--config", path, "--run-dir", tmp_path / "r")
    assert code == 2
    assert message.startswith(f"{path}: ") and expected in message
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("args, code, expected", [
    (["train", "--epochs", "x"], 2, "argument --epochs: invalid int value: 'x' "
                                    "(see 'xpnet train --help')"),
    (["train", "--momentum", "-1"], 2, "--momentum must be >= 0, got -1.0"),
    (["train", "--val-fraction", "nan"], 2, "--val-fraction must be a finite number, got nan"),
    (["train", "--model-options", "[1]"], 2, "--model-options: expected a JSON object"),
    (["train", "--config", "missing.toml"], 2, "--config missing.toml: No such file or "
                                               "directory"),
    (["train", "--model", "lenet5", "--data", "digits"], 1,
     "model lenet5 takes inputs of shape Cx28x28, the data has (1, 8, 8)"),
    (["train", "--model", "mlp", "--data", "digits", "--model-options", '{"depth": 3}'], 1,
     "model mlp has no option 'depth'; its options: hidden, activation"),
    (["train", "--model", "perceptron", "--data", "digits", "--pretrain", "rbm"], 2,
     "pretrain rbm does not fit model perceptron: the model has no hidden dense layer"),
    (["train", "--resume", "no/such/run", "--lr", "0.1"], 2,
     "--resume continues a run with its saved config; --lr cannot change"),
    (["frobnicate"], 2, "argument COMMAND: invalid choice: 'frobnicate'"),
    (["summary", "vgg"], 2, "summary: unknown model 'vgg'; expected one of perceptron,"),
    (["summary", "cifar_convnet", "--input-shape", "1", "28", "28"], 1,
     "model cifar_convnet takes inputs of shape 3x32x32, the data has (1, 28, 28)"),
    (["evaluate", "no/such/run"], 1, "no/such/run: no such run folder"),
    (["predict", "."], 2, "the following arguments are required: IMAGE"),
    (["train", "--resume", "no/such/run"], 1, "no/such/run: no such run folder"),
])
def test_bad_arguments(tmp_path, capsys, monkeypatch, args, code, expected):
    monkeypatch.chdir(tmp_path)
    got, message = run_main(capsys, *args)
    assert got == code
    assert expected in message


def test_cuda_without_a_gpu(tmp_path, capsys):
    if backend.cuda_available():
        pytest.skip("a GPU is usable here")
    code, message = run_main(capsys, "train", "--device", "cuda", "--run-dir", tmp_path / "r")
    assert code == 1
    assert message.startswith("device 'cuda' asked for, but no CUDA device is usable here")


def test_not_a_run_folder_and_a_damaged_checkpoint(tmp_path, capsys):
    code, message = run_main(capsys, "evaluate", tmp_path)
    assert code == 1
    assert message == (f"{tmp_path} is not an xpnet run folder: it has no config.json "
                       "(made by 'xpnet train')")
    run = tmp_path / "run"
    assert main(["train", "--model", "perceptron", "--data", "digits", "--epochs", "1",
                 "--run-dir", str(run)]) == 0
    capsys.readouterr()
    blob = bytearray((run / "best.safetensors").read_bytes())
    blob[-3] ^= 0xFF  # flip a byte of the last tensor
    (run / "best.safetensors").write_bytes(bytes(blob))
    code, message = run_main(capsys, "evaluate", run)
    assert code == 1
    assert message.startswith(f"{run / 'best.safetensors'}: tensor ")
    assert "is damaged: SHA-256" in message


def test_debug_shows_the_traceback(capsys):
    assert main(["summary", "vgg", "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.splitlines()[-1].startswith("xpnet: error: summary: unknown model 'vgg'")


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name != "posix",
                    reason="needs POSIX signals")
def test_ctrl_c_keeps_the_checkpoint_and_says_how_to_resume(tmp_path):
    run = tmp_path / "r"
    proc = subprocess.Popen([sys.executable, str(PAUSING), "10", "train", "--model", "mlp",
                             "--data", "digits", "--epochs", "3", "--checkpoint-every", "5",
                             "--no-curves", "--no-tensorboard", "--run-dir", str(run)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:
            if line.strip() == "PAUSED":
                break
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert "Traceback" not in err
    assert err.splitlines()[-1] == (f"xpnet: interrupted; the last checkpoint is kept in "
                                    f"{run}/last.safetensors. Continue with: xpnet train "
                                    f"--resume {run}")
    assert (run / "last.safetensors").is_file()
