"""Study ``sharing``: shared (convolutional) against unshared (locally connected) kernels,
on centred digits and on digits shifted at random (Taigman et al. 2014's DeepFace)."""

from __future__ import annotations

from typing import Any

import numpy

from xpnet import nn
from xpnet.data.transforms import random_crop
from xpnet.studies.arms import Recipe, fit_arm
from xpnet.studies.base import (
    TEST_ACCURACY,
    TEST_ACCURACY_BARS,
    TEST_ERROR_CURVES,
    Context,
    Metric,
    Study,
)
from xpnet.studies.digits import mnist, sgd_budget, sgd_text, split_text, standardized

LAYERS = ("convolutional", "locally connected")
DATA = ("centred", "shifted")
ARMS = {f"{layer}, {data}": (layer, data) for data in DATA for layer in LAYERS}


def budget(ctx: Context) -> dict[str, Any]:
    """The numbers of a run, smaller under --quick (:attr:`~xpnet.studies.base.Study.budget`)."""
    return sgd_budget(ctx, max_shift=4)


def setup(ctx: Context) -> str:
    """The data, network and budget in words (for the table)."""
    b = ctx.budget
    sizes = [nn.Sequential(*_layers(layer)(numpy.random.default_rng(0))).num_parameters()
             for layer in LAYERS]
    return (f"conv 16 5x5, max pool 2x2, ReLU, then 16 3x3 kernels either shared over the "
            f"12x12 map (a convolution, {sizes[0]:,} parameters in all) or a different "
            f"kernel at each of its 10x10 positions (locally connected, {sizes[1]:,}), ReLU, "
            f"dense 10. MNIST-5k ({split_text(ctx.quick)}, standardised), centred as MNIST "
            f"is, or each digit (training and test) moved once by a random whole-pixel shift "
            f"of up to {b['max_shift']} in each direction, drawn with the seed. {sgd_text(b)}.")


def _layers(layer: str) -> Any:
    def build(rng: Any) -> list[nn.Module]:
        top = (nn.Conv2d(16, 16, 3, rng=rng) if layer == "convolutional"
               else nn.LocallyConnected2d(16, 16, (12, 12), 3, rng=rng))
        return [nn.Conv2d(1, 16, 5, rng=rng), nn.MaxPool2d(2, 2), nn.ReLU(), top, nn.ReLU(),
                nn.Flatten(), nn.Linear(16 * 10 * 10, 10, rng=rng)]

    return build


def _moved(data: Any, seed: int, which: int, max_shift: int) -> Any:
    """Every digit moved once by its own random shift (a random crop of the padded
    image: the same as moving it by up to ``max_shift`` pixels)."""
    x, y = data
    rng = numpy.random.default_rng([seed, which])
    return random_crop(x, rng, x.shape[2:], padding=max_shift), y


def run(ctx: Context, seed: int) -> dict[str, dict[str, Any]]:
    """Train every arm once with ``seed``; see :class:`xpnet.studies.base.Study`."""
    b = ctx.budget
    centred = mnist(ctx.quick)
    shifted = tuple(_moved(d, seed, 4 + i, b["max_shift"]) for i, d in enumerate(centred))
    results = {}
    for arm, (layer, data) in ARMS.items():
        train, test = centred if data == "centred" else shifted
        recipe = Recipe.from_budget(standardized(_layers(layer), train), train, test, b)
        results[arm] = fit_arm(ctx, arm, recipe, seed)
    return results


def findings(summary: Any) -> list[str]:
    """Sentences computed from the summary, for the table and results.json."""
    out = []
    for data in DATA:
        conv, local = (summary.stat(f"{layer}, {data}", "test_accuracy") for layer in LAYERS)
        delta = 100 * (local.mean - conv.mean)
        out.append(f"{data} digits: locally connected {100 * local.mean:.2f}% against "
                   f"convolutional {100 * conv.mean:.2f}% ({delta:+.2f} points; seed standard "
                   f"deviations {100 * local.std:.2f} and {100 * conv.std:.2f}).")
    return out


STUDY = Study(
    name="sharing",
    title="shared against unshared kernels, on centred and on shifted digits",
    claim="Unshared (locally connected) kernels can learn a different detector at each "
          "position, which pays when the inputs are aligned, as DeepFace's frontalised "
          "faces are (Taigman et al. 2014); when the inputs move, each position sees fewer "
          "examples of each pattern and shared (convolutional) kernels do better.",
    arms=tuple(ARMS),
    metrics=(TEST_ACCURACY,
             Metric("train_accuracy", "last epoch's training accuracy (%)", scale=100)),
    plots=(TEST_ACCURACY_BARS, TEST_ERROR_CURVES),
    budget=budget,
    setup=setup,
    run=run,
    findings=findings,
)
