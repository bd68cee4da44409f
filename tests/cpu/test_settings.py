"""xpnet.cpu.engines: the scoped override of the engine choice."""

import threading

import numpy
import pytest

from xpnet import Tensor, cpu
from xpnet import functions as F
from xpnet.cpu.settings import Engines, current


def test_defaults_outside_any_scope():
    assert current() == Engines()
    assert current().conv == "auto" and current().compiled and current().threads is None


def test_a_scope_sets_what_it_names_and_restores_on_exit():
    with cpu.engines(conv="gemm", dense="w_xt") as e:
        assert e is current()
        assert (e.conv, e.dense, e.conv_dx, e.compiled) == ("gemm", "w_xt", "auto", True)
    assert current() == Engines()


def test_scopes_nest_and_inherit():
    with cpu.engines(conv="direct", threads=2):
        with cpu.engines(threads=1, layout="nhwc") as inner:
            assert (inner.conv, inner.threads, inner.layout) == ("direct", 1, "nhwc")
        assert (current().conv, current().threads, current().layout) == ("direct", 2, "auto")
        with cpu.engines(conv="auto"):
            assert current().conv == "auto"
        assert current().conv == "direct"
    assert current() == Engines()


def test_the_settings_come_back_after_an_exception():
    with pytest.raises(RuntimeError, match="inside"):
        with cpu.engines(compiled=False):
            with cpu.engines(split="always"):
                raise RuntimeError("inside")
    assert current() == Engines()


def test_each_thread_has_its_own_settings():
    """A scope in one thread is not seen by another, before, during or after it."""
    entered, release = threading.Event(), threading.Event()
    seen = {}

    def other():
        entered.wait(10)
        seen["during"] = current()
        with cpu.engines(conv="blocks"):
            seen["own"] = current().conv
            release.set()

    worker = threading.Thread(target=other)
    worker.start()
    with cpu.engines(conv="gemm", threads=1):
        entered.set()
        release.wait(10)
        assert current().conv == "gemm"  # the other thread's scope did not leak in
    worker.join(10)
    assert seen == {"during": Engines(), "own": "blocks"}


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"conv": "fast"}, r"engines: conv must be one of 'auto', 'blocks', 'direct', 'gemm', "
                       r"got 'fast'"),
    ({"conv_columns": "cols"}, r"conv_columns must be one of 'auto', 'im2col', 'im2row'"),
    ({"conv_dx": "full"}, r"conv_dx must be one of 'auto', 'conv', 'scatter', 'fold', "
                         r"'col2im'"),
    ({"dense": "xwt"}, r"dense must be one of 'auto', 'x_wt', 'w_xt'"),
    ({"layout": "NHWC"}, r"layout must be one of 'auto', 'nchw', 'nhwc', got 'NHWC'"),
    ({"split": "never"}, r"split must be one of 'auto', 'always'"),
    ({"compiled": 0}, r"compiled must be True or False, got 0"),
    ({"threads": 0}, r"threads must be an int >= 1 or None, got 0"),
    ({"threads": True}, r"threads must be an int >= 1 or None, got True"),
    ({"compiled": False, "conv": "direct"}, r"conv='direct' needs the compiled kernels"),
    ({"compiled": False, "conv_dx": "scatter"},
     r"conv_dx='scatter' needs the compiled kernels, but compiled=False"),
    ({"compiled": False, "conv_dx": "fold", "layout": "nchw"},
     r"conv_dx='fold', layout='nchw' needs the compiled kernels, but compiled=False"),
])
def test_bad_values_are_refused_at_the_call(kwargs, match):
    with pytest.raises(ValueError, match=match):
        cpu.engines(**kwargs)
    assert current() == Engines()


def test_a_compiled_engine_inside_compiled_false_is_refused():
    with cpu.engines(compiled=False):
        with pytest.raises(ValueError, match="conv='blocks' needs the compiled kernels"):
            cpu.engines(conv="blocks")
        assert not current().compiled


def test_unknown_keywords_are_a_type_error():
    with pytest.raises(TypeError, match="unexpected keyword argument 'engine'"):
        cpu.engines(engine="gemm")


def test_a_scope_object_is_entered_once_at_a_time():
    scope = cpu.engines(conv="gemm")
    with scope:
        with pytest.raises(RuntimeError, match="already open"):
            scope.__enter__()
    with scope:  # reusable once closed
        assert current().conv == "gemm"
    assert current() == Engines()


def test_compiled_false_runs_the_reference_paths():
    """Max pooling on conv2d-like memory: no compiled plan under compiled=False."""
    from xpnet.functions.pooling._window import geometry
    from xpnet.functions.pooling.max_pool2d import MaxPool2dFunction

    x = numpy.random.default_rng(0).standard_normal((2, 8, 6, 6)).astype(numpy.float32)
    g = geometry("max_pool2d", x.shape, 2, 2, 0, False)
    with cpu.engines(compiled=False):
        fn = MaxPool2dFunction(g)
        ref = fn(Tensor(x)).data
        assert fn.plan is None
    numpy.testing.assert_array_equal(ref, F.max_pool2d(Tensor(x), 2).data)
