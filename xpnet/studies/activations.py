"""Study ``activations``: logistic, tanh and ReLU units in the same CNN, and how fast each
brings the training error down (Krizhevsky et al. 2012, figure 1)."""

from __future__ import annotations

from typing import Any

from xpnet.models.lenet import lenet5
from xpnet.studies.arms import Recipe, fit_arm
from xpnet.studies.base import TEST_ACCURACY, Context, Metric, Plot, Study
from xpnet.studies.digits import first_below, mnist, split_text, standardized

UNITS = {"logistic": "sigmoid", "tanh": "tanh", "ReLU": "relu"}
#: Krizhevsky et al. chose each network's rate to make it train as fast as possible: each
#: unit is trained at each of these rates, and the findings compare each unit's best.
RATES = (0.01, 0.03, 0.1)
ARMS = {f"{unit}, lr {lr}": (unit, lr) for lr in RATES for unit in UNITS}
TARGETS = (0.25, 0.05)  # training error rates to reach: Krizhevsky et al.'s 25%, and 5%


def budget(ctx: Context) -> dict[str, Any]:
    """The numbers of a run, smaller under --quick (:attr:`~xpnet.studies.base.Study.budget`)."""
    return {"epochs": ctx.pick(6, 2), "batch_size": 64, "rates": RATES, "momentum": 0.9,
            "weight_decay": 5e-4, "window": ctx.pick(16, 4)}


def setup(ctx: Context) -> str:
    """The data, network and budget in words (for the table)."""
    b = ctx.budget
    return (f"LeNet-5 (max pooling, the unit after each pool and dense layer) on MNIST-5k, "
            f"{split_text(ctx.quick)}, standardised; PyTorch's default "
            f"initialisation; SGD at each rate of {', '.join(map(str, b['rates']))}, "
            f"momentum {b['momentum']}, weight decay {b['weight_decay']}, batch "
            f"{b['batch_size']}, {b['epochs']} epochs. The "
            f"training error is the error on the last {b['window']} mini-batches "
            f"({b['window'] * b['batch_size']} digits) as training goes; seconds are "
            f"training time per step times the steps.")


def _reached(trained: Any) -> dict[str, Any]:
    m = trained.measured
    per_step = m["seconds"] / max(m["steps"], 1)
    steps_per_epoch = m["steps"] / max(m["epochs"], 1e-9)
    out: dict[str, Any] = {}
    for target in TARGETS:
        epochs = first_below(m["curves"]["window_error"], target)
        key = f"{round(100 * target)}"
        out[f"epochs_to_{key}"] = epochs
        out[f"seconds_to_{key}"] = (None if epochs is None
                                    else epochs * steps_per_epoch * per_step)
    return out


def run(ctx: Context, seed: int) -> dict[str, dict[str, Any]]:
    """Train every arm once with ``seed``; see :class:`xpnet.studies.base.Study`."""
    b = ctx.budget
    train, test = mnist(ctx.quick)
    results = {}
    for arm, (unit, lr) in ARMS.items():
        build = standardized(lambda rng, u=UNITS[unit]: list(lenet5(activation=u, rng=rng)),
                             train)
        recipe = Recipe.from_budget(build, train, test, b, lr=lr, window=b["window"],
                                    test_each_epoch=False)
        results[arm] = fit_arm(ctx, arm, recipe, seed, extra=_reached)
    return results


def _best(summary: Any, unit: str, key: str) -> tuple[float, float] | None:
    """(mean epochs, rate) of the unit's fastest rate (every seed must have got there)."""
    found = []
    for lr in RATES:
        s = summary.stat(f"{unit}, lr {lr}", key)
        if s.n and s.n == s.total:
            found.append((s.mean, lr))
    return min(found) if found else None


def findings(summary: Any) -> list[str]:
    """Sentences computed from the summary, for the table and results.json."""
    out = []
    for target in TARGETS:
        key = f"epochs_to_{round(100 * target)}"
        best = {unit: _best(summary, unit, key) for unit in UNITS}
        said = "; ".join(f"{unit} never (at any rate, on every seed)" if v is None
                         else f"{unit} {v[0]:.2f} (lr {v[1]})" for unit, v in best.items())
        line = f"Epochs to {100 * target:.0f}% training error at each unit's fastest rate: {said}."
        relu, tanh = best["ReLU"], best["tanh"]
        if relu is not None and tanh is not None:
            ratio = tanh[0] / relu[0]
            line += (f" ReLU needed {ratio:.1f} times fewer epochs than tanh" if ratio >= 1
                     else f" ReLU needed {1 / ratio:.1f} times more epochs than tanh")
            line += (" (Krizhevsky et al.: six times fewer, to 25% on CIFAR-10)."
                     if target == 0.25 else ".")
        out.append(line)
    return out


STUDY = Study(
    name="activations",
    title="logistic, tanh and ReLU units in the same CNN",
    claim="Rectified linear units train a convolutional network several times faster "
          "than saturating ones: Krizhevsky et al. 2012 (figure 1) report that a four-layer "
          "CNN with ReLUs reached 25% training error on CIFAR-10 six times faster than the "
          "same network with tanh units.",
    arms=tuple(ARMS),
    metrics=(Metric("epochs_to_25", "epochs to 25% train error"),
             Metric("seconds_to_25", "seconds to 25%", digits=1, compare=False),
             Metric("epochs_to_5", "epochs to 5% train error"),
             Metric("seconds_to_5", "seconds to 5%", digits=1, compare=False),
             TEST_ACCURACY),
    plots=tuple(Plot("curves", "window_error", f"lr {lr}", "epoch", "training error (%)",
                     scale=100, logy=True, hlines=TARGETS,
                     arms=tuple(f"{unit}, lr {lr}" for unit in UNITS)) for lr in RATES),
    budget=budget,
    setup=setup,
    run=run,
    findings=findings,
)
