"""The batch split: slices, the small-work path, the thread count and its scope."""

import ctypes
import threading

import numpy
import pytest

import xpnet
from xpnet import Tensor, cpu
from xpnet import functions as F
from xpnet.cpu import threads as _threads
from xpnet.cpu.settings import current


@pytest.fixture
def threads(request):
    """Split over ``request.param`` threads, whatever the size of the work."""
    pytest.importorskip("threadpoolctl")
    with cpu.engines(threads=request.param, split="always"):
        yield request.param


@pytest.mark.parametrize("threads", [2, 3], indirect=True)
def test_parallel_slices_cuts_in_order(threads):
    parts = _threads.parallel_slices(10, lambda lo, hi: (lo, hi))
    assert parts == _threads.slices(10, threads)


def test_small_work_runs_in_one_call():
    pytest.importorskip("threadpoolctl")
    limit = _threads.SPLIT_MIN_WORK
    with cpu.engines(threads=2):
        assert _threads.parallel_slices(10, lambda lo, hi: (lo, hi), work=limit - 1) == [(0, 10)]
        assert len(_threads.parallel_slices(10, lambda lo, hi: (lo, hi), work=limit)) == 2
        with cpu.engines(split="always"):
            assert len(_threads.parallel_slices(10, lambda lo, hi: (lo, hi), work=1)) == 2


def test_one_blas_thread_is_a_context():
    with _threads.one_blas_thread():
        y = F.linear(Tensor(numpy.ones((2, 3))), Tensor(numpy.ones((4, 3))))
    numpy.testing.assert_array_equal(y.data, numpy.full((2, 4), 3.0))


@pytest.mark.parametrize("threads", [2, 3], indirect=True)
def test_relu_split_over_threads_keeps_values_and_layout(threads):
    rng = numpy.random.default_rng(3)
    x = rng.standard_normal((5, 4, 3, 6)).astype(numpy.float32)
    x_cl = numpy.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    t = Tensor(x_cl, requires_grad=True)
    y = F.relu(t)
    assert y.data.transpose(0, 2, 3, 1).flags.c_contiguous  # conv2d's layout, kept
    numpy.testing.assert_array_equal(y.data, numpy.maximum(x, 0))
    gy = rng.standard_normal(x.shape).astype(numpy.float32)
    y.backward(gy)
    numpy.testing.assert_array_equal(t.grad, gy * (x > 0))


def test_relu_of_a_scalar():
    t = Tensor(numpy.float64(-2.0), requires_grad=True)
    y = F.relu(t)
    y.backward()
    assert y.data == 0.0 and t.grad == 0.0


def test_thread_count_is_public_and_validated():
    before = _threads._settings.num_threads
    try:
        xpnet.set_num_threads(3)
        assert xpnet.get_num_threads() == 3 == cpu.get_num_threads()
        assert xpnet.cpu.set_num_threads is xpnet.set_num_threads
        with pytest.raises(ValueError, match="set_num_threads: expected an int >= 1"):
            xpnet.set_num_threads(0)
        with pytest.raises(ValueError, match="got True"):
            xpnet.set_num_threads(True)
    finally:
        xpnet.set_num_threads(before)


def test_default_thread_count_reads_the_affinity_once_and_again_on_request(monkeypatch):
    before = _threads._settings.num_threads
    calls = []
    monkeypatch.setattr(_threads, "_usable_cpus", lambda: calls.append(1) or 3)
    try:
        xpnet.set_num_threads(None)  # the default, read again at first use
        assert xpnet.get_num_threads() == 3 and xpnet.get_num_threads() == 3
        assert len(calls) == 1  # cached: no system call per op
        monkeypatch.setattr(_threads, "_usable_cpus", lambda: 9)
        assert xpnet.get_num_threads() == 3  # still the first reading...
        xpnet.set_num_threads(None)
        assert xpnet.get_num_threads() == 4  # ...until asked again (at most 4)
    finally:
        xpnet.set_num_threads(before)


def test_one_blas_thread_holds_blas_at_one_and_restores_it():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    controller = _threads._blas_controller()
    if controller is None:
        pytest.skip("no BLAS library that threadpoolctl can control")

    def counts():  # of the libraries the controller found (loaded before its first use)
        return [lib.get_num_threads() for lib in controller.lib_controllers]

    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        before = counts()
        with _threads._OneBlasThread(controller):
            assert counts() == [1] * len(before)
        assert counts() == before
        with threadpoolctl.threadpool_limits(1, user_api="blas"):
            calls = []
            for lib in controller.lib_controllers:
                real = lib.set_num_threads
                lib.set_num_threads = lambda n, _real=real: (calls.append(n), _real(n))
            try:
                scope = _threads._OneBlasThread(controller)
                with scope:
                    pass
            finally:
                for lib in controller.lib_controllers:
                    del lib.set_num_threads
            assert calls == [] and scope.saved == []  # at one thread: nothing set or restored


def test_blas_knobs_call_openblas_itself_on_the_main_thread_only():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    controller = _threads._blas_controller()
    if controller is None:
        pytest.skip("no BLAS library that threadpoolctl can control")
    main, other = _threads.blas_knobs(controller)
    assert _threads.blas_knobs(controller) is _threads.blas_knobs(controller)  # cached
    for lib, (get, put), (other_get, _) in zip(controller.lib_controllers, main, other,
                                               strict=True):
        own = lib.internal_api == "openblas" and lib.threading_layer == "pthreads"
        assert isinstance(get, ctypes._CFuncPtr) == own  # OpenBLAS's symbol, not a method
        assert other_get == lib.get_num_threads  # threadpoolctl's, off the main thread
        with threadpoolctl.threadpool_limits(3, user_api="blas"):
            assert get() == lib.get_num_threads() == 3
            put(2)
            assert lib.get_num_threads() == 2  # threadpoolctl sees what the knob set



def test_slices_cover_the_batch():
    assert _threads.slices(7, 3) == [(0, 2), (2, 4), (4, 7)]
    assert _threads.slices(2, 4) == [(0, 1), (1, 2)]
    with pytest.raises(ValueError, match="set_num_threads"):
        cpu.set_num_threads(0)


def test_scoped_thread_count_overrides_the_process_setting():
    before = _threads._settings.num_threads
    try:
        cpu.set_num_threads(3)
        with cpu.engines(threads=1):
            assert cpu.get_num_threads() == 1
            cpu.set_num_threads(2)  # the process's setting, under the scope's
            assert cpu.get_num_threads() == 1
        assert cpu.get_num_threads() == 2
    finally:
        cpu.set_num_threads(before)


@pytest.mark.parametrize("threads", [2], indirect=True)
def test_workers_see_the_settings_of_the_thread_that_split(threads):
    """The worker threads run in a copy of the caller's context: same engines settings."""
    seen = {}

    def work(lo, hi):
        seen[lo] = threading.current_thread() is threading.main_thread()
        return current().conv, cpu.get_num_threads()

    with cpu.engines(conv="gemm"):
        parts = _threads.parallel_slices(10, work)
    assert parts == [("gemm", 2), ("gemm", 2)]
    assert sorted(seen.values()) == [False, True]  # one slice ran in a worker


_NO_GLOBALS = """
import os, sys
before = dict(os.environ)
import xpnet
from xpnet import Tensor, cpu, functions as F
import numpy
with cpu.engines(threads=2, split="always"):  # BLAS held at one thread: threadpoolctl
    F.linear(Tensor(numpy.ones((64, 300), numpy.float32)),
             Tensor(numpy.ones((300, 300), numpy.float32)))
print("threadpoolctl" in sys.modules, {k: v for k, v in os.environ.items()
                                       if before.get(k) != v})
"""


def test_running_xpnet_ops_changes_no_environment_variable():
    """threadpoolctl's import sets KMP_DUPLICATE_LIB_OK in os.environ; xpnet puts it back,
    in a fresh process where nothing else has imported threadpoolctl."""
    import os
    import subprocess
    import sys

    pytest.importorskip("threadpoolctl")
    env = {k: v for k, v in os.environ.items() if k != "KMP_DUPLICATE_LIB_OK"}
    done = subprocess.run([sys.executable, "-c", _NO_GLOBALS], capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["True", "{}"]


@pytest.mark.parametrize("threads", [2], indirect=True)
def test_a_signalled_split_leaves_blas_alone_and_an_unsignalled_one_holds_it_at_one(threads):
    """A signalled split's work is compiled kernels, which call no BLAS: its thread
    count is not touched (1.5 us a split); any other split holds BLAS at one thread."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    controller = _threads._blas_controller()
    if controller is None:
        pytest.skip("no BLAS library that threadpoolctl can control")

    def counts(lo, hi):
        return [lib.get_num_threads() for lib in controller.lib_controllers]

    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        held = _threads.parallel_slices(4, counts)
        left = _threads.parallel_slices(4, counts, signalled=True)
        small = _threads.parallel_slices(4, counts, work=1, signalled=True)
    n = len(controller.lib_controllers)
    assert held[0] == [1] * n and left[0] == [2] * n and small == [[2] * n] * len(small)


def test_slices_are_cut_once_per_size():
    assert _threads._cut(10, 3) == tuple(_threads.slices(10, 3))
    assert _threads._cut(10, 3) is _threads._cut(10, 3)
