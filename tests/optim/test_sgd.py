"""SGD and AlexNetSGD against hand computations; state dicts; argument checks."""

import numpy
import pytest

import xpnet
from xpnet import cpu, optim


def _param(values):
    return xpnet.Tensor(numpy.array(values, dtype=numpy.float64), requires_grad=True)


def _run(opt, p, grads):
    for g in grads:
        p.grad = numpy.array(g, dtype=numpy.float64)
        opt.step()


GRADS = [[0.5, -1.0], [0.25, 2.0], [-1.0, 0.0], [0.1, 0.3]]


def _reference_sgd(w, grads, lr, momentum=0.0, dampening=0.0, wd=0.0, nesterov=False):
    """PyTorch's documented SGD, written plainly."""
    w = numpy.array(w, dtype=numpy.float64)
    b = None
    for g in grads:
        g = numpy.array(g, dtype=numpy.float64) + wd * w
        if momentum:
            b = g.copy() if b is None else momentum * b + (1 - dampening) * g
            g = g + momentum * b if nesterov else b
        w = w - lr * g
    return w


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"momentum": 0.9},
        {"momentum": 0.9, "dampening": 0.3},
        {"momentum": 0.9, "nesterov": True},
        {"weight_decay": 0.1},
        {"momentum": 0.5, "weight_decay": 0.1},
        {"momentum": 0.5, "weight_decay": 0.1, "nesterov": True},
        {"momentum": 0.5, "weight_decay": 0.1, "dampening": 0.5},
    ],
)
def test_sgd_matches_the_rule(kw):
    p = _param([1.0, -2.0])
    _run(optim.SGD([p], lr=0.1, **kw), p, GRADS)
    ref = _reference_sgd([1.0, -2.0], GRADS, 0.1, kw.get("momentum", 0.0),
                         kw.get("dampening", 0.0), kw.get("weight_decay", 0.0),
                         kw.get("nesterov", False))
    numpy.testing.assert_allclose(p.data, ref, rtol=1e-14)


SGD_MODES = [
    {},
    {"momentum": 0.9},
    {"momentum": 0.9, "dampening": 0.3},
    {"momentum": 0.9, "nesterov": True},
    {"weight_decay": 0.1},
    {"momentum": 0.5, "weight_decay": 0.1, "nesterov": True},
    {"momentum": 0.5, "weight_decay": 0.1, "dampening": 0.5},
]


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
@pytest.mark.parametrize("kw", SGD_MODES)
def test_compiled_update_is_bit_identical_to_the_numpy_path(kw, dtype, monkeypatch):
    pytest.importorskip("numba")
    rng = numpy.random.default_rng(3)
    w0 = rng.standard_normal((7, 33)).astype(dtype)
    grads = [rng.standard_normal((7, 33)).astype(dtype) for _ in range(4)]
    results = []
    for compiled in (True, False):
        p = xpnet.Tensor(w0.copy(), requires_grad=True)
        opt = optim.SGD([p], lr=0.05, **kw)
        taken = []  # what _update_compiled answered: True when the kernel ran

        def spy(i, w, g, real=opt._update_compiled, taken=taken):
            taken.append(real(i, w, g))
            return taken[-1]

        monkeypatch.setattr(opt, "_update_compiled", spy)
        with cpu.engines(compiled=compiled):
            for g in grads:
                p.grad = g
                opt.step()
        assert p.data.dtype == dtype
        assert taken == [compiled] * len(grads)
        buf = opt.state.get(0, {}).get("momentum_buffer")
        results.append((p.data.copy(), None if buf is None else buf.copy()))
    (w_c, b_c), (w_n, b_n) = results
    numpy.testing.assert_array_equal(w_c, w_n)
    if kw.get("momentum"):
        numpy.testing.assert_array_equal(b_c, b_n)
    assert not numpy.array_equal(w_c, w0)  # it did move


def test_compiled_update_takes_non_contiguous_gradients_through_numpy():
    p = xpnet.Tensor(numpy.ones((4, 3), numpy.float32), requires_grad=True)
    opt = optim.SGD([p], lr=0.5, momentum=0.9)
    p.grad = numpy.full((3, 4), 2.0, numpy.float32).T  # a transposed view
    opt.step()
    numpy.testing.assert_array_equal(p.data, numpy.zeros((4, 3), numpy.float32))


def test_plain_sgd_one_step_by_hand():
    p = _param([1.0, -2.0])
    p.grad = numpy.array([0.5, -1.0])
    optim.SGD([p], lr=0.1).step()
    numpy.testing.assert_allclose(p.data, [0.95, -1.9], rtol=1e-15)


def test_step_updates_in_place_and_never_writes_the_gradient():
    p = _param([1.0, -2.0])
    data = p.data
    opt = optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=True)
    for g in GRADS:
        grad = numpy.array(g)
        p.grad = grad
        opt.step()
        numpy.testing.assert_array_equal(grad, g)  # the gradient array is untouched
        assert opt.state[0]["momentum_buffer"] is not grad
    assert p.data is data


def test_float32_stays_float32():
    p = xpnet.Tensor(numpy.ones((3, 2), numpy.float32), requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=5e-4)
    for _ in range(2):
        p.grad = numpy.full((3, 2), 0.5, numpy.float32)
        opt.step()
    assert p.data.dtype == numpy.float32
    assert opt.state[0]["momentum_buffer"].dtype == numpy.float32


def test_parameters_without_gradient_are_skipped_and_zero_grad():
    a, b = _param([1.0]), _param([2.0])
    opt = optim.SGD([a, b], lr=1.0)
    a.grad = numpy.array([1.0])
    opt.step()
    assert a.data[0] == 0.0 and b.data[0] == 2.0
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_lr_attribute_is_read_each_step():
    p = _param([1.0])
    opt = optim.SGD([p], lr=1.0)
    opt.lr = 0.5
    p.grad = numpy.array([1.0])
    opt.step()
    assert p.data[0] == 0.5


def test_state_dict_round_trip_resumes_identically():
    p, q = _param([1.0, -2.0]), _param([1.0, -2.0])
    a = optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01)
    _run(a, p, GRADS[:2])
    state = a.state_dict()
    assert state["lr"] == 0.1 and state["momentum"] == 0.9 and state["nesterov"] is False
    assert set(state["state"]) == {"0"}
    q.data[...] = p.data
    b = optim.SGD([q], lr=1.0)  # hyper-parameters come from the state
    b.load_state_dict(state)
    assert b.momentum == 0.9 and b.lr == 0.1
    assert b.state[0]["momentum_buffer"] is not a.state[0]["momentum_buffer"]
    _run(a, p, GRADS[2:])
    _run(b, q, GRADS[2:])
    numpy.testing.assert_array_equal(p.data, q.data)


def test_load_state_dict_errors():
    p = _param([1.0, 2.0])
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    with pytest.raises(KeyError, match="missing"):
        opt.load_state_dict({"lr": 0.1, "state": {}})
    state = dict(opt.state_dict(), state={"0": {"momentum_buffer": numpy.zeros(3)}})
    with pytest.raises(ValueError, match="shape"):
        opt.load_state_dict(state)
    state = dict(opt.state_dict(), state={"4": {"momentum_buffer": numpy.zeros(2)}})
    with pytest.raises(ValueError, match="parameter 4"):
        opt.load_state_dict(state)


def test_sgd_argument_errors():
    p = _param([1.0])
    with pytest.raises(ValueError, match="SGD: lr must be a finite number >= 0"):
        optim.SGD([p], lr=-1.0)
    with pytest.raises(ValueError, match="nesterov needs momentum > 0"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="empty"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="one Tensor"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="does not require a grad"):
        optim.SGD([xpnet.Tensor(numpy.ones(2))], lr=0.1)
    with pytest.raises(TypeError, match="params\\[0\\] must be a Tensor"):
        optim.SGD([numpy.ones(2)], lr=0.1)


def test_a_parameter_listed_twice_is_updated_once():
    p = _param([1.0])
    opt = optim.SGD([p, p], lr=1.0)
    p.grad = numpy.array([1.0])
    opt.step()
    assert p.data[0] == 0.0


def test_alexnet_sgd_by_hand():
    # v <- 0.9 v - 0.0005 eps w - eps g ;  w <- w + v   (Krizhevsky et al. 2012, sec. 5)
    eps, w, v = 0.01, numpy.array([1.0, -2.0]), numpy.zeros(2)
    p = _param(w)
    opt = optim.AlexNetSGD([p], lr=eps)
    for g in GRADS:
        v = 0.9 * v - 0.0005 * eps * w - eps * numpy.array(g)
        w = w + v
        p.grad = numpy.array(g)
        opt.step()
        numpy.testing.assert_allclose(p.data, w, rtol=1e-14)
    numpy.testing.assert_allclose(opt.state[0]["velocity"], v, rtol=1e-13)


def test_alexnet_sgd_equals_sgd_at_constant_lr_and_differs_after_a_decay():
    a, b = _param([1.0, -2.0]), _param([1.0, -2.0])
    oa = optim.AlexNetSGD([a], lr=0.1, momentum=0.9, weight_decay=0.01)
    ob = optim.SGD([b], lr=0.1, momentum=0.9, weight_decay=0.01)
    _run(oa, a, GRADS[:2])
    _run(ob, b, GRADS[:2])
    numpy.testing.assert_allclose(a.data, b.data, rtol=1e-13)
    oa.lr = ob.lr = 0.01
    _run(oa, a, GRADS[2:])
    _run(ob, b, GRADS[2:])
    assert not numpy.allclose(a.data, b.data, rtol=1e-6)


def test_alexnet_sgd_state_round_trip():
    p = _param([1.0, -2.0])
    opt = optim.AlexNetSGD([p], lr=0.01)
    _run(opt, p, GRADS[:1])
    other = optim.AlexNetSGD([_param([0.0, 0.0])], lr=0.5, momentum=0.1)
    other.load_state_dict(opt.state_dict())
    assert other.lr == 0.01 and other.momentum == 0.9 and other.weight_decay == 0.0005
    numpy.testing.assert_array_equal(other.state[0]["velocity"], opt.state[0]["velocity"])
    assert "AlexNetSGD(1 parameters, lr=0.01" in repr(opt)


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
@pytest.mark.parametrize("weight_decay", [0.0, 0.0005])
def test_alexnet_sgd_compiled_update_is_bit_identical(dtype, weight_decay, monkeypatch):
    pytest.importorskip("numba")
    from xpnet.optim import alexnet_sgd

    rng = numpy.random.default_rng(5)
    w0 = rng.standard_normal((5, 17)).astype(dtype)
    grads = [rng.standard_normal((5, 17)).astype(dtype) for _ in range(4)]
    real = alexnet_sgd.update_kernels
    results = []
    for compiled in (True, False):
        calls = []

        def spy(w, g, *buffers, calls=calls):
            kernels = real(w, g, *buffers)
            calls.append(kernels is not None)
            return kernels

        monkeypatch.setattr(alexnet_sgd, "update_kernels", spy)
        p = xpnet.Tensor(w0.copy(), requires_grad=True)
        opt = optim.AlexNetSGD([p], lr=0.01, weight_decay=weight_decay)
        with cpu.engines(compiled=compiled):
            for step, g in enumerate(grads):
                if step == 2:
                    opt.lr = 0.001  # the velocity keeps its size across a decay
                p.grad = g
                opt.step()
        assert calls == [compiled] * len(grads)
        results.append((p.data.copy(), opt.state[0]["velocity"].copy()))
    numpy.testing.assert_array_equal(results[0][0], results[1][0])
    numpy.testing.assert_array_equal(results[0][1], results[1][1])
    assert results[0][0].dtype == dtype


def test_compiled_update_refuses_arrays_it_would_index_out_of_bounds():
    pytest.importorskip("numba")
    from xpnet.cpu.optim import update_kernels as compiled_update

    w = numpy.zeros((4, 3), numpy.float32)
    g = numpy.ones((4, 3), numpy.float32)
    assert compiled_update(w, g) is not None
    assert compiled_update(w, g, numpy.zeros((4, 3), numpy.float32)) is not None
    assert compiled_update(w, g, numpy.zeros((2, 3), numpy.float32)) is None  # a stale buffer
    assert compiled_update(w, g, numpy.zeros((4, 3), numpy.float64)) is None
    assert compiled_update(w, g.astype(numpy.float64)) is None
    assert compiled_update(w, numpy.ones((3, 4), numpy.float32).T) is None


def test_a_parameter_replaced_by_another_shape_is_not_updated_out_of_bounds():
    p = xpnet.Tensor(numpy.ones(3, numpy.float32), requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = numpy.ones(3, numpy.float32)
    opt.step()
    p.data = numpy.ones(5, numpy.float32)  # the (3,) momentum buffer no longer fits
    p.grad = numpy.ones(5, numpy.float32)
    with pytest.raises(ValueError):  # NumPy's broadcast error, not a write past the buffer
        opt.step()


@pytest.mark.parametrize("make", [
    lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=0.01),
    lambda ps: optim.AlexNetSGD(ps, lr=0.05, momentum=0.9, weight_decay=0.0005),
])
def test_a_large_update_split_over_threads_is_bit_identical(make):
    """From ELEMENTWISE_MIN_SIZE values on, the compiled update runs in slices over the
    threads (cpu.optim.run_update); element by element, so the bits are one pass's."""
    pytest.importorskip("numba")
    pytest.importorskip("threadpoolctl")
    from xpnet.cpu.threads import ELEMENTWISE_MIN_SIZE

    rng = numpy.random.default_rng(5)
    w0 = rng.standard_normal(ELEMENTWISE_MIN_SIZE + 7).astype(numpy.float32)
    grads = [rng.standard_normal(w0.shape).astype(numpy.float32) for _ in range(3)]
    results = []
    for threads in (1, 3):
        p = xpnet.Tensor(w0.copy(), requires_grad=True)
        opt = make([p])
        with cpu.engines(threads=threads):
            for g in grads:
                p.grad = g
                opt.step()
        results.append(p.data)
    numpy.testing.assert_array_equal(results[0], results[1])
    assert not numpy.array_equal(results[0], w0)
