"""Train a 784-256-10 multi-layer perceptron on the embedded MNIST-5k set.

Two costs:

- ``--cost ce``: ReLU hidden units, softmax output and cross-entropy, SGD with momentum
  and a little weight decay (the modern recipe);
- ``--cost se``: logistic (sigmoid) units everywhere and the squared error
  E = 1/2 sum (y - d)^2 against one-hot targets d (back-propagation as Rumelhart et al.
  1986 derive it).

The pixels are centred on the training set's mean image and scaled by its standard
deviation (AlexNet subtracted the mean image too): zero-mean inputs make plain SGD
converge faster for both costs.

Run:
    python examples/mnist_mlp.py --cost ce
    python examples/mnist_mlp.py --cost se
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

# per cost: (hidden activation, output activation, lr, momentum, weight decay, epochs, batch)
RECIPES = {
    "ce": ("relu", None, 0.05, 0.9, 1e-3, 30, 64),
    "se": ("sigmoid", "sigmoid", 0.5, 0.5, 0.0, 30, 32),
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cost", choices=sorted(RECIPES), default="ce")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--epochs", type=int, help="default: 30")
    parser.add_argument("--batch-size", type=int, help="default: 64 (ce) or 32 (se)")
    parser.add_argument("--lr", type=float, help="default: 0.05 (ce) or 0.5 (se)")
    parser.add_argument("--momentum", type=float, help="default: 0.9 (ce) or 0.5 (se)")
    parser.add_argument("--weight-decay", type=float, help="default: 0.001 (ce) or 0 (se)")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def accuracy(net: xpnet.nn.Module, x: numpy.ndarray, y: numpy.ndarray) -> float:
    net.eval()
    with xpnet.no_grad():
        scores = net(xpnet.Tensor(x)).data
    net.train()
    return float((scores.argmax(axis=1) == y).mean())


def main() -> None:
    args = parse_args()
    act, out_act, lr, momentum, wd, epochs, batch = RECIPES[args.cost]
    lr = args.lr if args.lr is not None else lr
    momentum = args.momentum if args.momentum is not None else momentum
    wd = args.weight_decay if args.weight_decay is not None else wd
    epochs = args.epochs if args.epochs is not None else epochs
    batch = args.batch_size if args.batch_size is not None else batch

    x_train, y_train, x_test, y_test = load_mnist5k(seed=args.seed)
    x_train = x_train.reshape(len(x_train), -1)  # (4000, 784): flattened once, not per batch
    x_test = x_test.reshape(len(x_test), -1)
    mean, std = x_train.mean(axis=0), x_train.std()  # (784,) mean image, one scale
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    onehot = numpy.eye(10, dtype=numpy.float32)[y_train]  # (4000, 10) targets d for se
    rng = numpy.random.default_rng(args.seed)
    net = mlp((784, args.hidden, 10), activation=act, output_activation=out_act, rng=rng)
    opt = optim.SGD(net.parameters(), lr=lr, momentum=momentum, weight_decay=wd)
    print(f"MNIST-5k: {len(x_train)} train / {len(x_test)} test; cost {args.cost}; "
          f"784-{args.hidden}-10 {act}; SGD lr {lr} momentum {momentum} weight decay {wd}; "
          f"batch {batch}")

    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        order = numpy.random.default_rng([args.seed, epoch]).permutation(len(x_train))
        total = 0.0
        for i in range(0, len(order), batch):
            idx = order[i : i + batch]
            out = net(xpnet.Tensor(x_train[idx]))
            if args.cost == "ce":
                loss = F.softmax_cross_entropy(out, y_train[idx])
            else:
                loss = F.squared_error(out, onehot[idx], reduction="mean")
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        if epoch == 1 or epoch % 5 == 0 or epoch == epochs:
            print(f"epoch {epoch:3d}  train cost {total / len(order):.4f}  "
                  f"test accuracy {accuracy(net, x_test, y_test):.4f}  "
                  f"({time.perf_counter() - start:.1f} s)")
    acc = accuracy(net, x_test, y_test)
    print(f"final test accuracy {acc:.4f} ({acc * 100:.1f}%) after {epochs} epochs "
          f"in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
