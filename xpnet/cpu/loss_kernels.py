"""Compiled CPU loops of softmax cross-entropy with class-index targets (numba, lazy).

Why: the NumPy path of :class:`xpnet.functions.loss.softmax_cross_entropy.SoftmaxCrossEntropy`
is about a dozen NumPy calls on (N, C) arrays (the shift by the row maximum, exp, the
row sums, the division, the log, the picked logits, the sum) plus two reductions that
check the targets' range, each call a microsecond or more of overhead on a classifier's
small output; in a training step at 1-128 examples that is 20-40 us of Python and
NumPy dispatch for a few thousand values (docs/benchmarks.md, seventh session). One
pass per row does the same work.

The maths is the NumPy path's, row by row: m = max_c x_c (NaN if a logit is NaN),
p_c = exp(x_c - m) / s with s = sum_c exp(x_c - m), and the loss lse - (x_t - m) with
lse = log s. ``exp`` and ``log`` are LLVM's, not NumPy's SIMD ones, and s is summed in
float64, so the results agree with the NumPy path to rounding, not bit for bit
(tested to 1e-6 relative in float32).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy


@numba.njit(cache=True, nogil=True)
def forward(x: Any, t: Any, p: Any) -> tuple[int, float]:
    """Softmax p (N, C) of logits x (N, C), written in place, and the loss against class
    indices t (N,); returns (the first example whose target is not in [0, C), or -1 when
    all are; the sum over the examples of their losses, each rounded to x's dtype, summed
    in float64). Nothing is written when a target is out of range."""
    n, c = x.shape
    for i in range(n):
        if t[i] < 0 or t[i] >= c:
            return i, 0.0
    total = 0.0
    for i in range(n):
        m = x[i, 0]
        for j in range(1, c):
            v = x[i, j]
            if v > m or v != v:  # a NaN logit makes the row's maximum NaN, as NumPy's
                m = v
                if v != v:
                    break
        s = 0.0
        for j in range(c):
            e = numpy.exp(x[i, j] - m)
            p[i, j] = e
            s += e
        for j in range(c):
            p[i, j] = p[i, j] / s
        total += x.dtype.type(numpy.log(s) - (x[i, t[i]] - m))
    return -1, total


@numba.njit(cache=True, nogil=True)
def backward(p: Any, t: Any, coef: Any, gx: Any) -> None:
    """dE/dx = coef (p - onehot(t)) for a "mean" (coef = dE/dl / N) or "sum" loss:
    gx[i, j] = p[i, j] coef, then coef subtracted at each example's target, the NumPy
    path's two steps (the same bits)."""
    n, c = p.shape
    for i in range(n):
        for j in range(c):
            gx[i, j] = p[i, j] * coef
        gx[i, t[i]] -= coef
