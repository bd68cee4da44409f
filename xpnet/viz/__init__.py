"""Pictures of networks and runs: consumers of the core, never imported by it.

Submodules: :mod:`xpnet.viz.grid` (image grids and PNG files, NumPy only),
:mod:`xpnet.viz.feature_maps`, :mod:`xpnet.viz.curves` (training curves, matplotlib).
Importing this package imports neither matplotlib nor any submodule; names are
loaded on first use.

Example:
    >>> from xpnet import viz
    >>> viz.plot_training_curves("runs/lenet/history.jsonl")
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {"plot_training_curves": "xpnet.viz.curves"}

__all__ = ["plot_training_curves"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'xpnet.viz' has no attribute {name!r}")
