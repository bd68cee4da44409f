import gc
import weakref

import numpy
import pytest

import xpnet
from xpnet import functions as F
from xpnet.function import Function


def test_leaf_backward_accumulates():
    x = xpnet.Tensor(numpy.ones(3), requires_grad=True)
    F.add(x, x).backward(numpy.ones(3))
    F.add(x, x).backward(numpy.ones(3))
    numpy.testing.assert_array_equal(x.grad, numpy.full(3, 4.0))


def test_python_floats_become_float32_and_arrays_keep_dtype():
    assert xpnet.Tensor([1.0, 2.0]).dtype == numpy.float32
    assert xpnet.Tensor(numpy.zeros(2)).dtype == numpy.float64


def test_integer_tensor_cannot_require_grad():
    with pytest.raises(TypeError, match="floating"):
        xpnet.Tensor(numpy.arange(3), requires_grad=True)


def test_deep_chain_has_no_recursion_limit():
    x = xpnet.Tensor(numpy.ones(2), requires_grad=True)
    y = x
    for _ in range(5000):
        y = F.add(y, x)
    y.backward(numpy.ones(2))
    numpy.testing.assert_array_equal(x.grad, numpy.full(2, 5001.0))


def test_graph_memory_is_freed_after_backward():
    x = xpnet.Tensor(numpy.ones(4), requires_grad=True)
    h = F.add(x, x)
    ref = weakref.ref(h.creator)
    y = F.add(h, x)
    del h
    y.backward(numpy.ones(4))
    gc.collect()
    # the Add that made h is still reachable from y's creator only if inputs were kept
    assert ref() is None or ref().released
    with pytest.raises(RuntimeError, match="second time"):
        y.backward(numpy.ones(4))


def test_retain_graph_allows_a_second_backward():
    x = xpnet.Tensor(numpy.ones(2), requires_grad=True)
    y = F.add(x, x)
    y.backward(numpy.ones(2), retain_graph=True)
    y.backward(numpy.ones(2))
    numpy.testing.assert_array_equal(x.grad, numpy.full(2, 4.0))


def test_no_grad_records_nothing():
    x = xpnet.Tensor(numpy.ones(2), requires_grad=True)
    with xpnet.no_grad():
        y = F.add(x, x)
    assert not y.requires_grad and y.creator is None


def test_grad_mode_scopes_nest_restore_on_errors_and_decorate():
    assert xpnet.is_grad_enabled()
    with xpnet.no_grad():
        assert not xpnet.is_grad_enabled()
        with xpnet.enable_grad():
            assert xpnet.is_grad_enabled()
        assert not xpnet.is_grad_enabled()
    assert xpnet.is_grad_enabled()
    with pytest.raises(KeyError), xpnet.no_grad():
        raise KeyError("inside")
    assert xpnet.is_grad_enabled()  # put back on the way out of an error

    @xpnet.no_grad()
    def depth(n):  # one decorated function that recurses: each call its own scope
        assert not xpnet.is_grad_enabled()
        with xpnet.enable_grad():
            inner = depth(n - 1) if n else 0
        assert not xpnet.is_grad_enabled()
        return inner + 1

    assert depth(3) == 4 and xpnet.is_grad_enabled()


def test_detach_cuts_the_graph():
    x = xpnet.Tensor(numpy.ones(2), requires_grad=True)
    d = F.add(x, x).detach()
    assert d.is_leaf and not d.requires_grad


def test_backward_without_grad_needs_a_scalar():
    x = xpnet.Tensor(numpy.ones(2), requires_grad=True)
    with pytest.raises(ValueError, match="one-element"):
        F.add(x, x).backward()


def test_intermediate_gradient_survives_when_user_drops_references():
    # x -> a -> b: a is held only by b's creator; its gradient must still reach x
    x = xpnet.Tensor(numpy.ones(3), requires_grad=True)
    b = F.add(F.add(x, x), x)
    b.backward(numpy.ones(3))
    numpy.testing.assert_array_equal(x.grad, numpy.full(3, 3.0))


def test_check_finite_names_the_op():
    class Bad(Function):
        def forward(self, x):
            return x

        def backward(self, gy):
            return gy * numpy.nan

    x = xpnet.Tensor(numpy.ones(2), requires_grad=True)
    with pytest.raises(FloatingPointError, match="Bad"):
        Bad()(x).backward(numpy.ones(2), check_finite=True)


def test_wrong_gradient_shape_is_reported():
    class Wrong(Function):
        def forward(self, x):
            return x

        def backward(self, gy):
            return gy[:1]

    x = xpnet.Tensor(numpy.ones(2), requires_grad=True)
    with pytest.raises(RuntimeError, match="Wrong.backward returned a gradient of shape"):
        Wrong()(x).backward(numpy.ones(2))


def test_numpy_scalars_keep_their_dtype():
    # a float64 NumPy scalar (what x.sum() returns) must not be narrowed to float32
    assert xpnet.Tensor(numpy.float64(1.5)).dtype == numpy.float64
    assert xpnet.Tensor(numpy.float32(1.5)).dtype == numpy.float32


def test_integer_outputs_of_a_recorded_op_need_no_gradient():
    class ValueAndIndex(Function):
        def forward(self, x):
            return x * 2, numpy.argsort(x)

        def backward(self, gy, gi):
            return gy * 2

    x = xpnet.Tensor(numpy.array([3.0, 1.0]), requires_grad=True)
    y, i = ValueAndIndex()(x)
    assert y.requires_grad and not i.requires_grad
    y.backward(numpy.ones(2))
    numpy.testing.assert_array_equal(x.grad, [2.0, 2.0])
