"""Study ``translation``: a fully-connected network against a CNN, both trained on
centred digits, tested on digits moved by 0 to 4 pixels."""

from __future__ import annotations

from typing import Any

import numpy

from xpnet.data.transforms import shift
from xpnet.models import mlp
from xpnet.models.lenet import lenet5
from xpnet.studies.arms import Recipe, Trained, fit_arm
from xpnet.studies.base import Context, Metric, Plot, Study
from xpnet.studies.digits import mnist, sgd_budget, sgd_text, standardized

SHIFTS = (0, 1, 2, 3, 4)
DIRECTIONS = ((0, 1), (0, -1), (1, 0), (-1, 0))  # right, left, down, up
NETS = {"MLP 784-256-10": lambda rng: list(mlp((784, 256, 10), rng=rng)),
        "CNN (LeNet-5)": lambda rng: list(lenet5(rng=rng))}


def setup(ctx: Context) -> str:
    """The data, network and budget in words (for the table)."""
    b = ctx.budget
    (x, _), (xt, _) = mnist(ctx.quick)
    sizes = [sum(m.num_parameters() for m in net(numpy.random.default_rng(0)))
             for net in NETS.values()]
    return (f"An MLP 784-256-10 (ReLU, {sizes[0]:,} weights) and LeNet-5 ({sizes[1]:,}), "
            f"both trained on the centred MNIST-5k digits ({len(x)}, no augmentation, "
            f"standardised; {sgd_text(b)}), then tested on the {len(xt)} test digits moved "
            f"by s whole pixels (zeros entering; xpnet.data.transforms.shift) to the right, "
            f"left, down and up: the accuracy at s is the mean over the four directions.")


def _shifted(test: Any) -> Any:
    def measure(trained: Trained) -> dict[str, Any]:
        accs = [float(numpy.mean([trained.accuracy(shift(test[0], s * dy, s * dx), test[1])
                                  for dy, dx in DIRECTIONS])) for s in SHIFTS]
        out: dict[str, Any] = {f"acc_shift_{s}": a for s, a in zip(SHIFTS, accs, strict=True)}
        out["curves"] = {"shift_accuracy": {"x": list(SHIFTS), "y": accs}}
        return out

    return measure


def run(ctx: Context, seed: int) -> dict[str, dict[str, Any]]:
    """Train every arm once with ``seed``; see :class:`xpnet.studies.base.Study`."""
    b = ctx.budget
    train, test = mnist(ctx.quick)
    results = {}
    for arm, net in NETS.items():
        recipe = Recipe.from_budget(standardized(net, train), train, test, b,
                                    test_each_epoch=False)
        results[arm] = fit_arm(ctx, arm, recipe, seed, extra=_shifted(test))
    return results


def findings(summary: Any) -> list[str]:
    """Sentences computed from the summary, for the table and results.json."""
    out = []
    for arm in NETS:
        accs = [summary.mean(arm, f"acc_shift_{s}") for s in SHIFTS]
        out.append(f"{arm}: " + ", ".join(f"{100 * a:.1f}%" for a in accs)
                   + f" at shifts {', '.join(map(str, SHIFTS))} pixels (kept "
                   f"{100 * accs[2] / accs[0]:.0f}% of its accuracy at 2 pixels, "
                   f"{100 * accs[4] / accs[0]:.0f}% at 4).")
    return out


STUDY = Study(
    name="translation",
    title="a fully-connected net against a CNN on shifted digits",
    claim="Shared weights make a convolutional layer's maps move with the input, and "
          "pooling makes the summary of a neighbourhood insensitive to small moves, so a "
          "CNN trained on centred digits keeps more of its accuracy on shifted digits than "
          "a fully-connected network, which must learn each position anew (LeCun et al. "
          "1998, section II).",
    arms=tuple(NETS),
    metrics=tuple(Metric(f"acc_shift_{s}", f"accuracy (%), shift {s}", scale=100,
                         compare=s % 2 == 0) for s in SHIFTS),
    plots=(Plot("curves", "shift_accuracy", "accuracy against shift", "shift (pixels)",
                "test accuracy (%)", scale=100),),
    budget=sgd_budget,
    setup=setup,
    run=run,
    findings=findings,
)
