"""Study ``preprocessing``: raw pixels, mean 0 and variance 1, ZCA whitening; and with
extreme values injected, clipped or not (LeCun et al. 1998b)."""

from __future__ import annotations

from typing import Any

import numpy

from xpnet import nn
from xpnet.data.preprocessing import Clip, Pipeline, Standardize, ZCAWhitening
from xpnet.studies.arms import Recipe, fit_arm
from xpnet.studies.base import (
    TEST_ACCURACY,
    TEST_ACCURACY_BARS,
    TEST_ERROR_CURVES,
    TRAIN_LOSS,
    Context,
    Study,
)
from xpnet.studies.digits import mnist, sgd_budget, sgd_text, split_text

#: arm -> (outliers injected, the pre-processing steps)
ARMS = {
    "raw pixels": (False, ()),
    "mean 0, variance 1": (False, (Standardize,)),
    "ZCA whitening": (False, (ZCAWhitening,)),
    "outliers, raw": (True, ()),
    "outliers, mean 0, variance 1": (True, (Standardize,)),
    "outliers, clipped, mean 0, variance 1": (True, (Clip, Standardize)),
}
OUTLIER_SHARE, OUTLIER_VALUE = 0.002, 30.0


def budget(ctx: Context) -> dict[str, Any]:
    """The numbers of a run, smaller under --quick (:attr:`~xpnet.studies.base.Study.budget`)."""
    return sgd_budget(ctx, hidden=256)


def setup(ctx: Context) -> str:
    """The data, network and budget in words (for the table); records in ``ctx.settings``
    what the budget does not say."""
    b = ctx.budget
    ctx.settings.update(outlier_share=OUTLIER_SHARE, outlier_value=OUTLIER_VALUE)
    return (f"MLP 784-{b['hidden']}-10 (ReLU) on MNIST-5k ({split_text(ctx.quick)}, pixels "
            f"in [0, 1]); {sgd_text(b)}. The pre-processing is fitted on the training digits and "
            f"put in front of the network (as xpnet train --preprocess does): mean 0, variance 1 "
            f"(standardize), ZCA whitening (eps 0.01), clipping to the 0.5th and 99.5th "
            f"percentiles of the training values (clip). Outliers: {100 * OUTLIER_SHARE:g}% "
            f"of the pixels of every training and test digit set to {OUTLIER_VALUE:g} (a "
            f"faulty sensor), drawn with the seed.")


def _outliers(data: Any, rng: numpy.random.Generator) -> Any:
    x, y = data
    x = x.copy()
    hit = rng.random(x.shape) < OUTLIER_SHARE
    x[hit] = OUTLIER_VALUE
    return x, y


def _build(steps: tuple, train: Any, hidden: int) -> Any:
    fitted = Pipeline([s() for s in steps]).fit(train[0]) if steps else Pipeline()

    def build(seed: int) -> nn.Sequential:
        front = Pipeline([s() for s in steps])
        front.load_state_dict(fitted.state_dict())
        rng = numpy.random.default_rng(seed)
        return nn.Sequential(*front, nn.Flatten(), nn.Linear(784, hidden, rng=rng), nn.ReLU(),
                             nn.Linear(hidden, 10, rng=rng))

    return build


def run(ctx: Context, seed: int) -> dict[str, dict[str, Any]]:
    """Train every arm once with ``seed``; see :class:`xpnet.studies.base.Study`."""
    b = ctx.budget
    clean = mnist(ctx.quick)
    rng = numpy.random.default_rng([seed, 6])
    dirty = tuple(_outliers(d, rng) for d in clean)
    results = {}
    for arm, (outliers, steps) in ARMS.items():
        train, test = dirty if outliers else clean
        recipe = Recipe.from_budget(_build(steps, train, b["hidden"]), train, test, b)
        results[arm] = fit_arm(ctx, arm, recipe, seed)
    return results


def findings(summary: Any) -> list[str]:
    """Sentences computed from the summary, for the table and results.json."""
    acc = {arm: summary.mean(arm, "test_accuracy") for arm in ARMS}
    clean = ", ".join(f"{arm} {100 * acc[arm]:.2f}%" for arm in list(ARMS)[:3])
    dirty = ", ".join(f"{arm.removeprefix('outliers, ')} {100 * acc[arm]:.2f}%"
                      for arm in list(ARMS)[3:])
    return [f"Clean digits: {clean}.", f"With outliers: {dirty}."]


STUDY = Study(
    name="preprocessing",
    title="raw, standardised and whitened inputs; outliers clipped or not",
    claim="Inputs of mean 0 and variance 1 make gradient descent better conditioned "
          "(LeCun et al. 1998b, Efficient BackProp); decorrelating them (whitening: Coates "
          "et al. 2011; Goodfellow et al. 2013) goes further; and a few extreme values, left "
          "in, blow up the statistics and the steps, while clipping them first restores the "
          "clean result.",
    arms=tuple(ARMS),
    metrics=(TEST_ACCURACY, TRAIN_LOSS),
    plots=(TEST_ACCURACY_BARS, TEST_ERROR_CURVES),
    budget=budget,
    setup=setup,
    run=run,
    findings=findings,
)
