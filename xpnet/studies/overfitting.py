"""Study ``overfitting``: a wide MLP on few examples, with no regulariser, dropout or
DropConnect (mean and Gaussian inference): train and test curves and the final gap."""

from __future__ import annotations

from typing import Any

from xpnet import nn
from xpnet.models._common import child_rng
from xpnet.studies.arms import Recipe, Trained, fit_arm
from xpnet.studies.base import TEST_ACCURACY, Context, Metric, Plot, Study
from xpnet.studies.digits import mnist, sgd_text, standardized, subset

ARMS = ("none", "dropout", "DropConnect, mean inference", "DropConnect, Gaussian inference")


def budget(ctx: Context) -> dict[str, Any]:
    """The numbers of a run, smaller under --quick (:attr:`~xpnet.studies.base.Study.budget`)."""
    return {"examples": ctx.pick(500, 200), "hidden": ctx.pick(800, 200),
            "epochs": ctx.pick(60, 3), "batch_size": 50, "lr": 0.02, "momentum": 0.9,
            "samples": ctx.pick(1000, 100), "weight_decay": 0.0}


def setup(ctx: Context) -> str:
    """The data, network and budget in words (for the table)."""
    b = ctx.budget
    (_, _), (xt, _) = mnist(ctx.quick)
    h = b["hidden"]
    return (f"MLP 784-{h}-{h}-10 (ReLU) on {b['examples']} MNIST-5k training digits (a "
            f"different draw per seed), tested on {len(xt)}, standardised; {sgd_text(b)}. "
            f"Dropout (Hinton et al. 2012): 20% of "
            f"the inputs and 50% of each hidden layer's units. DropConnect (Wan et al. "
            f"2013): half of the second layer's connections dropped at each step; at test "
            f"time either the mean network (the weights times 1/2) or the paper's Gaussian "
            f"moment matching with {b['samples']} samples per unit, on the same trained "
            f"weights. Train accuracy: the trained network on its training digits in "
            f"inference mode; gap = train - test.")


def _layers(kind: str, hidden: int, samples: int) -> Any:
    def build(rng: Any) -> list[nn.Module]:
        if kind == "DropConnect":
            first, last = nn.Linear(784, hidden, rng=rng), nn.Linear(hidden, 10, rng=rng)
            return [nn.Flatten(), first, nn.ReLU(),
                    nn.DropConnectLinear(hidden, hidden, p=0.5, activation="relu",
                                         samples=samples, rng=child_rng(rng)), last]
        # the weights first: "none" and "dropout" start from the same ones
        dense = [nn.Linear(784, hidden, rng=rng), nn.Linear(hidden, hidden, rng=rng),
                 nn.Linear(hidden, 10, rng=rng)]
        drops = [nn.Dropout(p, rng=child_rng(rng)) for p in (0.2, 0.5, 0.5)]
        if kind == "none":
            return [nn.Flatten(), dense[0], nn.ReLU(), dense[1], nn.ReLU(), dense[2]]
        return [nn.Flatten(), drops[0], dense[0], nn.ReLU(), drops[1], dense[1], nn.ReLU(),
                drops[2], dense[2]]

    return build


def _gap(train: Any) -> Any:
    def measure(trained: Trained) -> dict[str, Any]:
        acc = trained.accuracy(*train)
        return {"train_accuracy_eval": acc, "gap": acc - trained.measured["test_accuracy"]}

    return measure


def _gaussian(train: Any, test: Any) -> Any:
    """The DropConnect network evaluated again with the paper's Gaussian inference."""
    def measure(trained: Trained) -> dict[str, Any]:
        layer = next(m for m in trained.model.modules() if isinstance(m, nn.DropConnectLinear))
        layer.inference = "gaussian"
        try:
            acc, acc_train = trained.accuracy(*test), trained.accuracy(*train)
        finally:
            layer.inference = "mean"
        return {"gaussian": {"test_accuracy": acc, "train_accuracy_eval": acc_train,
                             "gap": acc_train - acc}}

    return measure


def run(ctx: Context, seed: int) -> dict[str, dict[str, Any]]:
    """Train every arm once with ``seed``; see :class:`xpnet.studies.base.Study`."""
    b = ctx.budget
    full, test = mnist(ctx.quick)
    train = subset(full, b["examples"], seed)
    results = {}
    for kind in ("none", "dropout"):
        build = standardized(_layers(kind, b["hidden"], b["samples"]), train)
        recipe = Recipe.from_budget(build, train, test, b, random=kind == "dropout")
        results[kind] = fit_arm(ctx, kind, recipe, seed, extra=_gap(train))
    build = standardized(_layers("DropConnect", b["hidden"], b["samples"]), train)
    recipe = Recipe.from_budget(build, train, test, b, random=True, twin=False)

    def both(trained: Trained) -> dict[str, Any]:
        return {**_gap(train)(trained), **_gaussian(train, test)(trained)}

    mean = fit_arm(ctx, "DropConnect", recipe, seed, extra=both)
    gaussian = mean["xpnet"].pop("gaussian")
    results[ARMS[2]] = mean
    results[ARMS[3]] = {"xpnet": gaussian}
    return results


def findings(summary: Any) -> list[str]:
    """Sentences computed from the summary, for the table and results.json."""
    out = []
    for arm in ARMS:
        test, gap = summary.mean(arm, "test_accuracy"), summary.mean(arm, "gap")
        train = summary.mean(arm, "train_accuracy_eval")
        out.append(f"{arm}: train {100 * train:.1f}%, test {100 * test:.1f}%, gap "
                   f"{100 * gap:.1f} points.")
    base = summary.mean("none", "test_accuracy")
    best = max(ARMS[1:], key=lambda a: summary.mean(a, "test_accuracy"))
    delta = 100 * (summary.mean(best, "test_accuracy") - base)
    out.append(f"Best test accuracy: {best}, {delta:+.1f} points against no regulariser.")
    return out


STUDY = Study(
    name="overfitting",
    title="a wide MLP on few examples: none, dropout, DropConnect",
    claim="A network with far more weights than examples fits its training set and "
          "generalises worse; dropping units (dropout, Hinton et al. 2012) or connections "
          "(DropConnect, Wan et al. 2013) at random during training narrows the gap between "
          "training and test accuracy, and Wan et al.'s Gaussian inference is a better "
          "approximation of the average network than the mean network.",
    arms=ARMS,
    metrics=(Metric("train_accuracy_eval", "train accuracy (%)", scale=100),
             TEST_ACCURACY,
             Metric("gap", "gap (points)", scale=100)),
    plots=(Plot("curves", "train_error", "training error (during each epoch)", "epoch",
                "error (%)", scale=100, logy=True, arms=ARMS[:3]),
           Plot("curves", "test_error", "test error (mean inference)", "epoch", "error (%)",
                scale=100, arms=ARMS[:3]),
           Plot("bars", "gap", "train - test accuracy", "", "points", scale=100)),
    budget=budget,
    setup=setup,
    run=run,
    findings=findings,
)
