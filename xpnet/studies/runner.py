"""Running a study over its seeds and writing what it found: ``results.json``, the
markdown table ``table.md`` (mean +- standard deviation over the seeds, the command that
made it) and the figure ``plot.png``.

Example:
    >>> from xpnet.studies import run_study
    >>> done = run_study("pooling", seeds=3, out="studies/pooling")
    >>> print(done.table)            # the table, as ``xpnet study pooling`` prints it
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy

from xpnet import cpu
from xpnet.studies.base import FRAMEWORKS, WEIGHT_DIFFS, Context, Study
from xpnet.train.checkpoint import atomic_write

__all__ = ["Stat", "StudyRun", "Summary", "run_study"]


@dataclass(frozen=True)
class Stat:
    """A metric over the seeds.

    Attributes:
        mean: the mean of the values reached (None when none was).
        std: their sample standard deviation (ddof 1; 0 for one value).
        n: how many seeds reached a value (a None value: not reached).
        total: how many seeds measured the metric at all.
    """

    mean: float | None
    std: float
    n: int
    total: int


def stat(values: list[float | None]) -> Stat:
    """Mean and sample standard deviation of the values that are not None."""
    got = [float(v) for v in values if v is not None]
    if not got:
        return Stat(None, 0.0, 0, len(values))
    std = float(numpy.std(got, ddof=1)) if len(got) > 1 else 0.0
    return Stat(float(numpy.mean(got)), std, len(got), len(values))


class Summary:
    """A study's per-seed results, summarised on demand.

    Args:
        study: the study.
        runs: arm -> the per-seed results ``{"seed", "xpnet", "torch", "weight_diff"}``.
    """

    def __init__(self, study: Study, runs: dict[str, list[dict[str, Any]]]) -> None:
        self.study, self.runs = study, runs

    def values(self, arm: str, key: str, framework: str = "xpnet") -> list[float | None]:
        """The metric's value per seed (seeds where it does not apply are left out)."""
        return [r[framework][key] for r in self.runs.get(arm, ())
                if framework in r and key in r[framework]]

    def stat(self, arm: str, key: str, framework: str = "xpnet") -> Stat:
        """The metric over the seeds."""
        return stat(self.values(arm, key, framework))

    def mean(self, arm: str, key: str, framework: str = "xpnet") -> float | None:
        """The mean over the seeds that reached a value, or None."""
        return self.stat(arm, key, framework).mean

    def difference(self, arm: str, key: str) -> Stat:
        """xpnet - PyTorch, seed by seed, where both have a value."""
        diffs = [r["xpnet"][key] - r["torch"][key] for r in self.runs.get(arm, ())
                 if "torch" in r and r["xpnet"].get(key) is not None
                 and r["torch"].get(key) is not None]
        return stat(diffs)

    def weight_diff(self, arm: str, key: str = "weight_diff") -> float | None:
        """The largest weight difference over the seeds, or None: after the first epoch
        (``weight_diff``, float32) or the first step (``step_diff``, float64)."""
        found = [r[key] for r in self.runs.get(arm, ()) if key in r]
        return max(found) if found else None

    def compared(self) -> bool:
        """Whether any arm has a PyTorch twin."""
        return any("torch" in r for rs in self.runs.values() for r in rs)

    def curve(self, arm: str, key: str, framework: str = "xpnet"
              ) -> tuple[list[float], list[float], list[float]] | None:
        """(x, mean y, std y) of a curve over the seeds, or None. A curve that stopped
        early (a rule that converged) keeps its last value up to the longest one."""
        found = [r[framework]["curves"][key] for r in self.runs.get(arm, ())
                 if framework in r and key in r[framework].get("curves", {})
                 and r[framework]["curves"][key]["y"]]
        if not found:
            return None
        longest = max(found, key=lambda c: len(c["y"]))
        n = len(longest["y"])
        ys = numpy.array([c["y"] + c["y"][-1:] * (n - len(c["y"])) for c in found],
                         dtype=numpy.float64)  # (seeds, n)
        std = ys.std(axis=0, ddof=1) if len(ys) > 1 else numpy.zeros(n)
        return list(longest["x"]), ys.mean(axis=0).tolist(), std.tolist()

    def to_json(self) -> dict[str, Any]:
        """Every metric's summary: arm -> key -> {xpnet, torch, difference}."""
        out: dict[str, Any] = {}
        for arm in self.runs:
            out[arm] = {}
            for m in self.study.metrics:
                row = {fw: vars(self.stat(arm, m.key, fw)) for fw in FRAMEWORKS
                       if self.values(arm, m.key, fw)}
                if "torch" in row:
                    row["difference"] = vars(self.difference(arm, m.key))
                if row:
                    out[arm][m.key] = row
            for key in WEIGHT_DIFFS:
                if self.weight_diff(arm, key) is not None:
                    out[arm][f"{key}_max"] = self.weight_diff(arm, key)
        return out


@dataclass
class StudyRun:
    """What :func:`run_study` did: the summary, the table's text and the files written."""

    summary: Summary
    table: str
    out: Path
    files: list[Path]
    seconds: float


def _clean(value: Any) -> Any:
    """JSON values: NaN and inf become None, NumPy numbers plain ones."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (numpy.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, numpy.integer):
        return int(value)
    return value


def _machine(compare: str | None) -> dict[str, Any]:
    info = {"python": platform.python_version(), "numpy": numpy.__version__,
            "threads": cpu.get_num_threads(), "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine()}
    if compare == "torch":
        import torch  # noqa: PLC0415

        info["torch"] = torch.__version__
    return info


def default_command(name: str, seeds: int, quick: bool, compare: str | None) -> str:
    """The ``xpnet study`` command line that makes these numbers (wherever its files go)."""
    parts = ["xpnet study", name, f"--seeds {seeds}"]
    parts += ["--quick"] * quick + ([f"--compare {compare}"] if compare else [])
    return " ".join(parts)


def _check(study: Study, seeds: int, compare: str | None) -> None:
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"study {study.name}: seeds must be a whole number >= 1, got {seeds!r}")
    if compare not in (None, "torch"):
        raise ValueError(f"study {study.name}: compare must be 'torch' or None, got "
                         f"{compare!r}")
    if compare == "torch" and importlib.util.find_spec("torch") is None:
        raise ImportError("--compare torch needs PyTorch, which is not installed "
                          "(pip install torch); xpnet itself never needs it")


def run_study(study: str | Study, seeds: int = 3, quick: bool = False,
              compare: str | None = None, out: str | os.PathLike | None = None,
              log: Any = None, progress: bool = False, command: str | None = None) -> StudyRun:
    """Run a study over seeds 0..seeds-1 and write its files.

    Args:
        study: a name of :data:`xpnet.studies.STUDIES`, or a :class:`Study`.
        seeds: how many seeds (each arm is trained once per seed).
        quick: the small budgets (a check that it runs, not a result).
        compare: ``"torch"`` to train each arm's PyTorch twin as well.
        out: the folder for ``results.json``, ``table.md`` and ``plot.png`` (default
            ``studies/NAME``).
        log: called with each progress line; None: silent.
        progress: a progress line while each arm trains.
        command: the command line to print under the table (default: the
            ``xpnet study`` command with these arguments).

    Returns:
        A :class:`StudyRun`.

    Raises:
        KeyError: an unknown study name (the known ones are listed).
        ImportError: ``compare="torch"`` without PyTorch.
    """
    from xpnet.studies import STUDIES, report  # noqa: PLC0415 (the registry imports us)

    if isinstance(study, str):
        if study not in STUDIES:
            raise KeyError(f"unknown study {study!r}; the studies are: {', '.join(STUDIES)}")
        study = STUDIES[study]
    _check(study, seeds, compare)
    folder = Path(out) if out is not None else Path("studies") / study.name
    command = command or default_command(study.name, seeds, quick, compare)
    ctx = Context(quick=quick, compare=compare, log=log, progress=progress)
    ctx.budget = study.budget(ctx)
    ctx.settings.update(ctx.budget)
    setup = study.setup(ctx)
    ctx.say(f"study {study.name}: {study.title}; seeds 0..{seeds - 1}"
            + (", quick" if quick else "") + (", against PyTorch" if compare else ""))
    start = time.perf_counter()
    runs: dict[str, list[dict[str, Any]]] = {arm: [] for arm in study.arms}
    for seed in range(seeds):
        for arm, result in study.run(ctx, seed).items():
            runs[arm].append({"seed": seed, **result})
    seconds = time.perf_counter() - start
    summary = Summary(study, runs)
    try:
        findings = study.findings(summary)
    except (TypeError, ValueError, ZeroDivisionError):  # an arm with no value on any seed
        findings = ["No findings: some arm has no value on any seed (see the table)."]
    table = report.table_text(study, summary, setup, command, seconds, ctx, findings)
    record = {"study": study.name, "title": study.title, "claim": study.claim,
              "setup": setup, "command": command, "seeds": list(range(seeds)),
              "quick": quick, "compare": compare, "settings": ctx.settings,
              "seconds": seconds, "machine": _machine(compare),
              "summary": summary.to_json(), "findings": findings, "arms": runs}
    files = _write(folder, record, table)
    plot = report.draw(study, summary, folder / "plot.png", command)
    return StudyRun(summary, table, folder, files + ([plot] if plot else []), seconds)


def _write(folder: Path, record: dict[str, Any], table: str) -> list[Path]:
    """results.json and table.md, each written whole or not at all."""
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_clean(record), indent=1) + "\n"
    atomic_write(folder / "results.json", lambda f: f.write(text.encode("utf-8")))
    atomic_write(folder / "table.md", lambda f: f.write(table.encode("utf-8")))
    return [folder / "results.json", folder / "table.md"]
