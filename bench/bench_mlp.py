"""Benchmark: MLPs in xpnet and in PyTorch, side by side, training and inference.

The networks (``--nets``, from ``nets.MLPS``: 784-1024-1024-10, 784-500-500-10 and
784-100-10, or ``--sizes`` for one of your own) train with ReLU, softmax cross-entropy
and SGD with momentum 0.9 on random data, float32, the same initial weights, the same
number of CPU threads, in one process; ``infer`` rows run eval mode without a graph
(``xpnet.no_grad`` against ``torch.inference_mode``). For each network, batch size
(``--batches``: 1, 32, 128 and 256) and mode, the two race in alternating turns
(``bench_cnn.race``: a pause and untimed calls before each turn, so that the other
library's spinning threads do not bill it; turns disturbed by other processes run
again), and each row prints images/s, the ratio xpnet / PyTorch (above 1: xpnet is
faster), xpnet's GFLOP/s and its fraction of this machine's fp32 peak
(``bench/peak.py``). An MLP has no channels, so PyTorch has one layout here: the
``torch`` column is its best.

The older modes race one network's training steps in rounds of ``--steps``:

Run:
    python bench/bench_mlp.py                       # 3 nets x 4 batches x train/infer
    python bench/bench_mlp.py --nets mlp --batches 128 --modes train
    python bench/bench_mlp.py --sweeps 3            # each row's median ratio over three
                                                    # whole sweeps, and every sweep's
    python bench/bench_mlp.py --phases              # ms per phase, both libraries
    python bench/bench_mlp.py --profile             # where xpnet's time goes (cProfile)
    python bench/bench_mlp.py --glibc-thresholds --rounds 10   # without xpnet's
                                                    # allocator tuning, in rounds of steps
    python bench/bench_mlp.py --sizes 16,8,8,10 --batches 4 --modes train
                                                    # a tiny net: the per-step overhead
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import time
from pathlib import Path

import numpy

import xpnet
from xpnet import functions as F
from xpnet import optim
from xpnet.models import mlp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from nets import MLPS  # noqa: E402

SIZES = MLPS["mlp"]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nets", default=",".join(MLPS),
                        help=f"comma-separated, from {list(MLPS)}")
    parser.add_argument("--sizes", type=_sizes, default=None,
                        help="units per layer, comma-separated: one net of your own instead")
    parser.add_argument("--batches", type=_ints, default=(1, 32, 128, 256),
                        help="comma-separated batch sizes (the sweep)")
    parser.add_argument("--modes", default="train,infer", help="train, infer or both")
    parser.add_argument("--rounds", type=int, default=7,
                        help="alternating rounds (the sweep) or rounds of --steps steps")
    parser.add_argument("--inner", type=int, default=3, help="least timed calls per turn")
    parser.add_argument("--timed", type=float, default=0.05,
                        help="least seconds of timed calls per turn (the sweep)")
    parser.add_argument("--warm", type=float, default=0.1,
                        help="seconds of untimed calls after the pause (the sweep)")
    parser.add_argument("--quiet", type=float, default=0.25,
                        help="a turn in which other processes took more than this share of "
                             "the machine is run again (the sweep)")
    parser.add_argument("--retries", type=int, default=2)
    parser.add_argument("--sweeps", type=int, default=1,
                        help="run the whole sweep this many times, then report each row's "
                             "median ratio and every sweep's")
    parser.add_argument("--peak", type=float, default=None,
                        help="fp32 peak in GFLOP/s (default: measured by bench/peak.py)")
    parser.add_argument("--steps", type=int, default=20, help="training steps per round "
                        "(--phases, --profile, --glibc-thresholds)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps before")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cooldown", type=float, default=0.3,
                        help="seconds of pause before each timed turn")
    parser.add_argument("--profile", action="store_true", help="cProfile xpnet's steps")
    parser.add_argument("--glibc-thresholds", action="store_true",
                        help="run both with glibc's 128 KiB mmap/trim thresholds, not "
                             "xpnet's host allocator tuning (rounds of steps)")
    parser.add_argument("--phases", action="store_true",
                        help="ms per step in forward / backward / optimiser for both, and "
                             "in xpnet's matrix products (first net and batch)")
    args = parser.parse_args()
    unknown = [n for n in args.nets.split(",") if n not in MLPS]
    if unknown and args.sizes is None:
        parser.error(f"unknown nets {unknown}; choose from {list(MLPS)}")
    modes = args.modes.split(",")
    if any(m not in ("train", "infer") for m in modes):
        parser.error(f"--modes takes train, infer or train,infer, got {args.modes!r}")
    args.modes = modes
    args.nets = ({"-".join(map(str, args.sizes)): args.sizes} if args.sizes is not None
                 else {n: MLPS[n] for n in args.nets.split(",")})
    return args


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive ints, got {text!r}")
    return values


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


def make_data(sizes: tuple[int, ...], batch: int, seed: int) -> list:
    rng = numpy.random.default_rng(seed)
    return [
        (rng.random((batch, sizes[0]), dtype=numpy.float32),
         rng.integers(0, sizes[-1], batch))
        for _ in range(8)
    ]


class XpnetRun:
    """xpnet's training step (and inference) on the shared data."""

    def __init__(self, sizes: tuple[int, ...], lr: float, seed: int, data: list) -> None:
        self.net = mlp(sizes, activation="relu", rng=numpy.random.default_rng(seed))
        self.opt = optim.SGD(self.net.parameters(), lr=lr, momentum=0.9)
        self.data, self.i = data, 0

    def infer(self) -> None:
        if self.net.training:  # the mode switched once per race, not per call
            self.net.eval()
        with xpnet.no_grad():
            self.net(xpnet.Tensor(self.data[0][0]))

    def step(self, clock: dict | None = None) -> float:
        if not self.net.training:
            self.net.train()
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
    """PyTorch's training step (and inference), from xpnet's initial weights."""

    def __init__(self, sizes: tuple[int, ...], lr: float, data: list,
                 init_state: dict) -> None:
        import torch  # noqa: PLC0415  (the rival, never a dependency of xpnet)

        self.torch = torch
        layers: list = [torch.nn.Flatten()]
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            layers.append(torch.nn.Linear(n_in, n_out))
            if i < len(sizes) - 2:
                layers.append(torch.nn.ReLU())
        self.net = torch.nn.Sequential(*layers)
        self.net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in init_state.items()})
        self.opt = torch.optim.SGD(self.net.parameters(), lr=lr, momentum=0.9)
        self.data = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in data]
        self.i = 0

    def infer(self) -> None:
        if self.net.training:
            self.net.eval()
        with self.torch.inference_mode():
            self.net(self.data[0][0])

    def step(self, clock: dict | None = None) -> None:
        if not self.net.training:
            self.net.train()
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

    def timed_blocks(x2, weight, bias, grad=True):  # y^T = W x^T by the blocks, where they run
        start = time.perf_counter()
        y = forward_blocks(x2, weight, bias, grad)
        if y is not None:
            key = shape(x2, weight.T)
            products[key] = products.get(key, 0.0) + time.perf_counter() - start
        return y

    def timed_backward_blocks(gy2, weight, x2, need_x, need_w):  # dE/dx & dE/dW by the blocks
        start = time.perf_counter()
        both = backward_blocks(gy2, weight, x2, need_x, need_w)
        if both is not None:
            keys = ([shape(gy2, weight)] if need_x else []) + ([shape(gy2.T, x2)] if need_w
                                                               else [])
            key = " & ".join(keys)
            products[key] = products.get(key, 0.0) + time.perf_counter() - start
        return both

    matmul_split, matmul_pair = linear.matmul_split, linear.matmul_pair
    forward_w_xt, forward_blocks = dense.forward_as_w_xt, dense.forward_blocks
    backward_blocks = dense.backward_blocks
    linear.matmul_split, linear.matmul_pair = timed_matmul, timed_pair
    dense.forward_as_w_xt, dense.forward_blocks = timed_w_xt, timed_blocks
    dense.backward_blocks = timed_backward_blocks
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
        dense.forward_as_w_xt, dense.forward_blocks = forward_w_xt, forward_blocks
        dense.backward_blocks = backward_blocks


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


def _make_runs(sizes: tuple[int, ...], batch: int, args: argparse.Namespace) -> tuple:
    data = make_data(sizes, batch, args.seed)
    ours = XpnetRun(sizes, args.lr, args.seed, data)
    return ours, TorchRun(sizes, args.lr, data, ours.net.state_dict())


def sweep(args: argparse.Namespace, peak: float) -> list[dict]:
    """Race xpnet and PyTorch on every net, batch size and mode; print each row."""
    from bench_cnn import race  # noqa: PLC0415

    rows = []
    for name, sizes in args.nets.items():
        macs = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
        fwd, step = 2 * macs, 2 * (3 * macs - sizes[0] * sizes[1])  # no dE/dx of layer 1
        for batch in args.batches:
            ours, theirs = _make_runs(sizes, batch, args)
            ours.check_float32()
            for mode in args.modes:
                players = {"xpnet": ours.step if mode == "train" else ours.infer,
                           "torch": theirs.step if mode == "train" else theirs.infer}
                report: dict = {}
                med = race(players, args.rounds, inner=args.inner, cooldown=args.cooldown,
                           warm=args.warm, timed=args.timed, quiet=args.quiet,
                           retries=args.retries, report=report)
                ips = {k: batch / v for k, v in med.items()}
                gflops = batch * (step if mode == "train" else fwd) / med["xpnet"] / 1e9
                row = dict(name=name, mode=mode, batch=batch, ips=ips,
                           ratio=ips["xpnet"] / ips["torch"], gflops=gflops,
                           peak_share=gflops / peak if peak else float("nan"), **report)
                rows.append(row)
                others = "n/a" if row["others"] is None else f"{row['others']:.2f}"
                print(f"{name:16s} {mode:5s} b{batch:<4d} xpnet {ips['xpnet']:9.0f}  "
                      f"torch {ips['torch']:9.0f}  ratio xpnet/torch {row['ratio']:.2f}  "
                      f"{gflops:6.1f} GFLOP/s {row['peak_share']:5.1%} of peak  "
                      f"others {others}", flush=True)
    print("\n| network | mode | batch | xpnet img/s | torch img/s | ratio | % of peak | "
          "others |\n|---|---|---|---|---|---|---|---|")
    for r in rows:
        others = "n/a" if r["others"] is None else f"{r['others']:.2f}"
        print(f"| {r['name']} | {r['mode']} | {r['batch']} | {r['ips']['xpnet']:,.0f} | "
              f"{r['ips']['torch']:,.0f} | {r['ratio']:.2f} | {r['peak_share']:.1%} | "
              f"{others} |")
    below = [r for r in rows if r["ratio"] < 1.0]
    print(f"\nrows below 1.0: {len(below)} of {len(rows)}" + "".join(
        f"\n  {r['name']} {r['mode']} b{r['batch']} {r['ratio']:.2f}" for r in below))
    return rows


def stepped(args: argparse.Namespace) -> None:
    """The first net and batch in rounds of ``--steps`` training steps (with --phases,
    --profile and --glibc-thresholds)."""
    import torch  # noqa: PLC0415

    sizes, batch = next(iter(args.nets.values())), args.batches[0]
    ours, theirs = _make_runs(sizes, batch, args)
    ours.check_float32()
    print(f"MLP {'-'.join(map(str, sizes))}, ReLU, softmax CE, SGD momentum 0.9, "
          f"batch {batch}, float32; torch {torch.__version__}")
    for run in (ours, theirs):
        for _ in range(args.warmup):
            run.step()
    rates: dict[str, list[float]] = {"xpnet": [], "torch": []}
    for r in range(args.rounds):
        rates["xpnet"].append(timed(ours, args.steps, batch, args.cooldown))
        rates["torch"].append(timed(theirs, args.steps, batch, args.cooldown))
        print(f"round {r + 1}: xpnet {rates['xpnet'][-1]:8.1f} img/s   "
              f"torch {rates['torch'][-1]:8.1f} img/s")
    med = {k: statistics.median(v) for k, v in rates.items()}
    paired = statistics.median(a / b for a, b in zip(rates["xpnet"], rates["torch"], strict=True))
    print(f"median: xpnet {med['xpnet']:.1f} img/s, torch {med['torch']:.1f} img/s, "
          f"ratio xpnet/torch {med['xpnet'] / med['torch']:.3f} "
          f"(median of the per-round ratios {paired:.3f})")
    if args.phases:
        phases({"xpnet": ours, "torch": theirs}, 10 * args.steps)
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(args.steps):
            ours.step()
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(12)


def main() -> None:
    args = parse_args()
    # xpnet's allocator setting for a training process (the CLI and Trainer make it), or
    # glibc's 128 KiB thresholds held fixed for both libraries
    xpnet.cpu.tune_allocator(keep_freed=not args.glibc_thresholds)
    import torch  # noqa: PLC0415

    torch.set_num_threads(args.threads)
    xpnet.set_num_threads(args.threads)  # xpnet's own split over the cores
    blas = limit_threads(args.threads)
    print(f"numpy {numpy.__version__}, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads); xpnet {xpnet.get_num_threads()} threads; "
          f"{blas}", flush=True)
    if args.phases or args.profile or args.glibc_thresholds:
        stepped(args)
        return
    peak = args.peak
    if peak is None:
        import peak as peak_flops  # noqa: PLC0415

        peak = peak_flops.measure(args.threads)
        print(f"measured fp32 peak on {args.threads} threads: {peak:.1f} GFLOP/s "
              "(bench/peak.py)", flush=True)
    runs = []
    for k in range(args.sweeps):
        if args.sweeps > 1:
            print(f"sweep {k + 1} of {args.sweeps}", flush=True)
        runs.append(sweep(args, peak))
    if args.sweeps > 1:
        from bench_cnn import below_one, combine_sweeps  # noqa: PLC0415

        rows = combine_sweeps(runs)
        print(f"\nall {args.sweeps} sweeps: each row's median ratio, then every sweep's\n"
              "| network | mode | batch | xpnet img/s | torch img/s | ratio | ratio per sweep |"
              " % of peak |\n|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['name']} | {r['mode']} | {r['batch']} | {r['ips']['xpnet']:,.0f} | "
                  f"{r['ips']['torch']:,.0f} | {r['ratio']:.2f} | "
                  f"{', '.join(f'{v:.2f}' for v in r['sweeps'])} | {r['peak_share']:.1%} |")
        below_one(rows)


if __name__ == "__main__":
    main()
