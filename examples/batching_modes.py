"""Full-batch, online and mini-batch descent: one optimiser, three batch sizes.

The same network, the same SGD rule and the same number of passes over MNIST-5k; only
the number of examples averaged into each gradient changes:

- full batch (B = N): one exact gradient step per epoch;
- online (B = 1): N noisy steps per epoch, one per example;
- mini-batch (B = 32): N / B steps, each averaging a small group.

For each, the script prints the final training cost, the test accuracy, the number of
updates and the wall time.

Run:
    python examples/batching_modes.py
    python examples/batching_modes.py --epochs 2 --train-size 1000
"""

from __future__ import annotations

import argparse
import time

import numpy

import xpnet
from xpnet import functions as F
from xpnet import optim
from xpnet.data import load_mnist5k
from xpnet.models import mlp


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32, help="B of mini-batch mode")
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--train-size", type=int, default=4000, help="first examples used")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def train(x, y, batch, args) -> tuple[xpnet.nn.Module, int, float]:
    """Train a fresh, identically initialised MLP; return it, the updates and the time."""
    net = mlp((x.shape[1], args.hidden, 10), rng=numpy.random.default_rng(args.seed))
    opt = optim.SGD(net.parameters(), lr=args.lr)
    updates, start = 0, time.perf_counter()
    for epoch in range(args.epochs):
        order = numpy.random.default_rng([args.seed, epoch]).permutation(len(x))
        for i in range(0, len(order), batch):
            idx = order[i : i + batch]
            loss = F.softmax_cross_entropy(net(xpnet.Tensor(x[idx])), y[idx])  # mean over B
            opt.zero_grad()
            loss.backward()
            opt.step()
            updates += 1
    return net, updates, time.perf_counter() - start


def evaluate(net, x, y) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) over the whole set."""
    with xpnet.no_grad():
        scores = net(xpnet.Tensor(x))
        cost = F.softmax_cross_entropy(scores, y).item()
    return cost, float((scores.data.argmax(axis=1) == y).mean())


def main() -> None:
    args = parse_args()
    x_train, y_train, x_test, y_test = load_mnist5k(seed=args.seed)
    n = min(args.train_size, len(x_train))
    x_train, y_train = x_train[:n].reshape(n, -1), y_train[:n]  # (n, 784)
    x_test = x_test.reshape(len(x_test), -1)
    mean, std = x_train.mean(axis=0), x_train.std()
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    print(f"MNIST-5k, {n} training examples, 784-{args.hidden}-10 ReLU, SGD lr {args.lr}, "
          f"{args.epochs} epochs each")
    print(f"{'mode':<12}{'B':>6}{'updates':>9}{'train cost':>12}{'test acc':>10}{'time':>9}")
    for mode, batch in (("full batch", n), ("online", 1), ("mini-batch", args.batch_size)):
        net, updates, seconds = train(x_train, y_train, batch, args)
        cost, _ = evaluate(net, x_train, y_train)
        _, acc = evaluate(net, x_test, y_test)
        print(f"{mode:<12}{batch:>6}{updates:>9}{cost:>12.4f}{acc:>10.4f}{seconds:>8.2f}s")


if __name__ == "__main__":
    main()
