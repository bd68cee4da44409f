"""What a study is: its arms, the numbers measured per seed, its plots and its findings.

A :class:`Study` runs one seed at a time: ``study.run(ctx, seed)`` trains every arm with
that seed and returns, per arm, what each framework measured::

    {"relu": {"xpnet": {"test_accuracy": 0.97, "curves": {...}}, "torch": {...},
              "weight_diff": 3.1e-06}, ...}

The runner (:mod:`xpnet.studies.runner`) repeats it over the seeds, summarises each
:class:`Metric` (mean and sample standard deviation over the seeds), writes the files
and asks the study for its findings: sentences computed from the summary, so that a
claim that does not reproduce says so in the words the numbers give.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FRAMEWORKS", "TEST_ACCURACY", "TEST_ACCURACY_BARS", "TEST_ERROR",
           "TEST_ERROR_CURVES", "TRAIN_LOSS", "WEIGHT_DIFFS", "Context", "Metric", "Plot",
           "Study"]

#: One framework's measurements for one arm and seed: metric values (floats, or None
#: where a value was not reached) and ``curves``: name -> {"x": [...], "y": [...]}.
Measured = dict[str, Any]

#: The keys of each framework's measurements in an arm's result.
FRAMEWORKS = ("xpnet", "torch")
#: The weight differences between xpnet and its twin in an arm's result: after one step
#: in float64, after the first epoch in float32.
WEIGHT_DIFFS = ("step_diff", "weight_diff")


@dataclass(frozen=True)
class Metric:
    """A column of a study's table.

    Attributes:
        key: the key of the value in each framework's measurements.
        label: the column heading (with its unit).
        scale: the value is shown times ``scale`` (100 for a share shown in %).
        digits: decimals shown (in scientific notation with ``sci``).
        sci: shown as 1.2e-06.
        compare: also shown for PyTorch, with the difference, under ``--compare torch``.
    """

    key: str
    label: str
    scale: float = 1.0
    digits: int = 2
    sci: bool = False
    compare: bool = True


@dataclass(frozen=True)
class Plot:
    """A panel of a study's figure.

    Attributes:
        kind: ``"curves"`` (each arm's curve ``key``: mean over the seeds, with a band of
            one standard deviation; PyTorch dashed) or ``"bars"`` (metric ``key`` per arm).
        key: the curve's name in ``curves``, or the metric's key.
        title: the panel's title.
        xlabel, ylabel: the axes' labels.
        scale: the values are drawn times ``scale``.
        logx, logy: logarithmic axes.
        arms: the arms drawn (None: every arm that has the curve or metric).
        hlines: horizontal reference lines (targets), in the values' units.
    """

    kind: str
    key: str
    title: str
    xlabel: str
    ylabel: str
    scale: float = 1.0
    logx: bool = False
    logy: bool = False
    arms: tuple[str, ...] | None = None
    hlines: tuple[float, ...] = ()


@dataclass
class Context:
    """How a study is run: the budget, the comparison, and where progress goes.

    Attributes:
        quick: the small budgets (1 seed by default, fewer examples and epochs): a check
            that the study runs and writes its files, not a result.
        compare: ``"torch"`` to run each arm's PyTorch twin too, or None.
        log: called with each progress line (None: silent).
        progress: show a progress line while each arm trains (as ``xpnet train`` does).
        budget: the study's budget for this run (:attr:`Study.budget`, set by the runner).
        settings: what results.json records of the run's settings: the budget, and what
            ``setup`` adds.
    """

    quick: bool = False
    compare: str | None = None
    log: Callable[[str], None] | None = None
    progress: bool = False
    budget: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    def pick(self, full: Any, quick: Any) -> Any:
        """``quick`` in quick mode, else ``full``."""
        return quick if self.quick else full

    def say(self, line: str) -> None:
        """A progress line (nothing when ``log`` is None)."""
        if self.log is not None:
            self.log(line)


@dataclass(frozen=True)
class Study:
    """One reproducible experiment behind ``xpnet study NAME``.

    Attributes:
        name: the command-line name.
        title: one line.
        claim: what the papers claim, with the citation (docs/references.md).
        arms: the rows of the table, in order.
        metrics: the columns.
        plots: the panels of the figure.
        budget: ``budget(ctx) -> dict``, the numbers of a run (epochs, rates, sizes),
            smaller under ``ctx.quick``; the runner records them in ``ctx.settings`` and
            hands them to ``setup`` and ``run`` as ``ctx.budget``.
        setup: ``setup(ctx) -> str``, the settings in words (data, network, budget); it
            may record more settings in ``ctx.settings`` (saved in results.json).
        run: ``run(ctx, seed) -> {arm: {"xpnet": Measured, "torch": Measured,
            "weight_diff": float}}``; "torch" only with ``ctx.compare``, "weight_diff"
            only where the two trajectories should agree step for step.
        findings: ``findings(summary) -> [sentences]`` computed from the summary
            (:class:`xpnet.studies.runner.Summary`).
    """

    name: str
    title: str
    claim: str
    arms: tuple[str, ...]
    metrics: tuple[Metric, ...]
    plots: tuple[Plot, ...]
    budget: Callable[[Context], dict[str, Any]]
    setup: Callable[[Context], str]
    run: Callable[[Context, int], dict[str, dict[str, Any]]]
    findings: Callable[[Any], list[str]]


# The columns and panels that several studies share.
TEST_ACCURACY = Metric("test_accuracy", "test accuracy (%)", scale=100)
TEST_ERROR = Metric("test_error", "test error (%)", scale=100)
TRAIN_LOSS = Metric("train_loss", "last epoch's training loss", digits=4)
TEST_ACCURACY_BARS = Plot("bars", "test_accuracy", "test accuracy", "", "accuracy (%)",
                          scale=100)
TEST_ERROR_CURVES = Plot("curves", "test_error", "test error per epoch", "epoch", "error (%)",
                         scale=100, logy=True)
