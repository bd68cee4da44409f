"""conv2d and conv_transpose2d: forward against loops, backward against numerics, every mode."""

import numpy
import pytest

from xpnet import Tensor, cpu
from xpnet import functions as F
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


@pytest.fixture(params=["fold", "col2im", "conv", "scatter"])
def dx_path(request):
    """dE/dx by one GEMM and the compiled fold (one group, numba; else as ``col2im``), by
    kh kw NumPy products (``col2im``), (stride 1) by the full convolution with flipped
    kernels (``conv``), or by the register blocks over dE/dy's pixels and a fold
    (``scatter``; numba, at least NR outputs per map, else as ``auto``):
    ``xpnet.cpu.engines(conv_dx=...)``."""
    with cpu.engines(conv_dx=request.param):
        yield request.param


@pytest.fixture(params=["im2col", "im2row", "direct"])
def layout(request):
    """Forward and dE/dw by GEMM with columns as im2col's (taps as columns) or im2row's
    (taps as rows, bias in the GEMM), or summed directly from the flat image (numba;
    stride 1 and one group: other modes take the GEMM path whatever the setting)."""
    if request.param == "direct":
        pytest.importorskip("numba")
        scope = cpu.engines(conv="direct")
    else:
        scope = cpu.engines(conv="gemm", conv_columns=request.param)
    with scope:
        yield request.param


@pytest.fixture(params=["gemm", "direct"])
def wgrad(request):
    """dE/dw through the column matrix, or summed directly (numba; stride 1, one group)."""
    if request.param == "direct":
        pytest.importorskip("numba")
    with cpu.engines(conv=request.param):
        yield request.param


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

    def run():
        X, W = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
        y = F.conv2d(X, W, stride=2, padding=1, groups=2)
        y.backward(gy)
        return y.data.copy(), X.grad.copy(), W.grad.copy()

    with cpu.engines(threads=3):
        first, second = run(), run()
    with cpu.engines(threads=1):
        single = run()
    for a, b, c in zip(first, second, single):
        assert numpy.array_equal(a, b)
        numpy.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-5)


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
def test_im2row_matches_im2col(dtype, tol, shape, co, k, s, p, g):
    """The two column layouts give the same y, dE/dx, dE/dw, dE/db in float32 and float64."""
    rng = numpy.random.default_rng(3)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((co, shape[1] // g, k, k)).astype(dtype)
    b = rng.standard_normal(co).astype(dtype)

    def run(columns):
        with cpu.engines(conv="gemm", conv_columns=columns):
            X, W, B = (Tensor(a, requires_grad=True) for a in (x, w, b))
            y = F.conv2d(X, W, B, stride=s, padding=p, groups=g)
            y.backward(numpy.cos(numpy.arange(y.data.size)).reshape(y.shape).astype(dtype))
        assert y.dtype == X.grad.dtype == W.grad.dtype == B.grad.dtype == dtype
        return y.data, X.grad, W.grad, B.grad

    for a, ref in zip(run("im2row"), run("im2col")):
        numpy.testing.assert_allclose(a, ref, rtol=tol, atol=tol * numpy.abs(ref).max())


# Shapes the register blocks (``xpnet/cpu/conv/blocks.py``) take: Og a multiple of 4 (half the
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
    # padding 3 around a 3 x 3 window: the first and last output rows see padding alone
    # (their blocks add no taps, only the bias), the next ones skip some window rows
    "padding_beyond_the_window": ((2, 8, 6, 7), 16, 3, 1, 3, 1, 1, True),
    "padding_beyond_per_row_calls": ((2, 16, 6, 12), 32, 3, 1, (5, 1), (2, 2), 2, True),
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
    """Count the calls of the register-blocked forward and weight-gradient loops (the
    engines chosen by shape, as in a network)."""
    blocks = pytest.importorskip("xpnet.cpu.conv.blocks")
    calls = {"forward": 0, "weight_grad": 0}
    for name in calls:
        real = getattr(blocks, name)

        def spy(*a, _name=name, _real=real):
            calls[_name] += 1
            return _real(*a)

        monkeypatch.setattr(blocks, name, spy)
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


@pytest.mark.parametrize(("cin", "co"), [(1, 12), (8, 8)])
def test_weight_gradient_blocks_gather_short_window_rows(cin, co, blocks_spy):
    """The blocks' dE/dw takes any NR taps of the window as a block's rows: a grey 5 x 5
    layer (5 taps a window row, 25 taps in all, the last block holding dE/db's row) and
    8 channels 3 x 3 (72 taps: dE/db's row in a block of its own); dE/dw and dE/db right
    (float64, against central differences), on the blocks."""
    rng = numpy.random.default_rng(11)
    x = rng.standard_normal((2, cin, 10, 10))
    w = rng.standard_normal((co, cin, 5 if cin == 1 else 3, 5 if cin == 1 else 3))
    b = rng.standard_normal(co)
    with cpu.engines(conv="blocks"):
        check_op(lambda x, w, b: F.conv2d(x, w, b, padding=2),
                 lambda x, w, b: ref_conv2d(x, w, b, padding=2), x, w, b, wrt=[1, 2])
    assert blocks_spy["forward"] > 0 and blocks_spy["weight_grad"] > 0


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


@pytest.fixture
def scatter_spy(monkeypatch):
    """Count the calls of the register blocks' dE/dx by scattering."""
    blocks = pytest.importorskip("xpnet.cpu.conv.blocks")
    calls = {"input_grad": 0}
    real = blocks.input_grad

    def spy(*a):
        calls["input_grad"] += 1
        return real(*a)

    monkeypatch.setattr(blocks, "input_grad", spy)
    return calls


@pytest.mark.parametrize("mode", BLOCK_MODES)
def test_conv2d_input_gradient_by_scatter(mode, threads, scatter_spy):
    """dE/dx by the blocks over dE/dy's pixels and the fold, forced, in every block mode
    (strides, dilations, groups, padding beyond the window, 1 x 1 kernels, a last block
    shifted back over pixels already summed): against central differences (float64); the
    transposed convolution, whose forward pass it is, against the scatter loops."""
    x, w, b, kw = _make_blocks(mode)
    with cpu.engines(conv_dx="scatter"):
        check_op(lambda x, w: F.conv2d(x, w, **kw), lambda x, w: ref_conv2d(x, w, **kw),
                 x, w, wrt=[0])
        y = F.conv2d(Tensor(x), Tensor(w), **kw).data  # (N, O, oH, oW)
        got = F.conv_transpose2d(Tensor(y), Tensor(w), **kw).data  # w: (O, Cg, kh, kw)
    numpy.testing.assert_allclose(got, ref_conv_transpose2d(y, w, **kw), rtol=1e-10,
                                  atol=1e-10)
    assert scatter_spy["input_grad"] > 0


def test_scatter_is_the_same_bits_on_any_threads():
    """Each image's dE/dx is summed in one order whatever the split (float32)."""
    pytest.importorskip("numba")
    rng = numpy.random.default_rng(15)
    w = Tensor(rng.standard_normal((50, 20, 5, 5), dtype=numpy.float32))
    gy = rng.standard_normal((7, 50, 8, 8), dtype=numpy.float32)
    x = rng.standard_normal((7, 20, 12, 12), dtype=numpy.float32)
    grads = []
    for n in (1, 2, 3):
        with cpu.engines(threads=n, conv_dx="scatter"):
            xt = Tensor(x, requires_grad=True)
            F.conv2d(xt, w).backward(gy)
        grads.append(xt.grad)
    assert numpy.array_equal(grads[0], grads[1]) and numpy.array_equal(grads[0], grads[2])


# Shapes the register blocks take with a masked last block (Og not a multiple of half
# the SIMD width): float64 has 8 lanes with AVX-512, 4 with AVX2. Forced, so that the
# direct sums do not take the narrow ones first.
MASKED_MODES = {
    "og3": ((2, 8, 9, 10), 3, 3, 1, 1, 1, 1, True),
    "og5_pad2_kernel5": ((2, 8, 10, 12), 5, 5, 1, 2, 1, 1, True),
    "og10": ((2, 8, 9, 10), 10, 3, 1, 1, 1, 1, True),  # 8 + 2 lanes
    "og13_no_bias": ((2, 8, 9, 10), 13, 3, 1, 1, 1, 1, False),
    "og19_stride2": ((2, 8, 17, 18), 19, 3, 2, 1, 1, 1, True),  # 16 + 3
    "groups2_og6": ((2, 10, 10, 10), 12, 3, 1, 1, 1, 2, True),
    "dilation2_og7": ((2, 8, 12, 13), 7, 3, 1, 2, 2, 1, True),
    "grey_og6": ((2, 1, 12, 12), 6, 5, 1, 0, 1, 1, True),  # LeNet's conv1, no padding
}


@pytest.mark.parametrize("mode", MASKED_MODES)
def test_conv2d_by_masked_register_blocks(mode, threads, blocks_spy):
    """Forced onto the blocks: forward against the loops, dE/dx, dE/dw, dE/db against
    central differences (float64). A lane written past Og would land on the next
    output's first channels, already summed, and the loops' reference would show it."""
    shape, co, k, s, p, d, g, bias = MASKED_MODES[mode]
    rng = numpy.random.default_rng(13)
    x = rng.standard_normal(shape)
    w = rng.standard_normal((co, shape[1] // g, k, k))
    b = rng.standard_normal(co) if bias else None
    kw = dict(stride=s, padding=p, dilation=d, groups=g)
    with cpu.engines(conv="blocks"):
        if b is None:
            check_op(lambda x, w: F.conv2d(x, w, **kw), lambda x, w: ref_conv2d(x, w, **kw),
                     x, w)
        else:
            check_op(lambda x, w, b: F.conv2d(x, w, b, **kw),
                     lambda x, w, b: ref_conv2d(x, w, b, **kw), x, w, b)
    assert blocks_spy["forward"] > 0 and blocks_spy["weight_grad"] > 0


@pytest.mark.parametrize("dx", ["auto", "scatter"])
@pytest.mark.parametrize("co, cin, size, padding", [(20, 1, 28, 0), (50, 20, 12, 0),
                                                    (12, 3, 16, 2), (8, 6, 14, 0)])
def test_masked_blocks_in_float32_match_the_float64_loops(co, cin, size, padding, dx):
    """float32 (16 lanes with AVX-512: 20 = 16 + 4, 50 = 32 + 16 + 2, 12 and 8 one
    masked vector), Caffe's LeNet widths among them: y, dE/dx and dE/dw by the blocks
    (dE/dx as chosen, and by scattering: Cg = 20 is 16 + 4 lanes) against the float64
    loops, to float32 rounding."""
    pytest.importorskip("numba")
    rng = numpy.random.default_rng(14)
    x = rng.standard_normal((3, cin, size, size))
    w = rng.standard_normal((co, cin, 5, 5)) * 0.2
    gy = rng.standard_normal((3, co, size + 2 * padding - 4, size + 2 * padding - 4))
    got = []
    for dtype, engine, dx_engine in ((numpy.float32, "blocks", dx),
                                     (numpy.float64, "gemm", "col2im")):
        with cpu.engines(conv=engine, conv_dx=dx_engine):
            xt = Tensor(x.astype(dtype), requires_grad=True)
            wt = Tensor(w.astype(dtype), requires_grad=True)
            y = F.conv2d(xt, wt, padding=padding)
            y.backward(gy.astype(dtype))
        got.append((y.data, xt.grad, wt.grad))
    numpy.testing.assert_allclose(got[1][0], ref_conv2d(x, w, padding=padding), rtol=1e-10,
                                  atol=1e-10)
    for a, ref in zip(*got):
        numpy.testing.assert_allclose(a, ref, rtol=2e-4, atol=2e-4 * numpy.abs(ref).max())
