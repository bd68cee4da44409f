"""bench/bench_distributed.py still runs (tiny settings; nothing here is timed or compared)."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_distributed.py"
_TINY = ["--rounds", "1", "--models", "lenet5", "--steps", "1", "--warmup", "0", "--warm", "0",
         "--cooldown", "0", "--batch", "8", "--quiet", "1"]


def _bench(*args):
    if importlib.util.find_spec("mpi4py") is None:
        pytest.skip("needs MPI: pip install -e '.[mpi]'")
    done = subprocess.run([sys.executable, str(BENCH), *_TINY, *args], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.splitlines()


@pytest.mark.slow
def test_the_race_prints_both_contestants_and_the_efficiency(one_process):
    pytest.importorskip("torch")
    lines = _bench()
    rows = [line.split() for line in lines if line.startswith("lenet5")]
    assert [r[:2] for r in rows] == [["lenet5", "xpnet"], ["lenet5", "torch"]]
    assert [len(r) for r in rows] == [8, 7]  # 3 rates, eff, eff/core (+ xpnet's wait)
    assert lines[1].startswith("other processes took ")
    assert lines[-1].startswith("efficiency xpnet / torch (eff, eff/core): lenet5 ")


@pytest.mark.slow
def test_the_bucket_sweep_prints_a_row_per_size(one_process):
    pytest.importorskip("torch")  # the bench sets both libraries' threads in every worker
    lines = _bench("--buckets", "--bucket-sizes", "0.01,4")
    rows = [line.split() for line in lines if line.startswith("lenet5")]
    assert [r[1] for r in rows] == ["0.01", "4"]
    assert int(rows[0][2]) > int(rows[1][2]) == 1  # small buckets: several; 4 MiB: one
