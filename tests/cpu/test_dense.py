"""A dense layer's products on xpnet's threads: matmul_split, matmul_pair, F.linear on them."""

import numpy
import pytest

from xpnet import Tensor, cpu
from xpnet import functions as F
from xpnet.cpu import dense
from xpnet.testing import check_op


@pytest.fixture
def threads(request):
    """Split over ``request.param`` threads, whatever the size of the work."""
    pytest.importorskip("threadpoolctl")
    with cpu.engines(threads=request.param, split="always"):
        yield request.param


@pytest.mark.parametrize("threads", [2, 3], indirect=True)
@pytest.mark.parametrize(("m", "k", "p"), [(40, 7, 3), (3, 7, 40)])  # rows / columns cut
def test_matmul_split_equals_the_product(threads, m, k, p):
    rng = numpy.random.default_rng(0)
    a, b = rng.standard_normal((m, k)), rng.standard_normal((k, p))
    out = numpy.full((m, p), numpy.nan)
    assert dense.matmul_split(a, b, out) is out
    numpy.testing.assert_allclose(out, a @ b, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("threads", [2], indirect=True)
def test_matmul_split_takes_transposed_views(threads):
    rng = numpy.random.default_rng(1)
    a, b = rng.standard_normal((9, 30)), rng.standard_normal((9, 5))
    out = numpy.empty((30, 5))
    dense.matmul_split(a.T, b, out)  # dE/dW = dE/dy^T x: a transposed view
    numpy.testing.assert_allclose(out, a.T @ b, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("threads", [2, 3], indirect=True)
@pytest.mark.parametrize(("n", "i", "o"), [(12, 3, 4), (2, 3, 13)])  # rows / columns cut
def test_linear_split_over_threads_gradient_checked(threads, n, i, o):
    rng = numpy.random.default_rng(2)
    x, w, b = rng.standard_normal((n, i)), rng.standard_normal((o, i)), rng.standard_normal(o)
    check_op(F.linear, lambda x, w, b: x @ w.T + b, x, w, b)


@pytest.mark.parametrize("threads", [2, 3, 4], indirect=True)
def test_matmul_pair_equals_both_products(threads):
    rng = numpy.random.default_rng(4)
    gy, w, x = (rng.standard_normal(s) for s in ((6, 5), (5, 7), (6, 7)))
    gx, gw = numpy.full((6, 7), numpy.nan), numpy.full((5, 7), numpy.nan)
    assert dense.matmul_pair(gy, w, gx, gy.T, x, gw) == (gx, gw)
    numpy.testing.assert_allclose(gx, gy @ w, rtol=1e-13, atol=1e-13)
    numpy.testing.assert_allclose(gw, gy.T @ x, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("threads", [2, 4], indirect=True)
def test_matmul_pair_runs_one_split_of_whole_parts(threads, monkeypatch):
    calls = []
    real = dense.parallel_slices

    def spy(n, fn, xp=numpy, work=None):
        calls.append(n)
        return real(n, fn, xp, work)

    monkeypatch.setattr(dense, "parallel_slices", spy)
    rng = numpy.random.default_rng(5)
    a1, b1, a2, b2 = (rng.standard_normal(s) for s in ((8, 3), (3, 4), (4, 8), (8, 3)))
    out1, out2 = numpy.empty((8, 4)), numpy.empty((4, 3))
    dense.matmul_pair(a1, b1, out1, a2, b2, out2)
    assert calls == [threads]  # one hand-off; k // 2 parts of each product
    numpy.testing.assert_allclose(out1, a1 @ b1, rtol=1e-13)
    numpy.testing.assert_allclose(out2, a2 @ b2, rtol=1e-13)


def test_matmul_pair_with_one_thread_runs_both():
    with cpu.engines(threads=1):
        a, b = numpy.arange(6.0).reshape(2, 3), numpy.arange(12.0).reshape(3, 4)
        out1, out2 = numpy.empty((2, 4)), numpy.empty((4, 2))
        dense.matmul_pair(a, b, out1, b.T, a.T, out2)
        numpy.testing.assert_array_equal(out1, a @ b)
        numpy.testing.assert_array_equal(out2, b.T @ a.T)


# ----------------------------------------------------------------- the register blocks
@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
@pytest.mark.parametrize(("m", "k", "o"), [(1, 5, 8), (3, 1, 13), (33, 64, 40), (70, 9, 300)])
def test_forward_blocks_equals_the_product_for_any_cut(dtype, m, k, o):
    """W x^T by the blocks, for widths under, at and over a block (2 VL examples, NR
    outputs, the shifted last block), with and without bias; the same bits on 1 to 3
    threads, each output's sum running over k in order whatever the cut."""
    pytest.importorskip("numba")
    pytest.importorskip("threadpoolctl")
    rng = numpy.random.default_rng(6)
    x, w, b = (rng.standard_normal(s).astype(dtype) for s in ((m, k), (o, k), (o,)))
    ref = x.astype(numpy.float64) @ w.T.astype(numpy.float64)
    tol = 1e-5 if dtype == numpy.float32 else 1e-12
    for bias in (b, None):
        outs = []
        for n in (1, 2, 3):
            with cpu.engines(dense="blocks", threads=n, split="always"):
                y = dense.forward_blocks(x, w, bias)
            assert y.shape == (m, o) and y.dtype == dtype and y.T.flags.c_contiguous
            outs.append(y)
        want = ref + (b if bias is not None else 0)
        numpy.testing.assert_allclose(outs[0], want, rtol=tol, atol=tol * k)
        for y in outs[1:]:
            numpy.testing.assert_array_equal(y, outs[0])


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
@pytest.mark.parametrize(("rows", "cols"), [(1, 1), (16, 16), (37, 53), (64, 784), (8, 3)])
def test_transpose_in_tiles_equals_the_transpose(dtype, rows, cols):
    """at[c0:c1, r0:r1] = a[r0:r1, c0:c1]^T through VL x VL register tiles and the
    value-by-value edges, for ranges on and off the tiles; nothing else of at written."""
    kernels = pytest.importorskip("xpnet.cpu.dense_blocks")
    a = numpy.random.default_rng(9).standard_normal((rows, cols)).astype(dtype)
    for r0, r1, c0, c1 in ((0, rows, 0, cols), (rows // 3, rows, cols // 5, cols - cols // 4)):
        at = numpy.full((cols, rows), -7.0, dtype=dtype)
        kernels.transpose(a, at, r0, r1, c0, c1)
        want = numpy.full((cols, rows), -7.0, dtype=dtype)
        want[c0:c1, r0:r1] = a[r0:r1, c0:c1].T
        numpy.testing.assert_array_equal(at, want)


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
@pytest.mark.parametrize("shape", [(3, 5), (784, 128), (1, 1), (4, 0)])
def test_aligned_empty_starts_on_a_cache_line(compiled, dtype, shape):
    """The array is C-contiguous, of the shape and dtype asked, and starts on ALIGN
    bytes, its address read by the compiled ``address`` or by NumPy's ctypes."""
    kernels = pytest.importorskip("xpnet.cpu.dense_blocks") if compiled else None
    for _ in range(8):  # NumPy's own start varies with what was freed before
        a = dense.aligned_empty(shape, dtype, kernels)
        assert a.shape == shape and a.dtype == dtype and a.flags.c_contiguous
        if a.size:
            assert a.ctypes.data % dense.ALIGN == 0
            if kernels is not None:
                assert kernels.address(a) == a.ctypes.data
        a[...] = 1  # its whole extent is writable memory of the buffer
        assert a.base is None or a.base.nbytes >= a.nbytes


def test_aligned_empty_without_alignment_is_numpy_empty(monkeypatch):
    monkeypatch.setattr(dense, "ALIGN", 0)
    a = dense.aligned_empty((3, 4), numpy.float32)
    assert a.base is None and a.shape == (3, 4) and a.dtype == numpy.float32


def test_forward_blocks_by_examples_write_aligned_arrays(monkeypatch):
    """The split by examples writes x^T and y^T from an ALIGN-byte start (each
    thread's columns on whole cache lines), the same bits as without the alignment."""
    pytest.importorskip("xpnet.cpu.dense_blocks")
    pytest.importorskip("threadpoolctl")
    rng = numpy.random.default_rng(11)
    m, k, o = 256, 70, 300
    x, w, b = (rng.standard_normal(s).astype(numpy.float32) for s in ((m, k), (o, k), (o,)))
    made = []
    real = dense.aligned_empty

    def record(shape, dtype, kernels=None):
        made.append(real(shape, dtype, kernels))
        return made[-1]

    with cpu.engines(dense="blocks", threads=2, split="always"):
        monkeypatch.setattr(dense, "aligned_empty", record)
        y = dense.forward_blocks(x, w, b, grad=False)
        monkeypatch.undo()
        assert [a.shape for a in made] == [(k, m), (o, m)]  # x^T, then y^T
        assert all(a.ctypes.data % dense.ALIGN == 0 for a in made)
        assert y.T.ctypes.data == made[1].ctypes.data
        monkeypatch.setattr(dense, "ALIGN", 0)
        numpy.testing.assert_array_equal(dense.forward_blocks(x, w, b, grad=False), y)


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
@pytest.mark.parametrize(("m", "k", "o"), [(200, 37, 20), (256, 64, 300)])
def test_forward_blocks_by_examples_equal_the_product(dtype, m, k, o, monkeypatch):
    """Enough examples for the split by examples on 1 to 3 threads (each thread
    transposes its own rows of x): the product, the same bits as the split by outputs
    (forced with one thread and a raised threshold), and for x given as a transposed
    view of x^T (a blocks layer's output) no transposed copy at all."""
    kernels = pytest.importorskip("xpnet.cpu.dense_blocks")
    pytest.importorskip("threadpoolctl")
    rng = numpy.random.default_rng(10)
    x, w, b = (rng.standard_normal(s).astype(dtype) for s in ((m, k), (o, k), (o,)))
    with cpu.engines(dense="blocks", threads=1):
        monkeypatch.setattr(dense, "BY_EXAMPLES_MIN_BLOCKS", 10 ** 6)
        by_outputs = dense.forward_blocks(x, w, b)
    monkeypatch.undo()
    tol = 1e-5 if dtype == numpy.float32 else 1e-12
    numpy.testing.assert_allclose(by_outputs, x.astype(numpy.float64) @ w.T + b,
                                  rtol=tol, atol=tol * k)
    for n in (1, 2, 3):
        assert m >= dense.BY_EXAMPLES_MIN_BLOCKS * 2 * (kernels.VECTOR_BYTES // x.itemsize) * n
        with cpu.engines(dense="blocks", threads=n, split="always"):
            numpy.testing.assert_array_equal(dense.forward_blocks(x, w, b), by_outputs)
            xt = numpy.ascontiguousarray(x.T)
            monkeypatch.setattr(kernels, "x_w_t", None)  # a transposed copy would fail

            def no_copy(a, *args, real=numpy.ascontiguousarray, **kwargs):
                assert a.flags.c_contiguous, "forward_blocks copied a chained x"
                return real(a, *args, **kwargs)

            monkeypatch.setattr(numpy, "ascontiguousarray", no_copy)
            y = dense.forward_blocks(xt.T, w, b)
            monkeypatch.undo()
        numpy.testing.assert_array_equal(y, by_outputs)
        assert y.T.flags.c_contiguous


def test_linear_by_blocks_gradient_checked():
    pytest.importorskip("numba")
    rng = numpy.random.default_rng(7)
    x, w, b = rng.standard_normal((10, 6)), rng.standard_normal((9, 6)), rng.standard_normal(9)
    with cpu.engines(dense="blocks"):
        check_op(F.linear, lambda x, w, b: x @ w.T + b, x, w, b)


def test_forward_blocks_chosen_by_shape(monkeypatch):
    """auto, no gradient: the blocks (split by outputs or by examples) for
    BLOCKS_MIN_ROWS..BLOCKS_MAX_INFER_ROWS examples and at least BLOCKS_MIN_OUT outputs,
    never for a batch of one or ten outputs; forced x_wt or
    w_xt: never. A forced engine outside its reach (fewer than NR outputs): BLAS."""
    kernels = pytest.importorskip("xpnet.cpu.dense_blocks")
    ran = []
    real, real_x = kernels.w_xt, kernels.x_w_t  # split by outputs / by examples
    monkeypatch.setattr(kernels, "w_xt", lambda *a: ran.append(a[4].shape) or real(*a))
    monkeypatch.setattr(kernels, "x_w_t", lambda *a: ran.append(a[5].shape) or real_x(*a))
    z = numpy.zeros
    cases = [("auto", (32, 20), 300, True), ("auto", (1, 20), 300, False),
             ("auto", (32, 20), 10, False),
             ("auto", (dense.BLOCKS_MAX_INFER_ROWS + 1, 20), 300, False),  # no gradient
             ("x_wt", (32, 20), 300, False), ("w_xt", (32, 20), 300, False),
             ("blocks", (1, 20), 10, True), ("blocks", (4, 20), 5, False)]
    for choice, x_shape, out, expect in cases:
        ran.clear()
        with cpu.engines(dense=choice):
            y = F.linear(z(x_shape, numpy.float32), z((out, 20), numpy.float32)).data
        assert y.shape == (x_shape[0], out)
        assert bool(ran) == expect, (choice, x_shape, out)


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
def test_training_forward_on_one_thread_by_the_blocks(dtype, monkeypatch):
    """A training step's product past BLOCKS_MAX_ROWS examples and below
    DENSE_SPLIT_MIN_WORK: the blocks on the calling thread, y in rows (C-contiguous),
    the product within rounding, the same bits on 1, 2 and 3 threads; not without a
    gradient, under a forced engine, below ONE_THREAD_MIN_IN inputs or
    ONE_THREAD_MIN_OUT outputs, at BLOCKS_MAX_ROWS examples or fewer, or from
    DENSE_SPLIT_MIN_WORK on."""
    kernels = pytest.importorskip("xpnet.cpu.dense_blocks")
    ran = []
    real = kernels.w_xt
    monkeypatch.setattr(kernels, "w_xt", lambda *a: ran.append(a[4].shape) or real(*a))
    rng = numpy.random.default_rng(13)

    def linear(m, k, o, grad=True, choice="auto", threads=2):
        x, w, b = (rng.standard_normal(s).astype(dtype) for s in ((m, k), (o, k), (o,)))
        ran.clear()
        with cpu.engines(dense=choice, threads=threads):
            t = Tensor(x, requires_grad=grad)
            y = F.linear(t, Tensor(w), Tensor(b)).data
        return y, x.astype(numpy.float64) @ w.T.astype(numpy.float64) + b, bool(ran)

    m, k, o = dense.BLOCKS_MAX_ROWS + 37, dense.ONE_THREAD_MIN_IN + 17, 100
    outs = []
    for threads in (1, 2, 3):
        rng = numpy.random.default_rng(13)
        y, want, taken = linear(m, k, o, threads=threads)
        assert taken and y.flags.c_contiguous and y.dtype == dtype
        tol = 1e-4 if dtype == numpy.float32 else 1e-12
        numpy.testing.assert_allclose(y, want, rtol=tol, atol=tol * k)
        outs.append(y)
    for y in outs[1:]:
        numpy.testing.assert_array_equal(y, outs[0])
    assert not linear(m, k, o, grad=False)[2]
    assert not linear(m, k, o, choice="x_wt")[2]
    assert not linear(m, dense.ONE_THREAD_MIN_IN - 1, o)[2]
    assert not linear(m, k, dense.ONE_THREAD_MIN_OUT - 1)[2]
    assert not linear(dense.BLOCKS_MAX_ROWS, k, 100)[2]
    monkeypatch.setattr(dense, "DENSE_SPLIT_MIN_WORK", m * k * o)
    assert not linear(m, k, o)[2]


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
@pytest.mark.parametrize(("m", "k", "o"), [(256, 70, 300), (200, 33, 256), (130, 784, 257)])
def test_training_forward_by_examples_in_rows(dtype, m, k, o, monkeypatch):
    """A training step's product of BLOCKS_MAX_ROWS + 1 .. BLOCKS_MAX_TRAIN_ROWS examples
    and at least BLOCKS_MIN_OUT outputs: the blocks split by examples, y in rows
    (C-contiguous), the same bits as their y^T (inference's path) on 1 to 3 threads,
    for x in rows and for x given as a transposed view of x^T (then not copied); the
    product within rounding. Examples per thread and outputs that are not whole tiles
    or chunks exercise the kernel's edges."""
    kernels = pytest.importorskip("xpnet.cpu.dense_blocks")
    pytest.importorskip("threadpoolctl")
    assert dense.BLOCKS_MAX_ROWS < m <= dense.BLOCKS_MAX_TRAIN_ROWS
    assert o >= dense.BLOCKS_MIN_OUT and m <= dense.BLOCKS_MAX_INFER_ROWS
    rng = numpy.random.default_rng(21)
    x, w, b = (rng.standard_normal(s).astype(dtype) for s in ((m, k), (o, k), (o,)))
    want = dense.forward_blocks(x, w, b, grad=False)  # y^T's transposed view
    assert want.T.flags.c_contiguous
    tol = 1e-5 if dtype == numpy.float32 else 1e-12
    numpy.testing.assert_allclose(want, x.astype(numpy.float64) @ w.T + b,
                                  rtol=tol, atol=tol * k)
    ran = []
    real = kernels.x_w_t_rows
    monkeypatch.setattr(kernels, "x_w_t_rows", lambda *a: ran.append(a[5]) or real(*a))
    vl = kernels.VECTOR_BYTES // x.itemsize
    for n in (1, 2, 3):
        with cpu.engines(threads=n, split="always"):
            ran.clear()
            y = F.linear(Tensor(x, requires_grad=True), Tensor(w), Tensor(b)).data
            if m < dense.BY_EXAMPLES_MIN_BLOCKS * 2 * vl * n:  # too few for the split
                assert not ran and y.flags.c_contiguous
                numpy.testing.assert_allclose(y, want, rtol=tol, atol=tol * k)
                continue
            assert ran and all(ran), "the rows path did not run, or did not copy x^T"
            assert y.flags.c_contiguous
            numpy.testing.assert_array_equal(y, want)
            ran.clear()
            y = F.linear(Tensor(numpy.ascontiguousarray(x.T).T, requires_grad=True),
                         Tensor(w), Tensor(b)).data
            assert ran and not any(ran), "a chained x^T was copied"
            numpy.testing.assert_array_equal(y, want)
        y0 = dense.forward_blocks(x, w, None)
        numpy.testing.assert_array_equal(y0, dense.forward_blocks(x, w, None, grad=False))


def test_training_forward_in_rows_chosen_by_shape(monkeypatch):
    """Not taken: past BLOCKS_MAX_TRAIN_ROWS examples, below BLOCKS_MIN_OUT outputs,
    without a gradient (the y^T path), under a forced engine, or with too few examples
    for the split by examples (then BLAS: forward_blocks returns None)."""
    kernels = pytest.importorskip("xpnet.cpu.dense_blocks")
    ran = []
    real = kernels.x_w_t_rows
    monkeypatch.setattr(kernels, "x_w_t_rows", lambda *a: ran.append(1) or real(*a))
    z = numpy.zeros

    def taken(m, o, grad=True, choice="auto", threads=2):
        ran.clear()
        with cpu.engines(dense=choice, threads=threads):
            y = F.linear(Tensor(z((m, 24), numpy.float32), requires_grad=grad),
                         Tensor(z((o, 24), numpy.float32))).data
        assert y.shape == (m, o)
        return bool(ran)

    top, o = dense.BLOCKS_MAX_TRAIN_ROWS, dense.BLOCKS_MIN_OUT
    assert taken(top, o)
    assert not taken(top + 1, o)
    assert not taken(top, o - 1)
    assert not taken(top, o, grad=False)
    assert not taken(top, o, choice="x_wt")
    by_examples = dense.BY_EXAMPLES_MIN_BLOCKS * 2 * (kernels.VECTOR_BYTES // 4) * 2
    if dense.BLOCKS_MAX_ROWS + 1 < by_examples:
        assert dense.forward_blocks(z((by_examples - 1, 24), numpy.float32),
                                    z((o, 24), numpy.float32), None) is None
    # fewer outputs than one chunk of the kernel (CH, at least VL) with the gate lowered
    monkeypatch.setattr(dense, "BLOCKS_MIN_OUT", 2)
    vl = kernels.VECTOR_BYTES // 4
    chunk = kernels.NR * -(-vl // kernels.NR)
    assert not taken(top, chunk - 1) and taken(top, chunk)


def test_linear_by_examples_in_rows_gradient_checked(monkeypatch):
    """F.linear through the rows path (its gates lowered to a small shape), float64:
    gradients against finite differences."""
    kernels = pytest.importorskip("xpnet.cpu.dense_blocks")
    monkeypatch.setattr(dense, "BLOCKS_MAX_ROWS", 4)
    monkeypatch.setattr(dense, "BLOCKS_MIN_OUT", 8)
    monkeypatch.setattr(dense, "BY_EXAMPLES_MIN_BLOCKS", 1)
    ran = []
    real = kernels.x_w_t_rows
    monkeypatch.setattr(kernels, "x_w_t_rows", lambda *a: ran.append(1) or real(*a))
    rng = numpy.random.default_rng(22)
    x, w, b = (rng.standard_normal(s) for s in ((19, 10), (17, 10), (17,)))
    with cpu.engines(threads=1):
        check_op(F.linear, lambda x, w, b: x @ w.T + b, x, w, b)
    assert ran


def test_linear_on_one_thread_by_the_blocks_gradient_checked(monkeypatch):
    """F.linear through the one-thread blocks path (its gates lowered to a small
    shape), float64: gradients against finite differences."""
    pytest.importorskip("numba")
    monkeypatch.setattr(dense, "BLOCKS_MAX_ROWS", 4)
    monkeypatch.setattr(dense, "ONE_THREAD_MIN_IN", 8)
    monkeypatch.setattr(dense, "ONE_THREAD_MIN_OUT", 8)
    rng = numpy.random.default_rng(14)
    x, w, b = rng.standard_normal((9, 10)), rng.standard_normal((11, 10)), rng.standard_normal(11)
    assert dense._forward_one_thread(x, w, b) is not None
    check_op(F.linear, lambda x, w, b: x @ w.T + b, x, w, b)


def test_dense_blocks_need_the_compiled_kernels():
    with pytest.raises(ValueError, match="dense='blocks' needs the compiled kernels"):
        with cpu.engines(dense="blocks", compiled=False):
            pass


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
@pytest.mark.parametrize(("m", "k", "o"), [(8, 5, 8), (13, 40, 9), (64, 33, 300)])
def test_backward_blocks_equal_the_products_for_any_cut(dtype, m, k, o):
    """dE/dx = dE/dy W and dE/dW = dE/dy^T x by the blocks (each alone and both), for
    example and output counts on and off a block's NR rows: the products, and the same
    bits on 1 to 4 threads."""
    pytest.importorskip("numba")
    pytest.importorskip("threadpoolctl")
    rng = numpy.random.default_rng(8)
    gy, w, x = (rng.standard_normal(s).astype(dtype) for s in ((m, o), (o, k), (m, k)))
    tol = 1e-5 if dtype == numpy.float32 else 1e-12
    for need in ((True, True), (True, False), (False, True)):
        outs = []
        for n in (1, 2, 3, 4):
            with cpu.engines(dense="blocks", threads=n, split="always"):
                gx, gw = dense.backward_blocks(gy, w if need[0] else None,
                                               x if need[1] else None, *need)
            assert (gx is not None, gw is not None) == need
            outs.append((gx, gw))
        gx, gw = outs[0]
        if need[0]:
            numpy.testing.assert_allclose(gx, gy @ w, rtol=tol, atol=tol * o)
        if need[1]:
            numpy.testing.assert_allclose(gw, gy.T @ x, rtol=tol, atol=tol * m)
        for other in outs[1:]:
            for a, b in zip(other, outs[0]):
                if b is not None:
                    numpy.testing.assert_array_equal(a, b)
        if need[1]:  # x as the transposed view of x^T (a blocks layer's output)
            chained = numpy.ascontiguousarray(x.T).T
            with cpu.engines(dense="blocks", threads=2, split="always"):
                _, gw = dense.backward_blocks(gy, w if need[0] else None, chained, *need)
            numpy.testing.assert_array_equal(gw, outs[0][1])


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
@pytest.mark.parametrize(("r", "c"), [(1, 5), (7, 13), (32, 784), (67, 100)])
def test_contiguous_copies_a_transposed_view_by_the_tiles(dtype, r, c):
    """dense._contiguous: a C-contiguous array as it is, the transposed view of one
    copied by the compiled tiles (whole tiles and edges), any other strides by NumPy;
    the values unchanged."""
    kernels = pytest.importorskip("xpnet.cpu.dense_blocks")
    rng = numpy.random.default_rng(12)
    a = rng.standard_normal((r, c)).astype(dtype)
    assert dense._contiguous(a, kernels) is a
    view = numpy.ascontiguousarray(a.T).T
    got = dense._contiguous(view, kernels)
    assert got.flags.c_contiguous and (got is view) == view.flags.c_contiguous  # one row
    numpy.testing.assert_array_equal(got, a)
    strided = numpy.repeat(a, 2, axis=1)[:, ::2]
    numpy.testing.assert_array_equal(dense._contiguous(strided, kernels), a)


def test_backward_blocks_leave_large_layers_to_blas():
    """More than BLOCKS_BACKWARD_MAX_WEIGHTS weights, fewer outputs than the forward
    blocks take, or (forced) fewer examples than a block's rows: None (BLAS runs them)."""
    pytest.importorskip("numba")
    z = numpy.zeros
    big = dense.BLOCKS_BACKWARD_MAX_WEIGHTS // 256 + 1  # inputs of a 256-output layer
    gy = z((32, 256), numpy.float32)
    assert dense.backward_blocks(gy, z((256, big), numpy.float32), None, True, False) is None
    assert dense.backward_blocks(gy, z((256, 20), numpy.float32), None, True, False) is not None
    assert dense.backward_blocks(z((32, 10), numpy.float32), None, z((32, 20), numpy.float32),
                                 False, True) is None
    with cpu.engines(dense="blocks"):  # forced, but fewer examples than a block's rows
        assert dense.backward_blocks(z((3, 16), numpy.float32), z((16, 5), numpy.float32),
                                     z((3, 5), numpy.float32), True, True) is None


@pytest.mark.parametrize("grad", [False, True])
def test_forward_blocks_split_by_examples_where_they_share_out_evenly(grad, monkeypatch):
    """With BY_EXAMPLES_EVEN, fewer than BY_EXAMPLES_MIN_BLOCKS blocks a thread are
    still cut by examples where whole vectors of VL examples share out evenly over the
    threads (x_w_t runs), not where they do not (3 vectors on 2 threads: W's rows are
    cut); the same bits either way and as without the rule."""
    kernels = pytest.importorskip("xpnet.cpu.dense_blocks")
    pytest.importorskip("threadpoolctl")
    vl = kernels.VECTOR_BYTES // 4
    ran = []
    real = kernels.x_w_t
    monkeypatch.setattr(kernels, "x_w_t", lambda *a: ran.append(a[6:8]) or real(*a))
    rng = numpy.random.default_rng(12)
    for m, even in ((2 * vl, True), (3 * vl, False)):
        assert m < dense.BY_EXAMPLES_MIN_BLOCKS * 2 * vl * 2 and m <= dense.BLOCKS_MAX_ROWS
        x, w, b = (rng.standard_normal(s).astype(numpy.float32)
                   for s in ((m, 40), (300, 40), (300,)))
        with cpu.engines(threads=2, split="always"):
            ran.clear()
            y = dense.forward_blocks(x, w, b, grad)
            assert sorted(ran) == ([(0, vl), (vl, 2 * vl)] if even else [])
            monkeypatch.setattr(dense, "BY_EXAMPLES_EVEN", False)
            ran.clear()
            numpy.testing.assert_array_equal(dense.forward_blocks(x, w, b, grad), y)
            assert ran == []
            monkeypatch.setattr(dense, "BY_EXAMPLES_EVEN", True)
        numpy.testing.assert_allclose(y, x.astype(numpy.float64) @ w.T + b, rtol=1e-5,
                                      atol=1e-4)


def test_blocks_take_fewer_outputs_for_wide_inference_batches():
    """Without gradients, from BLOCKS_WIDE_INFER_ROWS examples on, the blocks take a
    product from BLOCKS_MIN_INFER_OUT outputs; below that many examples, or with a
    gradient needed, from BLOCKS_MIN_OUT; under a forced BLAS engine never."""
    m, few = dense.BLOCKS_WIDE_INFER_ROWS, dense.BLOCKS_MIN_INFER_OUT
    assert few < dense.BLOCKS_MIN_OUT and m <= dense.BLOCKS_MAX_INFER_ROWS
    assert dense.blocks_take(m, few, grad=False)
    assert not dense.blocks_take(m, few - 1, grad=False)
    assert not dense.blocks_take(m - 1, few, grad=False)
    assert dense.blocks_take(m - 1, dense.BLOCKS_MIN_OUT, grad=False)
    assert not dense.blocks_take(min(m, dense.BLOCKS_MAX_ROWS), few)  # a training step's
    with cpu.engines(dense="x_wt"):
        assert not dense.blocks_take(m, few, grad=False)


def test_blocks_take_more_examples_without_gradients():
    """Training (a gradient needed) up to BLOCKS_MAX_ROWS examples, inference up to
    BLOCKS_MAX_INFER_ROWS; F.linear under no_grad takes the larger limit."""
    pytest.importorskip("numba")
    m = dense.BLOCKS_MAX_ROWS + 1
    assert m <= dense.BLOCKS_MAX_INFER_ROWS
    assert not dense.blocks_take(m, 300) and dense.blocks_take(m, 300, grad=False)
    assert not dense.blocks_take(dense.BLOCKS_MAX_INFER_ROWS + 1, 300, grad=False)
    import xpnet
    from xpnet import Tensor

    rng = numpy.random.default_rng(9)
    x, w = rng.standard_normal((m, 20)), rng.standard_normal((300, 20))
    with xpnet.no_grad():
        y = F.linear(Tensor(x), Tensor(w)).data
    assert y.T.flags.c_contiguous  # the blocks' transposed view of y^T
    graph = F.linear(Tensor(x, requires_grad=True), Tensor(w)).data
    assert graph.flags.c_contiguous  # a gradient needed: BLAS's x W^T or W x^T
    numpy.testing.assert_allclose(y, graph, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------- outer products (K = 1)
@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
@pytest.mark.parametrize(("m", "p"), [(1, 7), (3, 5), (700, 900)])  # 630,000: cut at 2
@pytest.mark.parametrize("split", ["auto", "always"])
def test_outer_product_is_compiled_and_has_the_multiplys_bits(dtype, m, p, split):
    pytest.importorskip("numba")
    rng = numpy.random.default_rng(8)
    a, b = rng.standard_normal((m, 1)).astype(dtype), rng.standard_normal((1, p)).astype(dtype)
    expected = numpy.multiply(a, b)
    with cpu.engines(threads=2, split=split):
        out = numpy.full((m, p), numpy.nan, dtype)
        assert dense.matmul_split(a, b, out) is out
        numpy.testing.assert_array_equal(out, expected)
        strided = numpy.full((p, m), numpy.nan, dtype).T  # an F-ordered output, a's copy
        dense.matmul_split(numpy.asfortranarray(a.T).T, b, strided)  # transposed view
        numpy.testing.assert_array_equal(strided, expected)
        # and inside a backward pair (the second product of dE/dx, dE/dW at batch 1)
        gx, gw = numpy.empty((1, 1)), numpy.empty((m, p), dtype)
        dense.matmul_pair(a.T[:, :1].astype(numpy.float64), numpy.ones((1, 1)), gx,
                          a, b, gw)
        numpy.testing.assert_array_equal(gw, expected)


def test_outer_product_kernel_is_taken_and_the_numpy_path_kept_without_it(monkeypatch):
    pytest.importorskip("numba")
    calls = []
    kernels = dense.load("dense_blocks", numpy.ones((2, 1)))
    real = kernels.outer
    monkeypatch.setattr(kernels, "outer", lambda *args: calls.append(1) or real(*args))
    a, b = numpy.arange(4.0).reshape(4, 1), numpy.arange(3.0).reshape(1, 3)
    out = numpy.empty((4, 3))
    dense.matmul_split(a, b, out)
    assert calls and numpy.array_equal(out, a * b)
    calls.clear()
    with cpu.engines(compiled=False):  # NumPy's broadcast multiply instead
        dense.matmul_split(a, b, out)
    assert not calls and numpy.array_equal(out, a * b)


def test_linear_at_batch_one_gradient_checked_through_the_outer_product():
    rng = numpy.random.default_rng(9)
    x, w, b = rng.standard_normal((1, 6)), rng.standard_normal((5, 6)), rng.standard_normal(5)
    check_op(F.linear, lambda x, w, b: x @ w.T + b, x, w, b)


@pytest.mark.parametrize(("m", "k", "o", "want"), [
    (32, 400, 120, True),  # LeNet-5's first dense layer at batch 32: W x^T
    (16, 784, 100, True), (48, 200, 96, True),
    (8, 400, 120, False), (64, 400, 120, False),  # outside 16 .. 48 examples
    (32, 400, 64, False), (32, 120, 120, False),  # too few outputs, too few inputs
    (100, 784, 300, True), (200, 784, 300, False),  # W_XT_MAX_ROWS, W_XT_MIN_OUT
])
def test_forward_as_w_xt_chosen_by_shape(m, k, o, want):
    """Automatic orientation of a dense forward product (before the register blocks,
    which the caller asks first): (W x^T)^T for at most 128 examples and 256 outputs, or
    16 to 48 examples, 96 outputs and 192 inputs; its values are x W^T + b's."""
    rng = numpy.random.default_rng(7)
    x = rng.standard_normal((m, k)).astype(numpy.float32)
    w = rng.standard_normal((o, k)).astype(numpy.float32)
    b = rng.standard_normal(o).astype(numpy.float32)
    y = numpy.empty((m, o), dtype=numpy.float32)
    assert dense.forward_as_w_xt(x, w, b, y) == want
    if want:
        numpy.testing.assert_allclose(y, x @ w.T + b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
@pytest.mark.parametrize("dense_choice", ["w_xt", "x_wt"])
@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("compiled", [True, False])
def test_forward_whole_adds_the_bias_and_clips_with_numpys_bits(dtype, dense_choice, relu,
                                                               compiled):
    """``forward_whole`` (an MLP plan's product on BLAS's threads): x W^T + b, then
    max(., 0) where ``relu``, bit for bit as NumPy's matmul, add and maximum in either
    orientation, NaN and infinities included, compiled or not; y in rows; a bias of
    another dtype and no bias take NumPy's path."""
    if compiled:
        pytest.importorskip("numba")
    rng = numpy.random.default_rng(9)
    x = rng.standard_normal((5, 7)).astype(dtype)
    w = rng.standard_normal((11, 7)).astype(dtype)
    b = rng.standard_normal(11).astype(dtype)
    b[:4] = [numpy.nan, numpy.inf, -numpy.inf, 0.0]
    b[4] = -0.0
    x[0] = 0.0  # y[0] = 0 + b: the NaN, the infinities and both zeros through the add
    product = numpy.matmul(w, x.T).T if dense_choice == "w_xt" else numpy.matmul(x, w.T)
    for bias in (b, None, b.astype(numpy.float16)):
        want = product + bias if bias is not None else product.copy()
        if relu:
            want = numpy.maximum(want, 0)
        with cpu.engines(dense=dense_choice, compiled=compiled):
            y = dense.forward_whole(x, w, bias, relu=relu)
        assert y.flags.c_contiguous and y.dtype == want.dtype
        assert y.tobytes() == want.tobytes(), (bias is None, relu)


def test_matmul_split_leaves_blas_alone_on_products_it_runs_on_one_thread(monkeypatch):
    """An unsplit product of at most BLAS_ONE_THREAD_WORK multiply-adds (which BLAS runs
    on one thread whatever its count) runs without the one-BLAS-thread scope; a larger
    one unsplit keeps it; both give the product."""
    pytest.importorskip("threadpoolctl")
    scopes = []
    real = dense.one_blas_thread
    monkeypatch.setattr(dense, "one_blas_thread", lambda: scopes.append(1) or real())
    rng = numpy.random.default_rng(5)
    with cpu.engines(threads=2):
        for m, k, p, want in [(128, 100, 10, []), (8, 1024, 1024, [1])]:
            assert m * k * p <= dense.BLAS_ONE_THREAD_WORK or want
            a = rng.standard_normal((m, k)).astype(numpy.float32)
            b = rng.standard_normal((k, p)).astype(numpy.float32)
            out = numpy.empty((m, p), numpy.float32)
            scopes.clear()
            dense.matmul_split(a, b, out)
            assert scopes == want
            assert out.tobytes() == numpy.matmul(a, b).tobytes()


def test_blocks_take_small_inference_products_on_one_thread(monkeypatch):
    """Without gradients the blocks take a product too small to split (16-64 examples,
    64+ outputs) and run it on the calling thread, the same bits on one and two threads;
    not at 8 examples, with fewer outputs, with a gradient wanted, past
    BLOCKS_SPLIT_MIN_WORK, or without its inputs known (the inference plans' check)."""
    kernels = pytest.importorskip("xpnet.cpu.dense_blocks")
    pytest.importorskip("threadpoolctl")
    take = dense.blocks_take
    assert take(32, 120, False, 400) and take(16, 64, False, 100) and take(64, 84, False, 120)
    assert not take(8, 120, False, 400) and not take(32, 63, False, 400)
    assert not take(32, 120, True, 400) and not take(32, 120, False)
    assert not take(64, 200, False, dense.BLOCKS_SPLIT_MIN_WORK // (64 * 200) + 1)
    splits = []
    real = dense.parallel_slices
    monkeypatch.setattr(dense, "parallel_slices", lambda n, fn, xp, work, **k:
                        splits.append(work) or real(n, fn, xp, work, **k))
    rng = numpy.random.default_rng(17)
    x, w, b = (rng.standard_normal(s).astype(numpy.float32)
               for s in ((32, 400), (120, 400), (120,)))
    with cpu.engines(threads=2):
        y2 = dense.forward_blocks(x, w, b, False)
    with cpu.engines(threads=1):
        y1 = dense.forward_blocks(x, w, b, False)
    assert splits and all(s is not None and s < dense.BLOCKS_SPLIT_MIN_WORK for s in splits)
    assert y2.tobytes() == y1.tobytes()
    numpy.testing.assert_allclose(y2, x.astype(numpy.float64) @ w.T + b, rtol=1e-5, atol=1e-4)
    assert dense.BLOCKS_SMALL_INFER_MIN_OUT >= kernels.NR  # whole blocks of outputs
