"""A careless or hostile world, as a user meets it on the command line: each bad input is
one line (``xpnet: error: ...`` or ``xpnet: warning: ...``) and nothing in the run folder
is lost; a run folder is one process's at a time; a second Ctrl-C still ends cleanly."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy
import pytest

from xpnet.cli import main
from xpnet.train import load_state, save_state

pytestmark = pytest.mark.needs_data("digits")

PAUSING = Path(__file__).with_name("pausing_cli.py")  # xpnet, paused at a step
POSIX = pytest.mark.skipif(os.name != "posix", reason="needs POSIX signals")
QUIET = ("--no-curves", "--no-tensorboard")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A perceptron trained one epoch on digits (its folder is copied by each test)."""
    path = tmp_path_factory.mktemp("hard") / "run"
    assert main(["train", "--model", "perceptron", "--data", "digits", "--epochs", "1",
                 "--run-dir", str(path), *QUIET]) == 0
    return path


@pytest.fixture
def run(trained, tmp_path):
    shutil.copytree(trained, tmp_path / "run")
    return tmp_path / "run"


def _files(run_dir):
    return {p.name: p.read_bytes() for p in sorted(Path(run_dir).iterdir()) if p.is_file()}


def error_line(capsys, *args, code=1):
    got = main([str(a) for a in args])
    err = capsys.readouterr().err
    assert got == code, err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err.splitlines()[0]


def test_nonfinite_weights_neither_evaluate_nor_predict(run, capsys):
    state, meta = load_state(run / "best")
    state["model"]["1.weight"][3, 5] = numpy.inf
    save_state(run / "best", state, meta)
    numpy.save(run.parent / "x.npy", numpy.zeros((8, 8), numpy.float32))
    expected = (f"xpnet: error: {run / 'best.safetensors'}: 1.weight holds NaN/inf "
                "weights (the run diverged); it cannot evaluate or predict")
    assert error_line(capsys, "evaluate", run) == expected
    assert error_line(capsys, "predict", run, run.parent / "x.npy") == expected


def test_a_tampered_config_json_is_one_line_naming_file_and_setting(run, capsys):
    config = json.loads((run / "config.json").read_text())
    before = _files(run)
    for key, value, message in (("seed", 1.5, "seed must be an integer, got a number (1.5)"),
                                ("val_fraction", float("nan"),
                                 "val_fraction must be a finite number, got nan")):
        (run / "config.json").write_text(json.dumps({**config, key: value}))  # bare NaN
        assert error_line(capsys, "evaluate", run) == (
            f"xpnet: error: {run / 'config.json'}: {message}")
    (run / "config.json").write_bytes(before["config.json"])
    assert _files(run) == before


def test_a_lagging_sidecar_is_one_warning_line(run, capsys):
    record = json.loads((run / "best.json").read_text())
    record["meta"]["epoch"] = 7
    (run / "best.json").write_text(json.dumps(record))
    assert main(["evaluate", str(run)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == [f"xpnet: warning: {run / 'best.json'} does not match the record inside "
                   "best.safetensors (a save interrupted between its two renames?); the "
                   "verified record inside is used"]


def test_bad_inputs_of_predict_and_train_are_one_line(run, tmp_path, capsys):
    empty = tmp_path / "empty.npy"
    empty.write_bytes(b"")
    assert error_line(capsys, "predict", run, empty) == (
        f"xpnet: error: {empty}: an empty file, not a .npy array")
    binary = tmp_path / "run.toml"
    binary.write_bytes(bytes(range(128, 256)))
    line = error_line(capsys, "train", "--config", binary, code=2)
    assert line.startswith(f"xpnet: error: {binary}: not a UTF-8 text file, so not TOML")


def _paused(run_dir, *extra):
    """``xpnet train`` of an MLP on digits, paused after step 10 (its checkpoint saved)."""
    proc = subprocess.Popen([sys.executable, str(PAUSING), "10", "train", "--model", "mlp",
                             "--data", "digits", "--epochs", "3", "--checkpoint-every", "5",
                             "--run-dir", str(run_dir), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if line.strip() == "PAUSED":
            return proc
    raise AssertionError(proc.communicate()[1])


@POSIX
def test_a_second_training_in_the_same_folder_is_refused(tmp_path):
    first = _paused(tmp_path / "run", *QUIET)
    try:
        before = _files(tmp_path / "run")
        done = subprocess.run([sys.executable, "-m", "xpnet", "train", "--resume",
                               str(tmp_path / "run")], capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 1
        line, = done.stderr.splitlines()
        assert line.startswith(f"xpnet: error: {tmp_path / 'run'} is in use: another xpnet "
                               f"process is training in it (pid {first.pid} on ")
        assert _files(tmp_path / "run") == before
    finally:
        first.kill()
        first.communicate(timeout=30)


_SLOW_STOP = """
import atexit, os, signal, sys, time
import xpnet.cli.runs
from xpnet.cli import main

def evaluate(args):  # a command whose shutdown takes a while, Ctrl-C'd twice
    try:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(30)
    finally:
        os.kill(os.getpid(), signal.SIGINT)  # the second, while it shuts down
        time.sleep(0.2)
        print("shut down", flush=True)

xpnet.cli.runs.cmd_evaluate = evaluate
atexit.register(os.kill, os.getpid(), signal.SIGINT)  # and a third, as the process exits
sys.argv = ["xpnet", "evaluate", "RUN"]
sys.exit(main())
"""


@POSIX
def test_a_second_ctrl_c_while_stopping_still_ends_cleanly():
    done = subprocess.run([sys.executable, "-c", _SLOW_STOP], capture_output=True, text=True,
                          timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (130, "shut down\n",
                                                           "\nxpnet: interrupted\n")


def test_a_diverging_run_is_one_error_line_and_keeps_a_finite_checkpoint(tmp_path, capsys):
    run = tmp_path / "run"
    line = error_line(capsys, "train", "--model", "mlp", "--data", "digits", "--lr", "1e30",
                      "--epochs", "1", "--checkpoint-every", "1", "--run-dir", run, *QUIET)
    assert line.startswith("xpnet: error: non-finite training at step 2 (epoch 1, batch 2): ")
    assert line.endswith("training stopped; the last checkpoint, saved at step 1 with finite "
                         f"weights, is kept: {run / 'last.safetensors'}")
    assert error_line(capsys, "evaluate", run, "--checkpoint", "last") == (
        f"xpnet: error: {run / 'last.safetensors'}: the model's outputs on the test split are "
        "not finite (loss nan); its numbers would mean nothing")
