"""Study ``pretraining``: a deep logistic MLP from random weights, and after greedy
layer-wise pre-training by autoencoders or RBMs (Hinton et al. 2006; Bengio et al. 2007)."""

from __future__ import annotations

import time
from typing import Any

import numpy

from xpnet import nn
from xpnet.data import DataLoader
from xpnet.models import mlp
from xpnet.studies.arms import Recipe, fit_arm
from xpnet.studies.base import Context, Metric, Plot, Study
from xpnet.studies.digits import mnist
from xpnet.train import pretrain_layers

#: arm -> (hidden layers, pre-training method or None)
ARMS = {"shallow, random": (1, None), "deep, random": (3, None),
        "deep, autoencoders": (3, "autoencoder"), "deep, RBMs": (3, "rbm")}
#: per method: lr, momentum and masking noise of the layer-wise phase (examples/pretraining.py)
PRETRAIN = {"autoencoder": (0.05, 0.9, 0.2), "rbm": (0.05, 0.5, 0.0)}


def budget(ctx: Context) -> dict[str, Any]:
    """The numbers of a run, smaller under --quick (:attr:`~xpnet.studies.base.Study.budget`)."""
    return {"hidden": ctx.pick(500, 64), "pretrain_epochs": ctx.pick(5, 1),
            "epochs": ctx.pick(10, 1), "batch_size": 32, "lr": 0.1, "momentum": 0.9,
            "weight_decay": 0.0}


def setup(ctx: Context) -> str:
    """The data, network and budget in words (for the table)."""
    b = ctx.budget
    (x, _), (xt, _) = mnist(ctx.quick)
    h = b["hidden"]
    return (f"Logistic (sigmoid) hidden units, MNIST-5k ({len(x)} training / {len(xt)} test "
            f"digits, pixels in [0, 1]): shallow 784-{h}-10 and deep 784-{h}-{h}-{h}-10, "
            f"PyTorch's default initialisation. Pre-training (labels unused): each hidden "
            f"layer in turn, bottom up, {b['pretrain_epochs']} epochs, as a denoising "
            f"autoencoder with tied weights (20% masking noise, SGD lr 0.05, momentum 0.9) "
            f"or as an RBM by CD-1 (lr 0.05, momentum 0.5). Then back-propagation of the "
            f"cross-entropy through the whole network from those weights: SGD lr {b['lr']}, "
            f"momentum {b['momentum']}, batch {b['batch_size']}, {b['epochs']} epochs; PyTorch "
            f"fine-tunes from the same (pre-trained) weights on the same batches.")


def _network(layers: int, method: str | None, train: Any, seed: int, b: dict) -> Any:
    """(build, pre-training seconds): pre-training runs once, in xpnet; ``build`` copies
    its result for each framework."""
    sizes = (784, *([b["hidden"]] * layers), 10)
    net = mlp(sizes, activation="sigmoid", rng=numpy.random.default_rng(seed))
    start = time.perf_counter()
    if method is not None:
        lr, momentum, noise = PRETRAIN[method]
        loader = DataLoader(train, b["batch_size"], seed=seed, prefetch=0)
        pretrain_layers(net, loader, method, epochs=b["pretrain_epochs"], lr=lr,
                        momentum=momentum, corruption=noise,
                        rng=numpy.random.default_rng([seed, 2]))
    seconds = time.perf_counter() - start
    state = net.state_dict()

    def build(_: int) -> nn.Sequential:
        copy = mlp(sizes, activation="sigmoid", rng=numpy.random.default_rng(0))
        copy.load_state_dict(state)
        return copy

    return build, seconds


def run(ctx: Context, seed: int) -> dict[str, dict[str, Any]]:
    """Train every arm once with ``seed``; see :class:`xpnet.studies.base.Study`."""
    b = ctx.budget
    train, test = mnist(ctx.quick)
    results = {}
    for arm, (layers, method) in ARMS.items():
        if method is not None:
            ctx.say(f"  {arm}, seed {seed}: pre-training in xpnet")
        build, seconds = _network(layers, method, train, seed, b)
        recipe = Recipe.from_budget(build, train, test, b)
        results[arm] = fit_arm(ctx, arm, recipe, seed, extra=lambda t: {
            "first_epoch": 1 - t.measured["curves"]["test_error"]["y"][0]})
        results[arm]["xpnet"]["pretrain_seconds"] = seconds
    return results


def findings(summary: Any) -> list[str]:
    """Sentences computed from the summary, for the table and results.json."""
    out = []
    for arm in ARMS:
        s = summary.stat(arm, "test_accuracy")
        seeds = summary.values(arm, "test_accuracy")
        out.append(f"{arm}: {100 * s.mean:.1f}% (seeds: "
                   + ", ".join(f"{100 * v:.1f}" for v in seeds) + ").")
    return out


STUDY = Study(
    name="pretraining",
    title="a deep logistic MLP from random weights and after layer-wise pre-training",
    claim="Back-propagation alone trains a deep network of logistic units badly from small "
          "random weights; pre-training each layer in turn as an RBM (Hinton et al. 2006) or "
          "an autoencoder (Bengio et al. 2007; denoising: Vincent et al. 2008) puts the "
          "weights where fine-tuning by back-propagation works.",
    arms=tuple(ARMS),
    metrics=(Metric("first_epoch", "test accuracy (%) after 1 epoch", scale=100),
             Metric("test_accuracy", "test accuracy (%) at the end", scale=100),
             Metric("pretrain_seconds", "pre-training (s)", digits=1, compare=False)),
    plots=(Plot("curves", "test_error", "test error while fine-tuning", "epoch", "error (%)",
                scale=100, logy=True),),
    budget=budget,
    setup=setup,
    run=run,
    findings=findings,
)
