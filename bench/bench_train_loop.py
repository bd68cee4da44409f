"""What augmentation costs the training loop: LeNet-5 on MNIST-5k with and without
elastic distortion, the distortion prepared on the DataLoader's prefetch thread.

Three loops over the same 4,000 digits, same model, optimiser and batch size:

- ``plain``: ``DataLoader(..., prefetch=2)`` with no transform;
- ``elastic+prefetch``: ``DataLoader(..., transform=ElasticDistortion(34, 4), prefetch=2)``,
  the distortion of the next batches overlapping the training step;
- ``elastic, no prefetch``: the same transform run in the training thread
  (``prefetch=0``), to show what the overlap saves.

Each round trains one epoch of each loop (the order rotates between rounds); images/s
is the median over rounds and, because other processes on the shared 2-core machine can
double an epoch's time, also the best round (the estimate least touched by them). The
slowdown is 1 - elastic / plain. The issue's target:
at most 15% slower with prefetching. Also printed: the distortion alone (images/s of
``ElasticDistortion`` on batches of the same size), the budget it must hide in.

Run:
    python bench/bench_train_loop.py [--rounds 9] [--batch 32] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy


def make_epoch(x: numpy.ndarray, y: numpy.ndarray, batch: int, transform, prefetch: int):
    """A closure that trains one epoch of a fresh-state LeNet-5 loop; returns images."""
    import xpnet
    from xpnet import functions as F
    from xpnet import optim
    from xpnet.data import DataLoader
    from xpnet.models.lenet import lenet5

    net = lenet5(seed=0)
    opt = optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    loader = DataLoader((x, y), batch, seed=0, transform=transform, prefetch=prefetch)

    def epoch() -> int:
        n = 0
        for xb, yb in loader:
            opt.zero_grad()
            loss = F.softmax_cross_entropy(net(xpnet.Tensor(xb)), yb)
            loss.backward()
            opt.step()
            n += len(yb)
        return n

    return epoch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--batch", type=int, default=32, help="examples/mnist_lenet.py's")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--alpha", type=float, default=34.0)
    parser.add_argument("--sigma", type=float, default=4.0)
    args = parser.parse_args()

    from threadpoolctl import threadpool_limits

    import xpnet
    from xpnet.data import load_mnist5k
    from xpnet.data.transforms import ElasticDistortion

    xpnet.cpu.tune_allocator()  # as a training process runs (the CLI and Trainer call it)
    xpnet.cpu.set_num_threads(args.threads)
    threadpool_limits(args.threads, user_api="blas")
    x, y, _, _ = load_mnist5k(seed=0)
    elastic = ElasticDistortion(args.alpha, args.sigma)
    loops = {
        "plain": make_epoch(x, y, args.batch, None, 2),
        "elastic+prefetch": make_epoch(x, y, args.batch, elastic, 2),
        "elastic, no prefetch": make_epoch(x, y, args.batch, elastic, 0),
    }
    names = list(loops)
    for name in names:  # warm-up: caches, thread pools, compiled kernels
        loops[name]()
    seconds: dict[str, list[float]] = {n: [] for n in names}
    for r in range(args.rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            t = time.perf_counter()
            n = loops[name]()
            seconds[name].append(time.perf_counter() - t)
    ips = {name: n / statistics.median(s) for name, s in seconds.items()}
    best = {name: n / min(s) for name, s in seconds.items()}

    rng = numpy.random.default_rng(0)
    batches = [x[i:i + args.batch] for i in range(0, len(x), args.batch)]
    t = time.perf_counter()
    for xb in batches:
        elastic(xb, rng)
    alone = len(x) / (time.perf_counter() - t)

    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"LeNet-5 on MNIST-5k ({len(x)} train digits), batch {args.batch}, SGD momentum, "
          f"{args.threads} threads; median of {args.rounds} epochs each; load average {load}")
    print(f"elastic distortion alone (alpha {args.alpha}, sigma {args.sigma}): "
          f"{alone:8.0f} images/s")
    print(f"{'loop':22s} {'median':>8s} {'best':>8s}  images/s; slowdown vs plain (median, best)")
    for name in names:
        slow = 100 * (1 - ips[name] / ips["plain"])
        slow_best = 100 * (1 - best[name] / best["plain"])
        extra = "" if name == "plain" else f"   {slow:5.1f}%  {slow_best:5.1f}%"
        print(f"{name:22s} {ips[name]:8.0f} {best[name]:8.0f}{extra}")


if __name__ == "__main__":
    main()
