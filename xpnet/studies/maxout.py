"""Study ``maxout``: maxout units against ReLU units at an equal number of parameters,
with and without dropout (Goodfellow et al. 2013)."""

from __future__ import annotations

import math
from typing import Any

from xpnet import nn
from xpnet.models._common import child_rng
from xpnet.studies.arms import Recipe, fit_arm
from xpnet.studies.base import (
    TEST_ACCURACY,
    TEST_ACCURACY_BARS,
    TRAIN_LOSS,
    Context,
    Metric,
    Plot,
    Study,
)
from xpnet.studies.digits import mnist, sgd_text, split_text, standardized

ARMS = ("ReLU", "maxout", "ReLU + dropout", "maxout + dropout")


def maxout_parameters(units: int, pieces: int) -> int:
    """Weights and biases of 784 -> units (maxout of ``pieces``) -> units -> 10."""
    k = units * pieces
    return 784 * k + k + units * k + k + units * 10 + 10


def relu_width(parameters: int) -> int:
    """H such that 784 -> H -> H -> 10 (ReLU) has about ``parameters`` weights and biases:
    the root of H^2 + 796 H + 10 = parameters."""
    return round((-796 + math.sqrt(796 ** 2 + 4 * (parameters - 10))) / 2)


def budget(ctx: Context) -> dict[str, Any]:
    """The numbers of a run, smaller under --quick (:attr:`~xpnet.studies.base.Study.budget`)."""
    return {"units": ctx.pick(240, 32), "pieces": ctx.pick(5, 3), "epochs": ctx.pick(12, 2),
            "decay_every": ctx.pick(9, None), "batch_size": 64, "lr": 0.01, "momentum": 0.9,
            "weight_decay": 0.0}


def setup(ctx: Context) -> str:
    """The data, network and budget in words (for the table); records in ``ctx.settings``
    what the budget does not say."""
    b = ctx.budget
    h = relu_width(maxout_parameters(b["units"], b["pieces"]))
    ctx.settings.update(relu_width=h)
    u, k = b["units"], b["pieces"]
    return (f"Two hidden layers on MNIST-5k ({split_text(ctx.quick)}, standardised): maxout "
            f"784-{u}x{k}-{u}x{k}-10 (each unit the max of {b['pieces']} linear pieces, as in "
            f"Goodfellow et al.'s MNIST network) against ReLU 784-{h}-{h}-10, the width that "
            f"gives the same number of parameters. Dropout as the paper: 20% of the inputs, "
            f"50% of each hidden layer's units. {sgd_text(b)}.")


def _layers(kind: str, units: int, pieces: int, width: int, dropout: bool) -> Any:
    def build(rng: Any) -> list[nn.Module]:
        if kind == "maxout":
            hidden = [nn.MaxoutLinear(784, units, pieces, rng=rng),
                      nn.MaxoutLinear(units, units, pieces, rng=rng)]
            last = nn.Linear(units, 10, rng=rng)
        else:
            hidden = [nn.Sequential(nn.Linear(784, width, rng=rng), nn.ReLU()),
                      nn.Sequential(nn.Linear(width, width, rng=rng), nn.ReLU())]
            last = nn.Linear(width, 10, rng=rng)
        hidden = [m for h in hidden for m in (h if isinstance(h, nn.Sequential) else [h])]
        if not dropout:
            return [nn.Flatten(), *hidden, last]
        drops = [nn.Dropout(p, rng=child_rng(rng)) for p in (0.2, 0.5, 0.5)]
        step = len(hidden) // 2  # modules per hidden layer
        return [nn.Flatten(), drops[0], *hidden[:step], drops[1], *hidden[step:], drops[2],
                last]

    return build


def run(ctx: Context, seed: int) -> dict[str, dict[str, Any]]:
    """Train every arm once with ``seed``; see :class:`xpnet.studies.base.Study`."""
    b = ctx.budget
    width = relu_width(maxout_parameters(b["units"], b["pieces"]))
    train, test = mnist(ctx.quick)
    results = {}
    for arm in ARMS:
        kind, dropout = arm.split(" ")[0], arm.endswith("dropout")
        build = standardized(_layers(kind, b["units"], b["pieces"], width, dropout), train)
        recipe = Recipe.from_budget(build, train, test, b, random=dropout)
        params = build(seed).num_parameters()
        results[arm] = fit_arm(ctx, arm, recipe, seed, extra=lambda t, n=params: {
            "parameters": float(n)})
    return results


def findings(summary: Any) -> list[str]:
    """Sentences computed from the summary, for the table and results.json."""
    out = []
    for relu, maxout in ((ARMS[0], ARMS[1]), (ARMS[2], ARMS[3])):
        a, m = summary.stat(relu, "test_accuracy"), summary.stat(maxout, "test_accuracy")
        delta = 100 * (m.mean - a.mean)
        which = "with dropout" if relu.endswith("dropout") else "without dropout"
        out.append(f"{which}: maxout {100 * m.mean:.2f}% against ReLU {100 * a.mean:.2f}% "
                   f"({delta:+.2f} points; the seeds' standard deviations are "
                   f"{100 * m.std:.2f} and {100 * a.std:.2f}).")
    return out


STUDY = Study(
    name="maxout",
    title="maxout against ReLU at an equal parameter count",
    claim="A maxout unit, the max of k linear pieces, is a learnt convex activation that "
          "works well with dropout: Goodfellow et al. 2013 report 0.94% test error on "
          "permutation-invariant MNIST with two maxout layers and dropout, below the "
          "rectifier networks of the time.",
    arms=ARMS,
    metrics=(Metric("parameters", "parameters", digits=0, compare=False),
             TEST_ACCURACY, TRAIN_LOSS),
    plots=(Plot("curves", "test_error", "test error", "epoch", "error (%)", scale=100),
           TEST_ACCURACY_BARS),
    budget=budget,
    setup=setup,
    run=run,
    findings=findings,
)
