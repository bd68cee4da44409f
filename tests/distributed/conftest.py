"""The distributed tests run twice: in the one-process suite, and as a job of two
processes (``mpiexec -n 2 python -m pytest tests/distributed``, from scripts/test.sh).

In the job, every test runs on both ranks at once and the collectives inside it must
match. So that a failure never becomes a hang: a test that fails on one rank prints its
report and aborts the whole job (exit status non-zero), and a test that runs past
``_WATCHDOG_S`` aborts it too, naming the test. Rank 1 prints nothing else.
"""

import os
import threading

import pytest

_WATCHDOG_S = 120
#: Set by MPI launchers in each process: the number of processes of the job.
_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")


def _job_size():
    values = [os.environ.get(v, "") for v in _SIZE_VARS]
    return max([int(v) for v in values if v.strip().isdigit()] or [1])


if _job_size() > 1:
    from xpnet import distributed

    COMM = distributed.init(abort_on_error=True)
else:
    from xpnet.distributed import LocalCommunicator

    COMM = LocalCommunicator()


@pytest.fixture
def comm():
    """The job's communicator (a LocalCommunicator in the one-process suite)."""
    return COMM


@pytest.fixture
def two_ranks():
    """Skip unless the suite runs as a job of two processes."""
    if COMM.size != 2:
        pytest.skip("a two-process test: mpiexec -n 2 python -m pytest tests/distributed "
                    "(bash scripts/test.sh runs it)")
    return COMM


@pytest.fixture
def one_process():
    """Skip inside a job: the test launches jobs of its own."""
    if COMM.size > 1:
        pytest.skip("launches its own mpiexec jobs; runs in the one-process suite")


@pytest.fixture
def shared_tmp(tmp_path):
    """A folder every rank sees: rank 0's tmp_path."""
    return type(tmp_path)(COMM.broadcast_object(str(tmp_path)))


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    if COMM.rank != 0:  # one report, rank 0's (a failure on rank 1 is printed anyway)
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            config.pluginmanager.unregister(reporter)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    if COMM.size == 1:
        yield
        return

    def hung():
        capture = item.config.pluginmanager.getplugin("capturemanager")
        if capture is not None:
            capture.suspend_global_capture(in_=True)
        COMM.abort(1, f"\nrank {COMM.rank}: {item.nodeid} still running after "
                      f"{_WATCHDOG_S} s; aborting the job\n")

    timer = threading.Timer(_WATCHDOG_S, hung)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if COMM.size > 1 and report.failed:
        capture = item.config.pluginmanager.getplugin("capturemanager")
        if capture is not None:
            capture.suspend_global_capture(in_=True)  # so that the report is seen
        COMM.abort(1, f"\nrank {COMM.rank}: {item.nodeid} FAILED ({report.when}); "
                      f"aborting the job\n{report.longreprtext}\n")
