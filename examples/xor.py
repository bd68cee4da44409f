"""XOR: the perceptron fails, a multi-layer perceptron trained by back-propagation solves it.

No line separates {(0,1), (1,0)} from {(0,0), (1,1)}, so Rosenblatt's rule never reaches
zero errors (Minsky & Papert 1969's objection). A hidden layer of logistic units
bends the boundary; back-propagation of the squared error E = 1/2 sum (y - d)^2 finds
its weights (Rumelhart et al. 1986).

Run:
    python examples/xor.py
    python examples/xor.py --hidden 2 --epochs 5000 --seed 1
"""

from __future__ import annotations

import argparse
import warnings

import numpy

import xpnet
from xpnet import functions as F
from xpnet import optim
from xpnet.models import ConvergenceWarning, Perceptron, mlp

X = numpy.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=numpy.float32)
D = numpy.array([0, 1, 1, 0], dtype=numpy.float32)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hidden", type=int, default=4, help="hidden logistic units")
    parser.add_argument("--epochs", type=int, default=1000, help="full-batch steps")
    parser.add_argument("--lr", type=float, default=2.0)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def main() -> None:
    args = parse_args()

    print("1. Perceptron (step unit, Rosenblatt's rule w <- w + eta (d - y) x)")
    for name, d in (("AND", numpy.array([0, 0, 0, 1])), ("XOR", D.astype(int))):
        p = Perceptron(2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # reported just below
            result = p.fit(X, d, eta=1.0, max_epochs=100)
        status = "converged" if result.converged else "did NOT converge"
        print(f"   {name}: {status} after {result.epochs} epochs; "
              f"errors in the last epoch: {result.errors[-1]}; outputs {p.predict(X)}")

    print(f"2. MLP 2-{args.hidden}-1, logistic units, squared error, back-propagation")
    net = mlp((2, args.hidden, 1), activation="sigmoid", output_activation="sigmoid",
              rng=numpy.random.default_rng(args.seed))
    opt = optim.SGD(net.parameters(), lr=args.lr, momentum=args.momentum)
    x, d = xpnet.Tensor(X), xpnet.Tensor(D.reshape(4, 1))
    for epoch in range(1, args.epochs + 1):
        loss = F.squared_error(net(x), d)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if epoch in (1, 10, 100) or epoch % 500 == 0:
            print(f"   epoch {epoch:5d}  E = {loss.item():.5f}")
    with xpnet.no_grad():
        y = net(x).data.reshape(-1)
    solved = bool(((y > 0.5) == (D > 0.5)).all())
    print(f"   outputs {numpy.round(y, 3)} for targets {D}")
    print(f"   XOR {'solved' if solved else 'NOT solved'} by the MLP")


if __name__ == "__main__":
    main()
