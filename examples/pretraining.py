"""Greedy layer-wise pre-training of a deep logistic MLP on MNIST-5k, against none.

The network 784-500-500-500-10 with logistic (sigmoid) hidden units, the kind that
back-propagation alone trained badly before 2006: the error signal shrinks by f'(h) <=
1/4 at every layer on its way down, so from small random weights the lower layers
hardly move. Three arms, the same initial weights, batch order and fine-tuning (SGD with
momentum, softmax cross-entropy, ``xpnet.train.fit``):

- ``none``: fine-tuning from the random initial weights;
- ``autoencoder``: each hidden layer first trained as a denoising autoencoder with tied
  weights (20% masking noise), bottom up;
- ``rbm``: each hidden layer first trained as a restricted Boltzmann machine by CD-1.

Labels are used only by the fine-tuning. Prints the test accuracy after each
fine-tuning epoch and a summary table.

Run:
    python examples/pretraining.py                        # all three arms, ~1 min
    python examples/pretraining.py --arms rbm --seed 1
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy

from xpnet import optim, train
from xpnet.data import DataLoader, load_mnist5k
from xpnet.models import mlp
from xpnet.train.callbacks import Callback

ARMS = ("none", "autoencoder", "rbm")
#: per method: (lr, momentum, masking noise) of the layer-wise phase
PRETRAIN = {"autoencoder": (0.05, 0.9, 0.2), "rbm": (0.05, 0.5, 0.0)}


class PrintEpoch(Callback):
    """One line per fine-tuning epoch."""

    def on_epoch_end(self, state: Any) -> None:
        m = state.metrics
        print(f"  fine-tune epoch {m['epoch']:2d}  train loss {m['train_loss']:.4f}  "
              f"test acc {m['val_accuracy']:.4f}", flush=True)


def run_arm(arm: str, args: argparse.Namespace) -> dict[str, Any]:
    """Pre-train (unless ``arm`` is "none") and fine-tune one network; its results."""
    x_train, y_train, x_test, y_test = load_mnist5k(seed=0)
    loader = DataLoader((x_train, y_train), args.batch_size, seed=args.seed, prefetch=0)
    test_loader = DataLoader((x_test, y_test), 500, shuffle=False, prefetch=0)
    rng = numpy.random.default_rng(args.seed)
    sizes = (784, *([args.hidden] * args.layers), 10)
    net = mlp(sizes, activation="sigmoid", rng=rng)
    start = time.perf_counter()
    if arm != "none":
        lr, momentum, noise = PRETRAIN[arm]
        train.pretrain_layers(
            net, loader, arm, epochs=args.pretrain_epochs, lr=lr, momentum=momentum,
            corruption=noise, rng=rng,
            log=lambda r: print(f"  pre-train layer {r['layer']} epoch {r['epoch']}  "
                                f"{train.pretrain.LOSS_NAMES[arm]} "
                                f"{r['loss']:.2f}", flush=True))
    pre_seconds = time.perf_counter() - start
    opt = optim.SGD(net.parameters(), lr=args.lr, momentum=args.momentum)
    history = train.fit(net, opt, loader, args.epochs, val_loader=test_loader,
                        seed=args.seed, callbacks=[PrintEpoch()])
    return {"arm": arm, "test_accuracy": history[-1]["val_accuracy"],
            "first_epoch": history[0]["val_accuracy"], "pretrain_s": pre_seconds,
            "seconds": time.perf_counter() - start}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS))
    parser.add_argument("--layers", type=int, default=3, help="hidden layers")
    parser.add_argument("--hidden", type=int, default=500, help="units per hidden layer")
    parser.add_argument("--pretrain-epochs", type=int, default=5, help="per layer")
    parser.add_argument("--epochs", type=int, default=10, help="fine-tuning epochs")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.1, help="fine-tuning")
    parser.add_argument("--momentum", type=float, default=0.9, help="fine-tuning")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    args = parse_args(argv)
    print(f"MLP 784-{'-'.join([str(args.hidden)] * args.layers)}-10, logistic units, "
          f"MNIST-5k (4000 train / 1000 test); pre-training {args.pretrain_epochs} epochs "
          f"per layer; fine-tuning {args.epochs} epochs, SGD lr {args.lr} momentum "
          f"{args.momentum}, batch {args.batch_size}; seed {args.seed}", flush=True)
    results = []
    for arm in args.arms:
        print(f"{arm}:", flush=True)
        results.append(run_arm(arm, args))
    print(f"\n{'arm':12s} {'test acc after 1 epoch':>22s} {'after all':>10s} "
          f"{'pre-train s':>11s} {'total s':>8s}")
    for r in results:
        print(f"{r['arm']:12s} {r['first_epoch']:22.4f} {r['test_accuracy']:10.4f} "
              f"{r['pretrain_s']:11.1f} {r['seconds']:8.1f}")
    return results


if __name__ == "__main__":
    main()
