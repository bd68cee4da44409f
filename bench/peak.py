"""This machine's measured fp32 peak: fused multiply-adds on registers, per core and in all.

A loop of 24 independent vector fused multiply-adds (``llvm.fma`` on the widest vectors
the CPU has: 16 float32 with AVX-512), written as LLVM IR through numba so that nothing
but the FMAs runs: no loads, no stores, no dependency chain shorter than the FMA's
latency. Each of ``threads`` Python threads (numba releases the GIL) runs it for about
``seconds``; the peak is the best of ``repeats`` runs, in GFLOP/s (2 FLOPs per
multiply-add). The benchmarks report a network's rate as a fraction of it.

Run:
    python bench/peak.py                 # 1 thread and 2 threads, best of 5
    python bench/peak.py --threads 4
"""

from __future__ import annotations

import argparse
import functools
import threading
import time
from typing import Any

ACCUMULATORS = 24


@functools.lru_cache(maxsize=1)
def _kernel() -> tuple[Any, int]:
    """(run(n) -> float, lanes): n iterations of ACCUMULATORS vector FMAs."""
    import numba
    from llvmlite import binding as llvm
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic

    feats = llvm.get_host_cpu_features()
    lanes = 16 if feats.get("avx512f", False) else 8 if feats.get("avx", False) else 4

    @intrinsic
    def fma_loop(typingctx: Any, n: Any) -> Any:
        def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
            f32 = ir.FloatType()
            vty = ir.VectorType(f32, lanes)
            fma = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(vty, [vty] * 3), f"llvm.fma.v{lanes}f32")
            step = ir.Constant(vty, [0.999] * lanes)
            slots = [cgutils.alloca_once_value(builder, ir.Constant(vty, [i * 1e-3] * lanes))
                     for i in range(ACCUMULATORS)]
            with cgutils.for_range(builder, args[0]):
                for s in slots:
                    builder.store(builder.call(fma, [builder.load(s), step, step]), s)
            total = builder.load(slots[0])
            for s in slots[1:]:
                total = builder.fadd(total, builder.load(s))
            return builder.extract_element(total, ir.Constant(ir.IntType(32), 0))

        return types.float32(n), codegen

    @numba.njit(nogil=True)
    def run(n: int) -> float:
        return fma_loop(n)

    run(1)
    return run, lanes


def measure(threads: int = 1, seconds: float = 0.2, repeats: int = 5) -> float:
    """Best GFLOP/s of ``threads`` threads each running the FMA loop for ~``seconds``."""
    run, lanes = _kernel()
    per_iter = ACCUMULATORS * lanes * 2
    start = time.perf_counter()
    run(1_000_000)
    n = max(1000, int(1_000_000 * seconds / max(time.perf_counter() - start, 1e-6)))
    best = 0.0
    for _ in range(repeats):
        workers = [threading.Thread(target=run, args=(n,)) for _ in range(threads)]
        start = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        best = max(best, threads * n * per_iter / (time.perf_counter() - start) / 1e9)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    for n in sorted({1, args.threads}):
        print(f"fp32 peak, {n} thread{'s' if n > 1 else ''}: "
              f"{measure(n, repeats=args.repeats):.1f} GFLOP/s (best of {args.repeats})")


if __name__ == "__main__":
    main()
