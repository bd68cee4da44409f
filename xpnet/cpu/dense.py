"""A dense layer's products on xpnet's threads, and the orientation OpenBLAS prefers.

y = x W^T + b, for M examples x (M, in) and W (out, in); backward dE/dx = dE/dy W and
dE/dW = (dE/dy)^T x. Each product is cut over the threads with one BLAS thread each
(:func:`matmul_split`), the two backward ones shared out as a pair
(:func:`matmul_pair`). With few examples and many outputs OpenBLAS runs W x^T (W's rows
as they lie, x transposed) faster than x W^T, and the transposed copy back into y, with
the bias added on the way, costs little (:func:`forward_as_w_xt`; docs/benchmarks.md,
"Engine thresholds"). ``xpnet.cpu.engines(dense=...)`` forces either orientation.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy

from xpnet.cpu import relu as cpu_relu
from xpnet.cpu.kernels import load
from xpnet.cpu.settings import current
from xpnet.cpu.threads import (
    ELEMENTWISE_MIN_SIZE,
    SPLIT_MIN_WORK,
    BlasThreads,
    blas_controller,
    get_num_threads,
    kernel_signal,
    one_blas_thread,
    parallel_slices,
    slices,
    splitting_here,
)

__all__ = ["backward_blocks", "blas_threads", "blocks_take", "forward_as_w_xt", "forward_blocks",
           "forward_whole", "matmul_pair", "matmul_split"]

#: A dense product alone (the forward, or one gradient) is cut over the threads from
#: this many multiply-adds on; a backward pair (:func:`matmul_pair`) and an outer product
#: keep the ops' SPLIT_MIN_WORK (2^25).
DENSE_SPLIT_MIN_WORK = 1 << 24

#: A product of at most this many multiply-adds runs on one BLAS thread whatever BLAS's
#: thread count (OpenBLAS's rule: 65536 times its GEMM_MULTITHREAD_THRESHOLD of 4; the
#: build NumPy ships here keeps up to 1,000,000 on one thread, process time / wall time
#: 1.00), so :func:`matmul_split` calls it without holding BLAS at one thread around it
#: (the scope's enter and exit: 128 x 100 -> 10, MLP 784-100-10's last layer at batch
#: 128, 4.4 against 6.6 us; docs/benchmarks.md, "Engine thresholds").
BLAS_ONE_THREAD_WORK = 1 << 18

#: W x^T is taken for at most this many examples M (beyond, a loss) and at least
#: W_XT_MIN_OUT outputs (below, a loss too).
W_XT_MAX_ROWS = 128
W_XT_MIN_OUT = 256

#: ... and, below W_XT_MIN_OUT, for W_XT_MID_ROWS examples, at least W_XT_MID_OUT
#: outputs and W_XT_MID_IN inputs: products too small to be cut (one thread), where
#: OpenBLAS's x W^T kernel is slower than its W x^T. One thread, best of 5 (a scratch
#: `timeit` grid at 5a954b7), x W^T's time over W x^T's with the transposing copy: 784
#: -> 100 at 16, 24, 32, 48, 64 examples 1.63, 1.27, 1.27, 1.13, 1.06; 400 -> 120
#: 1.33, 1.29, 1.33, 1.15, 1.08; 200 -> 100 1.21, 1.12, 1.18, 1.02, 0.68; 120 -> 84
#: 1.16, 1.02, 1.06, 0.99, 0.93; 400 -> 32 0.91, 0.89, 0.91, 0.67, 0.80; at 1 and 128
#: examples x W^T is as fast or faster. (The gradients' products are fastest as they
#: are; on BLAS's own threads, :func:`forward_whole`, 784 -> 100 at 32 is level.)
W_XT_MID_ROWS = (16, 48)
W_XT_MID_OUT = 96
W_XT_MID_IN = 192


#: The register blocks (:func:`forward_blocks`) take a dense forward product of
#: BLOCKS_MIN_ROWS to BLOCKS_MAX_ROWS examples M and at least BLOCKS_MIN_OUT outputs
#: (fewer examples: BLAS's matrix-vector kernels are faster; more: as fast as BLAS, and
#: x's transposed copy costs more; fewer outputs: BLAS is faster). Against OpenBLAS's
#: better orientation, 2 threads (`python bench/bench_dense_ops.py --reps 30`): 0.41-0.96
#: of its time at 8-32 examples and 500-1024 outputs (8 x 784 x 1024: 121 against 293
#: us), 3.6-4.8x at one example, 0.81-1.33x at 128-256, 0.71-2.15x with 10-100 outputs
#: (docs/benchmarks.md, "Engine thresholds").
BLOCKS_MIN_ROWS = 8
BLOCKS_MAX_ROWS = 64
BLOCKS_MIN_OUT = 256

#: Without gradients (inference) the blocks take up to this many examples. Up to 128
#: an MLP's inference on xpnet's threads with them beat it on OpenBLAS's threads
#: (784-1024-1024-10: 0.86x the time, 784-500-500-10: 0.92x, three processes each); at
#: 256, with the split by examples, they are level with it (`python bench/ab_race.py
#: --model mlp --mode infer --batch 256 --torch --variant '{}' --variant
#: '{"xpnet.cpu.dense.BLOCKS_MAX_INFER_ROWS": 128}'`, docs/benchmarks.md, "Engine
#: thresholds"). A training step loses with them from 128 examples (the step's other
#: products and passes on y^T's transposed layout): BLOCKS_MAX_ROWS.
BLOCKS_MAX_INFER_ROWS = 256

#: Without gradients, from BLOCKS_WIDE_INFER_ROWS examples on (the split by examples on
#: two threads with AVX-512), the blocks take a product from this many outputs on,
#: not from BLOCKS_MIN_OUT: each thread transposes and multiplies its own examples.
#: The product alone took 0.47-0.75 of BLAS's time split over the threads at 128-256 x
#: 784 -> 100, 400 -> 120 and 784 -> 200 (`python bench/bench_dense_ops.py --ab
#: BLOCKS_MIN_INFER_OUT=256`); MLP 784-100-10's inference plan 0.92-0.98 of its time on
#: OpenBLAS's own two threads at 128 examples, 0.97-1.00 at 256 (docs/benchmarks.md,
#: "Engine thresholds").
BLOCKS_MIN_INFER_OUT = 96
BLOCKS_WIDE_INFER_ROWS = 128

#: The blocks' product is cut by examples (:func:`forward_blocks`) from this many
#: blocks of 2 VL examples per thread on.
BY_EXAMPLES_MIN_BLOCKS = 2
#: ... and, with BY_EXAMPLES_EVEN, wherever whole vectors of VL examples share out
#: evenly over the threads (32, 64, 96 examples on two threads with AVX-512; not for a
#: training step's rows path): with x^T and y^T aligned (ALIGN) each thread's columns
#: are whole cache lines, and the product took 0.83-1.03 of the time of W's rows cut
#: over the threads at 32-96 x 500-1024 -> 500-1024 (`python bench/bench_dense_ops.py
#: --ab BY_EXAMPLES_EVEN=0 [--train]`; docs/benchmarks.md, "Engine thresholds").
BY_EXAMPLES_EVEN = True

#: The blocks' product is cut over the threads from this many multiply-adds on.
BLOCKS_SPLIT_MIN_WORK = 1 << 21

#: A training step's forward product of more than BLOCKS_MAX_ROWS and up to this many
#: examples, with at least BLOCKS_MIN_OUT outputs, runs on the blocks split by examples
#: with y written back in rows (:func:`xpnet.cpu.dense_blocks.x_w_t_rows`), where enough
#: examples for that split (BY_EXAMPLES_MIN_BLOCKS) arrive. Against BLAS split over the
#: threads (`python bench/ab_race.py --model M --mode train --batch B --rounds 31
#: --variant '{}' --variant '{"xpnet.cpu.dense.BLOCKS_MAX_TRAIN_ROWS": 0}'`, median ms,
#: new / old, two runs with the order swapped): MLP 784-500-500-10 at b128 4.56 / 4.73
#: and 4.19 / 4.20, at b256 7.17 / 7.70 and 8.38 / 8.48; 784-1024-1024-10 at b256
#: 16.8 / 17.5 and 18.9 / 19.4; the LeNets with 500-1024 unit layers level
#: (docs/benchmarks.md, "Engine thresholds").
BLOCKS_MAX_TRAIN_ROWS = 256


def blocks_take(m: int, out: int, grad: bool = True, n_in: int | None = None) -> bool:
    """Whether :func:`forward_blocks` computes a product of ``m`` examples and ``out``
    outputs under the current settings (given NumPy float operands and numba); ``grad``:
    whether a gradient will be needed (else up to BLOCKS_MAX_INFER_ROWS examples);
    ``n_in``: its inputs, where known (then also the small inference products of
    BLOCKS_SMALL_INFER_*)."""
    choice = current().dense
    if choice == "auto":
        if grad:
            return BLOCKS_MIN_ROWS <= m <= BLOCKS_MAX_ROWS and out >= BLOCKS_MIN_OUT
        least = BLOCKS_MIN_INFER_OUT if m >= BLOCKS_WIDE_INFER_ROWS else BLOCKS_MIN_OUT
        if n_in is not None and (BLOCKS_SMALL_INFER_MIN_ROWS <= m <= BLOCKS_MAX_ROWS
                                 and out >= BLOCKS_SMALL_INFER_MIN_OUT
                                 and m * n_in * out < BLOCKS_SPLIT_MIN_WORK):
            return True  # one thread's product: the blocks, no hand-off
        return BLOCKS_MIN_ROWS <= m <= BLOCKS_MAX_INFER_ROWS and out >= least
    return choice == "blocks" and out >= BLOCKS_FORCED_MIN_OUT


#: Without gradients the blocks also take a product too small to split
#: (BLOCKS_SPLIT_MIN_WORK) of BLOCKS_SMALL_INFER_MIN_ROWS to BLOCKS_MAX_ROWS examples and
#: at least BLOCKS_SMALL_INFER_MIN_OUT outputs, on the calling thread, where the layers'
#: path cut W's rows over the threads (a hand-off) or ran BLAS's x W^T on one thread.
#: One-thread blocks / the layer's forward, best of 7 (a scratch `timeit` grid at
#: 685c818, 2 threads): 400 -> 120 at 16 and 32 examples 0.60, 0.70 (36 against 51
#: us at 32, LeNet-5's F5), 120 -> 84 at 16-64 0.63-0.75, 256 -> 64 at 32 and 64 0.63,
#: 0.80, 784 -> 100 at 16 0.59; not below: 8 examples 1.06-1.92, 10-32 outputs
#: 0.97-1.92 (docs/benchmarks.md, "Engine thresholds").
BLOCKS_SMALL_INFER_MIN_ROWS = 16
BLOCKS_SMALL_INFER_MIN_OUT = 64


#: The fewest outputs a forced ``engines(dense="blocks")`` takes: the most rows NR a
#: register block has on any machine (8 with AVX-512 and on ARM, 6 elsewhere).
BLOCKS_FORCED_MIN_OUT = 8


def forward_blocks(x2: Any, weight: Any, bias: Any, grad: bool = True) -> Any:
    """y = x W^T + b as y^T = W x^T by the register blocks on xpnet's threads
    (:mod:`xpnet.cpu.dense_blocks`); None where they do not take the product (then
    nothing was computed): no compiled kernels, or a shape or setting they do not take
    (:func:`blocks_take`; ``grad``: whether a gradient of this product will be needed).

    With at least BY_EXAMPLES_MIN_BLOCKS blocks of 2 VL examples per thread, the threads
    share out the examples: each transposes its own rows of x into its columns of x^T
    (in vector registers; none when x is a transposed view of x^T, the output of an
    earlier layer here) and computes every output for them, so the transposed copy is
    split too. With fewer examples they share out W's rows, after one transposed copy
    of x here. The sums do not depend on the cut: each output's runs over ``in`` in
    order, from the bias.

    A training step's product of more examples (up to BLOCKS_MAX_TRAIN_ROWS, at least
    BLOCKS_MIN_OUT outputs) runs split by examples where there are enough of them, each
    thread writing its rows of y in rows (:func:`xpnet.cpu.dense_blocks.x_w_t_rows`);
    one that would run on one thread anyway goes to the blocks on this thread where they
    are faster than BLAS's one-thread kernel (:func:`_forward_one_thread`), y in rows.

    Shape:
        x2 (M, in), weight (out, in), bias (out,) or None -> y (M, out), the transposed
        view of y^T's C-contiguous (out, M) memory (``y.T`` is C-contiguous); in a
        training step past BLOCKS_MAX_ROWS examples, C-contiguous.
    """
    M, out = x2.shape[0], weight.shape[0]
    rows = (grad and current().dense == "auto" and BLOCKS_MAX_ROWS < M <= BLOCKS_MAX_TRAIN_ROWS
            and out >= BLOCKS_MIN_OUT)  # a training step's product, y back in rows
    if not rows and not blocks_take(M, out, grad, x2.shape[1]):
        return _forward_one_thread(x2, weight, bias) if grad else None
    kernels = load("dense_blocks", x2, weight)
    if kernels is None:
        return None
    vl = kernels.VECTOR_BYTES // x2.dtype.itemsize  # VL: values in one vector register
    k = get_num_threads()
    by_examples = M >= BY_EXAMPLES_MIN_BLOCKS * 2 * vl * k or (
        BY_EXAMPLES_EVEN and not rows and M % (vl * k) == 0)  # or whole vectors, even
    if rows and not (by_examples and out >= kernels.NR * -(-vl // kernels.NR)):
        return _forward_one_thread(x2, weight, bias)  # too few for the split, or a chunk
    w = numpy.ascontiguousarray(weight)  # the parameter itself, as it is C-contiguous
    b = numpy.ascontiguousarray(bias) if bias is not None else w[0]  # unread without a bias
    has_b = bias is not None
    work = M * x2.shape[1] * out
    gate = None if work >= BLOCKS_SPLIT_MIN_WORK else work
    if by_examples:
        chained = x2.T.flags.c_contiguous  # x^T as it lies
        xt = x2.T if chained else aligned_empty((x2.shape[1], M), x2.dtype, kernels)  # (in, M)
        x = xt if chained else numpy.ascontiguousarray(x2)  # (M, in); unread when chained
        # y (M, out) in rows, each thread's from a small scratch; else y^T (out, M)
        y = aligned_empty((M, out) if rows else (out, M), x2.dtype, kernels)

        def by_examples(lo: int, hi: int) -> None:
            p0, p1 = lo * vl, min(hi * vl, M)  # whole vectors of examples, the rest last
            if rows:
                kernels.x_w_t_rows(x, w, b, has_b, xt, not chained, y, p0, p1,
                                   *kernel_signal())
            elif chained:
                kernels.w_xt(w, xt, b, has_b, y, 0, out, p0, p1, *kernel_signal())
            else:
                kernels.x_w_t(x, w, b, has_b, xt, y, p0, p1, *kernel_signal())

        parallel_slices(-(-M // vl), by_examples, numpy, gate, signalled=True)
        return y if rows else y.T
    yt = numpy.empty((out, M), dtype=x2.dtype)  # (out, M) = W x^T + b
    xt = _contiguous(x2.T, kernels)  # (in, M); no copy when x2 is a transposed view
    units = out // kernels.NR  # cut at whole blocks; the last slice takes the rest

    def by_outputs(lo: int, hi: int) -> None:
        kernels.w_xt(w, xt, b, has_b, yt, lo * kernels.NR,
                     out if hi == units else hi * kernels.NR, 0, M, *kernel_signal())

    parallel_slices(units, by_outputs, numpy, gate, signalled=True)
    return yt.T


#: A training step's forward product of more than BLOCKS_MAX_ROWS examples that runs on
#: one thread (fewer than DENSE_SPLIT_MIN_WORK multiply-adds) is computed by the
#: register blocks on that thread (:func:`_forward_one_thread`) from this many inputs
#: and ONE_THREAD_MIN_OUT outputs on. One thread each, median us, OpenBLAS's x W^T with
#: the bias / the blocks with both transposed copies (a scratch script at 63f91b6, 7
#: alternating rounds): 128 x 784 -> 100 263 / 218, 256 x 784 -> 100 500 / 471, 128 x
#: 400 -> 120 167 / 137, 256 x 400 -> 120 309 / 273, 96 x 784 -> 100 216 / 184, 128 x
#: 1024 -> 64 213 / 196, 128 x 500 -> 32 66 / 63; level or behind below: 256 x 300 ->
#: 100 180 / 177, 128 x 120 -> 84 50 / 51, 256 x 120 -> 84 82 / 86, 128 x 84 -> 10 18 /
#: 24. OpenBLAS's one-thread kernel reaches 71 GFLOP/s at 128 x 784 -> 100, the blocks
#: 104 (docs/benchmarks.md, "Engine thresholds").
ONE_THREAD_MIN_IN = 384
ONE_THREAD_MIN_OUT = 32


def _forward_one_thread(x2: Any, weight: Any, bias: Any) -> Any:
    """y = x W^T + b for a training step (a gradient will be needed) by the register
    blocks on this thread, where they take it (module constants ONE_THREAD_*), else None.

    x^T and y are copied in VL x VL register tiles (:func:`xpnet.cpu.dense_blocks.transpose`),
    so that y comes back in rows (M, out), C-contiguous, as from BLAS: the rest of the
    step sees the layouts it sees with BLAS.
    """
    M, (out, n_in) = x2.shape[0], weight.shape
    if (current().dense != "auto" or M <= BLOCKS_MAX_ROWS or n_in < ONE_THREAD_MIN_IN
            or out < ONE_THREAD_MIN_OUT or _work(M, n_in, out) >= DENSE_SPLIT_MIN_WORK):
        return None
    kernels = load("dense_blocks", x2, weight)
    if kernels is None:
        return None
    w = numpy.ascontiguousarray(weight)  # the parameter itself, as it is C-contiguous
    b = numpy.ascontiguousarray(bias) if bias is not None else w[0]  # unread without a bias
    xt = _contiguous(x2.T, kernels)  # (in, M)
    yt = numpy.empty((out, M), dtype=x2.dtype)  # (out, M) = W x^T + b
    kernels.w_xt(w, xt, b, bias is not None, yt, 0, out, 0, M, *kernel_signal())
    y = numpy.empty((M, out), dtype=x2.dtype)
    kernels.transpose(yt, y, 0, out, 0, M)
    return y


#: The register blocks take a dense layer's backward products (:func:`backward_blocks`)
#: where they take its forward one and W has at most this many weights: beyond, the
#: column panels of W they stream (dE/dx = dE/dy W) leave the cache (`python
#: bench/bench_dense_ops.py --backward`: 3136 x 1024 1.30-5.42x OpenBLAS's time at 8-128
#: examples, 800 x 500 and 500 x 500 0.51-0.93x at 8-64; the MLP 784-1024-1024-10's
#: training step lost with 2^20; docs/benchmarks.md, "Engine thresholds").
BLOCKS_BACKWARD_MAX_WEIGHTS = 1 << 19


def backward_blocks(gy2: Any, weight: Any, x2: Any, need_x: bool, need_w: bool) -> Any:
    """(dE/dx (M, in), dE/dW (out, in)) of y = x W^T + b by the register blocks (None
    where not needed), or None where they do not take the products (then nothing was
    computed): :func:`blocks_take` as for a forward product that needs a gradient (at
    most BLOCKS_MAX_ROWS examples), at most BLOCKS_BACKWARD_MAX_WEIGHTS weights and at
    least a block's NR examples.

    dE/dx = dE/dy W reads dE/dy's rows and W as they lie; dE/dW = (dE/dy)^T x reads
    dE/dy's columns, with no transposed copy (:mod:`xpnet.cpu.dense_blocks`). With both
    needed, the threads share out the two products like :func:`matmul_pair` (dE/dx on
    k // 2 of them, cut by examples where each part has a block's rows, dE/dW on the
    rest, cut by outputs); every sum runs over its terms in order, whatever the cut.

    Shape:
        gy2 (M, out), weight (out, in) (None without ``need_x``), x2 (M, in) (None
        without ``need_w``).
    """
    M, out = gy2.shape
    n_in = weight.shape[1] if need_x else x2.shape[1]
    if out * n_in > BLOCKS_BACKWARD_MAX_WEIGHTS or not blocks_take(M, out):
        return None
    kernels = load("dense_blocks", gy2, *([weight] if need_x else []),
                   *([x2] if need_w else []))
    if kernels is None or M < kernels.NR:  # dE/dx's blocks need NR examples (forced)
        return None
    nr = kernels.NR
    g = numpy.ascontiguousarray(gy2)  # (M, out)
    k = get_num_threads()
    tasks = []
    gx = gw = None
    if need_x:
        w = numpy.ascontiguousarray(weight)  # (out, in), the parameter itself
        gx = numpy.empty((M, n_in), dtype=g.dtype)  # (M, in)
        parts = max(1, min(k // 2 if need_w else k, M // nr))
        tasks += [functools.partial(kernels.a_b, g, w, gx, lo, hi)
                  for lo, hi in _block_slices(M, parts, nr)]
    if need_w:
        x = _contiguous(x2, kernels)  # (M, in); a copy when x2 is a transposed view
        gw = numpy.empty((out, x.shape[1]), dtype=g.dtype)  # (out, in)
        parts = max(1, min(k - k // 2 if need_x else k, out // nr))
        tasks += [functools.partial(kernels.at_b, g, x, gw, lo, hi)
                  for lo, hi in _block_slices(out, parts, nr)]
    work = M * out * n_in * (need_x + need_w)
    parallel_slices(len(tasks),
                    lambda lo, hi: [task(*kernel_signal()) for task in tasks[lo:hi]], numpy,
                    None if work >= BLOCKS_SPLIT_MIN_WORK else work, signalled=True)
    return gx, gw


#: Byte alignment of the arrays that the threads of a split by examples write in
#: column slices (x^T, y^T): each thread's part of a row then starts on a cache line
#: (64 bytes) whenever its examples fill whole lines, so no line is written by two
#: threads. NumPy's own arrays start 16 bytes into a line here. 0: NumPy's alignment.
ALIGN = 64


def aligned_empty(shape: tuple[int, ...], dtype: Any, kernels: Any = None) -> Any:
    """``numpy.empty(shape, dtype)`` whose data starts on an ALIGN-byte boundary: a view
    into a buffer ALIGN bytes larger (a C-contiguous array; ``.base`` is that buffer).
    ``kernels``: the compiled :mod:`xpnet.cpu.dense_blocks`, whose ``address`` reads the
    buffer's address ten times faster than NumPy's ``ctypes``; None: NumPy's.

    Why: in a split by examples each thread writes its own columns of x^T (in, M) and
    y^T (out, M). NumPy starts its arrays 16 bytes into a cache line here, so each row's
    line at a thread boundary was written by both threads, and that line went back and
    forth between their caches (784 such lines in x^T at 128 x 784 -> 100). Aligned, the
    product takes 0.84-1.03 of the time (`python bench/bench_dense_ops.py --ab ALIGN=0`;
    docs/benchmarks.md, "Engine thresholds").
    """
    size = math.prod(shape)
    item = numpy.dtype(dtype).itemsize
    if not ALIGN or size == 0:
        return numpy.empty(shape, dtype=dtype)
    buf = numpy.empty(size + ALIGN // item, dtype=dtype)
    at = kernels.address(buf) if kernels is not None else buf.ctypes.data
    start = (-at % ALIGN) // item
    return buf[start:start + size].reshape(shape)


def _contiguous(a: Any, kernels: Any) -> Any:
    """2-d ``a`` as a C-contiguous array: ``a`` itself when it is one; its copy by the
    compiled VL x VL tiles (:func:`xpnet.cpu.dense_blocks.transpose`, on this thread)
    when it is the transposed view of C-contiguous memory (float32, timeit: 32 x 784 in
    2.9 against NumPy's strided copy's 11.9 us, 64 x 784 5.8 against 23.9, 64 x 1024
    12.4 against 200); else NumPy's copy."""
    if a.flags.c_contiguous:
        return a
    if a.T.flags.c_contiguous:
        out = numpy.empty(a.shape, dtype=a.dtype)
        kernels.transpose(a.T, out, 0, a.shape[1], 0, a.shape[0])
        return out
    return numpy.ascontiguousarray(a)


def _block_slices(n: int, k: int, nr: int) -> list[tuple[int, int]]:
    """``k`` contiguous slices of ``[0, n)`` cut at multiples of ``nr``, the last one
    taking the rest (each at least ``nr`` long for ``n >= k nr``)."""
    units = n // nr
    return [(lo * nr, n if hi == units else hi * nr) for lo, hi in slices(units, k)]


def forward_as_w_xt(x2: Any, weight: Any, bias: Any, y: Any) -> bool:
    """y = x W^T + b computed as y^T = W x^T (the columns of X as examples, H = W X),
    then transposed, where that is faster; returns whether it ran (False: nothing
    written, the caller computes x W^T).

    The rows of W (the outputs) are cut over xpnet's threads; each thread takes its own
    rows of y^T and writes its own columns of y.

    Shape:
        x2 (M, in), weight (out, in), bias (out,) or None -> y (M, out), written in place.
    """
    choice = current().dense
    if choice == "auto":  # few examples M, many outputs
        m, (out, n_in) = x2.shape[0], weight.shape
        mid = (W_XT_MID_ROWS[0] <= m <= W_XT_MID_ROWS[1] and out >= W_XT_MID_OUT
               and n_in >= W_XT_MID_IN)
        if not mid and (m > W_XT_MAX_ROWS or out < W_XT_MIN_OUT):
            return False
    elif choice == "x_wt":
        return False
    if not isinstance(x2, numpy.ndarray):
        return False
    yt = numpy.empty((weight.shape[0], x2.shape[0]), dtype=y.dtype)  # (out, M) = W x^T
    xt = x2.T  # (in, M) a transposed view

    def part(lo: int, hi: int) -> None:
        numpy.matmul(weight[lo:hi], xt, out=yt[lo:hi])  # (hi - lo, M)
        if bias is None:
            numpy.copyto(y[:, lo:hi], yt[lo:hi].T)  # (M, hi - lo) columns of y
        else:
            numpy.add(yt[lo:hi].T, bias[lo:hi], out=y[:, lo:hi])

    parallel_slices(weight.shape[0], part, numpy,
                    _gate(x2.shape[0] * x2.shape[1] * weight.shape[0], x2.shape[1]))
    return True


def matmul_split(a: Any, b: Any, out: Any, xp: Any = numpy) -> Any:
    """``out = a @ b`` for 2-d operands, cut over xpnet's threads with one BLAS thread each.

    The cut runs along the larger operand: by rows of ``a`` when ``a`` is the larger,
    else by columns of ``b``, so each slice packs half of the large operand and all of
    the small one, as BLAS's own threads do. Each slice writes its own rows or columns of
    ``out``. BLAS's own threads are faster on a large product alone, but leave a spinning
    worker that slows every split op after them, so xpnet keeps one threading model
    (docs/benchmarks.md, "Engine thresholds").

    Args:
        a: (M, K); b: (K, P); out: (M, P), written in place (any strides BLAS takes).
        xp: the array module (``cupy`` runs the product whole).

    Returns:
        ``out``.
    """
    M, K = a.shape
    P = b.shape[1]
    work = _work(M, K, P)
    if xp is not numpy:
        return xp.matmul(a, b, out=out)
    kernels = load("dense_blocks", a, b, out) if K == 1 else None
    if kernels is not None:  # an outer product: compiled, cut by rows, signalled
        parallel_slices(M, lambda lo, hi: kernels.outer(a, b, out, lo, hi, *kernel_signal()),
                        xp, _gate(work, K), signalled=True)
        return out
    gate = _gate(work, K)
    if (gate is not None and gate < SPLIT_MIN_WORK and current().split == "auto"
            and not splitting_here()):
        if K > 1 and work <= BLAS_ONE_THREAD_WORK:  # BLAS runs it on one thread anyway
            return _product(a, b, out)
        with one_blas_thread():  # not split: parallel_slices' unsplit path, for less
            return _product(a, b, out)
    if _cut_rows(a, b):
        parallel_slices(M, lambda lo, hi: _product(a[lo:hi], b, out[lo:hi]), xp, gate)
    else:
        parallel_slices(P, lambda lo, hi: _product(a, b[:, lo:hi], out[:, lo:hi]), xp, gate)
    return out


def _gate(work: int, K: int) -> int | None:
    """``work`` as :func:`parallel_slices` takes it: None (split) from
    DENSE_SPLIT_MIN_WORK on for a product with K > 1, else ``work`` (the ops' threshold,
    SPLIT_MIN_WORK, decides)."""
    return None if K > 1 and work >= DENSE_SPLIT_MIN_WORK else work


def _work(M: int, K: int, P: int) -> int:
    """The size a product is weighed at for the split: its multiply-adds, or for K = 1
    (:func:`_product`'s multiply, an element-wise pass) its outputs, weighed so that
    ELEMENTWISE_MIN_SIZE of them reach SPLIT_MIN_WORK."""
    if K == 1:
        return M * P * (SPLIT_MIN_WORK // ELEMENTWISE_MIN_SIZE)
    return M * K * P


def _product(a: Any, b: Any, out: Any) -> Any:
    """``out = a @ b`` for NumPy operands; with K = 1 (an outer product: dE/dW of a batch
    of one) the compiled :func:`xpnet.cpu.dense_blocks.outer`, else a broadcast
    multiply: both have the GEMM's bits (one product per element, no sum), the multiply
    at a third of OpenBLAS's time (1024 x 1 x 784 on one thread: 0.35 against 0.98 ms),
    the kernel at a fifth of the multiply's."""
    if a.shape[1] == 1:
        kernels = load("dense_blocks", a, b, out)
        if kernels is not None:
            kernels.outer(a, b, out, 0, a.shape[0], *kernel_signal())
            return out
        return numpy.multiply(a, b, out=out)  # (M, 1) * (1, P) -> (M, P)
    return numpy.matmul(a, b, out=out)


def _cut_rows(a: Any, b: Any) -> bool:
    """Whether ``a @ b`` is cut by rows of ``a`` (the larger operand) or columns of ``b``."""
    return a.shape[0] * a.shape[1] >= a.shape[1] * b.shape[1]


def _matmul_slices(a: Any, b: Any, out: Any, k: int) -> list[Callable[[], Any]]:
    """``out = a @ b`` as ``k`` independent products, cut like :func:`matmul_split`."""
    if _cut_rows(a, b):
        return [functools.partial(_product, a[lo:hi], b, out[lo:hi])
                for lo, hi in slices(a.shape[0], k)]
    return [functools.partial(_product, a, b[:, lo:hi], out[:, lo:hi])
            for lo, hi in slices(b.shape[1], k)]


def matmul_pair(
    a1: Any, b1: Any, out1: Any, a2: Any, b2: Any, out2: Any, xp: Any = numpy
) -> tuple[Any, Any]:
    """``out1 = a1 @ b1`` and ``out2 = a2 @ b2`` at once: the threads share out the pair.

    For a dense layer's backward pass, whose two products dE/dx = dE/dy W (M, in) and
    dE/dW = (dE/dy)^T x (out, in) cost the same M in out multiply-adds. With ``k``
    threads the first product is cut over ``k // 2`` of them and the second over the
    other ``k - k // 2`` (with two threads each runs one whole product): one hand-off
    instead of two, and each BLAS call on whole operands, not on the halves of
    :func:`matmul_split` (faster in the MLP's step: docs/benchmarks.md). Each part writes
    its own rows or columns of one output and nothing is summed across parts, so the
    results do not depend on the thread timing. With one thread, less than
    :data:`SPLIT_MIN_WORK` in all or CuPy arrays, the two run one after the other through
    :func:`matmul_split` (and without threadpoolctl :func:`parallel_slices` runs the parts
    in turn).

    Args:
        a1, b1, out1: the first product's (M1, K1) and (K1, P1) operands and its
            (M1, P1) output, written in place (any strides BLAS takes).
        a2, b2, out2: the second product's, likewise.
        xp: the array module (``cupy`` runs each product whole).

    Returns:
        ``(out1, out2)``.

    Example:
        >>> matmul_pair(gy, w, gx, gy.T, x, gw)  # dE/dx and dE/dW of y = x w^T
    """
    k = get_num_threads() if xp is numpy else 1
    work = _work(*a1.shape, b1.shape[1]) + _work(*a2.shape, b2.shape[1])
    if k < 2 or (work < SPLIT_MIN_WORK and current().split == "auto"):
        return matmul_split(a1, b1, out1, xp), matmul_split(a2, b2, out2, xp)
    tasks = _matmul_slices(a1, b1, out1, k // 2) + _matmul_slices(a2, b2, out2, k - k // 2)
    parallel_slices(len(tasks), lambda lo, hi: [task() for task in tasks[lo:hi]], xp)
    return out1, out2


#: On BLAS's own threads (:func:`forward_whole`) W x^T pays up to this many examples and
#: from this many outputs on: 2 threads, us, x W^T / W x^T with the bias, for (out, in)
#: (100, 784) M=32 72 / 50, M=128 147 / 158; (1024, 784) M=32 492 / 398, M=128 1078 / 1123;
#: (10, 1024) M=32 9 / 9, M=128 43 / 62.
WHOLE_W_XT_MAX_ROWS = 64
WHOLE_W_XT_MIN_OUT = 100


def forward_whole(x2: Any, weight: Any, bias: Any = None, relu: bool = False) -> Any:
    """y = x W^T + b, and max(y, 0) where ``relu``, as one BLAS call on however many
    threads BLAS has (for :func:`blas_threads`' scope), as W x^T for at most
    WHOLE_W_XT_MAX_ROWS examples and at least WHOLE_W_XT_MIN_OUT outputs, else as x W^T
    (``engines(dense=...)`` forces either). The bias and the ReLU are one compiled pass
    (:func:`xpnet.cpu.relu_kernels.bias_relu` and ``bias_relu_transposed``; NumPy's
    add and maximum without it, the same bits), W x^T's transposed back into rows on the
    way.

    Shape:
        x2 (M, in), weight (out, in), bias (out,) or None -> y (M, out), a new
        C-contiguous array.
    """
    choice = current().dense
    by_rows = choice == "w_xt" or (choice == "auto" and x2.shape[0] <= WHOLE_W_XT_MAX_ROWS
                                   and weight.shape[0] >= WHOLE_W_XT_MIN_OUT)
    yt = numpy.matmul(weight, x2.T) if by_rows else None  # (out, M) = W x^T
    y = (numpy.matmul(x2, weight.T) if yt is None  # (M, out)
         else numpy.empty((x2.shape[0], weight.shape[0]), dtype=yt.dtype))
    ker = load("relu_kernels", y) if bias is not None and bias.dtype == y.dtype else None
    if ker is not None:  # the bias and the ReLU in one pass, y^T transposed on the way
        if yt is None:
            ker.bias_relu(y, bias, relu)
        else:
            ker.bias_relu_transposed(yt, bias, y, relu)
        return y
    if yt is not None:  # transposed back, the bias added on the way
        numpy.add(yt.T, bias, out=y) if bias is not None else numpy.copyto(y, yt.T)
    elif bias is not None:
        y += bias
    if relu and not cpu_relu.forward_inplace(y, split=False):
        numpy.maximum(y, 0, out=y)
    return y


def blas_threads() -> Any:
    """A context in which BLAS runs on xpnet's thread count, for work made only of dense
    products and element-wise passes (an MLP's inference plan: :mod:`xpnet.nn.inference`).

    Why: handing a product's slices to xpnet's threads costs two GIL hand-offs, each a
    kernel wake-up of tens of microseconds on a VM, which BLAS's own threads (spinning,
    no GIL) do not pay: the MLP 784-1024-1024-10's inference on one image 470 against
    249 us (docs/benchmarks.md). Its cost is a BLAS worker left spinning after the
    block, which slows xpnet's next split, so only a network with no split op takes it
    (LeNet-5's, Caffe's LeNet's and AlexNet-64's inference at batch 32 and 128 with their
    dense layers on BLAS's threads took 1.12-1.81x the time).
    None (no change) with one thread, without threadpoolctl, or inside a split.
    """
    k = get_num_threads()
    controller = blas_controller() if k > 1 and not splitting_here() else None
    return None if controller is None else BlasThreads(controller, k)
