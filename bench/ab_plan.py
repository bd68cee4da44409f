"""A/B of an inference plan's choices: each model's plan with and without one of them.

An inference plan (:mod:`xpnet.nn.inference`) fuses a max pool and the ReLU after it
into one step (``_fuse_pool_relu``), and clips its other ReLUs in place by a compiled
pass (``xpnet.cpu.relu.forward_inplace``, ``--relu``: against NumPy's ``maximum``).
Plans are cached per network and input shape, so ``ab_race.py`` cannot flip these
between turns; this script runs the same network's two variants in one process, checks
that they give the same bits, and times them in alternating rounds (median ms per
batch). Models: ``bench_cnn.MODELS`` and, with ``--relu``, the MLPs of ``nets.MLPS``.

Run:
    python bench/ab_plan.py --models lenet_wide,lenet5 --batch 256 --rounds 15
    python bench/ab_plan.py --relu --models mlp500,cifar_convnet --batch 256
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


def relu_players(name: str, batch: int) -> tuple:
    """(input, {"numpy": the plan with NumPy's in-place ReLU, "compiled": as it is},
    the plan's ReLU steps) of a model."""
    import numpy  # noqa: PLC0415
    from nets import MLPS  # noqa: PLC0415

    from xpnet.cpu import relu as cpu_relu  # noqa: PLC0415
    from xpnet.models import mlp  # noqa: PLC0415
    from xpnet.nn import inference  # noqa: PLC0415

    if name in MLPS:
        net = mlp(MLPS[name], activation="relu", rng=numpy.random.default_rng(0)).eval()
        x = numpy.random.default_rng(2).random((batch, MLPS[name][0]), dtype=numpy.float32)
    else:
        net = bench_cnn.build_xpnet(name).eval()
        x, _ = bench_cnn.data(bench_cnn.MODELS[name], batch, 2)
    plan = inference.InferencePlan.trace(list(net), x)

    def numpy_relu(a: object) -> object:
        real = cpu_relu.forward_inplace
        cpu_relu.forward_inplace = lambda *args, **kwargs: False  # the NumPy path
        try:
            return plan(a)
        finally:
            cpu_relu.forward_inplace = real

    if numpy_relu(x).tobytes() != plan(x).tobytes():
        raise SystemExit(f"{name}: the compiled ReLU's output differs from NumPy's")
    return x, {"numpy": numpy_relu, "compiled": plan}, sum(s[0] == "relu" for s in plan.steps)


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
    ap.add_argument("--relu", action="store_true",
                    help="the plans' in-place ReLU, compiled against NumPy's, instead")
    args = ap.parse_args()
    from nets import MLPS  # noqa: PLC0415

    models = [m for m in args.models.split(",") if m]
    known = {**bench_cnn.MODELS, **(MLPS if args.relu else {})}
    unknown = [m for m in models if m not in known]
    if unknown or not models:
        ap.error(f"--models: unknown {unknown}; one of {sorted(known)}")
    if args.batch < 1 or args.rounds < 1 or args.turn <= 0:
        ap.error("--batch and --rounds must be >= 1, --turn > 0")
    bench_cnn.set_threads(args.threads)
    print(f"inference plans, batch {args.batch}, {args.threads} threads, {args.rounds} "
          "alternating rounds; median ms per batch (the same bits checked)")
    for name in models:
        if args.relu:
            x, players, n_relu = relu_players(name, args.batch)
            med = race(x, players, args.rounds, args.turn)
            print(f"{name:14s} ReLU steps {n_relu}  numpy {med['numpy'] * 1e3:8.3f}  compiled "
                  f"{med['compiled'] * 1e3:8.3f}  numpy / compiled "
                  f"{med['numpy'] / med['compiled']:.3f}")
            continue
        x, plain, fused, n_fused = plans(name, args.batch)
        med = race(x, {"plain": plain, "fused": fused}, args.rounds, args.turn)
        print(f"{name:14s} pool+ReLU steps fused {n_fused}  plain {med['plain'] * 1e3:8.3f}"
              f"  fused {med['fused'] * 1e3:8.3f}  plain / fused "
              f"{med['plain'] / med['fused']:.3f}")


if __name__ == "__main__":
    main()
