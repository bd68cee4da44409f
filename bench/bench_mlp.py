"""Benchmark: train the MLP 784-1024-1024-10 in xpnet and in PyTorch, side by side.

Both train the same network (ReLU, softmax cross-entropy, SGD momentum 0.9, batch 128,
float32, the same initial weights, random data) with the same number of CPU threads, in
one process. The timed rounds alternate (xpnet, PyTorch, xpnet, ...) after a warm-up, so
a change in the machine's load hits both; each turn starts with a pause (``--cooldown``)
and 0.1 s of untimed steps, so that the other library's spinning threads do not bill it; the
script prints images/s for each round, the medians and the ratio xpnet / PyTorch (above
1: xpnet is faster), and the median of the per-round ratios (each round pair ran under
nearly the same load).

Run:
    python bench/bench_mlp.py                       # 10 rounds x 20 steps, 2 threads
    python bench/bench_mlp.py --profile             # also: where xpnet's time goes
    python bench/bench_mlp.py --phases              # also: ms per phase, both libraries
    python bench/bench_mlp.py --glibc-thresholds    # without xpnet's allocator tuning
    python bench/bench_mlp.py --sizes 16,8,8,10 --batch-size 4 --steps 500
                                                    # a tiny net: the per-step overhead
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import time

import numpy

import xpnet
from xpnet import functions as F
from xpnet import optim
from xpnet.models import mlp

SIZES = (784, 1024, 1024, 10)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--steps", type=int, default=20, help="training steps per round")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps before")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--sizes", type=_sizes, default=SIZES,
                        help="units per layer, comma-separated (default 784,1024,1024,10)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cooldown", type=float, default=0.3,
                        help="seconds of pause before each timed turn")
    parser.add_argument("--profile", action="store_true", help="cProfile xpnet's steps")
    parser.add_argument("--glibc-thresholds", action="store_true",
                        help="run both with glibc's 128 KiB mmap/trim thresholds, not "
                             "xpnet's host allocator tuning")
    parser.add_argument("--phases", action="store_true",
                        help="also: ms per step in forward / backward / optimiser for both, "
                             "and in xpnet's matrix products")
    return parser.parse_args()


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(v) for v in text.split(","))
    except ValueError:
        sizes = ()
    if len(sizes) < 2 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected at least two positive ints, got {text!r}")
    return sizes


def limit_threads(n: int) -> str:
    """Give NumPy's BLAS ``n`` threads (through threadpoolctl when it is installed)."""
    try:
        import threadpoolctl  # noqa: PLC0415  (optional)
    except ImportError:
        return "NumPy BLAS threads: library default (threadpoolctl not installed)"
    threadpoolctl.threadpool_limits(n, user_api="blas")
    info = [f"{i['internal_api']} {i['num_threads']}" for i in threadpoolctl.threadpool_info()
            if i["user_api"] == "blas"]
    return "NumPy BLAS threads: " + ", ".join(info)


def make_data(args: argparse.Namespace) -> list[tuple[numpy.ndarray, numpy.ndarray]]:
    rng = numpy.random.default_rng(args.seed)
    return [
        (rng.random((args.batch_size, args.sizes[0]), dtype=numpy.float32),
         rng.integers(0, args.sizes[-1], args.batch_size))
        for _ in range(8)
    ]


class XpnetRun:
    """xpnet's training step on the shared data."""

    def __init__(self, args: argparse.Namespace, data: list) -> None:
        self.net = mlp(args.sizes, activation="relu", rng=numpy.random.default_rng(args.seed))
        self.opt = optim.SGD(self.net.parameters(), lr=args.lr, momentum=0.9)
        self.data, self.i = data, 0

    def step(self, clock: dict | None = None) -> float:
        t0 = time.perf_counter()
        x, y = self.data[self.i % len(self.data)]
        self.i += 1
        loss = F.softmax_cross_entropy(self.net(xpnet.Tensor(x)), y)
        t1 = time.perf_counter()
        self.opt.zero_grad()
        loss.backward()
        t2 = time.perf_counter()
        self.opt.step()
        _tick(clock, t0, t1, t2)
        return loss

    def check_float32(self) -> None:
        loss = self.step()
        arrays = [loss.data] + [p.data for p in self.net.parameters()]
        arrays += [p.grad for p in self.net.parameters()]
        arrays += [s["momentum_buffer"] for s in self.opt.state.values()]
        bad = {str(a.dtype) for a in arrays if a.dtype != numpy.float32}
        if bad:
            raise SystemExit(f"xpnet promoted something to {bad}: not a float32 run")


class TorchRun:
    """PyTorch's training step, from xpnet's initial weights."""

    def __init__(self, args: argparse.Namespace, data: list, init_state: dict) -> None:
        import torch  # noqa: PLC0415  (the rival, never a dependency of xpnet)

        self.torch = torch
        layers: list = [torch.nn.Flatten()]
        sizes = args.sizes
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            layers.append(torch.nn.Linear(n_in, n_out))
            if i < len(sizes) - 2:
                layers.append(torch.nn.ReLU())
        self.net = torch.nn.Sequential(*layers)
        self.net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in init_state.items()})
        self.opt = torch.optim.SGD(self.net.parameters(), lr=args.lr, momentum=0.9)
        self.data = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in data]
        self.i = 0

    def step(self, clock: dict | None = None) -> None:
        t0 = time.perf_counter()
        x, y = self.data[self.i % len(self.data)]
        self.i += 1
        loss = self.torch.nn.functional.cross_entropy(self.net(x), y)
        t1 = time.perf_counter()
        self.opt.zero_grad()
        loss.backward()
        t2 = time.perf_counter()
        self.opt.step()
        _tick(clock, t0, t1, t2)


def _tick(clock: dict | None, t0: float, t1: float, t2: float) -> None:
    """Add a step's forward, backward and optimiser seconds to ``clock``."""
    if clock is not None:
        t3 = time.perf_counter()
        for key, seconds in (("forward", t1 - t0), ("backward", t2 - t1),
                             ("optimiser", t3 - t2)):
            clock[key] = clock.get(key, 0.0) + seconds


def phases(runs: dict, steps: int) -> None:
    """Print ms per step of each phase, and of xpnet's products by shape (M x K x P)."""
    from xpnet.cpu import dense  # noqa: PLC0415

    linear = sys.modules["xpnet.functions.connection.linear"]
    products: dict[str, float] = {}

    def shape(a, b) -> str:
        return f"{a.shape[0]}x{a.shape[1]}x{b.shape[1]}"

    def timed(key: str, fn, *args):
        start = time.perf_counter()
        result = fn(*args)
        products[key] = products.get(key, 0.0) + time.perf_counter() - start
        return result

    def timed_matmul(a, b, out, xp=numpy):
        return timed(shape(a, b), matmul_split, a, b, out, xp)

    def timed_pair(a1, b1, out1, a2, b2, out2, xp=numpy):  # dE/dx and dE/dW at once
        return timed(f"{shape(a1, b1)} & {shape(a2, b2)}", matmul_pair,
                     a1, b1, out1, a2, b2, out2, xp)

    def timed_w_xt(x2, weight, bias, y):  # y = x W^T computed as (W x^T)^T, where it is
        start = time.perf_counter()
        ran = forward_w_xt(x2, weight, bias, y)
        if ran:
            key = shape(x2, weight.T)
            products[key] = products.get(key, 0.0) + time.perf_counter() - start
        return ran

    matmul_split, matmul_pair = linear.matmul_split, linear.matmul_pair
    forward_w_xt = dense.forward_as_w_xt
    linear.matmul_split, linear.matmul_pair = timed_matmul, timed_pair
    dense.forward_as_w_xt = timed_w_xt
    try:
        for name, run in runs.items():
            clock: dict[str, float] = {}
            time.sleep(0.3)
            for _ in range(steps):
                run.step(clock)
            total = sum(clock.values())
            print(f"{name} ms per step: " + ", ".join(
                f"{k} {v / steps * 1e3:.2f}" for k, v in clock.items())
                + f", total {total / steps * 1e3:.2f}")
        print("xpnet's products (M x K x P; A & B: a layer's dE/dx and dE/dW as one pair), "
              "ms per step: " + ", ".join(
            f"{k} {v / steps * 1e3:.2f}" for k, v in products.items())
            + f"; all {sum(products.values()) / steps * 1e3:.2f}")
    finally:
        linear.matmul_split, linear.matmul_pair = matmul_split, matmul_pair
        dense.forward_as_w_xt = forward_w_xt


def timed(run, steps: int, batch: int, cooldown: float) -> float:
    """Images per second over ``steps`` training steps, after a pause and 0.1 s of warm-up.

    Why the pause: after a library's turn its thread pool keeps spinning for a while
    (OpenBLAS's workers, PyTorch's OpenMP threads) and takes a core from whoever runs
    next; without it PyTorch's rounds ran at 13,100 img/s after xpnet's, 22,800 when
    xpnet's ops left no BLAS thread spinning.
    """
    time.sleep(cooldown)
    warm = time.perf_counter()
    run.step()
    while time.perf_counter() - warm < 0.1:  # idle vCPUs wake slowly: see bench_cnn.race
        run.step()
    start = time.perf_counter()
    for _ in range(steps):
        run.step()
    return steps * batch / (time.perf_counter() - start)


def main() -> None:
    args = parse_args()
    # xpnet's allocator setting for a training process (the CLI and Trainer make it), or
    # glibc's 128 KiB thresholds held fixed for both libraries
    xpnet.cpu.tune_allocator(keep_freed=not args.glibc_thresholds)
    import torch  # noqa: PLC0415

    torch.set_num_threads(args.threads)
    xpnet.set_num_threads(args.threads)  # xpnet's own split over the cores
    blas = limit_threads(args.threads)
    data = make_data(args)
    ours = XpnetRun(args, data)
    theirs = TorchRun(args, data, ours.net.state_dict())
    ours.check_float32()
    print(f"MLP {'-'.join(map(str, args.sizes))}, ReLU, softmax CE, SGD momentum 0.9, "
          f"batch {args.batch_size}, float32")
    print(f"numpy {numpy.__version__}, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads); xpnet {xpnet.get_num_threads()} threads; "
          f"{blas}")
    for run in (ours, theirs):
        for _ in range(args.warmup):
            run.step()
    rates: dict[str, list[float]] = {"xpnet": [], "torch": []}
    for r in range(args.rounds):
        rates["xpnet"].append(timed(ours, args.steps, args.batch_size, args.cooldown))
        rates["torch"].append(timed(theirs, args.steps, args.batch_size, args.cooldown))
        print(f"round {r + 1}: xpnet {rates['xpnet'][-1]:8.1f} img/s   "
              f"torch {rates['torch'][-1]:8.1f} img/s")
    med = {k: statistics.median(v) for k, v in rates.items()}
    paired = statistics.median(a / b for a, b in zip(rates["xpnet"], rates["torch"], strict=True))
    print(f"median: xpnet {med['xpnet']:.1f} img/s, torch {med['torch']:.1f} img/s, "
          f"ratio xpnet/torch {med['xpnet'] / med['torch']:.3f} "
          f"(median of the per-round ratios {paired:.3f})")
    best = {k: max(v) for k, v in rates.items()}
    print(f"best round: xpnet {best['xpnet']:.1f} img/s, torch {best['torch']:.1f} img/s, "
          f"ratio {best['xpnet'] / best['torch']:.3f}")
    if args.phases:
        phases({"xpnet": ours, "torch": theirs}, 10 * args.steps)
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(args.steps):
            ours.step()
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(12)


if __name__ == "__main__":
    main()
