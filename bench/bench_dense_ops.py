"""A dense layer's forward product y = x W^T + b by each of xpnet's engines, and PyTorch's.

Times ``LinearFunction.forward`` (no graph) for every (M, in, out) of the list, each
engine forced with ``xpnet.cpu.engines(dense=...)``: ``blocks`` (the register blocks,
``xpnet/cpu/dense_blocks.py``, split as xpnet splits them), ``by_out`` (the same with
W's rows cut over the threads at any M, after one transposed copy of x), ``w_xt`` and
``x_wt`` (OpenBLAS in either orientation), and ``auto`` (xpnet's choice, marked),
against ``torch.nn.functional.linear`` when torch is installed; best of 7 runs of
``--reps`` calls, microseconds, the engines in turn in one process, glibc's allocator
tuned as in training (``xpnet.cpu.tune_allocator``). Each engine's output is checked
against a float64 product first. This is what ``BLOCKS_MIN_ROWS``, ``BLOCKS_MAX_ROWS``,
``BLOCKS_MIN_OUT`` and ``BY_EXAMPLES_MIN_BLOCKS`` in ``xpnet/cpu/dense.py`` rest on
(docs/benchmarks.md, "Engine thresholds").

``--backward`` times a layer's two backward products instead, as one split: by the
register blocks (``dense.backward_blocks``, forced) and by OpenBLAS
(``dense.matmul_pair``); ``BLOCKS_BACKWARD_MAX_WEIGHTS`` rests on it.

``--train`` times the forward product as a training step runs it (a gradient needed,
so y must come back in rows): xpnet's choice (``auto``; ``*`` where the register blocks
write y back in rows, ``dense_blocks.x_w_t_rows``) against the same with that path off
(``BLOCKS_MAX_TRAIN_ROWS = 0``: BLAS split over the threads, or the one-thread blocks)
and PyTorch; ``BLOCKS_MAX_TRAIN_ROWS`` rests on it.

``--ab NAME=VALUE`` races xpnet's choice (``auto``) with a constant of
``xpnet/cpu/dense.py`` as it is against the same set to VALUE (``--ab ALIGN=0``), in
alternating rounds (the median of 5 rounds of best-of-7 each), the product as inference
runs it, or as a training step does with ``--train``; each output is checked against
the float64 product, and the line says whether both ways gave the same bits.

``--transpose`` times x^T's copy, on one thread: NumPy's strided copy against the VL x VL
register tiles of ``dense_blocks.transpose``, for each M of ``--batches`` and ``in`` of
``--layers``.

Run:
    python bench/bench_dense_ops.py [--batches 1,8,32,64,128] [--layers 800x500,784x100]
    python bench/bench_dense_ops.py --backward --batches 8,32,64
    python bench/bench_dense_ops.py --transpose --batches 64,128 --layers 784x1,1024x1
    python bench/bench_dense_ops.py --train --batches 128,256 --layers 784x500,500x500
    python bench/bench_dense_ops.py --ab ALIGN=0 --batches 128,256 --layers 784x100
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy

ENGINES = ("blocks", "by_out", "w_xt", "x_wt", "auto")


def best_us(fn: Callable[[], object], reps: int) -> float:
    """Best of 7 runs of ``reps`` calls, microseconds per call."""
    fn()
    fn()
    best = float("inf")
    for _ in range(7):
        start = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, (time.perf_counter() - start) / reps)
    return best * 1e6


def _layer(m: int, k: int, out: int, rng: numpy.random.Generator, grad: bool) -> tuple:
    """(x, W, b, the float64 product, a LinearFunction) for a product of ``m`` examples,
    ``k`` inputs and ``out`` outputs; ``grad``: its forward as a training step runs it."""
    from xpnet.functions.connection.linear import LinearFunction

    x = rng.standard_normal((m, k), dtype=numpy.float32)
    w = rng.standard_normal((out, k), dtype=numpy.float32)
    b = rng.standard_normal(out, dtype=numpy.float32)
    want = x.astype(numpy.float64) @ w.T.astype(numpy.float64) + b
    fn = LinearFunction()
    fn.needs_input_grad = (grad, grad, grad)
    return x, w, b, want, fn


def row(m: int, k: int, out: int, rng: numpy.random.Generator, reps: int, torch: object) -> str:
    """The table's line for one product of ``m`` examples, ``k`` inputs, ``out`` outputs."""
    from xpnet.cpu import dense, engines

    x, w, b, want, fn = _layer(m, k, out, rng, grad=False)
    times = {}
    for engine in ENGINES:
        split = dense.BY_EXAMPLES_MIN_BLOCKS
        if engine == "by_out":  # the blocks, W's rows cut over the threads at any M
            dense.BY_EXAMPLES_MIN_BLOCKS = 1 << 40
        with engines(dense="blocks" if engine == "by_out" else engine):
            got = fn.forward(x, w, b)
            err = numpy.abs(got - want).max() / numpy.abs(want).max()
            if err > 1e-5:
                raise SystemExit(f"{engine} at {m}x{k}x{out}: relative error {err:.1e}")
            times[engine] = best_us(lambda: fn.forward(x, w, b), reps)
        dense.BY_EXAMPLES_MIN_BLOCKS = split
    chosen = "blocks" if dense.blocks_take(m, out, grad=False) else None  # as auto ran
    line = f"{m:>5d} x{k:>5d} x{out:>5d} " + " ".join(
        f"{times[e]:8.1f}{'*' if e == chosen else ' '}" for e in ENGINES)
    if torch is not None:
        tx, tw, tb = (torch.from_numpy(a) for a in (x, w, b))
        with torch.inference_mode():
            line += f" {best_us(lambda: torch.nn.functional.linear(tx, tw, tb), reps):9.1f}"
        time.sleep(0.2)  # PyTorch's OpenMP threads spin a while after its last call
    else:
        line += f" {'-':>9s}"
    return line + f" {times['blocks'] / min(times['w_xt'], times['x_wt']):11.2f}"


def train_row(m: int, k: int, out: int, rng: numpy.random.Generator, reps: int,
              torch: object) -> str:
    """The --train table's line: a training step's forward product, xpnet's choice and
    the same without the blocks' rows path, and PyTorch's."""
    from xpnet.cpu import dense

    x, w, b, want, fn = _layer(m, k, out, rng, grad=True)
    limit = dense.BLOCKS_MAX_TRAIN_ROWS
    times = {}
    try:
        for name, top in (("auto", limit), ("off", 0)):
            dense.BLOCKS_MAX_TRAIN_ROWS = top
            got = fn.forward(x, w, b)
            err = numpy.abs(got - want).max() / numpy.abs(want).max()
            rows = m > dense.BLOCKS_MAX_ROWS  # else y may be the blocks' view of y^T
            if err > 1e-5 or (rows and not got.flags.c_contiguous):
                raise SystemExit(f"{name} at {m}x{k}x{out}: relative error {err:.1e}, "
                                 f"C-contiguous {got.flags.c_contiguous}")
            times[name] = best_us(lambda: fn.forward(x, w, b), reps)
    finally:
        dense.BLOCKS_MAX_TRAIN_ROWS = limit
    taken = (dense.BLOCKS_MAX_ROWS < m <= limit and out >= dense.BLOCKS_MIN_OUT
             and dense.forward_blocks(x, w, b) is not None)
    line = f"{m:>5d} x{k:>5d} x{out:>5d} {times['auto']:9.1f}{'*' if taken else ' '} " \
           f"{times['off']:9.1f}"
    if torch is not None:
        tx, tw, tb = (torch.from_numpy(a) for a in (x, w, b))
        line += f" {best_us(lambda: torch.nn.functional.linear(tx, tw, tb), reps):9.1f}"
        time.sleep(0.2)  # PyTorch's OpenMP threads spin a while after its last call
    else:
        line += f" {'-':>9s}"
    return line + f" {times['auto'] / times['off']:8.2f}"


def ab_row(m: int, k: int, out: int, rng: numpy.random.Generator, reps: int, name: str,
           value: float, grad: bool) -> str:
    """The --ab table's line: xpnet's choice with dense.NAME as it is and at ``value``,
    in alternating rounds; median us of each, their ratio, and whether the outputs had
    the same bits both ways (a threshold that moves a product to another engine may
    change them; each is checked against the float64 product)."""
    from xpnet.cpu import dense

    x, w, b, want, fn = _layer(m, k, out, rng, grad=grad)
    kept = getattr(dense, name)
    times: dict[float, list[float]] = {kept: [], value: []}
    ref, same = None, True
    try:
        for r in range(5):
            for v in (kept, value) if r % 2 == 0 else (value, kept):
                setattr(dense, name, v)
                got = numpy.array(fn.forward(x, w, b))
                err = numpy.abs(got - want).max() / numpy.abs(want).max()
                if err > 1e-5:
                    raise SystemExit(f"{name}={v} at {m}x{k}x{out}: relative error {err:.1e}")
                ref = got if ref is None else ref
                same = same and numpy.array_equal(got, ref)
                times[v].append(best_us(lambda: fn.forward(x, w, b), reps))
    finally:
        setattr(dense, name, kept)
    a, c = (float(numpy.median(times[v])) for v in (kept, value))
    bits = "same" if same else "differ"
    return f"{m:>5d} x{k:>5d} x{out:>5d} {a:9.1f} {c:9.1f} {a / c:9.3f} {bits:>6s}"


def backward_row(m: int, k: int, out: int, rng: numpy.random.Generator, reps: int) -> str:
    """The --backward table's line: dE/dx and dE/dW as one split, by the register blocks
    (``dense.backward_blocks``) and by OpenBLAS (``dense.matmul_pair``)."""
    from xpnet.cpu import dense, engines

    gy = rng.standard_normal((m, out), dtype=numpy.float32)
    w = rng.standard_normal((out, k), dtype=numpy.float32)
    x = rng.standard_normal((m, k), dtype=numpy.float32)
    gx, gw = numpy.empty((m, k), numpy.float32), numpy.empty((out, k), numpy.float32)
    taken = out * k <= dense.BLOCKS_BACKWARD_MAX_WEIGHTS and dense.blocks_take(m, out)
    limit = dense.BLOCKS_BACKWARD_MAX_WEIGHTS
    dense.BLOCKS_BACKWARD_MAX_WEIGHTS = out * k  # forced: every layer, however large
    try:
        with engines(dense="blocks"):
            both = dense.backward_blocks(gy, w, x, True, True)
            if both is None:  # fewer examples than a block's rows
                blas = best_us(lambda: dense.matmul_pair(gy, w, gx, gy.T, x, gw), reps)
                return f"{m:>5d} x{k:>5d} x{out:>5d} {'-':>10s} {blas:9.1f} {'-':>11s}"
            for got, want in zip(both, (gy @ w, gy.T @ x)):
                err = numpy.abs(got - want).max() / numpy.abs(want).max()
                if err > 1e-5:
                    raise SystemExit(f"backward blocks at {m}x{k}x{out}: relative error "
                                     f"{err:.1e}")
            blocks = best_us(lambda: dense.backward_blocks(gy, w, x, True, True), reps)
    finally:
        dense.BLOCKS_BACKWARD_MAX_WEIGHTS = limit
    blas = best_us(lambda: dense.matmul_pair(gy, w, gx, gy.T, x, gw), reps)
    return (f"{m:>5d} x{k:>5d} x{out:>5d} {blocks:9.1f}{'*' if taken else ' '} {blas:9.1f} "
            f"{blocks / blas:11.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", default="1,8,16,32,64,128,256",
                    help="examples M per product, comma-separated")
    ap.add_argument("--layers", default="800x500,784x1024,1024x1024,500x500,784x100,"
                    "3136x1024,500x10", help="in x out per layer, comma-separated")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--split", choices=("auto", "always"), default="auto",
                    help="always: cut every product over the threads, however small")
    ap.add_argument("--backward", action="store_true",
                    help="the backward pair (dE/dx and dE/dW) instead: blocks against BLAS")
    ap.add_argument("--train", action="store_true",
                    help="a training step's forward product: xpnet's choice against BLAS")
    ap.add_argument("--ab", metavar="NAME=VALUE",
                    help="race a constant of xpnet/cpu/dense.py as it is against VALUE")
    ap.add_argument("--transpose", action="store_true",
                    help="x^T's copy instead: NumPy against the register tiles, one thread")
    args = ap.parse_args()

    import xpnet

    xpnet.cpu.tune_allocator()  # as a training process runs
    xpnet.cpu.set_num_threads(args.threads)
    try:
        import torch
        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
    rng = numpy.random.default_rng(0)
    with xpnet.cpu.engines(split=args.split):
        run(args, rng, torch)


def run(args: argparse.Namespace, rng: numpy.random.Generator, torch: object) -> None:
    """Print the table of the products ``args`` names."""
    batches = [int(v) for v in args.batches.split(",")]
    layers = [tuple(int(v) for v in spec.split("x")) for spec in args.layers.split(",")]
    if args.transpose:
        from xpnet.cpu import dense_blocks

        print(f"x^T (in, M) from x (M, in), float32, one thread, us per copy (best of 7 x "
              f"{args.reps})\n{'M x in':>12s} {'numpy':>9s} {'tiles':>9s} {'ratio':>7s}")
        for k, _ in layers:
            for m in batches:
                x = rng.standard_normal((m, k), dtype=numpy.float32)
                xt = numpy.empty((k, m), dtype=numpy.float32)
                dense_blocks.transpose(x, xt, 0, m, 0, k)
                if not numpy.array_equal(xt, x.T):
                    raise SystemExit(f"transpose at {m} x {k}: wrong values")
                slow = best_us(lambda: numpy.copyto(xt, x.T), args.reps)  # noqa: B023
                fast = best_us(lambda: dense_blocks.transpose(x, xt, 0, m, 0, k),  # noqa: B023
                               args.reps)
                print(f"{m:>5d} x{k:>5d} {slow:9.1f} {fast:9.1f} {slow / fast:7.2f}", flush=True)
        return
    if args.ab:
        from xpnet.cpu import dense

        name, _, text = args.ab.partition("=")
        try:
            value = float(text) if "." in text else int(text)
        except ValueError:
            value = None
        kept = getattr(dense, name, None)
        if not name.isupper() or kept is None or value is None or value == kept:
            raise SystemExit(f"--ab {args.ab}: want NAME=VALUE, NAME a constant of "
                             "xpnet/cpu/dense.py and VALUE a number other than its own")
        print(f"y = x W^T + b ({'training step' if args.train else 'inference'}), "
              f"float32, {args.threads} threads, xpnet's choice, median us of 5 alternating "
              f"rounds (best of 7 x {args.reps} each)")
        print(f"{'M x in x out':>16s} {'as is':>9s} {'changed':>9s} {'ratio':>9s} "
              f"{'bits':>6s}  (as is: {name}={kept}, changed: {name}={value})")
        for k, out in layers:
            for m in batches:
                print(ab_row(m, k, out, rng, args.reps, name, value, args.train), flush=True)
        return
    if args.train:
        print(f"y = x W^T + b in a training step (y in rows), float32, {args.threads} "
              f"threads, us per call (best of 7 x {args.reps}); * = the blocks' rows path")
        print(f"{'M x in x out':>16s} {'auto':>10s} {'off':>9s} {'torch':>9s} {'auto/off':>8s}")
        for k, out in layers:
            for m in batches:
                print(train_row(m, k, out, rng, args.reps, torch), flush=True)
        return
    if args.backward:
        print(f"dE/dx = dE/dy W and dE/dW = dE/dy^T x as one split, float32, "
              f"{args.threads} threads, us per call (best of 7 x {args.reps}); * = the "
              "blocks where xpnet's choice takes them")
        print(f"{'M x in x out':>16s} {'blocks':>10s} {'BLAS':>9s} {'blocks/BLAS':>11s}")
        for k, out in layers:
            for m in batches:
                print(backward_row(m, k, out, rng, args.reps), flush=True)
        return
    print(f"y = x W^T + b, float32, {args.threads} threads, us per call (best of 7 x "
          f"{args.reps}); * = the blocks where xpnet's choice (auto, no gradient) takes "
          "them")
    print(f"{'M x in x out':>16s} " + " ".join(f"{e:>9s}" for e in ENGINES)
          + f" {'torch':>9s} {'blocks/BLAS':>11s}")
    for k, out in layers:
        for m in batches:
            print(row(m, k, out, rng, args.reps, torch), flush=True)


if __name__ == "__main__":
    main()
