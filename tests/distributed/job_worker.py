"""A process of the jobs that test_jobs.py launches with ``mpiexec -n 2``.

    python job_worker.py raise [STAMP]
        rank 1 raises an uncaught exception while rank 0 waits in a barrier.
    python job_worker.py cli [--raise-at N | --kill-at N] [--stamp STAMP] -- ARGS...
        runs ``xpnet ARGS...``; with an option, rank 1 raises (or kills itself with
        SIGKILL) at its N-th training forward pass.

With STAMP, rank 1 writes the time (``time.time()``) at which it fails to that file, so
that a test measures how long the job lived after the failure, not its start-up (which
takes seconds on a loaded machine).
"""

import os
import signal
import sys
import time


def _rank():
    return int(os.environ.get("PMI_RANK", os.environ.get("OMPI_COMM_WORLD_RANK", "0")))


def _stamp(path):
    if path:
        with open(path, "w") as f:
            f.write(repr(time.time()))


def _raise(stamp=None):
    from xpnet import distributed

    comm = distributed.init()
    comm.barrier()
    if comm.rank == 1:
        _stamp(stamp)
        raise RuntimeError("rank one broke")
    comm.barrier()  # without the abort, rank 0 would wait here for ever


def _cli(args):
    split = args.index("--")
    options, argv = args[:split], args[split + 1:]
    stamp = None
    if "--stamp" in options:
        at = options.index("--stamp")
        stamp, options = options[at + 1], options[:at] + options[at + 2:]
    if options and _rank() == 1:
        from xpnet.distributed import DataParallel

        kind, at = options[0], int(options[1])
        forward, calls = DataParallel.forward, []

        def failing(self, x):
            if self.module.training:
                calls.append(1)
                if len(calls) == at:
                    _stamp(stamp)
                    if kind == "--kill-at":
                        os.kill(os.getpid(), signal.SIGKILL)
                    raise MemoryError("rank 1 ran out of memory (injected)")
            return forward(self, x)

        DataParallel.forward = failing
    from xpnet.cli import main

    return main(argv)


if __name__ == "__main__":
    if sys.argv[1] == "raise":
        _raise(*sys.argv[2:3])
    else:
        sys.exit(_cli(sys.argv[2:]))
