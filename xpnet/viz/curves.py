"""Training curves: cost (train and validation), accuracy and learning rate of a run.

The figure to watch while training (the cost and the learning rate), drawn from
a run's ``history.jsonl`` (written by :class:`xpnet.train.callbacks.History`). The x axis
is the optimiser step, with the epoch on a second axis at the top. matplotlib is imported
inside :func:`plot_training_curves` only, through its object API (no pyplot, no global
backend switch), so nothing else pays for it.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

_SERIES = {  # panel -> [(record key, label, style)]
    "cost": [("train_loss", "train (epoch mean)", "o-"), ("val_loss", "validation", "s-")],
    "accuracy": [
        ("train_accuracy", "train top-1", "o-"),
        ("val_accuracy", "validation top-1", "s-"),
        ("val_top5", "validation top-5", "^-"),
    ],
}


def _read(path: Path) -> tuple[list[dict], list[dict]]:
    """(step records, epoch records) of a history file; torn lines are skipped."""
    steps, epochs = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                r = json.loads(line)
            except ValueError:
                continue
            (epochs if r.get("kind") == "epoch" else steps).append(r)
    return steps, epochs


def _xy(records: list[dict], key: str) -> tuple[list[float], list[float]]:
    pts = [(r["step"], r[key]) for r in records
           if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]
    return [p[0] for p in pts], [p[1] for p in pts]


def plot_training_curves(
    history_path: str | os.PathLike,
    out_path: str | os.PathLike | None = None,
    title: str | None = None,
    dpi: int = 100,
) -> Path:
    """Draw the training curves of a run to a PNG.

    Panels: cost (the step losses, the epoch mean of the training loss and the
    validation loss), accuracy (top-1 train and validation, validation top-5; shown
    when recorded), and the learning rate (log scale). The x axis is the step; the
    top axis shows epochs.

    Args:
        history_path: a ``history.jsonl`` file.
        out_path: the PNG to write (default: ``curves.png`` beside the history).
        title: a title over the figure (default: the run folder's name).
        dpi: resolution.

    Returns:
        The PNG's path.

    Raises:
        ImportError: matplotlib is missing (``pip install "xpnet[viz]"``).
        ValueError: the history holds no records.

    Example:
        >>> plot_training_curves("runs/lenet/history.jsonl")
        PosixPath('runs/lenet/curves.png')
    """
    history_path = Path(history_path)
    out = Path(out_path) if out_path is not None else history_path.with_name("curves.png")
    steps, epochs = _read(history_path)
    if not steps and not epochs:
        raise ValueError(f"plot_training_curves: {history_path} holds no records")
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
        from matplotlib.figure import Figure  # noqa: PLC0415
    except ImportError:
        raise ImportError('training curves need matplotlib: pip install "xpnet[viz]"') from None
    has_acc = any(_xy(epochs, key)[0] for key, _, _ in _SERIES["accuracy"])
    n = 3 if has_acc else 2
    fig = Figure(figsize=(7, 2.6 * n), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(n, 1, sharex=True)
    _cost(axes[0], steps, epochs)
    if has_acc:
        _series(axes[1], epochs, "accuracy", "accuracy")
    _lr(axes[-1], steps, epochs)
    axes[-1].set_xlabel("step")
    _epoch_axis(axes[0], epochs)
    fig.suptitle(title if title is not None else history_path.parent.name or "training")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")
    return out


def _cost(ax: Any, steps: list[dict], epochs: list[dict]) -> None:
    x, y = _xy(steps, "loss")
    if x:
        ax.plot(x, y, "-", color="0.6", lw=0.8, label="train (step)")
    _series(ax, epochs, "cost", "cost (loss)")


def _series(ax: Any, epochs: list[dict], panel: str, ylabel: str) -> None:
    for key, label, style in _SERIES[panel]:
        x, y = _xy(epochs, key)
        if x:
            ax.plot(x, y, style, ms=3, label=label)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")


def _lr(ax: Any, steps: list[dict], epochs: list[dict]) -> None:
    pts = sorted(set(zip(*_xy(steps, "lr"), strict=True)) | set(zip(*_xy(epochs, "lr"),
                                                                     strict=True)))
    if pts:
        ax.step([p[0] for p in pts], [p[1] for p in pts], where="post")
        if all(p[1] > 0 for p in pts):
            ax.set_yscale("log")
    ax.set_ylabel("learning rate")
    ax.grid(alpha=0.3)


def _epoch_axis(ax: Any, epochs: list[dict]) -> None:
    """A top axis in epochs, when the steps per epoch are known and constant."""
    if not epochs or not epochs[0].get("step") or not epochs[0].get("epoch"):
        return
    per_epoch = epochs[0]["step"] / epochs[0]["epoch"]
    top = ax.secondary_xaxis("top", functions=(lambda s: s / per_epoch,
                                               lambda e: e * per_epoch))
    top.set_xlabel("epoch")
