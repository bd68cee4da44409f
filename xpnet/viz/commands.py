"""What ``xpnet visualize KIND RUN`` and ``xpnet report RUN`` call.

Each kind loads the run folder (:func:`xpnet.train.runfolder.load_run`), draws its
pictures with the library functions of :mod:`xpnet.viz` and writes PNGs to ``RUN/viz/``
(or ``out_dir``). Options are keyword arguments (the command line's ``--layer``,
``--channel``, ``--image`` and ``--set KEY=VALUE``); a misspelt one is an error that lists
the options of the kind. Images come from the run's test set, raw, for display and for the
network alike (its first layers are the run's fitted pre-processing).
"""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy

from xpnet.viz.confusion import confusion_figure, model_confusion
from xpnet.viz.deconvnet import deconv_top_image
from xpnet.viz.feature_maps import feature_maps, feature_maps_image, layer_list, resolve_layer
from xpnet.viz.filters import block_outputs, conv_layers, dense_image_layer, filters_image
from xpnet.viz.grid import make_grid, normalize, side_by_side, to_hwc, upscale, write_png
from xpnet.viz.maximize import maximize
from xpnet.viz.occlusion import occlusion, occlusion_image
from xpnet.viz.saliency import guided_backprop, saliency, saliency_image
from xpnet.viz.top_inputs import get_images, top_inputs, top_patches_image

__all__ = ["KINDS", "visualize", "write_report"]


def _load(run_dir: Path, checkpoint: str) -> Any:
    from xpnet.train.runfolder import load_run  # noqa: PLC0415  (train imports data, models)

    return load_run(run_dir, checkpoint=checkpoint)


def _check_run_dir(run_dir: Path) -> None:
    """Raise FileNotFoundError / ValueError unless ``run_dir`` is a run folder."""
    from xpnet.train.runfolder import read_config  # noqa: PLC0415

    read_config(run_dir)


def _file(layer_name: str) -> str:
    return (layer_name or "model").replace(".", "-")


def _default_layer(run: Any, layer: Any, last: bool = True) -> tuple[int, str]:
    """The given layer, else the output of the last (or first) convolution stage (after
    its pooling and ReLU), else the last layer."""
    if layer is not None:
        return resolve_layer(run.model, layer)
    blocks = block_outputs(run.model)
    index = (blocks[-1] if last else blocks[0]) if blocks else len(layer_list(run.model)) - 1
    return resolve_layer(run.model, index)


def _channels(top_scores: numpy.ndarray, channel: int | None, max_channels: int) -> list[int]:
    """The chosen channel, else the ``max_channels`` channels that answer most strongly."""
    if channel is not None:
        if not 0 <= channel < top_scores.shape[1]:
            raise ValueError(f"channel {channel} outside [0, {top_scores.shape[1]})")
        return [channel]
    order = numpy.argsort(-top_scores[0], kind="stable")
    return sorted(order[:max_channels].tolist())


def _image_indices(image: int | None, count: int, n: int) -> list[int]:
    if image is not None:
        if not 0 <= image < n:
            raise ValueError(f"image {image} outside the test set [0, {n})")
        return [image]
    return list(range(min(count, n)))


# ----------------------------------------------------------------------------- kinds
def _filters(run: Any, out: Path, layer: Any = None, scale: int | None = None) -> list[Path]:
    shape = tuple(run.input_shape)
    dense = dense_image_layer(run.model, shape)
    layers = [resolve_layer(run.model, layer)[0]] if layer is not None else (
        conv_layers(run.model) or ([] if dense is None else [dense]))
    if not layers:
        raise ValueError("filters: the model has no Conv2d layer and no dense first layer "
                         "on the images")
    names = layer_list(run.model)
    return [write_png(filters_image(run.model, i, scale, input_shape=shape),
                      out / f"filters_{_file(names[i][0])}.png") for i in layers]


def _maps(run: Any, out: Path, layer: Any = None, image: int | None = None,
          scale: int = 3) -> list[Path]:
    data = run.dataset("test")
    i = _image_indices(image, 1, len(data))[0]
    index, name = _default_layer(run, layer, last=False)
    x = get_images(data, numpy.array([i]))
    maps = feature_maps(run.model, x, index)[0]
    pic = upscale(to_hwc(normalize(x)[0]), scale)
    grid = feature_maps_image(maps, scale=scale)
    return [write_png(side_by_side(pic, grid, gap=3 * scale),
                      out / f"maps_{_file(name)}_img{i}.png")]


def _top(run: Any, out: Path, layer: Any = None, channel: int | None = None, k: int = 9,
         limit: int | None = 1000, batch_size: int = 256, max_channels: int = 16,
         scale: int = 3, deconv: bool = False) -> list[Path]:
    data = run.dataset("test")
    index, name = _default_layer(run, layer)
    top = top_inputs(run.model, data, index, k, batch_size, limit)
    chans = _channels(top.scores, channel, max_channels)
    if deconv:
        pic = deconv_top_image(run.model, data, top, chans, scale)
        return [write_png(pic, out / f"deconv_{_file(name)}.png")]
    return [write_png(top_patches_image(data, top, chans, scale), out / f"top_{_file(name)}.png")]


def _deconv(run: Any, out: Path, **options: Any) -> list[Path]:
    return _top(run, out, deconv=True, **options)


def _gradients(run: Any, out: Path, method: Callable, tag: str, image: int | None = None,
               count: int = 8, target: int | None = None, scale: int = 3) -> list[Path]:
    data = run.dataset("test")
    idx = numpy.array(_image_indices(image, count, len(data)))
    x = get_images(data, idx)
    grad = method(run.model, x, target)
    inputs = numpy.stack([to_hwc(im) for im in normalize(x)])  # (N, H, W, 3)
    rows = numpy.concatenate([inputs, saliency_image(grad), saliency_image(grad, signed=True)])
    pic = make_grid(rows, ncol=len(idx), scale=scale, channels_last=True)
    suffix = f"_img{idx[0]}" if image is not None else ""
    return [write_png(pic, out / f"{tag}{suffix}.png")]


def _saliency(run: Any, out: Path, **options: Any) -> list[Path]:
    return _gradients(run, out, saliency, "saliency", **options)


def _guided(run: Any, out: Path, **options: Any) -> list[Path]:
    return _gradients(run, out, guided_backprop, "guided", **options)


def _maximize(run: Any, out: Path, layer: Any = None, channel: int | None = None,
              steps: int = 200, lr: float = 0.05, l2: float = 1e-3, jitter: int = 2,
              blur_every: int = 4, blur_sigma: float = 0.5, max_channels: int = 16,
              seed: int = 0, scale: int = 3) -> list[Path]:
    index, name = _default_layer(run, layer)
    rng = numpy.random.default_rng(seed)
    width = feature_maps(run.model, numpy.zeros((1, *run.input_shape), numpy.float32),
                         index).shape[1]
    chans = [channel] if channel is not None else list(range(min(width, max_channels)))
    images = [maximize(run.model, index, c, run.input_shape, rng, steps, lr, l2, jitter,
                       blur_every, blur_sigma).image for c in chans]
    pic = make_grid(normalize(numpy.stack(images)), scale=scale)
    return [write_png(pic, out / f"maximize_{_file(name)}.png")]


def _occlusion(run: Any, out: Path, image: int | None = None, size: int | None = None,
               stride: int = 2, target: int | None = None, fill: Any = None,
               scale: int = 4) -> list[Path]:
    data = run.dataset("test")
    i = _image_indices(image, 1, len(data))[0]
    x = get_images(data, numpy.array([i]))[0]
    if size is None:  # 0 is not "default": occlusion() refuses it with a clear message
        size = max(1, min(x.shape[1:]) // 4)
    probs = occlusion(run.model, x, target, size, stride, fill)
    return [write_png(occlusion_image(x, probs, scale), out / f"occlusion_img{i}.png")]


def _curves(run_dir: Path, out: Path) -> list[Path]:
    from xpnet.viz.curves import plot_training_curves  # noqa: PLC0415  (matplotlib)

    return [plot_training_curves(run_dir / "history.jsonl", out / "curves.png")]


def _confusion(run: Any, out: Path, split: str = "test", limit: int | None = None,
               batch_size: int = 256) -> list[Path]:
    m = model_confusion(run.model, run.dataset(split), run.num_classes, batch_size, limit)
    return [confusion_figure(m, out / f"confusion_{split}.png", run.classes)]


KINDS: dict[str, Callable[..., list[Path]]] = {
    "filters": _filters, "maps": _maps, "top": _top, "deconv": _deconv,
    "saliency": _saliency, "guided": _guided, "maximize": _maximize,
    "occlusion": _occlusion, "curves": _curves, "confusion": _confusion,
}


def _parameters(kind: str) -> list[inspect.Parameter]:
    fn = {"deconv": _top, "saliency": _gradients, "guided": _gradients}.get(kind, KINDS[kind])
    skip = {"run", "out", "run_dir", "deconv", "method", "tag"}
    return [p for p in inspect.signature(fn).parameters.values() if p.name not in skip]


def _allowed(kind: str) -> list[str]:
    return [p.name for p in _parameters(kind)]


# what an option's annotation accepts; the annotations are strings (postponed evaluation)
_ACCEPTS = {"int": (numbers.Integral, "an integer"), "float": (numbers.Real, "a number")}


def _check_types(kind: str, options: dict[str, Any]) -> None:
    """Refuse an option whose value has the wrong type (``--set k=abc``) before any work."""
    for p in _parameters(kind):
        if p.name not in options or options[p.name] is None:
            continue
        accepts = _ACCEPTS.get(str(p.annotation).removesuffix(" | None"))
        value = options[p.name]
        if accepts and (isinstance(value, bool) or not isinstance(value, accepts[0])):
            raise ValueError(f"visualize {kind}: option {p.name} must be {accepts[1]}, "
                             f"got {type(value).__name__} {value!r}")


def visualize(kind: str, run_dir: str | Path, out_dir: str | Path | None = None,
              checkpoint: str = "best", **options: Any) -> list[Path]:
    """Draw one kind of picture of a trained run to PNG files.

    Args:
        kind: "filters", "maps", "top", "deconv", "saliency", "guided", "maximize",
            "occlusion", "curves" or "confusion".
        run_dir: a run folder written by ``xpnet train``.
        out_dir: where the PNGs go (default ``RUN/viz``).
        checkpoint: "best" or "last".
        **options: the kind's options: ``layer`` (index or dotted name; default the
            output of the last convolution stage, the first for maps), ``channel``,
            ``image`` (test-set index), ``k``, ``limit``, ``count``, ``steps``, ``seed``,
            ``size``, ``stride``, ``scale``...

    Returns:
        The paths written.

    Raises:
        ValueError: an unknown kind or option (the message lists the valid ones), an
            option of the wrong type, or a folder that is not a run folder.
        FileNotFoundError: no such run folder (nothing is created).

    Example:
        >>> visualize("top", "runs/lenet", layer=5, k=9)
        [PosixPath('runs/lenet/viz/top_5.png')]
    """
    if kind not in KINDS:
        raise ValueError(f"visualize: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    unknown = sorted(set(options) - set(_allowed(kind)))
    if unknown:
        raise ValueError(f"visualize {kind}: unknown option(s) {', '.join(unknown)}; "
                         f"options are {', '.join(_allowed(kind)) or 'none'}")
    _check_types(kind, options)
    run_dir = Path(run_dir)
    _check_run_dir(run_dir)  # before RUN/viz is made: a mistyped RUN must not be created
    out = Path(out_dir) if out_dir is not None else run_dir / "viz"
    out.mkdir(parents=True, exist_ok=True)
    if kind == "curves":
        return _curves(run_dir, out)
    return KINDS[kind](_load(run_dir, checkpoint), out, **options)


def write_report(run_dir: str | Path, checkpoint: str = "best", limit: int = 1000) -> Path:
    """Write ``RUN/report.html``: one self-contained page about a trained run.

    See :func:`xpnet.viz.report.build_report` for what the page holds.

    Args:
        run_dir: a run folder.
        checkpoint: "best" or "last".
        limit: test images scanned for the top inputs.

    Returns:
        The path of the page.
    """
    from xpnet.viz.report import build_report  # noqa: PLC0415

    run_dir = Path(run_dir)
    path = run_dir / "report.html"
    path.write_text(build_report(_load(run_dir, checkpoint), limit=limit), encoding="utf-8")
    return path
