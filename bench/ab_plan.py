"""A/B of an inference plan's fusions: each model's plan traced with and without them.

An inference plan (:mod:`xpnet.nn.inference`) fuses a max pool and the ReLU after it
into one step (``_fuse_pool_relu``). Plans are cached per network and input shape, so
``ab_race.py`` cannot flip the fusion between turns; this script traces two plans of
the same network in one process, one with the fusion and one without, checks that they
give the same bits, and times them in alternating rounds (median ms per batch).

Run:
    python bench/ab_plan.py --models lenet_wide,lenet5 --batch 256 --rounds 15
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_cnn  # noqa: E402


def plans(name: str, batch: int) -> tuple:
    """(input, the plan without the fusion, the plan with it, fused steps) of a model."""
    from xpnet.nn import inference  # noqa: PLC0415

    net = bench_cnn.build_xpnet(name).eval()
    x, _ = bench_cnn.data(bench_cnn.MODELS[name], batch, 2)
    fused = inference.InferencePlan.trace(list(net), x)
    real = inference._fuse_pool_relu
    inference._fuse_pool_relu = lambda steps: steps
    try:
        plain = inference.InferencePlan.trace(list(net), x)
    finally:
        inference._fuse_pool_relu = real
    if fused(x).tobytes() != plain(x).tobytes():
        raise SystemExit(f"{name}: the fused plan's output differs from the plain plan's")
    return x, plain, fused, sum(step[0] == "pool_relu" for step in fused.steps)


def race(x: object, players: dict, rounds: int, turn: float) -> dict[str, float]:
    """Median seconds per call of each plan, alternating turns of ``turn`` seconds."""
    times: dict[str, list[float]] = {name: [] for name in players}
    names = list(players)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            plan = players[name]
            time.sleep(0.03)
            for _ in range(2):
                plan(x)
            t0, n = time.perf_counter(), 0
            while n < 1 or time.perf_counter() - t0 < turn:
                plan(x)
                n += 1
            times[name].append((time.perf_counter() - t0) / n)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="lenet_wide,lenet5,lenet_caffe",
                    help=f"comma-separated, from {sorted(bench_cnn.MODELS)}")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--turn", type=float, default=0.15, help="seconds of calls per turn")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    models = [m for m in args.models.split(",") if m]
    unknown = [m for m in models if m not in bench_cnn.MODELS]
    if unknown or not models:
        ap.error(f"--models: unknown {unknown}; one of {sorted(bench_cnn.MODELS)}")
    if args.batch < 1 or args.rounds < 1 or args.turn <= 0:
        ap.error("--batch and --rounds must be >= 1, --turn > 0")
    bench_cnn.set_threads(args.threads)
    print(f"inference plans, batch {args.batch}, {args.threads} threads, {args.rounds} "
          "alternating rounds; median ms per batch (the same bits checked)")
    for name in models:
        x, plain, fused, n_fused = plans(name, args.batch)
        med = race(x, {"plain": plain, "fused": fused}, args.rounds, args.turn)
        print(f"{name:14s} pool+ReLU steps fused {n_fused}  plain {med['plain'] * 1e3:8.3f}"
              f"  fused {med['fused'] * 1e3:8.3f}  plain / fused "
              f"{med['plain'] / med['fused']:.3f}")


if __name__ == "__main__":
    main()
