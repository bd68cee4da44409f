"""The run report: one self-contained HTML page (``xpnet report RUN``).

Every picture is embedded as a base64 PNG data URI and the style sheet is inline, so the
page is one file with no script and no link to anything: it can be mailed, archived or
opened offline. Sections: the run's settings, training curves, filters, top inputs with
their deconvnet projections for each convolution stage, saliency and guided
back-propagation maps, occlusion maps and the confusion matrix (curves and the confusion
matrix need matplotlib; without it the page says so and shows the rest).
"""

from __future__ import annotations

import base64
import html
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy

from xpnet.viz.confusion import confusion_figure, model_confusion
from xpnet.viz.deconvnet import deconv_top_image
from xpnet.viz.feature_maps import layer_list
from xpnet.viz.filters import block_outputs, conv_layers, dense_image_layer, filters_image
from xpnet.viz.grid import make_grid, normalize, png_bytes, side_by_side, to_hwc
from xpnet.viz.occlusion import occlusion, occlusion_image
from xpnet.viz.saliency import guided_backprop, saliency, saliency_image
from xpnet.viz.top_inputs import get_images, top_inputs

__all__ = ["build_report", "data_uri"]

_STYLE = """
body { font-family: Helvetica, Arial, sans-serif; max-width: 1100px; margin: 24px auto;
       padding: 0 16px; color: #222; line-height: 1.45; }
h1 { font-size: 26px; border-bottom: 2px solid #444; padding-bottom: 6px; }
h2 { font-size: 20px; margin-top: 36px; border-bottom: 1px solid #bbb; }
h3 { font-size: 16px; margin-bottom: 4px; }
table { border-collapse: collapse; font-size: 14px; }
td, th { border: 1px solid #ccc; padding: 3px 10px; text-align: left; }
figure { margin: 10px 0 22px 0; }
figure img { image-rendering: pixelated; max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 14px; color: #444; max-width: 900px; margin-top: 4px; }
.note { color: #8a4b00; font-size: 14px; }
"""


def data_uri(png: bytes) -> str:
    """``data:image/png;base64,...`` for PNG bytes."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _figure(image: Any, caption: str, alt: str, width: int | None = None) -> str:
    png = image if isinstance(image, bytes) else png_bytes(image)
    size = f' width="{width}"' if width else ""
    return (f'<figure><img src="{data_uri(png)}" alt="{html.escape(alt)}"{size}>'
            f"<figcaption>{caption}</figcaption></figure>")


def _matplotlib_png(draw: Callable[[Path], Path]) -> bytes | None:
    """Run a matplotlib drawing into a temporary file; None without matplotlib."""
    try:
        with tempfile.TemporaryDirectory() as tmp:
            return Path(draw(Path(tmp) / "figure.png")).read_bytes()
    except ImportError:
        return None


def _pretrain_summary(run: Any) -> str | None:
    """"rbm, 5 epochs per layer, lr 0.01; layer 1 (linear visible units) cost 168 -> 83.6,
    ..." from the run's pretrain.jsonl; None for a run that was not pre-trained."""
    c = run.config.to_dict()
    path = run.run_dir / "pretrain.jsonl"
    if c.get("pretrain", "none") == "none" or not path.exists():
        return None
    try:
        records = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]
    except (OSError, ValueError):
        return f"{c['pretrain']} (pretrain.jsonl unreadable)"
    layers: dict[Any, list[dict[str, Any]]] = {}
    for r in records:
        layers.setdefault(r.get("layer"), []).append(r)
    from xpnet.train.pretrain import LOSS_NAMES  # noqa: PLC0415  (as commands.py: lazily)

    what = LOSS_NAMES.get(c["pretrain"], "cost")
    parts = [f"layer {k} ({v[0].get('visible')} visible units) {what} "
             f"{v[0]['loss']:.4g} -> {v[-1]['loss']:.4g}" for k, v in layers.items()]
    n = c.get("pretrain_epochs")
    return (f"{c['pretrain']}, {n} epoch{'' if n == 1 else 's'} per layer, lr "
            f"{c.get('pretrain_lr')}; " + "; ".join(parts))


def _settings(run: Any) -> str:
    c, meta = run.config.to_dict(), run.meta or {}
    rows = [
        ("run", run.run_dir.name), ("model", c.get("model")), ("data", c.get("data")),
        ("input shape", " x ".join(str(v) for v in run.input_shape)),
        ("classes", f"{run.num_classes}: {', '.join(run.classes[:12])}"
                    + (" ..." if run.num_classes > 12 else "")),
        ("parameters", f"{run.model.num_parameters():,}"),
        ("checkpoint", f"{run.checkpoint} (epoch {meta.get('epoch', '?')}, "
                       f"step {meta.get('step', '?')})"),
    ]
    for key in ("epochs", "batch_size", "optimizer", "lr", "momentum", "weight_decay",
                "schedule", "augment", "preprocess", "seed"):
        if c.get(key) is not None:
            rows.append((key.replace("_", " "), c[key]))
    pretrain = _pretrain_summary(run)
    if pretrain:
        rows.append(("layer-wise pre-training", pretrain))
    metrics = meta.get("metrics") or {}
    scores = [f"{k.replace('_', ' ')} {v:.4g}" for k, v in metrics.items()
              if isinstance(v, (int, float)) and ("loss" in k or "acc" in k or "top" in k)]
    if scores:
        rows.append(("at this checkpoint", ", ".join(scores)))
    body = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                   for k, v in rows)
    layers = ", ".join(f"{n}: {type(m).__name__}" for n, m in layer_list(run.model))
    return (f"<table>{body}</table><p><b>Layers</b> (index: type, as the "
            f"<code>--layer</code> option names them): {html.escape(layers)}</p>")


def _curves_section(run: Any) -> str:
    out = ["<h2>1. Training curves</h2>"]
    if not run.history_path.exists():
        return out[0] + '<p class="note">This run has no history.jsonl.</p>'
    from xpnet.viz.curves import plot_training_curves  # noqa: PLC0415

    png = _matplotlib_png(lambda p: plot_training_curves(run.history_path, p))
    if png is None:
        return out[0] + '<p class="note">Curves need matplotlib: pip install "xpnet[viz]".</p>'
    cap = ("Cost (training loss per step and per epoch, validation loss), accuracy and the "
           "learning rate against the optimiser step (epochs on the top axis). A validation "
           "cost rising while the training cost falls means over-fitting; a flat cost after a "
           "learning-rate drop means the schedule has done its work.")
    return out[0] + _figure(png, cap, "training curves")


def _dense_filters_section(run: Any) -> str:
    """An MLP's first dense layer as images (or a note that there is nothing to show)."""
    shape = tuple(run.input_shape)
    dense = dense_image_layer(run.model, shape)
    if dense is None:
        return "<h2>2. Filters</h2><p>The model has no convolution layer.</p>"
    name, module = layer_list(run.model)[dense]
    shown = min(64, module.weight.shape[0])
    png = filters_image(run.model, dense, scale=max(2, 64 // max(shape[1:])),
                        max_filters=shown, input_shape=shape)
    return "<h2>2. Filters</h2>" + _figure(png, (
        f"The weights of the first {shown} of the {module.weight.shape[0]} units of the "
        f"first dense layer (layer {name}), each reshaped to the image and scaled to its "
        "own range (black = most negative, white = most positive): the input each unit "
        "answers most (per unit of weight norm)."), "first-layer weights")


def _filters_section(run: Any) -> str:
    convs = conv_layers(run.model)
    if not convs:
        return _dense_filters_section(run)
    names = layer_list(run.model)
    parts = ["<h2>2. Filters</h2>"]
    kernel = max(names[convs[0]][1].weight.shape[2:])
    first = filters_image(run.model, convs[0], scale=max(4, 64 // kernel))
    parts.append(_figure(first, (
        f"The {len(names[convs[0]][1].weight.data)} kernels of the first "
        f"convolution (layer {names[convs[0]][0]}), each scaled to its own range (black = "
        "most negative weight, white = most positive; colour kernels in colour). Trained "
        "first-layer filters look like oriented edge, stroke and blob detectors."),
        "first-layer filters"))
    for i in convs[1:3]:
        kernel = max(names[i][1].weight.shape[2:])
        deeper = filters_image(run.model, i, scale=max(2, 24 // kernel), max_filters=32)
        parts.append(_figure(deeper, (
            f"Kernels of layer {names[i][0]}, one row per filter (first 32), one column per "
            "input channel: how each filter weighs the feature maps below it."),
            f"filters of layer {names[i][0]}"))
    return "".join(parts)


def _top_section(run: Any, data: Any, limit: int, k: int = 6, channels: int = 8) -> str:
    parts = ["<h2>3. Top inputs and their deconvnet projections</h2>", (
        f"<p>For each convolution stage, the {k} test images (of the first {limit}) that "
        "excite a feature map most, found in one pass with a running top-k. Left: the "
        "deconvnet projection of that strongest activation back to pixel space (Zeiler "
        "&amp; Fergus 2013: unpooling at the max-pooling switches, rectification, "
        "transposed filters; grey = 0). Right: the input patch under the unit's receptive "
        f"field. One row per feature map; the {channels} maps with the strongest "
        "responses are shown.</p>")]
    names = layer_list(run.model)
    for j in block_outputs(run.model):
        top = top_inputs(run.model, data, j, k, 256, limit)
        order = numpy.argsort(-top.scores[0], kind="stable")[:channels]
        chans = sorted(order.tolist())
        pic = deconv_top_image(run.model, data, top, chans,
                               scale=max(2, 84 // max(top.field.size) if top.field else 3))
        field = (f"{top.field.size[0]}x{top.field.size[1]} pixels" if top.field
                 else "the whole image")
        parts.append(f"<h3>Layer {names[j][0]} ({type(names[j][1]).__name__} after the "
                     "convolution)</h3>")
        parts.append(_figure(pic, (
            f"Feature maps {', '.join(map(str, chans))} of layer {names[j][0]}; receptive "
            f"field {field}. Projections (left) show which pixels of each patch (right) "
            "produced the activation."), f"top inputs of layer {names[j][0]}"))
    return "".join(parts)


def _saliency_section(run: Any, data: Any, count: int = 8) -> str:
    x = get_images(data, numpy.arange(min(count, len(data))))
    sal = saliency(run.model, x)
    gb = guided_backprop(run.model, x)
    inputs = numpy.stack([to_hwc(im) for im in normalize(x)])  # (N, H, W, 3)
    rows = numpy.concatenate([inputs, saliency_image(sal), saliency_image(gb, signed=True)])
    scale = max(2, 96 // x.shape[2])
    pic = make_grid(rows, ncol=len(x), scale=scale, channels_last=True)
    return "<h2>4. Saliency and guided back-propagation</h2>" + _figure(pic, (
        "Top row: test images. Middle: saliency map (Simonyan et al. 2013), the largest "
        "|dS/dx| over colour channels, where S is the score of the predicted class: the "
        "pixels whose change moves the score most (bright = large). Bottom: guided "
        "back-propagation (the gradient with every ReLU passing only positive signals of "
        "active units; red = raises the score, blue = lowers it)."), "saliency maps")


def _occlusion_section(run: Any, data: Any, count: int = 3) -> str:
    pics = []
    for i in range(min(count, len(data))):
        x = get_images(data, numpy.array([i]))[0]
        size = max(1, min(x.shape[1:]) // 4)
        p = occlusion(run.model, x, None, size, max(1, size // 4))
        pics.append(occlusion_image(x, p, scale=max(2, 96 // x.shape[1])))
    return "<h2>5. Occlusion sensitivity</h2>" + _figure(side_by_side(*pics, gap=24), (
        "Each test image beside the probability of its predicted class as a square of the "
        "image's mean colour (a quarter of the image wide) slides over it (Zeiler &amp; "
        "Fergus section 4.2): dark = covering this place destroys the prediction, so the "
        "network relies on it."), "occlusion maps")


def _confusion_section(run: Any, data: Any) -> str:
    m = model_confusion(run.model, data, run.num_classes, 256)
    png = _matplotlib_png(lambda p: confusion_figure(m, p, run.classes))
    head = "<h2>6. Confusion matrix</h2>"
    if png is None:
        return head + '<p class="note">The figure needs matplotlib: pip install "xpnet[viz]".</p>'
    acc = numpy.trace(m) / max(m.sum(), 1)
    return head + _figure(png, (
        f"Test set ({m.sum()} images, accuracy {acc:.2%}): row = true class, column = "
        "predicted class; off-diagonal cells are the mistakes."), "confusion matrix",
        width=560)


def build_report(run: Any, limit: int = 1000) -> str:
    """The HTML of a run's report (see the module docstring).

    Args:
        run: a :class:`xpnet.train.runfolder.Run`.
        limit: test images scanned for the top inputs.

    Returns:
        The page as a string.
    """
    data = run.dataset("test")
    title = html.escape(f"xpnet report: {run.run_dir.name}")
    sections = [
        f"<h1>{title}</h1>", _settings(run), _curves_section(run), _filters_section(run),
        _top_section(run, data, limit), _saliency_section(run, data),
        _occlusion_section(run, data), _confusion_section(run, data),
    ]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{title}</title><style>{_STYLE}</style></head><body>\n"
            + "\n".join(sections) + "\n</body></html>\n")
