"""Whole jobs launched with mpiexec (from the one-process suite): a failing or killed rank
ends the job within seconds with its message, a killed job resumes to the weights of one
that never stopped, and a job of one process is the plain run, bit for bit."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

WORKER = str(Path(__file__).with_name("job_worker.py"))
_RUN = ["--model", "mlp", "--data", "digits", "--batch-size", "32", "--no-tensorboard",
        "--no-curves"]


def _mpiexec():
    """mpich's mpiexec beside this Python (pip install mpich), else the one on PATH."""
    here = Path(sys.executable).with_name("mpiexec")
    return str(here) if here.exists() else shutil.which("mpiexec")


@pytest.fixture
def mpiexec(one_process):
    found = _mpiexec()
    if found is None or importlib.util.find_spec("mpi4py") is None:
        pytest.skip("needs MPI: pip install -e '.[mpi]' (mpi4py and mpich)")
    return found


def _job(mpiexec, n, *args, timeout=120):
    """Run a job of ``n`` processes; returns it and the time (``time.time()``) it ended.

    The timeout is generous: on a loaded 2-core machine starting two Pythons that import
    NumPy and MPI takes seconds. How fast a failure ends the job is measured from the
    failure (the worker's stamp), not from the start."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_"))}
    done = subprocess.run([mpiexec, "-n", str(n), sys.executable, *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=env)
    return done, time.time()


def _lived_after_failure(stamp, ended):
    """Seconds between rank 1's failure (its stamp file) and the end of the job."""
    return ended - float(Path(stamp).read_text())


def _xpnet(*args):
    return subprocess.run([sys.executable, "-m", "xpnet", *map(str, args)],
                          capture_output=True, text=True, timeout=90)


def _weights(run_dir):
    """The SHA-256 of each model tensor of RUN/last (the checkpoint records them)."""
    tensors = json.loads((Path(run_dir) / "last.json").read_text())["tensors"]
    return {k: v["sha256"] for k, v in tensors.items() if k.startswith("model.")}


def test_an_uncaught_exception_on_one_rank_ends_the_job(mpiexec, tmp_path):
    stamp = tmp_path / "failed_at"
    done, ended = _job(mpiexec, 2, WORKER, "raise", stamp)
    assert done.returncode != 0
    assert "rank one broke" in done.stderr  # the whole traceback reached the launcher
    assert "rank 1 of 2 failed" in done.stderr
    assert _lived_after_failure(stamp, ended) < 15  # rank 0 did not wait in its barrier


@pytest.mark.needs_data("digits")
def test_a_training_error_on_one_rank_ends_the_job_with_one_line(mpiexec, tmp_path):
    stamp = tmp_path / "failed_at"
    done, ended = _job(mpiexec, 2, WORKER, "cli", "--raise-at", "3", "--stamp", stamp, "--",
                       "train", *_RUN, "--epochs", "2", "--run-dir", tmp_path / "run")
    assert done.returncode == 1
    lines = [x for x in done.stderr.splitlines() if x.startswith("xpnet: error")]
    assert lines == ["xpnet: error: process 1 of 2: rank 1 ran out of memory (injected)"]
    assert _lived_after_failure(stamp, ended) < 15


@pytest.mark.slow
@pytest.mark.needs_data("digits")
def test_a_killed_job_resumes_to_the_weights_of_one_never_stopped(mpiexec, tmp_path):
    full, cut = tmp_path / "full", tmp_path / "cut"
    args = ["train", *_RUN, "--epochs", "3", "--checkpoint-every", "5"]
    done, _ = _job(mpiexec, 2, WORKER, "cli", "--", *args, "--run-dir", full)
    assert done.returncode == 0, done.stderr
    stamp = tmp_path / "killed_at"
    done, ended = _job(mpiexec, 2, WORKER, "cli", "--kill-at", "28", "--stamp", stamp, "--",
                       *args, "--run-dir", cut)
    assert done.returncode != 0  # SIGKILL on rank 1 ended both
    assert _lived_after_failure(stamp, ended) < 15
    assert json.loads((cut / "last.json").read_text())["meta"]["step"] == 25

    alone = _xpnet("train", "--resume", cut)  # within an epoch, on another number of ranks
    assert alone.returncode == 1
    assert "saved within an epoch by 2 process(es); resume it with 2" in alone.stderr

    done, _ = _job(mpiexec, 2, "-m", "xpnet", "train", "--resume", cut)
    assert done.returncode == 0, done.stderr
    assert _weights(cut) == _weights(full)
    assert "test accuracy" in done.stdout and done.stdout.count("test accuracy:") == 1

    more = _xpnet("train", "--resume", full, "--epochs", "4")  # at an epoch's end: 1 rank
    assert more.returncode == 0, more.stderr
    assert json.loads((full / "last.json").read_text())["meta"]["epoch"] == 4


@pytest.mark.needs_data("digits")
def test_a_job_of_one_process_is_the_plain_run(mpiexec, tmp_path):
    args = ["train", *_RUN, "--epochs", "1"]
    plain = _xpnet(*args, "--run-dir", tmp_path / "plain")
    assert plain.returncode == 0, plain.stderr
    done, _ = _job(mpiexec, 1, "-m", "xpnet", *args, "--run-dir", tmp_path / "one")
    assert done.returncode == 0, done.stderr
    assert _weights(tmp_path / "one") == _weights(tmp_path / "plain")
