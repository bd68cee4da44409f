"""Study ``augmentation``: elastic distortion, random crops with flips, and none, with
500, 1,000 and 4,000 training digits (Simard et al. 2003; Krizhevsky et al. 2012)."""

from __future__ import annotations

import math
from typing import Any

from xpnet.models.lenet import lenet5
from xpnet.studies.arms import Recipe, carry_differences, fit_arm
from xpnet.studies.base import FRAMEWORKS, Context, Metric, Plot, Study
from xpnet.studies.digits import mnist, standardized, subset
from xpnet.train import RunConfig
from xpnet.train import builders as B

ARMS = ("none", "elastic", "crop-flip")


def budget(ctx: Context) -> dict[str, Any]:
    """The numbers of a run, smaller under --quick (:attr:`~xpnet.studies.base.Study.budget`)."""
    return {"sizes": ctx.pick((500, 1000, 4000), (200, 1000)), "steps": ctx.pick(400, 20),
            "batch_size": 64, "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4}


def setup(ctx: Context) -> str:
    """The data, network and budget in words (for the table)."""
    b = ctx.budget
    (_, _), (xt, _) = mnist(ctx.quick)
    return (f"LeNet-5 on {', '.join(f'{n:,}' for n in b['sizes'])} MNIST-5k training digits "
            f"(a different draw per seed), tested on {len(xt)}, standardised after the "
            f"augmentation; about {b['steps']} steps of SGD whatever the size (whole epochs: "
            f"more passes over fewer digits), lr {b['lr']} (x 0.1 for the last quarter of "
            f"the epochs), momentum {b['momentum']}, weight "
            f"decay {b['weight_decay']}, batch {b['batch_size']}. Augmentations as xpnet "
            f"train --augment names them: elastic (Simard et al.'s alpha 34, sigma 4), "
            f"crop-flip (random 28x28 crops of the digit padded by 3, and mirror images half "
            f"of the time); drawn per batch from the seed, the same for both frameworks.")


def _augment(name: str, train: Any) -> Any:
    """The batch transform ``xpnet train --augment NAME`` uses."""
    from xpnet.data import ArrayDataset  # noqa: PLC0415

    return B.build_augment(RunConfig(augment=[name]), ArrayDataset(*train))


def run(ctx: Context, seed: int) -> dict[str, dict[str, Any]]:
    """Train every arm once with ``seed``; see :class:`xpnet.studies.base.Study`."""
    b = ctx.budget
    full, test = mnist(ctx.quick)
    results: dict[str, dict[str, Any]] = {arm: {} for arm in ARMS}
    for n in b["sizes"]:
        train = subset(full, n, seed)
        epochs = max(1, round(b["steps"] / math.ceil(n / b["batch_size"])))
        for arm in ARMS:
            build = standardized(lambda rng: list(lenet5(rng=rng)), train)
            recipe = Recipe.from_budget(build, train, test, b, epochs=epochs,
                                        decay_every=max(1, round(0.75 * epochs)),
                                        augment=_augment(arm, train), test_each_epoch=False)
            found = fit_arm(ctx, f"{arm}, {n} digits", recipe, seed)
            for fw in FRAMEWORKS:
                if fw in found:
                    got = results[arm].setdefault(fw, {"curves": {"size_accuracy": {
                        "x": [], "y": []}}})
                    got[f"acc_{n}"] = found[fw]["test_accuracy"]
                    got["curves"]["size_accuracy"]["x"].append(n)
                    got["curves"]["size_accuracy"]["y"].append(found[fw]["test_accuracy"])
            carry_differences(results[arm], found)  # the largest over the sizes
    return results


def _sizes(summary: Any) -> list[int]:
    runs = summary.runs[ARMS[0]]
    return sorted(int(k[4:]) for k in runs[0]["xpnet"] if k.startswith("acc_")) if runs else []


def findings(summary: Any) -> list[str]:
    """Sentences computed from the summary, for the table and results.json."""
    out = []
    for n in _sizes(summary):
        none = summary.mean("none", f"acc_{n}")
        parts = [f"{arm} {100 * (summary.mean(arm, f'acc_{n}') - none):+.2f}" for arm in ARMS[1:]]
        out.append(f"{n:,} training digits: none {100 * none:.2f}%; against it, "
                   + ", ".join(parts) + " points.")
    return out


def _metrics() -> tuple[Metric, ...]:
    return tuple(Metric(f"acc_{n}", f"test accuracy (%), {n:,} digits", scale=100)
                 for n in (200, 500, 1000, 4000))


STUDY = Study(
    name="augmentation",
    title="elastic distortion, crops and flips, or none, against the training set's size",
    claim="Distorting the training images makes more of them: Simard et al. 2003 report "
          "0.4% error on MNIST for a convolutional network trained with elastic "
          "distortions, against 0.6% with affine ones, and Krizhevsky et al. 2012 that "
          "random crops and mirror images were what kept AlexNet from over-fitting; the "
          "fewer the examples, the more it should help.",
    arms=ARMS,
    metrics=_metrics(),
    plots=(Plot("curves", "size_accuracy", "test accuracy against training digits",
                "training digits", "test accuracy (%)", scale=100, logx=True),),
    budget=budget,
    setup=setup,
    run=run,
    findings=findings,
)
