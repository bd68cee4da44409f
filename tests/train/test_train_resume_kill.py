"""kill -9 during epoch 3, resume in a new process: the same final weights (SHA-256)."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from xpnet.train import load_checkpoint

WORKER = str(Path(__file__).with_name("train_worker.py"))


def _run(*args, timeout=60):
    done = subprocess.run([sys.executable, WORKER, *map(str, args)], capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr
    return done.stdout.split("SHA256 ")[1].strip()


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_kill_9_during_epoch_3_then_resume_gives_the_same_weights(tmp_path):
    uninterrupted = _run(tmp_path / "full", 4)

    victim = subprocess.Popen([sys.executable, WORKER, str(tmp_path / "cut"), "4",
                               "--pause-at", "3", "7"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = victim.stdout.readline()  # blocks until the worker reaches epoch 3, batch 7
        assert line.strip() == "PAUSED", victim.stderr.read()
        os.kill(victim.pid, signal.SIGKILL)
        assert victim.wait(timeout=30) == -signal.SIGKILL
    finally:
        if victim.poll() is None:
            victim.kill()
        victim.stdout.close()
        victim.stderr.close()
    meta = load_checkpoint(tmp_path / "cut" / "last")[1]
    # killed at step 31 (epoch 3, batch 7); the last save was at step 30 (epoch 3, batch 6)
    assert (meta["epoch"], meta["step"]) == (2, 30)

    resumed = _run(tmp_path / "cut", 4, "--resume")
    assert resumed == uninterrupted
    full_history = (tmp_path / "full" / "history.jsonl").read_text().splitlines()
    cut_history = (tmp_path / "cut" / "history.jsonl").read_text().splitlines()
    assert len(cut_history) == len(full_history)
