"""Study ``batching``: full-batch, online and mini-batch descent at equal epochs and at
equal wall time; and the gradient of a mini-batch as one matrix product per layer
against a loop over its examples."""

from __future__ import annotations

import time
from typing import Any

import numpy

import xpnet
from xpnet import functions as F
from xpnet import nn
from xpnet.studies.arms import Recipe, carry_differences, fit_arm
from xpnet.studies.base import FRAMEWORKS, Context, Metric, Plot, Study
from xpnet.studies.digits import mnist, split_text, standardized

GRAD_BATCH = 64
MODES = {"full batch": None, "mini-batch (B=32)": 32, "online (B=1)": 1}
GRADIENT_ARMS = (f"gradient, one product per layer (B={GRAD_BATCH})",
                 f"gradient, loop over the examples (B={GRAD_BATCH})")


def budget(ctx: Context) -> dict[str, Any]:
    """The numbers of a run, smaller under --quick (:attr:`~xpnet.studies.base.Study.budget`)."""
    return {"hidden": 64, "lr": 0.01, "epochs": ctx.pick(3, 1), "seconds": ctx.pick(5.0, 0.5),
            "gradient_batches": ctx.pick(20, 3)}


def setup(ctx: Context) -> str:
    """The data, network and budget in words (for the table)."""
    b = ctx.budget
    return (f"MLP 784-{b['hidden']}-10 (ReLU) on MNIST-5k, {split_text(ctx.quick)}, "
            f"standardised; plain SGD (lr {b['lr']}, no momentum, no decay) on "
            f"the mean cross-entropy of each batch; the same initial weights for every mode. "
            f"Equal epochs: {b['epochs']} passes each. Equal time: {b['seconds']:g} s of "
            f"training each (stopped at the first step past it). Gradients: the gradient of "
            f"the mean loss of {b['gradient_batches']} batches of {GRAD_BATCH}, as one "
            f"forward and backward pass of the batch, or of each example in turn (summed); "
            f"images/s over the whole set of batches.")


def _network(hidden: int) -> Any:
    return lambda rng: [nn.Flatten(), nn.Linear(784, hidden, rng=rng), nn.ReLU(),
                        nn.Linear(hidden, 10, rng=rng)]


def _modes(ctx: Context, seed: int, build: Any, train: Any, test: Any, b: dict) -> dict:
    results = {}
    for arm, size in MODES.items():
        plain = {"batch_size": size or len(train[0]), "momentum": 0.0, "weight_decay": 0.0,
                 "test_each_epoch": False}
        equal = fit_arm(ctx, f"{arm}, {b['epochs']} epochs",
                        Recipe.from_budget(build, train, test, b, **plain), seed)
        timed = fit_arm(ctx, f"{arm}, {b['seconds']:g} s", Recipe.from_budget(
            build, train, test, b, epochs=10**6, seconds=b["seconds"], **plain), seed)
        results[arm] = {fw: {"acc_epochs": equal[fw]["test_accuracy"],
                             "ips": equal[fw]["images_per_sec"],
                             "steps": equal[fw]["steps"],
                             "acc_time": timed[fw]["test_accuracy"],
                             "steps_time": timed[fw]["steps"],
                             "epochs_time": timed[fw]["epochs"]}
                        for fw in FRAMEWORKS if fw in equal}
        carry_differences(results[arm], equal)  # measured on the equal-epochs run
    return results


def _xpnet_gradients(net: nn.Module, batches: list) -> tuple[float, float, float]:
    """(seconds as matrices, seconds example by example, max |difference|)."""
    params = list(net.parameters())
    t0 = time.perf_counter()
    for x, y in batches:
        for p in params:
            p.grad = None
        F.softmax_cross_entropy(net(xpnet.Tensor(x)), y).backward()
    matrix = [p.grad.copy() for p in params]
    t1 = time.perf_counter()
    for x, y in batches:
        for p in params:
            p.grad = None
        for i in range(len(x)):  # dE/dw of the mean = sum over examples of dE_n/dw / B
            (F.softmax_cross_entropy(net(xpnet.Tensor(x[i:i + 1])), y[i:i + 1])
             * (1.0 / len(x))).backward()
    t2 = time.perf_counter()
    diff = max(float(numpy.abs(a - p.grad).max()) for a, p in zip(matrix, params, strict=True))
    return t1 - t0, t2 - t1, diff


def _torch_gradients(net: Any, batches: list) -> tuple[float, float, float]:
    """The same two ways in PyTorch."""
    import torch  # noqa: PLC0415
    from torch.nn.functional import cross_entropy  # noqa: PLC0415

    t0 = time.perf_counter()
    for x, y in batches:
        net.zero_grad(set_to_none=True)
        cross_entropy(net(torch.from_numpy(x)), torch.from_numpy(y)).backward()
    matrix = [p.grad.clone() for p in net.parameters()]
    t1 = time.perf_counter()
    for x, y in batches:
        net.zero_grad(set_to_none=True)
        for i in range(len(x)):
            (cross_entropy(net(torch.from_numpy(x[i:i + 1])), torch.from_numpy(y[i:i + 1]))
             / len(x)).backward()
    t2 = time.perf_counter()
    diff = max(float((a - p.grad).abs().max()) for a, p in zip(matrix, net.parameters(),
                                                               strict=True))
    return t1 - t0, t2 - t1, diff


def _gradients(ctx: Context, seed: int, build: Any, train: Any, b: dict) -> dict:
    rng = numpy.random.default_rng([seed, 7])
    batches = []
    for _ in range(b["gradient_batches"]):
        pick = rng.choice(len(train[0]), GRAD_BATCH, replace=False)
        batches.append((train[0][pick], train[1][pick]))
    images = GRAD_BATCH * len(batches)
    ctx.say(f"  gradients, seed {seed}: xpnet")
    found = {"xpnet": _xpnet_gradients(build(seed), batches)}
    if ctx.compare == "torch":
        from xpnet.studies import twin  # noqa: PLC0415

        ctx.say(f"  gradients, seed {seed}: PyTorch")
        found["torch"] = _torch_gradients(twin.to_torch(build(seed))[0], batches)
    matrix, loop = {}, {}
    for fw, (t_matrix, t_loop, diff) in found.items():
        matrix[fw] = {"ips": images / t_matrix}
        loop[fw] = {"ips": images / t_loop, "grad_diff": diff}
    return {GRADIENT_ARMS[0]: matrix, GRADIENT_ARMS[1]: loop}


def run(ctx: Context, seed: int) -> dict[str, dict[str, Any]]:
    """Train every arm once with ``seed``; see :class:`xpnet.studies.base.Study`."""
    b = ctx.budget
    train, test = mnist(ctx.quick)
    build = standardized(_network(b["hidden"]), train)
    return {**_modes(ctx, seed, build, train, test, b), **_gradients(ctx, seed, build, train, b)}


def findings(summary: Any) -> list[str]:
    """Sentences computed from the summary, for the table and results.json."""
    out = []
    fws = ("xpnet", "torch") if summary.compared() else ("xpnet",)
    for fw in fws:
        name = "xpnet" if fw == "xpnet" else "PyTorch"
        acc = {arm: summary.mean(arm, "acc_epochs", fw) for arm in MODES}
        timed = {arm: summary.mean(arm, "acc_time", fw) for arm in MODES}
        out.append(f"{name}, equal epochs: " + ", ".join(
            f"{arm} {100 * v:.1f}%" for arm, v in acc.items()) + "; equal time: " + ", ".join(
            f"{arm} {100 * v:.1f}%" for arm, v in timed.items()) + ".")
        fast, slow = (summary.mean(a, "ips", fw) for a in GRADIENT_ARMS)
        if fast and slow:
            out.append(f"{name}: one matrix product per layer computed the batch's gradient "
                       f"{fast / slow:.1f} times faster than the loop over its examples "
                       f"(largest difference between the two gradients "
                       f"{max(summary.values(GRADIENT_ARMS[1], 'grad_diff', fw)):.1e}).")
    return out


STUDY = Study(
    name="batching",
    title="full-batch, online and mini-batch descent; matrices against loops",
    claim="Online and mini-batch descent make many cheap, noisy steps per epoch where "
          "full-batch descent makes one exact step, so at equal epochs and at equal time "
          "they get further (LeCun et al. 1998b); and a mini-batch's forward and backward "
          "passes written as one matrix product per layer run much faster than a loop over "
          "its examples, for the same gradient (Rumelhart et al. 1986's equations, in "
          "matrix form).",
    arms=(*MODES, *GRADIENT_ARMS),
    metrics=(Metric("acc_epochs", "test accuracy (%), equal epochs", scale=100),
             Metric("acc_time", "test accuracy (%), equal time", scale=100),
             Metric("steps_time", "updates in that time", digits=0),
             Metric("ips", "images/s", digits=0),
             Metric("grad_diff", "max gradient difference", digits=1, sci=True,
                    compare=False)),
    plots=(Plot("bars", "acc_epochs", "equal epochs", "", "test accuracy (%)", scale=100,
                arms=tuple(MODES)),
           Plot("bars", "acc_time", "equal wall time", "", "test accuracy (%)", scale=100,
                arms=tuple(MODES)),
           Plot("bars", "ips", "images per second", "", "images/s", logy=True)),
    budget=budget,
    setup=setup,
    run=run,
    findings=findings,
)
