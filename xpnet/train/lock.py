"""RunLock: one process at a time trains in a run folder.

Two processes training into the same folder would overwrite each other's checkpoints
and tear ``history.jsonl``. :func:`xpnet.train.train_run` and
:func:`~xpnet.train.resume_run` therefore hold an operating-system lock on
``RUN/.lock`` for the whole run, as SQLite locks its database file: ``fcntl.flock`` on
POSIX, ``msvcrt.locking`` on Windows. The lock belongs to the open file, so the system
drops it when the process ends in any way (exit, exception, ``kill -9``, power cut): a
lock is never left stale, and nothing has to be cleaned up by hand. While it holds the
lock, a process writes its id, host and start time into the file, so that a second one
is refused with a message naming it. Readers (``xpnet evaluate``, ``predict``,
``visualize``) take no lock: every file they read is replaced atomically. On a file
system that cannot lock at all (some network or FUSE mounts), the run goes on with a
one-line warning that the folder is unprotected.

Example:
    >>> with RunLock("runs/mlp"):
    ...     pass  # train; another RunLock("runs/mlp") raises RunLockedError meanwhile
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import time
import warnings
from pathlib import Path
from typing import Any

from xpnet.train.errors import RunLockedError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
    import msvcrt

__all__ = ["LOCK_FILE", "RunLock", "RunLockedError"]

LOCK_FILE = ".lock"


_HELD = {errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES, getattr(errno, "EDEADLOCK", -1)}


def _try_lock(fd: int) -> bool:
    """Take the lock on ``fd`` without waiting; False when another process holds it.

    Raises:
        OSError: the file system cannot lock at all (some network or FUSE mounts).
    """
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError as e:
        if e.errno in _HELD:
            return False
        raise
    return True


def _holder(path: Path) -> str:
    """'pid 1234 on host, since 2025-01-01 12:00:00', as the holder wrote it, or ''."""
    with contextlib.suppress(OSError, UnicodeDecodeError):
        text = path.read_bytes()[:200].decode("utf-8").strip()
        if text.startswith("pid ") and text.isprintable():
            return text
    return ""


class RunLock:
    """An exclusive lock on a run folder, held from ``__enter__`` to ``__exit__``.

    Args:
        run_dir: the run folder (created if needed).

    Raises:
        RunLockedError: on entering, when another process holds the folder (the message
            names it: its process id, host and start time).

    Example:
        >>> with RunLock("runs/mlp") as lock:
        ...     lock.path
        PosixPath('runs/mlp/.lock')
    """

    def __init__(self, run_dir: str | os.PathLike) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self._fd: int | None = None
        self._unlocked = False  # held without a lock: the file system has none

    def acquire(self) -> None:
        """Take the lock, or raise :class:`RunLockedError` at once (never waits)."""
        if self._fd is not None:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            locked = _try_lock(fd)
        except OSError as e:  # no locks here: train unprotected rather than not at all
            warnings.warn(f"{self.path}: this file system cannot lock files ({e.strerror}); "
                          f"nothing stops a second process from training in {self.run_dir}",
                          RuntimeWarning, stacklevel=2)
            self._fd, self._unlocked = fd, True
            return
        if not locked:
            os.close(fd)
            holder = _holder(self.path)
            raise RunLockedError(
                f"{self.run_dir} is in use: another xpnet process is training in it"
                + (f" ({holder})" if holder else "")
                + "; wait for it to end, or choose another --run-dir")
        who = (f"pid {os.getpid()} on {socket.gethostname()}, since "
               f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n").encode()
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, who)
        self._fd = fd

    def release(self) -> None:
        """Let the folder go (the file stays: removing it could race a waiting process)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        if self._unlocked:
            self._unlocked = False
            os.close(fd)
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
        else:
            with contextlib.suppress(OSError):
                os.lseek(fd, 0, os.SEEK_SET)
                msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        os.close(fd)

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()
