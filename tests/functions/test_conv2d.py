"""conv2d and conv_transpose2d: forward against loops, backward against numerics, every mode."""

import numpy
import pytest

from xpnet import Tensor
from xpnet import functions as F
from xpnet.functions import _parallel
from xpnet.functions.connection import _im2col
from xpnet.testing import check_op, gradcheck


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def ref_conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """Plain loops over (n, o, p, q): the definition, nothing clever."""
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    N, C, H, W = x.shape
    co, cg, kh, kw = w.shape
    og = co // groups
    xpad = numpy.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oH = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    oW = (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    y = numpy.zeros((N, co, oH, oW))
    for n in range(N):
        for o in range(co):
            c0 = (o // og) * cg
            for p in range(oH):
                for q in range(oW):
                    r, c = p * sh, q * sw
                    patch = xpad[n, c0 : c0 + cg, r : r + dh * (kh - 1) + 1 : dh,
                                 c : c + dw * (kw - 1) + 1 : dw]
                    y[n, o, p, q] = (patch * w[o]).sum() + (0 if b is None else b[o])
    return y


def ref_conv_transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1,
                         dilation=1):
    """Scatter loops: every input pixel adds its weighted kernel onto the output."""
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    oph, opw = _pair(output_padding)
    N, C, H, W = x.shape
    _, og, kh, kw = w.shape
    cg = C // groups
    oH = (H - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1
    oW = (W - 1) * sw - 2 * pw + dw * (kw - 1) + opw + 1
    y = numpy.zeros((N, og * groups, oH + 2 * ph + sh + dh, oW + 2 * pw + sw + dw))
    for n in range(N):
        for c in range(C):
            o0 = (c // cg) * og
            for h in range(H):
                for v in range(W):
                    for i in range(kh):
                        for j in range(kw):
                            y[n, o0 : o0 + og, h * sh + i * dh, v * sw + j * dw] += (
                                x[n, c, h, v] * w[c, :, i, j]
                            )
    y = y[:, :, ph : ph + oH, pw : pw + oW]
    return y if b is None else y + b.reshape(1, -1, 1, 1)


# (N, C, H, W), co, kernel, stride, padding, dilation, groups, bias
MODES = {
    "base": ((2, 2, 5, 5), 3, 3, 1, 0, 1, 1, True),
    "pad1": ((2, 2, 5, 5), 3, 3, 1, 1, 1, 1, True),
    "pad_2_1": ((2, 2, 5, 4), 3, 3, 1, (2, 1), 1, 1, True),
    "stride2": ((2, 2, 6, 7), 3, 3, 2, 1, 1, 1, True),
    "stride_2_1_kernel_2x3": ((2, 2, 6, 5), 3, (2, 3), (2, 1), 0, 1, 1, True),
    "groups2": ((2, 4, 5, 5), 4, 3, 1, 1, 1, 2, True),
    "dilation2": ((2, 2, 7, 7), 3, 3, 1, 1, 2, 1, True),
    "dilation_2_1": ((2, 2, 7, 6), 2, (2, 3), 1, 0, (2, 1), 1, True),
    "no_bias": ((2, 2, 5, 5), 3, 3, 1, 1, 1, 1, False),
    "kernel_equals_input": ((2, 2, 4, 4), 3, 4, 1, 0, 1, 1, True),
    "kernel_equals_padded_input": ((2, 2, 3, 3), 2, 5, 1, 1, 1, 1, True),
    "batch1": ((1, 3, 5, 5), 2, 3, 2, 1, 1, 1, True),
    "everything": ((2, 4, 8, 7), 4, (3, 2), (2, 1), (1, 2), (2, 1), 2, False),
}


def _make(mode, transpose=False, seed=0):
    shape, co, k, s, p, d, g, bias = MODES[mode]
    kh, kw = _pair(k)
    rng = numpy.random.default_rng(seed)
    x = rng.standard_normal(shape)
    C = shape[1]
    w = rng.standard_normal((C, co // g, kh, kw) if transpose else (co, C // g, kh, kw))
    b = rng.standard_normal(co) if bias else None
    return x, w, b, dict(stride=s, padding=p, dilation=d, groups=g)


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def threads(request):
    """Run a test with the batch unsplit and split over two threads."""
    before = _parallel._settings.num_threads
    _parallel.set_num_threads(request.param)
    yield request.param
    _parallel.set_num_threads(before)


@pytest.fixture(params=["col2im", "col2im_numpy", "full_conv"])
def dx_path(request, monkeypatch):
    """dE/dx by col2im (one GEMM and the compiled fold where numba is installed, else
    kh kw NumPy products: ``col2im_numpy`` forces those), or (stride 1) by the full
    convolution with flipped kernels."""
    full = request.param == "full_conv"
    monkeypatch.setattr(_im2col, "DX_BY_CONV_MIN_CG", 1 if full else 10**9)
    if request.param == "col2im_numpy":
        monkeypatch.setattr(_im2col, "_load_direct", lambda: None)
    return request.param


@pytest.fixture(params=["im2col", "im2row", "direct"])
def layout(request, monkeypatch):
    """Forward by GEMM with columns as im2col's (taps as columns) or im2row's (taps as
    rows, bias in the GEMM), or summed directly from the flat image (numba; stride 1 and
    one group: other modes take the GEMM path whatever the setting)."""
    if request.param == "direct":
        pytest.importorskip("numba")
    monkeypatch.setattr(_im2col, "ROWS_MAX_CG", 10**9 if request.param == "im2row" else -1)
    monkeypatch.setattr(_im2col, "DIRECT_FWD_MAX", 10**9 if request.param == "direct" else -1)
    monkeypatch.setattr(_im2col, "DIRECT_MAX_TAPS", 10**9)
    return request.param


@pytest.fixture(params=["gemm", "direct"])
def wgrad(request, monkeypatch):
    """dE/dw through the column matrix, or summed directly (numba; few channels only)."""
    if request.param == "direct":
        pytest.importorskip("numba")
    monkeypatch.setattr(_im2col, "DIRECT_WGRAD_MAX", 10**9 if request.param == "direct" else -1)
    monkeypatch.setattr(_im2col, "DIRECT_MAX_TAPS", 10**9)
    return request.param


@pytest.mark.parametrize("mode", MODES)
def test_conv2d_weight_gradient_paths(mode, threads, wgrad):
    """Both dE/dw paths in every mode (the direct one applies to stride 1 and one group;
    other modes take the GEMM path whatever the setting)."""
    x, w, b, kw = _make(mode, seed=3)
    if b is None:
        check_op(lambda x, w: F.conv2d(x, w, **kw), lambda x, w: ref_conv2d(x, w, **kw),
                 x, w, wrt=[1])
    else:
        check_op(lambda x, w, b: F.conv2d(x, w, b, **kw),
                 lambda x, w, b: ref_conv2d(x, w, b, **kw), x, w, b, wrt=[1, 2])


def _lenet_conv1_with_spy(monkeypatch, name, seed):
    """LeNet's first layer in float32 (x, w, b), and the calls of ``_direct.<name>``."""
    direct = pytest.importorskip("xpnet.functions.connection._direct")
    calls = []
    real = getattr(direct, name)
    monkeypatch.setattr(direct, name, lambda *a: calls.append(1) or real(*a))
    rng = numpy.random.default_rng(seed)
    x = rng.standard_normal((8, 1, 28, 28)).astype(numpy.float32)
    w = rng.standard_normal((6, 1, 5, 5)).astype(numpy.float32)
    b = rng.standard_normal(6).astype(numpy.float32)
    return calls, x, w, b


def test_direct_weight_gradient_is_used_for_lenet_conv1(monkeypatch):
    """The direct sum runs on LeNet's first layer and equals the GEMM path in float32."""
    calls, x, w, b = _lenet_conv1_with_spy(monkeypatch, "weight_grad", seed=5)
    grads = []
    for limit in (10**9, -1):
        monkeypatch.setattr(_im2col, "DIRECT_WGRAD_MAX", limit)
        tw, tb = Tensor(w, requires_grad=True), Tensor(b, requires_grad=True)
        F.conv2d(Tensor(x), tw, tb, padding=2).sum().backward()
        grads.append((tw.grad, tb.grad))
    assert calls == [1]
    for direct_grad, gemm_grad in zip(*grads):
        numpy.testing.assert_allclose(direct_grad, gemm_grad, rtol=1e-4, atol=1e-3)


def test_direct_forward_is_used_for_lenet_conv1(monkeypatch):
    """The direct forward runs on LeNet's first layer (float32, padding 2, bias) and
    equals the GEMM path; a strided or grouped convolution never takes it."""
    calls, x, w, b = _lenet_conv1_with_spy(monkeypatch, "forward", seed=6)
    outs = []
    for limit in (10**9, -1):
        monkeypatch.setattr(_im2col, "DIRECT_FWD_MAX", limit)
        outs.append(F.conv2d(Tensor(x), Tensor(w), Tensor(b), padding=2).data)
    assert calls == [1]
    assert outs[0].dtype == numpy.float32
    numpy.testing.assert_allclose(outs[0], outs[1], rtol=1e-5, atol=1e-5)
    monkeypatch.setattr(_im2col, "DIRECT_FWD_MAX", 10**9)
    F.conv2d(Tensor(x), Tensor(w), stride=2)
    F.conv2d(Tensor(x[:, [0, 0]]), Tensor(w), groups=2)
    assert calls == [1]


@pytest.mark.parametrize("mode", MODES)
def test_conv2d(mode, threads, dx_path, layout):
    x, w, b, kw = _make(mode)
    if b is None:
        check_op(lambda x, w: F.conv2d(x, w, **kw),
                 lambda x, w: ref_conv2d(x, w, **kw), x, w)
    else:
        check_op(lambda x, w, b: F.conv2d(x, w, b, **kw),
                 lambda x, w, b: ref_conv2d(x, w, b, **kw), x, w, b)


@pytest.mark.parametrize("wrt", [[0], [1], [2], [1, 2]], ids=["x", "w", "b", "w_b"])
def test_conv2d_partial_gradients(wrt, dx_path, layout):
    """Only the gradients asked for are computed, and they are still right."""
    x, w, b, kw = _make("everything")
    b = numpy.ones(w.shape[0])
    gradcheck(lambda x, w, b: F.conv2d(x, w, b, **kw), x, w, b, wrt=wrt)


@pytest.mark.parametrize("mode", MODES)
def test_conv_transpose2d(mode, threads, dx_path, layout):
    x, w, b, kw = _make(mode, transpose=True)
    kw["output_padding"] = 1 if mode in ("stride2", "dilation2") else 0
    if b is not None:
        b = b[: w.shape[1] * kw["groups"]]
    if b is None:
        check_op(lambda x, w: F.conv_transpose2d(x, w, **kw),
                 lambda x, w: ref_conv_transpose2d(x, w, **kw), x, w)
    else:
        check_op(lambda x, w, b: F.conv_transpose2d(x, w, b, **kw),
                 lambda x, w, b: ref_conv_transpose2d(x, w, b, **kw), x, w, b)


def test_conv_transpose2d_is_conv2d_input_gradient():
    """<conv2d(x, w), y> = <x, conv_transpose2d(y, w)>: the two are adjoint."""
    x, w, _, kw = _make("everything")
    y = F.conv2d(x, w, **kw).data
    gy = numpy.random.default_rng(1).standard_normal(y.shape)
    back = F.conv_transpose2d(gy, w, output_padding=(1, 0), **kw).data
    assert back.shape == x.shape
    numpy.testing.assert_allclose((y * gy).sum(), (x * back).sum(), rtol=1e-12)


def test_float32_stays_float32():
    rng = numpy.random.default_rng(0)
    x = Tensor(rng.standard_normal((3, 4, 6, 6), dtype=numpy.float32), requires_grad=True)
    w = Tensor(rng.standard_normal((4, 2, 3, 3), dtype=numpy.float32), requires_grad=True)
    b = Tensor(rng.standard_normal(4, dtype=numpy.float32), requires_grad=True)
    for op in (F.conv2d, F.conv_transpose2d):
        x.grad = w.grad = b.grad = None
        y = op(x, w, b, stride=2, padding=1, groups=2)
        y.backward(numpy.ones(y.shape, numpy.float32))
        assert y.dtype == x.grad.dtype == w.grad.dtype == b.grad.dtype == numpy.float32


def test_threads_are_deterministic_and_agree():
    """Splitting the batch gives the same numbers run after run, and close to unsplit."""
    rng = numpy.random.default_rng(0)
    x = rng.standard_normal((7, 4, 9, 9), dtype=numpy.float32)
    w = rng.standard_normal((6, 2, 3, 3), dtype=numpy.float32)
    gy = rng.standard_normal((7, 6, 5, 5), dtype=numpy.float32)
    before = _parallel._settings.num_threads

    def run():
        X, W = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
        y = F.conv2d(X, W, stride=2, padding=1, groups=2)
        y.backward(gy)
        return y.data.copy(), X.grad.copy(), W.grad.copy()

    try:
        _parallel.set_num_threads(3)
        first, second = run(), run()
        _parallel.set_num_threads(1)
        single = run()
    finally:
        _parallel.set_num_threads(before)
    for a, b, c in zip(first, second, single):
        assert numpy.array_equal(a, b)
        numpy.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-5)


def test_slices_cover_the_batch():
    assert _parallel.slices(7, 3) == [(0, 2), (2, 4), (4, 7)]
    assert _parallel.slices(2, 4) == [(0, 1), (1, 2)]
    with pytest.raises(ValueError, match="set_num_threads"):
        _parallel.set_num_threads(0)


def test_output_size_matches_formula():
    x = numpy.zeros((1, 1, 10, 11))
    y = F.conv2d(x, numpy.zeros((1, 1, 3, 2)), stride=(3, 2), padding=(1, 0), dilation=(2, 1))
    assert y.shape == (1, 1, (10 + 2 - 4 - 1) // 3 + 1, (11 - 1 - 1) // 2 + 1)


@pytest.mark.parametrize(
    "x_shape, w_shape, kwargs, match",
    [
        ((2, 3, 5), (4, 3, 3, 3), {}, r"conv2d: expected a 4-d input .* got shape \(2, 3, 5\)"),
        ((1, 3, 5, 5), (4, 3, 3), {}, r"conv2d: expected a 4-d weight"),
        ((1, 3, 5, 5), (4, 1, 3, 3), {"groups": 2}, r"input channels 3 .* groups=2"),
        ((1, 4, 5, 5), (4, 4, 3, 3), {"groups": 2}, r"expected 2 .*C=4, groups=2"),
        ((1, 4, 5, 5), (3, 2, 3, 3), {"groups": 2}, r"output channels 3 .* groups=2"),
        ((1, 3, 5, 5), (4, 3, 6, 3), {}, r"kernel height 6 .* padded input height 5"),
        ((1, 3, 5, 5), (4, 3, 3, 4), {"dilation": 2}, r"kernel width 4 \(dilated to 7\)"),
        ((1, 3, 5, 5), (4, 3, 3, 3), {"stride": 0}, r"conv2d: stride must be >= 1"),
        ((1, 3, 5, 5), (4, 3, 3, 3), {"padding": -1}, r"conv2d: padding must be >= 0"),
    ],
)
def test_conv2d_shape_errors(x_shape, w_shape, kwargs, match):
    with pytest.raises(ValueError, match=match):
        F.conv2d(numpy.zeros(x_shape), numpy.zeros(w_shape), **kwargs)


def test_conv2d_bias_and_dtype_errors():
    x, w = numpy.zeros((1, 2, 4, 4)), numpy.zeros((3, 2, 3, 3))
    with pytest.raises(ValueError, match=r"bias must have shape \(3,\), got \(2,\)"):
        F.conv2d(x, w, numpy.zeros(2))
    with pytest.raises(TypeError, match="weight dtype float32 differs from the input's float64"):
        F.conv2d(x, w.astype(numpy.float32))
    with pytest.raises(TypeError, match="stride must be an int or a pair"):
        F.conv2d(x, w, stride=1.5)


def test_conv_transpose2d_errors():
    x = numpy.zeros((1, 4, 3, 3))
    with pytest.raises(ValueError, match="conv_transpose2d: weight .* expected 4"):
        F.conv_transpose2d(x, numpy.zeros((3, 2, 3, 3)))
    with pytest.raises(ValueError, match="output_padding .* smaller than the stride"):
        F.conv_transpose2d(x, numpy.zeros((4, 2, 3, 3)), stride=2, output_padding=2)
    with pytest.raises(ValueError, match=r"bias must have shape \(4,\)"):
        F.conv_transpose2d(x, numpy.zeros((4, 2, 3, 3)), numpy.zeros(2), groups=2)


@pytest.mark.parametrize("dtype, tol", [(numpy.float32, 1e-5), (numpy.float64, 1e-12)])
@pytest.mark.parametrize("shape, co, k, s, p, g", [
    ((9, 1, 12, 12), 6, 5, 1, 2, 1),  # LeNet's conv1 (one channel)
    ((5, 3, 13, 13), 8, 5, 2, 2, 1),  # the CIFAR net's conv1, strided
    ((4, 4, 9, 9), 6, 3, 1, 1, 2),  # groups
])
def test_im2row_matches_im2col(monkeypatch, dtype, tol, shape, co, k, s, p, g):
    """The two column layouts give the same y, dE/dx, dE/dw, dE/db in float32 and float64."""
    rng = numpy.random.default_rng(3)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((co, shape[1] // g, k, k)).astype(dtype)
    b = rng.standard_normal(co).astype(dtype)

    def run(rows_max_cg):
        monkeypatch.setattr(_im2col, "ROWS_MAX_CG", rows_max_cg)
        X, W, B = (Tensor(a, requires_grad=True) for a in (x, w, b))
        y = F.conv2d(X, W, B, stride=s, padding=p, groups=g)
        y.backward(numpy.cos(numpy.arange(y.data.size)).reshape(y.shape).astype(dtype))
        assert y.dtype == X.grad.dtype == W.grad.dtype == B.grad.dtype == dtype
        return y.data, X.grad, W.grad, B.grad

    for a, ref in zip(run(10**9), run(-1)):
        numpy.testing.assert_allclose(a, ref, rtol=tol, atol=tol * numpy.abs(ref).max())


# Shapes the register-blocked loops (``_micro.py``) take: Og a multiple of 4 (half the
# float64 SIMD width with AVX-512, 8 lanes), at least 8 outputs per map (a block's NR
# consecutive outputs of the flattened plane, running on across output rows), and C >= 8
# so that dE/dx, a full convolution back to C channels, takes them too (stride 1).
# (N, C, H, W), co, kernel, stride, padding, dilation, groups, bias
BLOCK_MODES = {
    "base": ((2, 8, 10, 11), 16, 3, 1, 0, 1, 1, True),
    "pad2_kernel5": ((2, 8, 10, 12), 16, 5, 1, 2, 1, 1, True),
    "stride2": ((2, 8, 17, 18), 16, 3, 2, 1, 1, 1, True),
    "groups2": ((2, 16, 10, 10), 32, 3, 1, 1, 1, 2, True),
    "dilation2": ((2, 8, 12, 13), 16, 3, 1, 2, 2, 1, True),
    "dilation_2_1_kernel_2x3": ((2, 8, 11, 12), 16, (2, 3), 1, 1, (2, 1), 1, True),
    "narrow_last_block": ((2, 8, 9, 10), 24, 3, 1, 1, 1, 1, True),  # Og = 3 float64 VL
    "half_width_last_block": ((2, 8, 9, 10), 12, 3, 1, 1, 1, 1, True),  # 1.5 VL (AVX-512)
    "no_bias": ((2, 8, 9, 10), 16, 3, 1, 1, 1, 1, False),
    "batch1_three_channels": ((1, 3, 9, 9), 16, 3, 1, 1, 1, 1, True),
    "everything": ((2, 16, 12, 19), 32, (3, 2), (1, 2), (1, 2), (2, 1), 2, False),
    "blocks_across_rows": ((2, 8, 5, 4), 16, 3, 1, 1, 1, 1, True),  # 4 outputs a row
    "kernel_1x1_small_map": ((2, 8, 6, 4), 16, 1, 1, 0, 1, 1, True),  # 24 outputs
    "strided_small_map": ((2, 16, 7, 7), 32, 3, 2, 1, 1, 2, True),  # 4 x 4, groups 2
}


def _make_blocks(mode, seed=0):
    shape, co, k, s, p, d, g, bias = BLOCK_MODES[mode]
    kh, kw = _pair(k)
    rng = numpy.random.default_rng(seed)
    x = rng.standard_normal(shape)
    w = rng.standard_normal((co, shape[1] // g, kh, kw))
    b = rng.standard_normal(co) if bias else None
    return x, w, b, dict(stride=s, padding=p, dilation=d, groups=g)


@pytest.fixture
def blocks_spy(monkeypatch):
    """Count the calls of the register-blocked forward and weight-gradient loops."""
    micro = pytest.importorskip("xpnet.functions.connection._micro")
    calls = {"forward": 0, "weight_grad": 0}
    for name in calls:
        real = getattr(micro, name)

        def spy(*a, _name=name, _real=real):
            calls[_name] += 1
            return _real(*a)

        monkeypatch.setattr(micro, name, spy)
    monkeypatch.setattr(_im2col, "MICRO", True)
    return calls


@pytest.mark.parametrize("mode", BLOCK_MODES)
def test_conv2d_by_register_blocks(mode, threads, blocks_spy):
    """Forward against the loops, and dE/dx, dE/dw, dE/db against central differences
    (float64), in every mode the blocks take; the blocks must have run (forward, and the
    weight gradient; dE/dx by the full convolution also calls the forward loops)."""
    x, w, b, kw = _make_blocks(mode)
    if b is None:
        check_op(lambda x, w: F.conv2d(x, w, **kw), lambda x, w: ref_conv2d(x, w, **kw), x, w)
    else:
        check_op(lambda x, w, b: F.conv2d(x, w, b, **kw),
                 lambda x, w, b: ref_conv2d(x, w, b, **kw), x, w, b)
    assert blocks_spy["forward"] > 0 and blocks_spy["weight_grad"] > 0


def test_register_blocks_match_gemm_on_the_cifar_conv2(blocks_spy, monkeypatch):
    """float32, the CIFAR net's conv2 (32 -> 32 channels, 5x5, padding 2) on 16x16: the
    blocks' y, dE/dx, dE/dw and dE/db equal the im2col + GEMM path's to float32 rounding."""
    rng = numpy.random.default_rng(7)
    x = rng.standard_normal((4, 32, 16, 16), dtype=numpy.float32)
    w = rng.standard_normal((32, 32, 5, 5), dtype=numpy.float32) * 0.05
    b = rng.standard_normal(32, dtype=numpy.float32)
    gy = rng.standard_normal((4, 32, 16, 16), dtype=numpy.float32)
    results = []
    for on in (True, False):
        monkeypatch.setattr(_im2col, "MICRO", on)
        xt, wt, bt = (Tensor(a, requires_grad=True) for a in (x, w, b))
        y = F.conv2d(xt, wt, bt, padding=2)
        (y * Tensor(gy)).sum().backward()
        results.append((y.data, xt.grad, wt.grad, bt.grad))
        if on:  # all three products ran on the blocks (per batch slice), then none did
            seen = dict(blocks_spy)
            assert seen["forward"] >= 2 and seen["weight_grad"] >= 1
    assert blocks_spy == seen
    for got, want in zip(*results):
        assert got.dtype == numpy.float32
        numpy.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-4 * numpy.abs(want).max())


def test_register_blocks_apply_only_where_they_fit():
    """Og not a multiple of half the SIMD width, or fewer outputs per map than a block's
    NR, leave the convolution to the other paths."""
    micro = pytest.importorskip("xpnet.functions.connection._micro")
    vl = micro.lanes(numpy.float32)
    assert micro.applies(3, 2 * vl, micro.NR, numpy.float32)
    assert micro.applies(3, vl, 64, numpy.float32)
    assert micro.applies(3, vl // 2 * 3, 64, numpy.float32)  # 2 VL / 2 + VL / 2
    assert not micro.applies(3, vl // 2 + 1, 64, numpy.float32)
    assert not micro.applies(3, vl // 2, 64, numpy.float32)  # a half-width block alone
    assert not micro.applies(3, 2 * vl, micro.NR - 1, numpy.float32)
    assert not micro.applies(3, 4 * vl, micro.NR + 1, numpy.float32)  # 2 blocks, half used
    assert micro.applies(3, 4 * vl, 4 * micro.NR, numpy.float32)
    # a narrow GEMM (at most NARROW_GEMM_VL vectors of outputs) loses even to half-used
    # blocks: AlexNet-64's grouped 3 x 3 maps
    assert micro.applies(3, micro.NARROW_GEMM_VL * vl, micro.NR + 1, numpy.float32)
    assert not micro.applies(3, (micro.NARROW_GEMM_VL + 1) * vl, micro.NR + 1, numpy.float32)
    assert micro.lanes(numpy.float64) * 2 == vl


def test_short_tap_runs_leave_the_weight_gradient_to_the_direct_sums(blocks_spy):
    """A grey 5x5 layer to 16 channels: the blocks take its forward pass, but its weight
    gradient (5 taps per window row, fewer than a block's rows) goes to the direct sums;
    the gradient is still right (float64, against central differences)."""
    micro = pytest.importorskip("xpnet.functions.connection._micro")
    rng = numpy.random.default_rng(11)
    x = rng.standard_normal((2, 1, 10, 10))
    w = rng.standard_normal((16, 1, 5, 5))
    assert 5 < micro.NR
    check_op(lambda x, w: F.conv2d(x, w, padding=2), lambda x, w: ref_conv2d(x, w, padding=2),
             x, w, wrt=[1])
    assert blocks_spy["forward"] > 0 and blocks_spy["weight_grad"] == 0


@pytest.mark.parametrize("stride", [1, 2])
def test_conv_transpose2d_by_register_blocks(stride, blocks_spy):
    """The transposed convolution runs on the same engine (its forward is conv2d's dE/dx,
    its dE/dx a convolution, its dE/dw conv2d's with the roles swapped): 16 -> 16
    channels, 3x3, against the scatter loops and central differences (float64)."""
    rng = numpy.random.default_rng(12)
    x = rng.standard_normal((2, 16, 9, 10))
    w = rng.standard_normal((16, 16, 3, 3))
    b = rng.standard_normal(16)
    kw = dict(stride=stride, padding=1, output_padding=stride - 1)
    check_op(lambda x, w, b: F.conv_transpose2d(x, w, b, **kw),
             lambda x, w, b: ref_conv_transpose2d(x, w, b, **kw), x, w, b)
    assert blocks_spy["forward"] > 0 and blocks_spy["weight_grad"] > 0


_OTHER_HOST = """
import sys
import llvmlite.binding as llvm
import numpy
real, drop = llvm.get_host_cpu_features, set(sys.argv[1].split(","))
def features():
    f = real()
    for k in list(f.keys()):
        if k in drop or (k.startswith("avx512") and "avx512f" in drop):
            f[k] = False
    return f
llvm.get_host_cpu_features = features
from xpnet import Tensor
from xpnet import functions as F
from xpnet.functions.connection import _im2col, _micro
print(_micro.VECTOR_BYTES, _micro.NR)
calls = []
for name in ("forward", "weight_grad"):
    def spy(*a, _real=getattr(_micro, name), _name=name):
        calls.append(_name)
        return _real(*a)
    setattr(_micro, name, spy)
rng = numpy.random.default_rng(0)
modes = [((2, 8, 9, 10), 12, 3, 1, 1, 1), ((2, 16, 7, 7), 32, 3, 2, 1, 2)]
for (n, c, h, w), co, k, s, p, g in modes:
    x, wt = rng.standard_normal((n, c, h, w)), rng.standard_normal((co, c // g, k, k))
    outs = []
    for on in (True, False):
        _im2col.MICRO = on
        xt, wtt = Tensor(x, requires_grad=True), Tensor(wt, requires_grad=True)
        y = F.conv2d(xt, wtt, stride=s, padding=p, groups=g)
        (y * y).sum().backward()
        outs.append((y.data, xt.grad, wtt.grad))
    for a, b in zip(*outs):
        numpy.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)
print("ok" if {"forward", "weight_grad"} <= set(calls) else "blocks not used")
"""


@pytest.mark.parametrize("drop, shape", [("avx512f", "32 6"), ("avx512f,avx2", "16 6")],
                         ids=["avx2", "sse"])
def test_register_blocks_on_other_hosts_shapes(drop, shape, tmp_path):
    """The blocks as numba compiles them for an AVX2 machine (VL 8 float32, NR 6) and an
    SSE one (16-byte vectors), forced by hiding CPU features from llvmlite in a fresh
    process with its own numba cache: y, dE/dx and dE/dw equal the GEMM path's
    (float64), half-width last block and strided groups included."""
    pytest.importorskip("numba")
    import os
    import subprocess
    import sys

    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", _OTHER_HOST, drop], capture_output=True,
                          text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == [*shape.split(), "ok"]
