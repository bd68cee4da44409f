"""Pictures of networks and runs: consumers of the core, never imported by it.

Submodules: :mod:`xpnet.viz.grid` (image grids and PNG files, NumPy only),
:mod:`xpnet.viz.feature_maps`, :mod:`xpnet.viz.filters`, :mod:`xpnet.viz.top_inputs`,
:mod:`xpnet.viz.deconvnet` (Zeiler & Fergus), :mod:`xpnet.viz.saliency` (saliency and
guided back-propagation), :mod:`xpnet.viz.maximize`, :mod:`xpnet.viz.occlusion`,
:mod:`xpnet.viz.confusion`, :mod:`xpnet.viz.curves` (training curves, matplotlib) and
:mod:`xpnet.viz.commands` (what ``xpnet visualize`` and ``xpnet report`` run).
Importing this package imports neither matplotlib nor any submodule; names are
loaded on first use.

Example:
    >>> from xpnet import viz
    >>> viz.plot_training_curves("runs/lenet/history.jsonl")
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "plot_training_curves": "xpnet.viz.curves",
    "filters_image": "xpnet.viz.filters",
    "conv_layers": "xpnet.viz.filters",
    "block_outputs": "xpnet.viz.filters",
    "feature_maps": "xpnet.viz.feature_maps",
    "feature_maps_image": "xpnet.viz.feature_maps",
    "layer_list": "xpnet.viz.feature_maps",
    "top_inputs": "xpnet.viz.top_inputs",
    "receptive_field": "xpnet.viz.top_inputs",
    "top_patches_image": "xpnet.viz.top_inputs",
    "deconvnet": "xpnet.viz.deconvnet",
    "deconv_top_image": "xpnet.viz.deconvnet",
    "saliency": "xpnet.viz.saliency",
    "guided_backprop": "xpnet.viz.saliency",
    "saliency_map": "xpnet.viz.saliency",
    "saliency_image": "xpnet.viz.saliency",
    "maximize": "xpnet.viz.maximize",
    "occlusion": "xpnet.viz.occlusion",
    "occlusion_image": "xpnet.viz.occlusion",
    "model_confusion": "xpnet.viz.confusion",
    "confusion_figure": "xpnet.viz.confusion",
    "make_grid": "xpnet.viz.grid",
    "write_png": "xpnet.viz.grid",
    "visualize": "xpnet.viz.commands",
    "write_report": "xpnet.viz.commands",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'xpnet.viz' has no attribute {name!r}")
