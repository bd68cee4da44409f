"""Every study's quick mode runs and writes its files, with one row per arm and the
columns of its metrics; with PyTorch, the twins of a few studies agree with xpnet."""

import json
import subprocess
import sys

import pytest

from xpnet.studies import STUDIES, run_study

pytestmark = [pytest.mark.slow, pytest.mark.needs_data("mnist5k")]


def _rows(table):
    return [line.split(" | ") for line in table.splitlines() if line.startswith("| ")]


@pytest.mark.parametrize("name", list(STUDIES))
def test_study_quick_mode_writes_its_files(name, tmp_path):
    study = STUDIES[name]
    done = run_study(name, seeds=1, quick=True, out=tmp_path)
    assert {p.name for p in done.files} == {"results.json", "table.md", "plot.png"}
    record = json.loads((tmp_path / "results.json").read_text())
    assert record["quick"] and record["seeds"] == [0] and record["findings"]
    assert set(record["arms"]) == set(study.arms)
    for arm, runs in record["arms"].items():
        assert len(runs) == 1 and "xpnet" in runs[0] and "torch" not in runs[0], arm
    rows = _rows(done.table)
    assert [r[0].removeprefix("| ") for r in rows[1:]] == list(study.arms)
    assert all(len(r) == len(rows[0]) for r in rows)
    shown = {m.label for m in study.metrics} & {h.strip(" |") for h in rows[0]}
    assert shown, "no metric column"
    assert f"Made by `xpnet study {name} --seeds 1 --quick`" in done.table


@pytest.mark.parametrize("name", ["perceptron", "batching", "preprocessing", "sharing",
                                  "augmentation"])
def test_study_compare_torch_agrees_step_for_step(name, tmp_path):
    pytest.importorskip("torch")
    done = run_study(name, seeds=1, quick=True, compare="torch", out=tmp_path)
    record = json.loads((tmp_path / "results.json").read_text())
    for arm, (run,) in record["arms"].items():
        assert "torch" in run, arm
        # the same start, the same batches: one step in float64 agrees to rounding; after
        # an epoch in float32 the trajectories are still close (sharing's max pools over
        # a flat background may be told apart by rounding, hence the looser bound there)
        if "step_diff" in run:
            assert run["step_diff"] < 1e-12, arm
        if "weight_diff" in run:
            assert run["weight_diff"] < (1e-2 if name == "sharing" else 1e-5), arm
    assert sum("step_diff" in r for (r,) in record["arms"].values()) >= 2
    assert sum("weight_diff" in r for (r,) in record["arms"].values()) >= 2
    rows = _rows(done.table)
    assert any("PyTorch" in h for h in rows[0])
    assert rows[0][-2:] == ["max abs weight difference, 1 step in float64",
                            "max abs weight difference, epoch 1 in float32 |"]


def test_cli_study_list_and_errors(tmp_path):
    def xpnet(*args):
        return subprocess.run([sys.executable, "-m", "xpnet", "study", *args],
                              capture_output=True, text=True, timeout=120)

    done = xpnet("--list")
    assert done.returncode == 0
    assert [line.split()[0] for line in done.stdout.splitlines()] == list(STUDIES)
    done = xpnet("nope")
    assert done.returncode == 2
    assert done.stderr.strip().startswith("xpnet: error: unknown study 'nope'")
    assert len(done.stderr.strip().splitlines()) == 1
    assert xpnet("pooling", "--seeds", "0").returncode == 2
    assert "name a study" in xpnet().stderr
    done = xpnet("perceptron", "--quick", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "| perceptron, XOR |" in done.stdout
    assert done.stdout.strip().endswith(f"{tmp_path / 'plot.png'}")


def test_importing_the_studies_does_not_import_torch():
    code = ("import sys, xpnet.studies; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)
    assert done.stdout.strip() == "[]"
