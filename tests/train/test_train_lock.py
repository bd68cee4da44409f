"""RunLock: one process at a time in a run folder; the lock dies with its process."""

import os
import signal
import socket
import subprocess
import sys

import pytest

from xpnet.train.errors import RunLockedError
from xpnet.train.lock import RunLock

pytestmark = pytest.mark.skipif(os.name != "posix", reason="kill -9 and flock are POSIX")

_HOLDER = """
import sys, time
from xpnet.train.lock import RunLock
lock = RunLock(sys.argv[1])
lock.acquire()
print("LOCKED", flush=True)
time.sleep(600)
"""


def test_a_second_lock_is_refused_and_names_the_holder(tmp_path):
    run = tmp_path / "run"
    with RunLock(run) as lock:
        assert lock.path == run / ".lock"
        with pytest.raises(RunLockedError) as info:
            RunLock(run).acquire()
        message = str(info.value)
        assert message.startswith(f"{run} is in use: another xpnet process is training in it "
                                  f"(pid {os.getpid()} on {socket.gethostname()}, since ")
        assert message.endswith("); wait for it to end, or choose another --run-dir")
    with RunLock(run):  # released: free again
        pass


def test_the_lock_of_a_killed_process_is_free(tmp_path):
    run = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(run)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "LOCKED"
        with pytest.raises(RunLockedError, match=f"pid {holder.pid} on "):
            RunLock(run).acquire()
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    finally:
        if holder.poll() is None:
            holder.kill()
    with RunLock(run):  # no stale lock to clean by hand
        pass


def test_a_file_system_without_locks_warns_and_trains_unprotected(tmp_path, monkeypatch):
    import errno

    from xpnet.train import lock as lock_module

    def no_locks(fd):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(lock_module, "_try_lock", no_locks)
    with pytest.warns(RuntimeWarning) as caught, RunLock(tmp_path / "run"):
        pass
    assert [str(w.message) for w in caught] == [
        f"{tmp_path / 'run' / '.lock'}: this file system cannot lock files "
        f"({os.strerror(errno.ENOLCK)}); nothing stops a second process from training in "
        f"{tmp_path / 'run'}"]
