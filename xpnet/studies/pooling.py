"""Study ``pooling``: max, average and L2 pooling; overlapping (3x3, stride 2) against
non-overlapping (2x2, stride 2) windows at equal output size (Krizhevsky et al. 2012)."""

from __future__ import annotations

from typing import Any

from xpnet import nn
from xpnet.studies.arms import Recipe, fit_arm
from xpnet.studies.base import TEST_ERROR, TEST_ERROR_CURVES, TRAIN_LOSS, Context, Plot, Study
from xpnet.studies.digits import mnist, sgd_budget, sgd_text, split_text, standardized
from xpnet.studies.report import error_change

KINDS = {"max": nn.MaxPool2d, "average": nn.AvgPool2d, "L2": nn.L2Pool2d}
#: window, stride, padding: 28 -> 14 and 10 -> 5 either way
WINDOWS = {"2x2/2": (2, 2, 0), "3x3/2 overlapping": (3, 2, 1)}
ARMS = {f"{kind}, {w}": (kind, w) for w in WINDOWS for kind in KINDS}


def setup(ctx: Context) -> str:
    """The data, network and budget in words (for the table)."""
    b = ctx.budget
    return (f"LeNet-5's layers (conv 6 5x5 pad 2, ReLU, pool, conv 16 5x5, ReLU, pool, "
            f"dense 120, 84, 10) with each pooling: 2x2 windows at stride 2, or 3x3 windows "
            f"at stride 2 padded by 1 (overlapping), which give the same 14x14 and 5x5 maps; "
            f"average and L2 pools count the padding in their divisor. MNIST-5k, "
            f"{split_text(ctx.quick)}, standardised; {sgd_text(b)}.")


def _layers(kind: str, window: str) -> Any:
    k, s, p = WINDOWS[window]

    def pool() -> nn.Module:
        return KINDS[kind](k, s, p)

    def build(rng: Any) -> list[nn.Module]:
        return [nn.Conv2d(1, 6, 5, padding=2, rng=rng), nn.ReLU(), pool(),
                nn.Conv2d(6, 16, 5, rng=rng), nn.ReLU(), pool(), nn.Flatten(),
                nn.Linear(400, 120, rng=rng), nn.ReLU(), nn.Linear(120, 84, rng=rng),
                nn.ReLU(), nn.Linear(84, 10, rng=rng)]

    return build


def run(ctx: Context, seed: int) -> dict[str, dict[str, Any]]:
    """Train every arm once with ``seed``; see :class:`xpnet.studies.base.Study`."""
    b = ctx.budget
    train, test = mnist(ctx.quick)
    results = {}
    for arm, (kind, window) in ARMS.items():
        recipe = Recipe.from_budget(standardized(_layers(kind, window), train), train, test, b)
        results[arm] = fit_arm(ctx, arm, recipe, seed,
                               extra=lambda t: {"test_error": 1 - t.measured["test_accuracy"]})
    return results


def findings(summary: Any) -> list[str]:
    """Sentences computed from the summary, for the table and results.json."""
    out = []
    for kind in KINDS:
        plain, over = (summary.stat(f"{kind}, {w}", "test_error") for w in WINDOWS)
        out.append(f"{kind} pooling: overlapping windows " + error_change(
            plain, over, "Krizhevsky et al.: lowered by 0.3-0.4 on ImageNet") + ".")
    best = min(ARMS, key=lambda a: summary.mean(a, "test_error"))
    out.append(f"Lowest test error: {best}.")
    return out


STUDY = Study(
    name="pooling",
    title="max, average and L2 pooling; overlapping against non-overlapping windows",
    claim="Pooling summarises a neighbourhood of each feature map; Krizhevsky et al. 2012 "
          "(section 3.4) report that overlapping max pools (3x3 windows at stride 2) lower "
          "the top-1 and top-5 error by 0.4 and 0.3 points against non-overlapping ones "
          "(2x2 at stride 2) of the same output size, and make the network slightly harder "
          "to over-fit.",
    arms=tuple(ARMS),
    metrics=(TEST_ERROR, TRAIN_LOSS),
    plots=(Plot("bars", "test_error", "test error", "", "error (%)", scale=100),
           TEST_ERROR_CURVES),
    budget=sgd_budget,
    setup=setup,
    run=run,
    findings=findings,
)
