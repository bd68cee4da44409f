"""Op-level race: xpnet conv2d against PyTorch, forward + backward per layer shape.

The layer shapes are the convolutions of the zoo's three benchmark networks (batch
128, float32, NCHW): LeNet-5 on 28x28x1, cuda-convnet's CIFAR net on 32x32x3 and the
AlexNet shape scaled to 64x64x3 (channels 24/64/96/96/64, conv1 11x11/4, groups=2),
then those of Caffe's LeNet widths (20 and 50 channels) and of the narrow variants of
``bench/nets.py`` whose channel counts are not multiples of half the SIMD width.
Both libraries run in this one process on the same thread count, in alternating turns,
each after a pause and untimed calls (as ``bench_cnn.py``); the median of each is
reported with ratio = torch time / xpnet time (>= 1: xpnet is as fast or faster).
The first layer of each net needs no input gradient, as in training.

Run:
    python bench/bench_conv_ops.py [--threads 2] [--rounds 15] [--batch 128]
    python bench/bench_conv_ops.py --paths     # xpnet alone: its engines against each other

``--paths`` races xpnet against itself instead: for each layer (and a few extra
shapes), the forward pass and the weight gradient through each engine that can compute
it (the direct sums of ``xpnet/cpu/conv/direct.py``, the register blocks of
``xpnet/cpu/conv/blocks.py``, im2col + GEMM), each forced by ``xpnet.cpu.engines(conv=...)``,
alternating call by call, so that the thresholds of ``xpnet/cpu/conv/select.py``
(``DIRECT_FWD_MAX``, ``DIRECT_WGRAD_MAX``, ``DIRECT_MAX_TAPS``, ``MIN_BLOCK_USE``, ...)
can be checked on the machine at hand; ``*`` marks the engine xpnet picks by itself.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy

# (net, name, C, H, co, k, stride, padding, groups, first layer)
LAYERS = [
    ("lenet5", "conv1", 1, 28, 6, 5, 1, 2, 1, True),
    ("lenet5", "conv2", 6, 14, 16, 5, 1, 0, 1, False),
    ("cifar", "conv1", 3, 32, 32, 5, 1, 2, 1, True),
    ("cifar", "conv2", 32, 16, 32, 5, 1, 2, 1, False),
    ("cifar", "conv3", 32, 8, 64, 5, 1, 2, 1, False),
    ("alexnet64", "conv1", 3, 64, 24, 11, 4, 2, 1, True),
    ("alexnet64", "conv2", 24, 7, 64, 5, 1, 2, 2, False),
    ("alexnet64", "conv3", 64, 3, 96, 3, 1, 1, 1, False),
    ("alexnet64", "conv4", 96, 3, 96, 3, 1, 1, 2, False),
    ("alexnet64", "conv5", 96, 3, 64, 3, 1, 1, 2, False),
    ("caffe", "conv1", 1, 28, 20, 5, 1, 0, 1, True),  # Caffe's LeNet widths
    ("caffe", "conv2", 20, 12, 50, 5, 1, 0, 1, False),
    ("narrow", "lenet2", 6, 14, 8, 5, 1, 0, 1, False),  # bench/nets.py's narrow variants
    ("narrow", "cifar1", 3, 32, 16, 5, 1, 2, 1, True),
    ("narrow", "alex1", 3, 64, 12, 11, 4, 2, 1, True),
    ("narrow", "alex2", 12, 7, 32, 5, 1, 2, 2, False),
    ("wide", "lenet1", 1, 28, 32, 5, 1, 0, 1, True),  # bench/nets.py's wide LeNet
    ("wide", "lenet2", 32, 14, 64, 5, 1, 0, 1, False),
]


CLOCK = time.perf_counter  # --clock cpu: process CPU time, steadier on a loaded machine


def race(layer: tuple, batch: int, rounds: int, rng: numpy.random.Generator) -> tuple:
    """Median seconds of forward + backward for xpnet and torch, in alternating turns.

    Each turn pauses and runs untimed first (``bench_cnn.race``), so that neither
    library is billed for the other's still-spinning threads. xpnet gets its input and
    output gradient in the layouts a network hands them over (channels-last after the
    first layer), PyTorch NCHW-contiguous tensors, as users run it.
    """
    import torch
    from bench_cnn import race as alternate

    import xpnet
    from xpnet import functions as F

    _, _, C, H, co, k, s, p, g, first = layer
    x = rng.standard_normal((batch, C, H, H), dtype=numpy.float32)
    w = rng.standard_normal((co, C // g, k, k), dtype=numpy.float32) * 0.1
    b = rng.standard_normal(co, dtype=numpy.float32)
    xh = x if first else numpy.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    X = xpnet.Tensor(xh, requires_grad=not first)
    W, B = xpnet.Tensor(w, requires_grad=True), xpnet.Tensor(b, requires_grad=True)
    tx = torch.from_numpy(x).requires_grad_(not first)
    tw, tb = torch.from_numpy(w).requires_grad_(), torch.from_numpy(b).requires_grad_()
    gy = rng.standard_normal(F.conv2d(X, W, B, s, p, 1, g).shape, dtype=numpy.float32)
    gyh = numpy.ascontiguousarray(gy.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    tgy = torch.from_numpy(gy)  # NCHW contiguous

    def run_xp() -> None:
        F.conv2d(X, W, B, s, p, 1, g).backward(gyh)
        X.grad = W.grad = B.grad = None

    def run_torch() -> None:
        torch.nn.functional.conv2d(tx, tw, tb, s, p, 1, g).backward(tgy)
        tx.grad = tw.grad = tb.grad = None

    med = alternate({"xp": run_xp, "torch": run_torch}, rounds, warmup=1, inner=3,
                    cooldown=0.15)
    return med["xp"], med["torch"]


# extra first-layer shapes for --paths: (net, name, C, H, co, k, stride, padding, groups, first)
PATH_LAYERS = [
    ("extra", "1to4", 1, 28, 4, 5, 1, 2, 1, True),  # direct_first: Og < VL / 2
    ("extra", "1to8", 1, 28, 8, 5, 1, 2, 1, True),
    ("extra", "1to16", 1, 28, 16, 5, 1, 2, 1, True),
    ("extra", "3to8", 3, 32, 8, 5, 1, 2, 1, True),
    ("extra", "32on4", 32, 4, 32, 3, 1, 1, 1, False),  # small maps: MIN_BLOCK_USE
    ("extra", "32on5", 32, 5, 32, 3, 1, 1, 1, False),
    ("extra", "3x3on10", 32, 10, 32, 3, 1, 0, 1, False),  # --dx: growth 1.25
    ("extra", "3x3on6", 32, 6, 32, 3, 1, 0, 1, False),  # growth 1.5
    ("extra", "8to16", 8, 14, 16, 5, 1, 0, 1, False),  # --dx: Cg 8
    ("extra", "3to16", 3, 14, 16, 5, 1, 0, 1, False),  # Cg 3 (dE/dx of a first layer)
    ("extra", "1to16", 1, 28, 16, 5, 1, 2, 1, False),
    ("extra", "s2on15", 32, 15, 32, 3, 2, 0, 1, False),  # --dx: stride 2 (no full conv)
    ("extra", "s2on16", 64, 16, 64, 3, 2, 1, 1, False),
    ("extra", "s2g2", 64, 16, 64, 3, 2, 1, 2, False),
]


PATHS = ("direct", "blocks", "gemm")


def race_paths(layer: tuple, batch: int, rounds: int, rng: numpy.random.Generator) -> dict:
    """Median ms of xpnet's forward and weight gradient on each engine, alternating call
    by call; an engine that cannot compute the layer has no entry. Also the engine each
    step takes by itself, as ``(op, "auto")``."""
    import xpnet
    from xpnet.cpu import conv

    _, _, C, H, co, k, s, p, g, first = layer
    # in the layouts a network hands them over: the data NCHW, every map and gradient
    # after the first convolution channels-last (NCHW-shaped views of NHWC memory)
    x = rng.standard_normal((batch, H, H, C), dtype=numpy.float32).transpose(0, 3, 1, 2)
    if first:
        x = numpy.ascontiguousarray(x)
    w = rng.standard_normal((co, C // g, k, k), dtype=numpy.float32) * 0.1
    b = rng.standard_normal(co, dtype=numpy.float32)
    oh = (H + 2 * p - k) // s + 1
    geo = conv.Geometry(k, k, s, s, p, p, 1, 1, g, H, H, oh, oh)
    gy = rng.standard_normal((batch, oh, oh, co), dtype=numpy.float32).transpose(0, 3, 1, 2)
    calls = {
        "fwd": lambda: conv.forward(x, w, b, geo, numpy),
        "dE/dw": lambda: conv.backward(x, None, gy, geo, (False, True, True), numpy),
    }
    step = {"fwd": "forward", "dE/dw": "weight_grad"}

    def engine(op: str) -> str:
        return xpnet.cpu.conv_engine(x.shape, w.shape, stride=s, padding=p, groups=g,
                                     step=step[op])

    times = {}
    for op in calls:
        for path in PATHS:
            with xpnet.cpu.engines(conv=path):
                if engine(op) == path:  # the engine can compute this layer
                    times[op, path] = []
    for _ in range(rounds + 1):  # the first round warms up (and compiles)
        for op, path in times:
            with xpnet.cpu.engines(conv=path):
                t = CLOCK()
                calls[op]()
                times[op, path].append(CLOCK() - t)
    out = {key: statistics.median(v[1:]) * 1e3 for key, v in times.items()}
    return {**out, **{(op, "auto"): engine(op) for op in calls}}


def main_paths(args: argparse.Namespace, rng: numpy.random.Generator) -> None:
    heads = [f"{op} {path}" for op in ("fwd", "dw") for path in PATHS]
    print(f"{'net':10s} {'layer':6s} {'weights':>7s} " + " ".join(f"{h:>11s}" for h in heads)
          + "  (xpnet ms, median; - where the engine cannot run; * xpnet's own choice)")
    for layer in LAYERS + PATH_LAYERS:
        net, name, C, _, co, k, s, _, g, _ = layer
        if args.net and net != args.net:
            continue
        ms = race_paths(layer, args.batch, args.rounds, rng)
        cells = []
        for op in ("fwd", "dE/dw"):
            for path in PATHS:
                c = ms.get((op, path))
                mark = "*" if ms[op, "auto"] == path else " "
                cells.append(f"{'-':>10s} " if c is None else f"{c:10.2f}{mark}")
        print(f"{net:10s} {name:6s} {C // g * co * k * k:7d} " + " ".join(cells))


DX_METHODS = ("conv", "scatter", "fold", "col2im")


def race_dx(layer: tuple, batch: int, rounds: int, rng: numpy.random.Generator) -> dict:
    """Median ms of xpnet's dE/dx by each method of ``engines(conv_dx=...)``, alternating
    call by call; a method that cannot compute the layer (the full convolution needs
    stride 1) has no entry. Also the method xpnet takes by itself, as ``"auto"``."""
    import xpnet
    from xpnet.cpu import conv

    _, _, C, H, co, k, s, p, g, _ = layer
    w = rng.standard_normal((co, C // g, k, k), dtype=numpy.float32) * 0.1
    oh = (H + 2 * p - k) // s + 1
    geo = conv.Geometry(k, k, s, s, p, p, 1, 1, g, H, H, oh, oh)
    # dE/dy as a network hands it over: an NCHW-shaped view of channels-last memory
    gy = rng.standard_normal((batch, oh, oh, co), dtype=numpy.float32).transpose(0, 3, 1, 2)

    def method() -> str:
        return xpnet.cpu.conv_engine((batch, C, H, H), w.shape, stride=s, padding=p,
                                     groups=g, step="input_grad")

    times = {}
    for m in DX_METHODS:
        with xpnet.cpu.engines(conv_dx=m):
            if method() == m:  # the method can compute this layer
                times[m] = []
    for _ in range(rounds + 1):  # the first round warms up (and compiles)
        for m in times:
            with xpnet.cpu.engines(conv_dx=m):
                t = CLOCK()
                conv.backward(None, w, gy, geo, (True, False, False), numpy)
                times[m].append(CLOCK() - t)
    out = {m: statistics.median(v[1:]) * 1e3 for m, v in times.items()}
    return {**out, "auto": method()}


def main_dx(args: argparse.Namespace, rng: numpy.random.Generator) -> None:
    print(f"{'net':10s} {'layer':6s} {'growth':>6s} " + " ".join(f"{m:>9s}" for m in DX_METHODS)
          + "  (xpnet dE/dx ms, median; - where the method cannot run; * xpnet's own choice;"
          " growth: the full convolution's work over the true one)")
    from xpnet.cpu.conv import Geometry
    from xpnet.cpu.conv.geometry import full_conv_geometry
    from xpnet.cpu.conv.select import full_conv_growth

    for layer in LAYERS + PATH_LAYERS:
        net, name, C, H, co, k, s, p, g, first = layer
        if first or (args.net and net != args.net):
            continue
        oh = (H + 2 * p - k) // s + 1
        geo = Geometry(k, k, s, s, p, p, 1, 1, g, H, H, oh, oh)
        growth = (f"{full_conv_growth(geo):6.2f}" if full_conv_geometry(geo) is not None
                  else f"{'-':>6s}")  # no full convolution (stride > 1)
        ms = race_dx(layer, args.batch, args.rounds, rng)
        cells = [f"{'-':>8s} " if m not in ms else
                 f"{ms[m]:8.2f}{'*' if ms['auto'] == m else ' '}" for m in DX_METHODS]
        print(f"{net:10s} {name:6s} {growth} " + " ".join(cells))


def main() -> None:
    import torch

    import xpnet

    xpnet.cpu.tune_allocator()  # as a training process runs (the CLI and Trainer call it)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--net", default=None,
                    help="only this net (lenet5, cifar, alexnet64, caffe, narrow, wide, extra)")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="--paths only; cpu: process CPU time (with --threads 1 on a busy machine)")
    ap.add_argument("--paths", action="store_true",
                    help="xpnet alone: its engines against each other, per layer")
    ap.add_argument("--dx", action="store_true",
                    help="xpnet alone: its dE/dx methods against each other, per layer "
                         "that is not a first layer")
    args = ap.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    torch.set_num_threads(args.threads)
    xpnet.cpu.set_num_threads(args.threads)
    if args.threads == 1:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)  # numpy's BLAS too, so both really use one core
    rng = numpy.random.default_rng(0)
    print(f"batch {args.batch}, {args.threads} threads, float32, {args.rounds} rounds, "
          f"{args.clock} clock")
    if args.paths:
        main_paths(args, rng)
        return
    if args.dx:
        main_dx(args, rng)
        return
    print(f"{'net':10s} {'layer':6s} {'xpnet ms':>9s} {'torch ms':>9s} {'ratio':>6s}  "
          "(medians; ratio = torch / xpnet)")
    totals: dict[str, numpy.ndarray] = {}
    for layer in LAYERS:
        if args.net and layer[0] != args.net:
            continue
        t = numpy.array(race(layer, args.batch, args.rounds, rng)) * 1e3
        totals[layer[0]] = totals.get(layer[0], 0) + t
        _row(layer[0], layer[1], t)
    for net, t in totals.items():
        _row(net, "total", t)


def _row(net: str, name: str, t: numpy.ndarray) -> None:
    mx, mt = t
    print(f"{net:10s} {name:6s} {mx:9.2f} {mt:9.2f} {mt / mx:6.2f}")


if __name__ == "__main__":
    main()
