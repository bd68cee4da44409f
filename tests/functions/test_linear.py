"""linear: y = x W^T + b, checked against a loop reference and central differences."""

import numpy
import pytest

from xpnet import Tensor, cpu
from xpnet import functions as F
from xpnet.testing import check_op


def ref_linear(x, w, b=None):
    """y[..., o] = sum_i x[..., i] w[o, i] + b[o], by explicit loops."""
    out = numpy.zeros(x.shape[:-1] + (w.shape[0],))
    for idx in numpy.ndindex(x.shape[:-1]):
        for o in range(w.shape[0]):
            out[idx + (o,)] = sum(x[idx + (i,)] * w[o, i] for i in range(w.shape[1]))
            if b is not None:
                out[idx + (o,)] += b[o]
    return out


def make(shape_x, out_features=3, seed=0):
    rng = numpy.random.default_rng(seed)
    in_features = shape_x[-1]
    return (
        rng.standard_normal(shape_x),
        rng.standard_normal((out_features, in_features)),
        rng.standard_normal(out_features),
    )


def test_linear_with_bias():
    x, w, b = make((4, 5))
    check_op(F.linear, ref_linear, x, w, b)


def test_linear_without_bias():
    x, w, _ = make((4, 5))
    check_op(F.linear, ref_linear, x, w)


@pytest.mark.parametrize("shape_x", [(2, 3, 4), (5,)])
def test_linear_batched_and_single_input(shape_x):
    x, w, b = make(shape_x, seed=1)
    check_op(F.linear, ref_linear, x, w, b)


def test_linear_non_contiguous_input():
    x, w, b = make((5, 4), seed=2)
    xt = numpy.asfortranarray(x)  # (5, 4) Fortran-ordered: GEMM gets a transposed layout
    assert not xt.flags.c_contiguous
    t = Tensor(xt, requires_grad=True)
    y = F.linear(t, Tensor(w), Tensor(b))
    numpy.testing.assert_allclose(y.data, ref_linear(x, w, b), rtol=1e-12)
    y.backward(numpy.ones(y.shape))
    numpy.testing.assert_allclose(t.grad, numpy.ones((5, 3)) @ w, rtol=1e-12)


@pytest.mark.parametrize("wrt", [[0], [1], [2], [1, 2]])
def test_linear_only_needed_gradients(wrt):
    x, w, b = make((4, 5), seed=3)
    ts = [Tensor(a, requires_grad=(i in wrt)) for i, a in enumerate((x, w, b))]
    y = F.linear(*ts)
    gy = numpy.random.default_rng(0).standard_normal(y.shape)
    y.backward(gy)
    want = [gy @ w, gy.T @ x, gy.sum(axis=0)]
    for i, t in enumerate(ts):
        if i in wrt:
            numpy.testing.assert_allclose(t.grad, want[i], rtol=1e-12)
        else:
            assert t.grad is None


def test_linear_is_the_column_matrix_form():
    """H = W X + b with X (in, N) equals our y = x W^T + b with x = X^T (N, in)."""
    x, w, b = make((6, 4), seed=4)
    H = w @ x.T + b[:, None]  # (out, N): the examples as columns
    numpy.testing.assert_allclose(F.linear(Tensor(x), Tensor(w), Tensor(b)).data, H.T, rtol=1e-12)


def test_linear_keeps_float32():
    x, w, b = (a.astype(numpy.float32) for a in make((4, 5)))
    y = F.linear(Tensor(x), Tensor(w), Tensor(b))
    assert y.dtype == numpy.float32 and y.shape == (4, 3)


def test_linear_shape_errors_name_shapes():
    x = Tensor(numpy.zeros((2, 784)))
    w = Tensor(numpy.zeros((10, 100)))
    with pytest.raises(
        ValueError,
        match=r"linear: input has 784 features but weight expects 100 .*weight shape \(10, 100\)",
    ):
        F.linear(x, w)
    with pytest.raises(ValueError, match=r"linear: bias must have shape \(10,\).* got \(100,\)"):
        F.linear(Tensor(numpy.zeros((2, 100))), w, Tensor(numpy.zeros(100)))
    with pytest.raises(ValueError, match=r"linear: weight must be 2-d \(out, in\), got .*\(100,\)"):
        F.linear(Tensor(numpy.zeros((2, 100))), Tensor(numpy.zeros(100)))
    with pytest.raises(ValueError, match="linear: input must have at least 1 axis"):
        F.linear(Tensor(numpy.zeros(())), w)


def test_linear_dtype_errors():
    w = Tensor(numpy.zeros((3, 2), dtype=numpy.float32))
    with pytest.raises(TypeError, match="linear: input, weight and bias must share one dtype"):
        F.linear(Tensor(numpy.zeros((1, 2))), w)
    with pytest.raises(TypeError, match="linear: input must be floating, got dtype int64"):
        F.linear(Tensor(numpy.zeros((1, 2), dtype=numpy.int64)), w)


@pytest.fixture(params=["x_wt", "w_xt"])
def orientation(request, monkeypatch):
    """Run the forward product as x W^T or as (W x^T)^T, whatever the shapes; the list
    gets True whenever the product ran as (W x^T)^T."""
    from xpnet.cpu import dense

    taken = []
    real = dense.forward_as_w_xt

    def spy(*args):
        ran = real(*args)
        taken.extend([True] if ran else [])
        return ran

    monkeypatch.setattr(dense, "forward_as_w_xt", spy)
    with cpu.engines(dense=request.param):
        yield request.param, taken


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape_x", [(4, 5), (2, 3, 5)])
def test_linear_in_both_orientations(orientation, bias, shape_x):
    name, taken = orientation
    x, w, b = make(shape_x, out_features=6)
    check_op(F.linear, ref_linear, x, w, *([b] if bias else []))
    assert bool(taken) == (name == "w_xt")


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_w_xt_split_over_threads_equals_the_product(threads):
    pytest.importorskip("threadpoolctl")
    with cpu.engines(threads=threads, split="always", dense="w_xt"):
        rng = numpy.random.default_rng(7)
        x = rng.standard_normal((64, 40)).astype(numpy.float32)
        w = rng.standard_normal((300, 40)).astype(numpy.float32)  # 300 >= 256 outputs
        b = rng.standard_normal(300).astype(numpy.float32)
        y = F.linear(Tensor(x), Tensor(w), Tensor(b)).data
        assert y.dtype == numpy.float32 and y.flags.c_contiguous
        numpy.testing.assert_allclose(y, x @ w.T + b, rtol=1e-5, atol=1e-5)
