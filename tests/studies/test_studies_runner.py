"""The study machinery on a made-up study (no training): seeds, summaries, the table, the
files, the findings; and the helpers the arms share (time budget, error window)."""

import json

import numpy
import pytest

from xpnet.studies import STUDIES, Metric, Plot, Study, run_study
from xpnet.studies.arms import (
    Budget,
    ErrorWindow,
    Recipe,
    carry_differences,
    examples_seen,
    max_weight_difference,
)
from xpnet.studies.base import Context
from xpnet.studies.digits import sgd_budget, sgd_text
from xpnet.studies.report import cell, error_change
from xpnet.studies.runner import Stat, Summary, default_command, stat


def _run(ctx, seed):
    """Two arms; "b" never reaches its target on seed 1; PyTorch only under compare."""
    out = {}
    for arm, base in (("a", 0.5), ("b", 0.25)):
        ours = {"acc": base + 0.1 * seed, "reach": None if (arm, seed) == ("b", 1) else 2.0,
                "curves": {"err": {"x": [1, 2, 3][: 3 - seed], "y": [0.5, 0.4, 0.3][: 3 - seed]}}}
        out[arm] = {"xpnet": ours}
        if ctx.compare:
            out[arm]["torch"] = {**ours, "acc": ours["acc"] - 0.01}
            out[arm]["weight_diff"] = 1e-7 * (seed + 1)
            out[arm]["step_diff"] = 1e-17
    return out


FAKE = Study(
    name="fake", title="a made-up study", claim="numbers add up", arms=("a", "b"),
    metrics=(Metric("acc", "accuracy (%)", scale=100), Metric("reach", "epochs", digits=1),
             Metric("absent", "never measured")),
    plots=(Plot("curves", "err", "error", "epoch", "error"), Plot("bars", "acc", "acc", "", "")),
    budget=lambda ctx: {"epochs": ctx.pick(3, 1)},
    setup=lambda ctx: f"made up, {ctx.budget['epochs']} epochs", run=_run,
    findings=lambda s: [f"a: {100 * s.mean('a', 'acc'):.1f}%"])


def test_stat_is_mean_and_sample_std_of_the_values_reached():
    s = stat([1.0, 2.0, None, 4.0])
    assert (s.n, s.total) == (3, 4)
    assert s.mean == pytest.approx(7 / 3)
    assert s.std == pytest.approx(numpy.std([1, 2, 4], ddof=1))
    assert stat([None]) == Stat(None, 0.0, 0, 1)
    assert stat([3.0]).std == 0.0


def test_cell_says_what_was_reached():
    m = Metric("x", "x", scale=100, digits=1)
    assert cell(Stat(0.5, 0.05, 3, 3), m) == "50.0 ± 5.0"
    assert cell(Stat(0.5, 0.0, 1, 1), m) == "50.0"
    assert cell(Stat(0.5, 0.05, 2, 3), m) == "50.0 ± 5.0 (2 of 3 seeds)"
    assert cell(Stat(None, 0.0, 0, 3), m) == "not reached"
    assert cell(Stat(None, 0.0, 0, 0), m) == "—"
    assert cell(Stat(2.5e-7, 0.0, 1, 1), Metric("w", "w", digits=1, sci=True)) == "2.5e-07"


def test_run_study_writes_results_table_and_plot(tmp_path):
    done = run_study(FAKE, seeds=2, compare=None, out=tmp_path / "f")
    assert sorted(p.name for p in done.files) == ["plot.png", "results.json", "table.md"]
    assert (tmp_path / "f" / "plot.png").stat().st_size > 1000
    record = json.loads((tmp_path / "f" / "results.json").read_text())
    assert record["seeds"] == [0, 1] and record["command"] == "xpnet study fake --seeds 2"
    assert record["settings"] == {"epochs": 3} and record["setup"] == "made up, 3 epochs"
    assert [r["xpnet"]["acc"] for r in record["arms"]["a"]] == [0.5, 0.6]
    assert record["summary"]["b"]["reach"]["xpnet"]["n"] == 1
    assert record["findings"] == ["a: 55.0%"]
    table = (tmp_path / "f" / "table.md").read_text()
    assert table == done.table
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    assert rows[0] == "| arm | accuracy (%) | epochs |"  # "never measured": no column
    assert rows[1] == f"| a | 55.00 ± {100 * numpy.std([0.5, 0.6], ddof=1):.2f} | 2.0 ± 0.0 |"
    assert rows[2].endswith("| 2.0 (1 of 2 seeds) |")
    assert "Made by `xpnet study fake --seeds 2`" in table
    assert "- a: 55.0%" in table


def test_compare_adds_pytorch_difference_and_weight_columns(tmp_path, monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name: object())  # "installed"
    monkeypatch.setattr("xpnet.studies.runner._machine", lambda compare: {})
    done = run_study(FAKE, seeds=2, compare="torch", out=tmp_path / "f")
    rows = [line for line in done.table.splitlines() if line.startswith("| ")]
    assert rows[0].split(" | ")[1:5] == ["accuracy (%), xpnet", "accuracy (%), PyTorch",
                                         "accuracy (%), difference", "epochs, xpnet"]
    assert rows[0].endswith("| max abs weight difference, 1 step in float64 | "
                            "max abs weight difference, epoch 1 in float32 |")
    a = rows[1].split(" | ")
    assert a[3] == "1.00 ± 0.00" and a[-2:] == ["1.0e-17", "2.0e-07 |"]


def test_summary_curve_pads_a_curve_that_stopped_early():
    runs = {"a": [{"xpnet": {"curves": {"c": {"x": [1, 2, 3], "y": [3.0, 2.0, 1.0]}}}},
                  {"xpnet": {"curves": {"c": {"x": [1], "y": [1.0]}}}}]}
    x, mean, std = Summary(FAKE, runs).curve("a", "c")
    assert x == [1, 2, 3] and mean == [2.0, 1.5, 1.0]
    assert std[2] == 0.0 and std[0] == pytest.approx(numpy.std([3, 1], ddof=1))


def test_bad_arguments_are_clear_errors():
    with pytest.raises(KeyError, match="unknown study 'nope'; the studies are: perceptron"):
        run_study("nope")
    with pytest.raises(ValueError, match="seeds must be a whole number >= 1, got 0"):
        run_study(FAKE, seeds=0)
    with pytest.raises(ValueError, match="compare must be 'torch' or None"):
        run_study(FAKE, compare="jax")
    assert default_command("x", 3, True, "torch") == \
        "xpnet study x --seeds 3 --quick --compare torch"


def test_registry_is_consistent():
    for name, study in STUDIES.items():
        assert study.name == name
        assert len(set(study.arms)) == len(study.arms) > 1
        assert len({m.key for m in study.metrics}) == len(study.metrics)
        assert study.claim.rstrip().endswith(".") and study.plots


def test_budget_stops_after_the_step_that_ends_past_the_time():
    now = [0.0]
    loader = Budget(numpy.arange(10), 2.5, clock=lambda: now[0])
    seen = []
    for b in loader:
        seen.append(int(b))
        now[0] += 1.0  # each step takes a second
    assert seen == [0, 1, 2] and loader.over


def test_error_window_and_counts():
    w = ErrorWindow(2, per_epoch=4)
    for step, wrong in enumerate((4, 2, 0, 2), start=1):
        w.add(wrong, 8, step)
    assert w.curve() == {"x": [0.5, 0.75, 1.0], "y": [6 / 16, 2 / 16, 2 / 16]}
    assert examples_seen(10, 4, 3) == 10 and examples_seen(10, 4, 4) == 14
    assert max_weight_difference([numpy.ones(2)], [numpy.array([1.0, 1.5])]) == 0.5


def test_recipe_from_budget_takes_no_silent_default():
    b = sgd_budget(Context(quick=True), lr=0.01, hidden=8)
    assert b["lr"] == 0.01 and b["epochs"] == 1 and b["decay_every"] is None
    r = Recipe.from_budget(None, (), (), b, momentum=0.0, window=4)
    assert (r.epochs, r.batch_size, r.lr, r.momentum, r.weight_decay, r.window) == \
        (1, 64, 0.01, 0.0, 5e-4, 4)
    with pytest.raises(ValueError, match="the budget lacks weight_decay"):
        Recipe.from_budget(None, (), (), {"epochs": 1, "batch_size": 8, "lr": 0.1,
                                          "momentum": 0.9})


def test_the_shared_sentences():
    b = sgd_budget(Context())
    assert sgd_text(b) == ("SGD lr 0.05, momentum 0.9, weight decay 0.0005, batch 64, 8 epochs, "
                           "the rate x 0.1 after every 6 epochs")
    assert sgd_text({**b, "weight_decay": 0.0, "decay_every": None}) == \
        "SGD lr 0.05, momentum 0.9, no weight decay, batch 64, 8 epochs"
    assert error_change(Stat(0.05, 0.01, 3, 3), Stat(0.04, 0.002, 3, 3), "paper: 1") == (
        "lowered the test error by 1.00 points (5.00% -> 4.00%; seed standard deviations "
        "1.00 and 0.20; paper: 1)")


def test_an_arm_of_several_trainings_keeps_its_largest_differences():
    arm = {}
    carry_differences(arm, {"xpnet": {}, "step_diff": 1e-17, "weight_diff": 3e-7})
    carry_differences(arm, {"xpnet": {}, "step_diff": 2e-17, "weight_diff": 1e-7})
    carry_differences(arm, {"xpnet": {}})  # no twin: nothing to keep
    assert arm == {"step_diff": 2e-17, "weight_diff": 3e-7}
