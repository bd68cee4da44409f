"""Study ``normalization``: local response normalisation on and off in cuda-convnet's
CIFAR-10 network, fitted to 28x28 digits (Krizhevsky et al. 2012, section 3.3)."""

from __future__ import annotations

from typing import Any

import numpy

from xpnet import Tensor, nn, no_grad
from xpnet.studies.arms import Recipe, fit_arm
from xpnet.studies.base import (
    TEST_ERROR,
    TEST_ERROR_CURVES,
    TRAIN_LOSS,
    Context,
    Metric,
    Plot,
    Study,
)
from xpnet.studies.digits import mnist, sgd_budget, sgd_text, split_text, standardized
from xpnet.studies.report import error_change

ARMS = ("LRN", "no LRN")


def budget(ctx: Context) -> dict[str, Any]:
    """The numbers of a run, smaller under --quick (:attr:`~xpnet.studies.base.Study.budget`)."""
    return sgd_budget(ctx, lr=0.01, channels=ctx.pick((32, 32, 64), (8, 8, 16)))


def setup(ctx: Context) -> str:
    """The data, network and budget in words (for the table)."""
    b = ctx.budget
    c1, c2, c3 = b["channels"]
    return (f"cuda-convnet's layers-18pct network (xpnet.models.cifar_convnet) for one "
            f"28x28 channel: conv {c1} 5x5 pad 2, max pool 3x3/2, ReLU, [LRN], conv {c2} "
            f"5x5 pad 2, ReLU, average pool 3x3/2, [LRN], conv {c3} 5x5 pad 2, ReLU, average "
            f"pool 3x3/2, dense 10; pools padded by 1 instead of ceil mode (28 -> 14 -> 7 -> "
            f"4); LRN over 3 channels, alpha 1.5e-4, beta 0.75, k 1 (cuda-convnet's). "
            f"MNIST-5k, {split_text(ctx.quick)}, standardised; {sgd_text(b)}.")


def _layers(channels: tuple[int, int, int], lrn: bool) -> Any:
    c1, c2, c3 = channels

    def norm() -> list[nn.Module]:
        return [nn.LocalResponseNorm(3, alpha=1.5e-4, beta=0.75, k=1.0)] if lrn else []

    def build(rng: Any) -> list[nn.Module]:
        return [nn.Conv2d(1, c1, 5, padding=2, rng=rng), nn.MaxPool2d(3, 2, padding=1),
                nn.ReLU(), *norm(),
                nn.Conv2d(c1, c2, 5, padding=2, rng=rng), nn.ReLU(),
                nn.AvgPool2d(3, 2, padding=1), *norm(),
                nn.Conv2d(c2, c3, 5, padding=2, rng=rng), nn.ReLU(),
                nn.AvgPool2d(3, 2, padding=1), nn.Flatten(),
                nn.Linear(c3 * 4 * 4, 10, rng=rng)]

    return build


def lrn_change(model: Any, x: Any) -> float | None:
    """How much the LRN layers change what passes through them, on images ``x``:
    mean |b - a| / mean |a| over their inputs a and outputs b (xpnet networks only)."""
    if not isinstance(model, nn.Sequential):
        return None
    moved = size = 0.0
    with no_grad():
        out = Tensor(x)
        for m in model:
            new = m(out)
            if isinstance(m, nn.LocalResponseNorm):
                moved += float(numpy.abs(new.data - out.data).mean())
                size += float(numpy.abs(out.data).mean())
            out = new
    return moved / size if size else None


def _measure(test: Any) -> Any:
    def measure(trained: Any) -> dict[str, Any]:
        out = {"test_error": 1 - trained.measured["test_accuracy"]}
        change = lrn_change(trained.model, test[0][:500])
        if change is not None:
            out["lrn_change"] = change
        return out

    return measure


def run(ctx: Context, seed: int) -> dict[str, dict[str, Any]]:
    """Train every arm once with ``seed``; see :class:`xpnet.studies.base.Study`."""
    b = ctx.budget
    train, test = mnist(ctx.quick)
    results = {}
    for arm in ARMS:
        build = standardized(_layers(b["channels"], arm == "LRN"), train)
        recipe = Recipe.from_budget(build, train, test, b)
        results[arm] = fit_arm(ctx, arm, recipe, seed, extra=_measure(test))
    return results


def findings(summary: Any) -> list[str]:
    """Sentences computed from the summary, for the table and results.json."""
    on, off = (summary.stat(arm, "test_error") for arm in ARMS)
    change = summary.mean("LRN", "lrn_change")
    return ["LRN " + error_change(off, on, "Krizhevsky et al.: lowered by 2 points on "
                                  "CIFAR-10 with this network, 1.4 top-1 on ImageNet") + ".",
            f"The trained network's LRN layers changed their inputs by {100 * change:.3f}% "
            f"on average (mean |b - a| / mean |a| on 500 test digits)."]


STUDY = Study(
    name="normalization",
    title="local response normalisation on and off",
    claim="Normalising each unit by the activity of its neighbours in nearby channels "
          "(local response normalisation, a form of lateral inhibition) aids "
          "generalisation: Krizhevsky et al. 2012 (section 3.3) report that it lowered "
          "cuda-convnet's CIFAR-10 test error from 13% to 11%, and AlexNet's top-1 and "
          "top-5 errors by 1.4 and 1.2 points.",
    arms=ARMS,
    metrics=(TEST_ERROR, TRAIN_LOSS,
             Metric("lrn_change", "change made by LRN (% of its input)", scale=100, digits=3,
                    compare=False)),
    plots=(TEST_ERROR_CURVES,
           Plot("curves", "train_error", "training error (during each epoch)", "epoch",
                "error (%)", scale=100, logy=True)),
    budget=budget,
    setup=setup,
    run=run,
    findings=findings,
)
