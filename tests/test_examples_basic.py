"""Smoke tests: the basic examples run with tiny settings and print what they show."""

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run_example(name: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), *args],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_xor_example():
    out = run_example("xor.py", "--epochs", "300")
    assert "AND: converged" in out
    assert "XOR: did NOT converge" in out
    assert "XOR solved by the MLP" in out


def test_batching_modes_example():
    out = run_example("batching_modes.py", "--epochs", "1", "--train-size", "200",
                      "--hidden", "16")
    lines = {line.split()[0]: line.split() for line in out.splitlines() if line[:1].islower()}
    assert lines["full"][2:4] == ["200", "1"]  # B = N, one update
    assert lines["online"][1:3] == ["1", "200"]  # B = 1, one update per example
    assert lines["mini-batch"][1:3] == ["32", "7"]  # ceil(200 / 32) updates


@pytest.mark.parametrize("cost", ["ce", "se"])
def test_mnist_mlp_example(cost):
    out = run_example("mnist_mlp.py", "--cost", cost, "--epochs", "1", "--hidden", "32")
    assert f"cost {cost}" in out
    accuracy = float(out.split("final test accuracy ")[1].split()[0])
    assert accuracy > 0.6  # one epoch already learns a lot (chance is 0.1; 0.86-0.88 here)


def test_pretraining_example():
    out = run_example("pretraining.py", "--layers", "2", "--hidden", "32",
                      "--pretrain-epochs", "1", "--epochs", "1")
    rows = {line.split()[0]: line.split() for line in out.splitlines()
            if line.split()[:1] and line.split()[0] in ("none", "autoencoder", "rbm")}
    assert set(rows) == {"none", "autoencoder", "rbm"}
    assert "pre-train layer 3 epoch 1" in out  # both hidden layers, bottom up
    assert all(0.0 <= float(r[1]) <= 1.0 for r in rows.values())
