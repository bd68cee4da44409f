"""A/B of xpnet's engine settings on a real training step, xpnet alone.

The convolution engine's thresholds and switches are module constants of
``xpnet.functions.connection._im2col`` (``DIRECT_FWD_MAX``, ``DX_BY_CONV_MIN_CG``,
``BLOCK_BYTES``, ...). This script builds one of the benchmark networks
(``bench_cnn.MODELS``), then alternates training steps between variants of those
constants, step by step, so that a change in the machine's load hits every variant alike,
and prints each variant's median and lower-quartile step time. The first variant is
usually ``{}`` (the settings as shipped).

Run:
    python bench/ab_settings.py --model cifar_convnet --rounds 12 \\
        --variant '{}' --variant '{"DX_BY_CONV_MIN_CG": 1000000}'
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_cnn  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="lenet5", choices=sorted(bench_cnn.MODELS))
    ap.add_argument("--variant", action="append", default=None,
                    help="JSON object of _im2col constants to set (repeat; default: '{}')")
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import xpnet
    from xpnet import functions as F
    from xpnet import optim
    from xpnet.functions.connection import _im2col

    variants = [json.loads(v) for v in (args.variant or ["{}"])]
    for v in variants:
        if not isinstance(v, dict):
            ap.error(f"--variant must be a JSON object, got {v!r}")
        for key in v:
            if not hasattr(_im2col, key):
                ap.error(f"--variant: _im2col has no setting {key!r}")
    xpnet.set_num_threads(args.threads)
    net = bench_cnn.build_xpnet(args.model)
    opt = optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    x, y = bench_cnn.data(bench_cnn.MODELS[args.model], args.batch, 1)

    def step() -> None:
        opt.zero_grad()
        F.softmax_cross_entropy(net(xpnet.Tensor(x)), y).backward()
        opt.step()

    shipped = {k: getattr(_im2col, k) for v in variants for k in v}
    times: list[list[float]] = [[] for _ in variants]
    try:
        for _ in range(args.rounds):
            for i, v in enumerate(variants):
                for key, value in {**shipped, **v}.items():
                    setattr(_im2col, key, value)
                step()  # untimed: the switch's first step
                t = time.perf_counter()
                step()
                step()
                times[i].append((time.perf_counter() - t) / 2)
    finally:
        for key, value in shipped.items():
            setattr(_im2col, key, value)
    print(f"{args.model}, batch {args.batch}, {args.threads} threads, {args.rounds} rounds")
    for v, t in zip(variants, times):
        print(f"{json.dumps(v):40s} median {statistics.median(t) * 1e3:8.2f} ms  "
              f"p25 {numpy.percentile(t, 25) * 1e3:8.2f} ms")


if __name__ == "__main__":
    main()
