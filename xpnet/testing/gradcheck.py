"""Gradient checking by central differences, and the op test harness.

Every op in xpnet is tested the same way (:func:`check_op`):

1. forward against a plain NumPy reference (loops are fine there);
2. backward against the numerical gradient in float64:
   dE/dx_i ~ (E(x + eps e_i) - E(x - eps e_i)) / (2 eps), with E = sum(y * gy) for a
   random upstream gradient gy, so every output element is weighted differently.

Inputs should be kept away from kinks (ties in max, zero in ReLU), or the difference
quotient straddles two slopes; :func:`away_from` helps build such inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy

from xpnet.function import no_grad
from xpnet.tensor import Tensor


def _as_tuple(y: Any) -> tuple:
    return y if isinstance(y, tuple) else (y,)


def _float64(inputs: Sequence[Any]) -> list[numpy.ndarray]:
    """Floating inputs as float64 arrays; others (indices, targets) as they are."""
    arrays = [numpy.asarray(a) for a in inputs]
    return [a.astype(numpy.float64) if a.dtype.kind == "f" else a for a in arrays]


def _float64(inputs: Sequence[Any]) -> list[numpy.ndarray]:
    """Floating inputs as float64 arrays; others (indices, targets) as they are."""
    arrays = [numpy.asarray(a) for a in inputs]
    return [a.astype(numpy.float64) if a.dtype.kind == "f" else a for a in arrays]


def _outputs(fn: Callable[..., Any], arrays: Sequence[numpy.ndarray]) -> list[numpy.ndarray]:
    with no_grad():
        ys = _as_tuple(fn(*[Tensor(a) for a in arrays]))
    return [numpy.asarray(y.data if isinstance(y, Tensor) else y, dtype=numpy.float64) for y in ys]


def numerical_grad(
    fn: Callable[..., Any],
    inputs: Sequence[numpy.ndarray],
    gys: Sequence[numpy.ndarray],
    wrt: Sequence[int],
    eps: float = 1e-6,
) -> list[numpy.ndarray]:
    """Central-difference gradient of E = sum_k sum(y_k * gy_k) with respect to inputs[i].

    Args:
        fn: takes Tensors, returns a Tensor or a tuple of Tensors.
        inputs: float64 arrays (not modified: perturbed on copies).
        gys: one upstream gradient per output.
        wrt: indices of the inputs to differentiate.
        eps: step of the difference quotient.

    Returns:
        One array per index in ``wrt``, shaped like that input.
    """
    arrays = [numpy.array(a, copy=True) for a in inputs]
    grads = []
    for i in wrt:
        x = arrays[i]
        g = numpy.zeros(x.shape, dtype=numpy.float64)
        flat, gflat = x.reshape(-1), g.reshape(-1)  # views: perturb one element at a time
        for j in range(flat.size):
            keep = flat[j]
            flat[j] = keep + eps
            plus = sum(float((y * gy).sum()) for y, gy in zip(_outputs(fn, arrays), gys))
            flat[j] = keep - eps
            minus = sum(float((y * gy).sum()) for y, gy in zip(_outputs(fn, arrays), gys))
            flat[j] = keep
            gflat[j] = (plus - minus) / (2 * eps)
        grads.append(g)
    return grads


def gradcheck(
    fn: Callable[..., Any],
    *inputs: Any,
    wrt: Sequence[int] | None = None,
    eps: float = 1e-6,
    atol: float = 1e-6,
    rtol: float = 1e-5,
    seed: int = 0,
) -> None:
    """Assert that ``fn``'s backward matches central differences, in float64.

    Args:
        fn: takes Tensors (one per input), returns a Tensor or a tuple of Tensors.
        *inputs: arrays; floating ones are converted to float64, others are passed as
            they are and never differentiated (integer targets, indices).
        wrt: which inputs to check (default: every floating input).
        eps, atol, rtol: difference step and tolerances.
        seed: seed of the random upstream gradients.

    Raises:
        AssertionError: naming the input, the largest error and where it is.
    """
    arrays = _float64(inputs)
    if wrt is None:
        wrt = [i for i, a in enumerate(arrays) if a.dtype.kind == "f"]
    rng = numpy.random.default_rng(seed)
    tensors = [Tensor(a.copy(), requires_grad=(i in wrt)) for i, a in enumerate(arrays)]
    ys = _as_tuple(fn(*tensors))
    gys = [rng.standard_normal(y.shape) for y in ys]
    live = [(y, gy) for y, gy in zip(ys, gys) if y.requires_grad]
    if not live:
        raise AssertionError("gradcheck: no output depends on the inputs checked")
    for k, (y, gy) in enumerate(live):
        # one sweep per output: a multi-output op sees None for the others' gradients
        y.backward(gy.astype(y.dtype), retain_graph=k < len(live) - 1)
    numeric = numerical_grad(fn, arrays, gys, wrt, eps)
    for i, num in zip(wrt, numeric):
        analytic = tensors[i].grad
        if analytic is None:
            analytic = numpy.zeros_like(num)
        analytic = numpy.asarray(analytic)
        if analytic.shape != num.shape:
            raise AssertionError(
                f"gradcheck: input {i}: grad shape {analytic.shape}, expected {num.shape}"
            )
        err = numpy.abs(analytic - num)
        bound = atol + rtol * numpy.abs(num)
        if not (err <= bound).all():
            worst = numpy.unravel_index(numpy.argmax(err - bound), err.shape)
            raise AssertionError(
                f"gradcheck: input {i} of shape {num.shape}: backward {analytic[worst]!r} vs "
                f"numerical {num[worst]!r} at {worst} (max abs error {err.max():.3g})"
            )


def check_forward(
    fn: Callable[..., Any],
    reference: Callable[..., Any],
    *inputs: Any,
    atol: float = 1e-10,
    rtol: float = 1e-10,
) -> None:
    """Assert that ``fn`` on Tensors equals ``reference`` on the same NumPy arrays.

    ``reference`` takes plain arrays and returns an array or a tuple of arrays.
    """
    ys = _as_tuple(fn(*[Tensor(numpy.asarray(a)) for a in inputs]))
    refs = _as_tuple(reference(*[numpy.asarray(a) for a in inputs]))
    if len(ys) != len(refs):
        raise AssertionError(f"check_forward: {len(ys)} outputs, reference has {len(refs)}")
    for k, (y, r) in enumerate(zip(ys, refs)):
        got = numpy.asarray(y.data if isinstance(y, Tensor) else y)
        r = numpy.asarray(r)
        if got.shape != r.shape:
            raise AssertionError(
                f"check_forward: output {k} has shape {got.shape}, reference {r.shape}"
            )
        numpy.testing.assert_allclose(got, r, atol=atol, rtol=rtol, err_msg=f"output {k}")


def check_op(
    fn: Callable[..., Any],
    reference: Callable[..., Any] | None,
    *inputs: Any,
    wrt: Sequence[int] | None = None,
    atol: float = 1e-6,
    rtol: float = 1e-5,
    forward_atol: float = 1e-10,
    seed: int = 0,
) -> None:
    """The op test: forward against ``reference`` (if given), backward against numerics.

    Floating inputs are cast to float64 first. Use one call per mode (stride, padding,
    groups, ...), so a failing mode is named by the test that runs it.
    """
    arrays = _float64(inputs)
    if reference is not None:
        check_forward(fn, reference, *arrays, atol=forward_atol, rtol=forward_atol)
    gradcheck(fn, *arrays, wrt=wrt, atol=atol, rtol=rtol, seed=seed)


def away_from(
    shape: Sequence[int], kinks: Sequence[float] = (0.0,), margin: float = 0.05, seed: int = 0
) -> numpy.ndarray:
    """Random float64 normals of ``shape`` with no value within ``margin`` of a kink."""
    rng = numpy.random.default_rng(seed)
    x = rng.standard_normal(tuple(shape))
    for k in kinks:
        close = numpy.abs(x - k) < margin
        x[close] = k + numpy.where(x[close] >= k, margin, -margin) * 2
    return x


def distinct(shape: Sequence[int], seed: int = 0, gap: float = 0.01) -> numpy.ndarray:
    """A float64 array of ``shape`` whose values are all different by at least ``gap``.

    Use it for max, max pooling and maxout, where ties make the gradient undefined.
    """
    rng = numpy.random.default_rng(seed)
    n = int(numpy.prod(shape))
    return (rng.permutation(n) * gap - n * gap / 2).reshape(tuple(shape)).astype(numpy.float64)
