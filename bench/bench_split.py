"""The cost of one split over xpnet's threads: when each slice starts, signalled or not.

Times ``xpnet.cpu.threads.parallel_slices`` on two threads over a compiled kernel that
signals its start (``spin_kernels.signal``) and then spins for ``--work`` microseconds,
with ``--gap`` microseconds of Python between two splits (as between a network's ops).
Three kinds of split, in alternating rounds: "joined" (signalled, the kernel ending with
``spin_kernels.join`` as xpnet's kernels do: the caller's kernel returns once the
worker has ended), "signalled" (the same without the join) and "unsignalled" (the
caller runs its own slice at once: ``xpnet.cpu.pool``). For each it prints the median
of: when the caller's slice started, when the worker's started (both from the call of
``parallel_slices``) and the whole split, microseconds.

Run:
    python bench/bench_split.py [--work 100] [--gaps 0,50,200,1000] [--rounds 300]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numba
import numpy

from xpnet.cpu import pool, set_num_threads, spin_kernels
from xpnet.cpu.threads import kernel_signal, parallel_slices


@numba.njit(nogil=True)
def _spin(flags, index, seq, until):  # noqa: ANN001, ANN202
    """Signal, then ``until`` iterations of work (calibrated to microseconds below)."""
    spin_kernels.signal(flags, index, seq)
    total = 0.0
    for i in range(until):
        total += i * 1e-9
    return total


@numba.njit(nogil=True)
def _spin_join(flags, index, seq, until):  # noqa: ANN001, ANN202
    """:func:`_spin`, then :func:`xpnet.cpu.spin_kernels.join`, as xpnet's kernels end."""
    total = _spin(flags, index, seq, until)
    spin_kernels.join(flags, index, seq)
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=float, default=100.0, help="us of work per slice")
    ap.add_argument("--gaps", default="0,50,200,1000", help="us of Python between splits")
    ap.add_argument("--rounds", type=int, default=300)
    args = ap.parse_args()
    set_num_threads(2)
    # calibrate the spin: iterations per microsecond on this core
    _spin(*kernel_signal(), 1000)
    t = time.perf_counter()
    _spin(*kernel_signal(), 10_000_000)
    per_us = int(10_000_000 / ((time.perf_counter() - t) * 1e6))
    starts: dict[int, float] = {}
    kernel = {"joined": _spin_join, "signalled": _spin, "unsignalled": _spin}
    mode = ["joined"]  # the mode of the round being timed

    def part(lo: int, hi: int) -> None:
        starts[lo] = time.perf_counter()
        kernel[mode[0]](*kernel_signal(), int(args.work * per_us))

    real = pool.SpinPool.run_with

    def unsignalled(self, calls, own, signalled=False):  # noqa: ANN001, ANN202
        return real(self, calls, own, False)

    print(f"two threads, {args.work:g} us of work per slice, median of {args.rounds} "
          "splits (us from the call)")
    print(f"{'gap us':>7s} {'mode':>12s} {'caller':>7s} {'worker':>7s} {'split':>7s}")
    for gap in (float(v) for v in args.gaps.split(",")):
        res: dict[str, list[tuple[float, float, float]]] = {m: [] for m in kernel}
        for r in range(args.rounds):
            for m in kernel:
                mode[0] = m
                pool.SpinPool.run_with = unsignalled if m == "unsignalled" else real
                end = time.perf_counter() + gap * 1e-6
                while time.perf_counter() < end:
                    pass
                starts.clear()
                t0 = time.perf_counter()
                parallel_slices(2, part, numpy, None, signalled=True)
                t1 = time.perf_counter()
                if r:  # the first round warms up
                    res[m].append((starts[0] - t0, starts[1] - t0, t1 - t0))
        pool.SpinPool.run_with = real
        for m, times in res.items():
            med = [statistics.median(v[i] for v in times) * 1e6 for i in range(3)]
            print(f"{gap:7g} {m:>12s} {med[0]:7.1f} {med[1]:7.1f} {med[2]:7.1f}")


if __name__ == "__main__":
    main()
