"""A study's table (markdown) and figure (PNG), from its :class:`~xpnet.studies.runner.Summary`.

The table has one row per arm and, per metric, the mean +- sample standard deviation
over the seeds; under ``--compare torch`` each compared metric has three columns
(xpnet, PyTorch, and their difference seed by seed), and a last column gives the largest
weight difference after the first epoch where the two should agree step for step.
matplotlib is imported inside :func:`draw` only, through its object API.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from xpnet.studies.base import WEIGHT_DIFFS, Context, Metric, Plot, Study

__all__ = ["cell", "draw", "error_change", "table_text"]

_DASH = "—"


def cell(s: Any, metric: Metric) -> str:
    """One table cell: ``mean +- std`` times the metric's scale, and how many seeds
    reached a value when some did not."""
    if s.total == 0:
        return _DASH
    if s.n == 0:
        return "not reached"
    form = f".{metric.digits}{'e' if metric.sci else 'f'}"
    text = f"{s.mean * metric.scale:{form}}"
    if s.n > 1:
        text += f" ± {s.std * metric.scale:{form}}"
    if s.n < s.total:
        text += f" ({s.n} of {s.total} seeds)"
    return text


def _measured(study: Study, summary: Any) -> list[Metric]:
    """The metrics that some arm measured (a budget may leave a column empty)."""
    return [m for m in study.metrics
            if any(summary.stat(arm, m.key).total for arm in study.arms)]


def _header(study: Study, summary: Any, compared: bool) -> list[str]:
    heads = ["arm"]
    for m in _measured(study, summary):
        if compared and m.compare:
            heads += [f"{m.label}, xpnet", f"{m.label}, PyTorch", f"{m.label}, difference"]
        else:
            heads.append(m.label)
    if compared:
        heads += ["max abs weight difference, 1 step in float64",
                  "max abs weight difference, epoch 1 in float32"]
    return heads


def _row(study: Study, summary: Any, arm: str, compared: bool) -> list[str]:
    cells = [arm]
    for m in _measured(study, summary):
        cells.append(cell(summary.stat(arm, m.key), m))
        if compared and m.compare:
            cells.append(cell(summary.stat(arm, m.key, "torch"), m))
            cells.append(cell(summary.difference(arm, m.key), m))
    if compared:
        for key in WEIGHT_DIFFS:
            w = summary.weight_diff(arm, key)
            cells.append(_DASH if w is None else f"{w:.1e}")
    return cells


def markdown_table(study: Study, summary: Any) -> str:
    """The table alone: one row per arm."""
    compared = summary.compared()
    rows = [_header(study, summary, compared)]
    rows += [_row(study, summary, arm, compared) for arm in study.arms]
    lines = ["| " + " | ".join(r) + " |" for r in rows]
    lines.insert(1, "|" + "---|" * len(rows[0]))
    return "\n".join(lines)


def _diverged(summary: Any) -> list[str]:
    """A note per framework and arm whose training diverged on some seed."""
    notes = []
    for arm, runs in summary.runs.items():
        for fw, name in (("xpnet", "xpnet"), ("torch", "PyTorch")):
            seeds = [str(r["seed"]) for r in runs if r.get(fw, {}).get("diverged")]
            if seeds:
                notes.append(f"{arm}: {name}'s training diverged (NaN or inf) on seed(s) "
                             f"{', '.join(seeds)}; those seeds are missing from its cells.")
    return notes


def table_text(study: Study, summary: Any, setup: str, command: str, seconds: float,
               ctx: Context, findings: list[str]) -> str:
    """The whole markdown text: title, claim, setup, table, notes, findings, command."""
    seeds = max((len(v) for v in summary.runs.values()), default=0)
    parts = [f"### {study.name}: {study.title}", "", f"Claim: {study.claim}", "",
             f"Setup: {setup}", "", markdown_table(study, summary), ""]
    notes = [f"Mean ± sample standard deviation over {seeds} seed(s) (seed s: initial "
             "weights, batch order and augmentation); '—': does not apply."]
    if summary.compared():
        notes.append("PyTorch: the same network with the same initial weights, trained on "
                     "the same batches in the same order with torch.optim.SGD; difference: "
                     "xpnet - PyTorch, seed by seed. The weight differences (the largest "
                     "over the seeds) are given where the two should agree step for step "
                     "(no dropout or DropConnect in the network; augmentation is drawn once "
                     "and fed to both): after one step on the first batch in float64, and "
                     "after the first epoch in float32, where rounding differences grow "
                     "with the steps.")
    notes += _diverged(summary)
    if ctx.quick:
        notes.append("Quick mode: small budgets, a check that the study runs, not a result.")
    parts += [" ".join(notes), ""]
    if findings:
        parts += ["Findings (computed from the numbers above):", ""]
        parts += [f"- {f}" for f in findings] + [""]
    parts += [f"Made by `{command}` ({seconds:.0f} s wall on this machine).", ""]
    return "\n".join(parts)


def error_change(before: Any, after: Any, note: str) -> str:
    """How a test error moved, for a finding: "lowered the test error by 0.30 points (3.80%
    -> 3.50%; seed standard deviations 0.56 and 0.66; NOTE)".

    Args:
        before, after: the test error over the seeds (:class:`~xpnet.studies.runner.Stat`
            of fractions).
        note: what the paper reports, closing the parenthesis.
    """
    delta = 100 * (after.mean - before.mean)
    return (f"{'lowered' if delta < 0 else 'raised'} the test error by {abs(delta):.2f} points "
            f"({100 * before.mean:.2f}% -> {100 * after.mean:.2f}%; seed standard deviations "
            f"{100 * before.std:.2f} and {100 * after.std:.2f}; {note})")


# ---------------------------------------------------------------- the figure

def _curves(ax: Any, plot: Plot, summary: Any, arms: tuple[str, ...], colours: dict) -> None:
    for arm in arms:
        for fw, style in (("xpnet", "-"), ("torch", "--")):
            found = summary.curve(arm, plot.key, fw)
            if found is None:
                continue
            x, y, s = found
            y = [v * plot.scale for v in y]
            ax.plot(x, y, style, color=colours[arm], lw=1.4,
                    label=arm if fw == "xpnet" else None)  # one entry per arm
            if fw == "xpnet" and any(v > 0 for v in s):
                lo = [a - b * plot.scale for a, b in zip(y, s, strict=True)]
                hi = [a + b * plot.scale for a, b in zip(y, s, strict=True)]
                ax.fill_between(x, lo, hi, color=colours[arm], alpha=0.15, lw=0)


def _bars(ax: Any, plot: Plot, summary: Any, arms: tuple[str, ...], colours: dict) -> None:
    fws = ("xpnet", "torch") if summary.compared() else ("xpnet",)
    width = 0.8 / len(fws)
    for j, fw in enumerate(fws):
        for i, arm in enumerate(arms):
            s = summary.stat(arm, plot.key, fw)
            if s.mean is None:
                continue
            ax.bar(i + (j - (len(fws) - 1) / 2) * width, s.mean * plot.scale, width,
                   yerr=s.std * plot.scale if s.n > 1 else None, capsize=3,
                   color=colours[arm], alpha=1.0 if fw == "xpnet" else 0.45,
                   hatch=None if fw == "xpnet" else "//", edgecolor="0.2", lw=0.5)
    ax.set_xticks(range(len(arms)))
    ax.set_xticklabels(arms, rotation=30, ha="right", fontsize="small")
    if len(fws) > 1:
        ax.text(0.99, 0.99, "plain: xpnet, hatched: PyTorch", transform=ax.transAxes,
                ha="right", va="top", fontsize="x-small")


def _arms(plot: Plot, study: Study, summary: Any) -> tuple[str, ...]:
    wanted = plot.arms if plot.arms is not None else study.arms
    if plot.kind == "curves":
        return tuple(a for a in wanted if summary.curve(a, plot.key) is not None)
    return tuple(a for a in wanted if summary.stat(a, plot.key).mean is not None)


def draw(study: Study, summary: Any, path: Path, command: str) -> Path | None:
    """Draw the study's panels side by side into ``path``; None without matplotlib."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
        from matplotlib.figure import Figure  # noqa: PLC0415
    except ImportError:
        return None
    n = len(study.plots)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(max(6.4, 4.6 * cols), 3.6 * rows + 0.6), dpi=100,
                 layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, plot in zip(axes, study.plots, strict=False):
        arms = _arms(plot, study, summary)
        # by place in the panel: panels that list the same kinds of arm match in colour
        colours = {arm: f"C{i % 10}" for i, arm in enumerate(plot.arms or study.arms)}
        (_curves if plot.kind == "curves" else _bars)(ax, plot, summary, arms, colours)
        for level in plot.hlines:
            ax.axhline(level * plot.scale, color="0.4", lw=0.8, ls=":")
        if plot.logy:
            ax.set_yscale("log")
        if plot.logx:
            ax.set_xscale("log")
        ax.set_title(plot.title, fontsize="medium")
        ax.set_xlabel(plot.xlabel)
        ax.set_ylabel(plot.ylabel)
        ax.grid(alpha=0.3)
        if plot.kind == "curves" and ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="x-small", title="dashed: PyTorch" if summary.compared()
                      else None, title_fontsize="x-small")
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.suptitle(f"{study.name}: {study.title}\n{command}", fontsize="small")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path
