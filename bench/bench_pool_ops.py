"""Op-level race: xpnet pooling against PyTorch, forward + backward per layer shape.

The shapes are the pooling layers of the three benchmark networks (batch 128, float32,
NCHW): LeNet-5 on 28x28x1, cuda-convnet's CIFAR net on 32x32x3 (max then two average
3x3/2 pools in ceil mode) and the AlexNet shape scaled to 64x64x3 (overlapping 3x3/2 max
pools). Both libraries run in this one process on the same thread count, in alternating
rounds; the median (and best) of each is reported with ratio = torch time / xpnet time
(>= 1: xpnet is as fast or faster). ``--impl xp`` races the NumPy views path (the
reference, used where numba is missing: ``xpnet.cpu.engines(compiled=False)``) instead of
the compiled kernels, ``--impl numba`` the kernels on NCHW planes (``layout="nchw"``);
``--infer`` times the forward alone under no_grad (batch 256 as the inference benchmarks
use); ``--channels-last`` hands both libraries channels-last memory (as a convolution's
output is in a network: xpnet's NHWC kernels, PyTorch's channels_last) instead of NCHW.

Run:
    python bench/bench_pool_ops.py [--threads 2] [--rounds 15] [--batch 128]
                                   [--impl auto|xp] [--infer] [--clock wall|cpu]
                                   [--channels-last] [--net lenet_caffe]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import numpy

# (net, name, op, C, H, kernel, stride, padding, ceil_mode)
LAYERS = [
    ("lenet5", "pool1", "max", 6, 28, 2, 2, 0, False),
    ("lenet5", "pool2", "max", 16, 10, 2, 2, 0, False),
    ("lenet_caffe", "pool1", "max", 20, 24, 2, 2, 0, False),
    ("lenet_caffe", "pool2", "max", 50, 8, 2, 2, 0, False),
    ("lenet_wide", "pool1", "max", 32, 28, 2, 2, 0, False),
    ("lenet_wide", "pool2", "max", 64, 14, 2, 2, 0, False),
    ("cifar", "pool1", "max", 32, 32, 3, 2, 0, True),
    ("cifar", "pool2", "avg", 32, 16, 3, 2, 0, True),
    ("cifar", "pool3", "avg", 64, 8, 3, 2, 0, True),
    ("alexnet64", "pool1", "max", 24, 15, 3, 2, 0, False),
    ("alexnet64", "pool2", "max", 64, 7, 3, 2, 0, False),
    ("alexnet64", "pool5", "max", 64, 3, 3, 2, 0, False),
    ("extra", "l2", "l2", 32, 32, 3, 2, 0, True),
]

CLOCK = time.perf_counter  # --clock cpu: process CPU time, steadier on a loaded machine


def _ops(op: str, impl: str, k: int, s: int, p: int, ceil: bool) -> tuple:
    """(xpnet function of a Tensor, torch function of a tensor) for one layer."""
    import torch

    import xpnet
    from xpnet.functions.pooling._window import geometry
    from xpnet.functions.pooling.avg_pool2d import AvgPool2dFunction
    from xpnet.functions.pooling.l2_pool2d import L2Pool2dFunction
    from xpnet.functions.pooling.max_pool2d import MaxPool2dFunction

    tf = torch.nn.functional
    engines = {"auto": {}, "xp": {"compiled": False}, "numba": {"layout": "nchw"}}[impl]
    scope = xpnet.cpu.engines(**engines) if engines else contextlib.nullcontext()

    def ours(x):
        g = geometry(op, x.shape, k, s, p, ceil)
        with scope:  # the backward pass runs on the kernels the forward pass took
            if op == "max":
                return MaxPool2dFunction(g, False)(x)
            if op == "avg":
                return AvgPool2dFunction(g, True)(x)
            return L2Pool2dFunction(g)(x)

    theirs = {
        "max": lambda t: tf.max_pool2d(t, k, s, p, ceil_mode=ceil),
        "avg": lambda t: tf.avg_pool2d(t, k, s, p, ceil_mode=ceil),
        "l2": lambda t: tf.lp_pool2d(t, 2, k, s, ceil_mode=ceil),
    }[op]
    return ours, theirs


def race(layer: tuple, batch: int, rounds: int, impl: str, infer: bool, rng,
         channels_last: bool = False) -> tuple:
    """Median and best seconds of xpnet and torch on one layer, alternating rounds."""
    import torch
    from bench_cnn import race as alternate

    import xpnet

    _, _, op, c, h, k, s, p, ceil = layer
    ours, theirs = _ops(op, impl, k, s, p, ceil)
    x = rng.standard_normal((batch, c, h, h), dtype=numpy.float32)
    tx = torch.from_numpy(x)
    if channels_last:  # NHWC memory seen as NCHW, as conv2d hands it on
        x = numpy.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
        tx = tx.contiguous(memory_format=torch.channels_last)
    X = xpnet.Tensor(x, requires_grad=not infer)
    tx = tx.requires_grad_(not infer)
    gy = rng.standard_normal(ours(X).shape, dtype=numpy.float32)
    tgy = torch.from_numpy(gy)

    def run_xp() -> None:
        if infer:
            with xpnet.no_grad():
                ours(X)
            return
        ours(X).backward(gy)
        X.grad = None

    def run_torch() -> None:
        if infer:
            with torch.no_grad():
                theirs(tx)
            return
        theirs(tx).backward(tgy)
        tx.grad = None

    for _ in range(2):  # warm up (and compile the numba kernels)
        run_xp(), run_torch()
    if CLOCK is time.perf_counter:
        # turns that pause and run untimed first (bench_cnn.race): neither library is
        # billed for the other's still-spinning threads (at 2 threads LeNet-5's pool1
        # took 5.7 ms by back-to-back calls, 0.7 alone); the min column is the best turn
        turns: dict[str, list[float]] = {"xp": [], "torch": []}
        for _ in range(rounds):
            med = alternate({"xp": run_xp, "torch": run_torch}, 1, warmup=0, inner=5,
                            cooldown=0.15, warm=0.05)
            for name, value in med.items():
                turns[name].append(value)
        t_xp, t_torch = turns["xp"], turns["torch"]
    else:  # process CPU time (--threads 1): back-to-back calls
        t_xp, t_torch = [], []
        for _ in range(rounds):
            for fn, out in ((run_xp, t_xp), (run_torch, t_torch)):
                t = CLOCK()
                fn()
                out.append(CLOCK() - t)
    return (statistics.median(t_xp), min(t_xp)), (statistics.median(t_torch), min(t_torch))


def main() -> None:
    import torch

    import xpnet

    xpnet.cpu.tune_allocator()  # as a training process runs (the CLI and Trainer call it)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--batch", type=int, default=None, help="default 128, 256 with --infer")
    ap.add_argument("--impl", choices=["auto", "xp", "numba"], default="auto")
    ap.add_argument("--infer", action="store_true", help="forward only, under no_grad")
    ap.add_argument("--net", default=None, help="only this net (lenet5, lenet_caffe, "
                    "lenet_wide, cifar, alexnet64)")
    ap.add_argument("--channels-last", action="store_true",
                    help="channels-last memory, as a convolution's output")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    args = ap.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    batch = args.batch or (256 if args.infer else 128)
    torch.set_num_threads(args.threads)
    xpnet.cpu.set_num_threads(args.threads)
    rng = numpy.random.default_rng(0)
    what = "forward (no_grad)" if args.infer else "forward + backward"
    layout = "channels-last" if args.channels_last else "NCHW"
    print(f"{what}, batch {batch}, {args.threads} threads, float32, {layout}, impl "
          f"{args.impl}, {args.rounds} rounds, {args.clock} clock")
    print(f"{'net':10s} {'layer':6s} {'op':4s} {'xpnet ms (med/min)':>19s} "
          f"{'torch ms (med/min)':>19s} {'ratio med/min':>14s}")
    totals: dict[str, numpy.ndarray] = {}
    for layer in LAYERS:
        if args.net and layer[0] != args.net:
            continue
        (mx, bx), (mt, bt) = race(layer, batch, args.rounds, args.impl, args.infer, rng,
                                  args.channels_last)
        t = numpy.array([mx, bx, mt, bt]) * 1e3
        totals[layer[0]] = totals.get(layer[0], 0) + t
        _row(layer[0], layer[1], layer[2], t)
    for net, t in totals.items():
        if net != "extra":
            _row(net, "total", "", t)


def _row(net: str, name: str, op: str, t: numpy.ndarray) -> None:
    mx, bx, mt, bt = t
    print(f"{net:10s} {name:6s} {op:4s} {mx:9.2f} {bx:9.2f} {mt:9.2f} {bt:9.2f} "
          f"{mt / mx:6.2f} {bt / bx:6.2f}")


if __name__ == "__main__":
    main()
