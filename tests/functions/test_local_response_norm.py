"""local_response_norm: forward against a loop reference, backward against numerics."""

import numpy
import pytest

from xpnet import Tensor, cpu
from xpnet.functions import local_response_norm
from xpnet.functions.normalization.local_response_norm import LocalResponseNorm
from xpnet.testing import check_op

IMPLS = ["xp", "numba_cl"]  # the reference and the compiled channels-last kernels


def reference(x, size, alpha, beta, k):
    """The formula, one channel at a time, with the window clipped to [0, C)."""
    out = numpy.empty_like(x)
    channels = x.shape[1]
    for c in range(channels):
        lo, hi = max(0, c - size // 2), min(channels - 1, c + (size - 1) // 2)
        energy = (x[:, lo : hi + 1] ** 2).sum(axis=1)
        out[:, c] = x[:, c] / (k + alpha / size * energy) ** beta
    return out


# alpha large enough that the cross-channel term of the gradient is not negligible
@pytest.mark.parametrize("impl", IMPLS, indirect=True)
@pytest.mark.parametrize("size", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("beta", [0.75, 0.6])
def test_lrn_4d(size, beta, impl):
    x = numpy.random.default_rng(size).standard_normal((2, 6, 2, 3))
    args = (size, 0.8, beta, 1.5)
    check_op(lambda t: LocalResponseNorm(*args)(t), lambda a: reference(a, *args), x)


@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize("size", [3, 4, 5])
def test_lrn_channels_last_kernel_gives_the_same_bits(size, split):
    """conv2d's NHWC output takes the compiled kernel: same float32 bits, layout kept."""
    pytest.importorskip("xpnet.cpu.lrn_kernels")
    rng = numpy.random.default_rng(size)
    x = (rng.standard_normal((3, 9, 5, 4)) * 4).astype(numpy.float32)
    x_cl = numpy.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    gy = rng.standard_normal(x.shape).astype(numpy.float32)
    gy_cl = numpy.ascontiguousarray(gy.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    results = []
    for data, grad in ((x, gy), (x_cl, gy_cl)):
        t = Tensor(data, requires_grad=True)
        with cpu.engines(threads=2 if split else 1, split="always" if split else "auto"):
            y = local_response_norm(t, size, alpha=0.01, beta=0.75, k=2.0)
            y.backward(grad)
        results.append((y.data, t.grad))
    (y0, g0), (y1, g1) = results
    assert y1.transpose(0, 2, 3, 1).flags.c_contiguous  # still channels-last
    assert g1.transpose(0, 2, 3, 1).flags.c_contiguous
    numpy.testing.assert_array_equal(y0, y1)
    numpy.testing.assert_array_equal(g0, g1)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5])
def test_lrn_2d(size):
    x = numpy.random.default_rng(10 + size).standard_normal((3, 5))
    args = (size, 1.2, 0.75, 2.0)
    check_op(lambda t: local_response_norm(t, *args), lambda a: reference(a, *args), x)


def test_lrn_window_wider_than_channels():
    x = numpy.random.default_rng(3).standard_normal((2, 3, 2, 2))
    args = (7, 0.9, 0.75, 1.0)
    check_op(lambda t: local_response_norm(t, *args), lambda a: reference(a, *args), x)


def test_lrn_float32_keeps_dtype_and_matches():
    x = numpy.random.default_rng(4).standard_normal((2, 8, 5, 5)).astype(numpy.float32)
    y = local_response_norm(Tensor(x), 5)
    assert y.dtype == numpy.float32
    numpy.testing.assert_allclose(y.data, reference(x.astype(numpy.float64), 5, 1e-4, 0.75, 2.0),
                                  rtol=1e-6)


def test_lrn_paper_constants():
    """alpha_paper = 1e-4 without the 1/n is alpha = 5e-4 in PyTorch's convention."""
    x = numpy.random.default_rng(5).standard_normal((1, 7, 2, 2)) * 30
    y = local_response_norm(Tensor(x), 5, alpha=5e-4, beta=0.75, k=2.0).data
    c = 3  # an inner channel: the window is c-2 .. c+2
    paper = x[:, c] / (2.0 + 1e-4 * (x[:, c - 2 : c + 3] ** 2).sum(axis=1)) ** 0.75
    numpy.testing.assert_allclose(y[:, c], paper, rtol=1e-12)


@pytest.mark.parametrize("size", [0, -1, 2.0, True])
def test_lrn_bad_size(size):
    with pytest.raises(ValueError, match="local_response_norm: size"):
        local_response_norm(Tensor(numpy.ones((1, 3, 2, 2))), size)


def test_lrn_bad_shape_and_dtype():
    with pytest.raises(ValueError, match="at least 2 axes"):
        local_response_norm(Tensor(numpy.ones(4)), 3)
    with pytest.raises(TypeError, match="floating"):
        local_response_norm(Tensor(numpy.ones((2, 3), dtype=numpy.int64)), 3)
    with pytest.raises(TypeError, match="beta"):
        local_response_norm(Tensor(numpy.ones((2, 3))), 3, beta="0.75")
