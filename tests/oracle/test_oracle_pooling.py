"""Pooling against PyTorch: forward, switches and gradients in float64, rtol 1e-10.

Both implementations (NumPy/CuPy views and, where numba is installed, the compiled CPU
kernel) are compared, in every mode: pad 0/>0, stride 1/2, overlapping 3x3/2, ceil mode,
kernel equal to the input, batch 1, non-square.
"""

import numpy
import pytest

from xpnet import Tensor, nn
from xpnet import functions as F
from xpnet.functions.pooling._window import geometry
from xpnet.functions.pooling.avg_pool2d import AvgPool2dFunction
from xpnet.functions.pooling.l2_pool2d import L2Pool2dFunction
from xpnet.functions.pooling.max_pool2d import MaxPool2dFunction
from xpnet.testing import distinct

torch = pytest.importorskip("torch")

RTOL = 1e-10

# (shape, kernel, stride, padding, ceil_mode)
MODES = {
    "2x2s2": ((2, 3, 6, 6), 2, None, 0, False),
    "overlap_3x3s2": ((2, 2, 9, 9), 3, 2, 0, False),
    "stride1_pad1": ((2, 2, 5, 6), 3, 1, 1, False),
    "pad1_ceil": ((2, 2, 6, 7), 3, 2, 1, True),
    "ceil_partial": ((1, 2, 5, 5), 2, 2, 0, True),
    "ceil_last_window_dropped": ((1, 1, 5, 5), 2, 2, 1, True),
    "ceil_past_padding": ((1, 1, 6, 6), 3, 2, 1, True),
    "kernel_equals_input": ((2, 3, 4, 4), 4, None, 0, False),
    "batch1_nonsquare": ((1, 2, 5, 7), (2, 3), (1, 2), (1, 1), True),
}


def _run(fn, x, gy):
    """Forward and backward of an xpnet op on x (float64): (y, dE/dx)."""
    t = Tensor(x, requires_grad=True)
    y = fn(t)
    y.backward(gy)
    return y.data, t.grad


def _torch_run(fn, x, gy):
    t = torch.tensor(x, requires_grad=True)
    y = fn(t)
    y.backward(torch.tensor(gy))
    return y.detach().numpy(), t.grad.numpy()


def _gy(shape, seed=9):
    return numpy.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("mode", list(MODES))
def test_max_pool2d_with_indices(mode, impl):
    shape, k, s, p, ceil = MODES[mode]
    x = distinct(shape, seed=1)
    ty, ti = torch.nn.functional.max_pool2d(
        torch.tensor(x), k, s, p, ceil_mode=ceil, return_indices=True
    )
    gy = _gy(ty.shape)
    fn = MaxPool2dFunction(geometry("max_pool2d", shape, k, s, p, ceil), True)
    t = Tensor(x, requires_grad=True)
    y = fn(t)
    numpy.testing.assert_array_equal(fn.indices, ti.numpy())
    y.backward(gy)
    ref_y, ref_g = _torch_run(
        lambda a: torch.nn.functional.max_pool2d(a, k, s, p, ceil_mode=ceil), x, gy
    )
    numpy.testing.assert_array_equal(y.data, ref_y)
    numpy.testing.assert_allclose(t.grad, ref_g, rtol=RTOL, atol=0)


def test_max_pool2d_ties_and_nan_like_pytorch(impl):
    x = numpy.round(numpy.random.default_rng(2).standard_normal((2, 2, 7, 7)))  # many ties
    x[0, 0, 3, 3] = numpy.nan
    g = geometry("max_pool2d", x.shape, 3, 2, 1, True)
    fn = MaxPool2dFunction(g, True)
    y = fn(Tensor(x)).data
    ty, ti = torch.nn.functional.max_pool2d(torch.tensor(x), 3, 2, 1, ceil_mode=True,
                                            return_indices=True)  # fmt: skip
    numpy.testing.assert_array_equal(y, ty.numpy())  # NaN == NaN for assert_array_equal
    numpy.testing.assert_array_equal(fn.indices, ti.numpy())


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("mode", list(MODES))
def test_avg_pool2d(mode, count_include_pad, impl):
    shape, k, s, p, ceil = MODES[mode]
    x = numpy.random.default_rng(3).standard_normal(shape)
    g = geometry("avg_pool2d", shape, k, s, p, ceil)
    gy = _gy((shape[0], shape[1], g.oh, g.ow))
    ref_y, ref_g = _torch_run(
        lambda a: torch.nn.functional.avg_pool2d(a, k, s, p, ceil, count_include_pad), x, gy
    )
    y, gx = _run(lambda t: AvgPool2dFunction(g, count_include_pad)(t), x, gy)
    numpy.testing.assert_allclose(y, ref_y, rtol=RTOL, atol=1e-14)
    numpy.testing.assert_allclose(gx, ref_g, rtol=RTOL, atol=1e-14)


@pytest.mark.parametrize("mode", [m for m in MODES if not MODES[m][3]])  # LPPool2d: no padding
def test_l2_pool2d_is_lppool2d_over_sqrt_window(mode, impl):
    shape, k, s, p, ceil = MODES[mode]
    kh, kw = k if isinstance(k, tuple) else (k, k)
    x = numpy.random.default_rng(4).standard_normal(shape)
    g = geometry("l2_pool2d", shape, k, s, p, ceil)
    gy = _gy((shape[0], shape[1], g.oh, g.ow))
    scale = numpy.sqrt(kh * kw)
    ref_y, ref_g = _torch_run(
        lambda a: torch.nn.functional.lp_pool2d(a, 2, k, s, ceil) / scale, x, gy
    )
    y, gx = _run(lambda t: L2Pool2dFunction(g)(t), x, gy)
    numpy.testing.assert_allclose(y, ref_y, rtol=RTOL, atol=1e-14)
    numpy.testing.assert_allclose(gx, ref_g, rtol=1e-9, atol=1e-14)  # sqrt of x^2 sums


def test_l2_pool2d_public_relation():
    x = numpy.random.default_rng(5).standard_normal((2, 3, 8, 8))
    lp = torch.nn.LPPool2d(2, 3, 2)(torch.tensor(x)).numpy()
    ours = F.l2_pool2d(Tensor(x), 3, 2).data
    numpy.testing.assert_allclose(lp, numpy.sqrt(9) * ours, rtol=RTOL)


@pytest.mark.parametrize(
    ("shape", "k", "s", "p", "output_size"),
    [
        ((2, 3, 6, 6), 2, None, 0, None),
        ((2, 2, 9, 9), 3, 2, 0, None),
        ((1, 2, 5, 5), 3, 2, 1, None),
        ((2, 2, 5, 7), 2, 2, 0, (5, 7)),
    ],
)
def test_max_unpool2d(shape, k, s, p, output_size):
    x = distinct(shape, seed=6)
    y, idx = torch.nn.functional.max_pool2d(torch.tensor(x), k, s, p, return_indices=True)
    out_shape = torch.nn.functional.max_unpool2d(y, idx, k, s, p, output_size).shape
    gy = _gy(tuple(out_shape))
    ref_y, ref_g = _torch_run(
        lambda a: torch.nn.functional.max_unpool2d(a, idx, k, s, p, output_size),
        y.numpy(),
        gy,
    )
    ours_y, ours_g = _run(
        lambda t: F.max_unpool2d(t, idx.numpy(), k, s, p, output_size), y.numpy(), gy
    )
    numpy.testing.assert_array_equal(ours_y, ref_y)
    numpy.testing.assert_allclose(ours_g, ref_g, rtol=RTOL)


def test_layers_against_torch_layers():
    x = distinct((2, 4, 9, 9), seed=7)
    tx = torch.tensor(x)
    numpy.testing.assert_array_equal(
        nn.MaxPool2d(3, 2, 1, ceil_mode=True)(Tensor(x)).data,
        torch.nn.MaxPool2d(3, 2, 1, ceil_mode=True)(tx).numpy(),
    )
    numpy.testing.assert_allclose(
        nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False)(Tensor(x)).data,
        torch.nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False)(tx).numpy(),
        rtol=RTOL,
    )
    numpy.testing.assert_allclose(
        nn.L2Pool2d(3, 2)(Tensor(x)).data * 3, torch.nn.LPPool2d(2, 3, 2)(tx).numpy(), rtol=RTOL
    )
