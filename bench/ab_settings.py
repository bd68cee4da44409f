"""A/B of xpnet's engine choices on a real training step, xpnet alone.

Each variant is a set of ``xpnet.cpu.engines`` keywords (``{"conv": "gemm"}``,
``{"conv_dx": "col2im"}``, ``{"compiled": false}``, ...; ``{}`` is xpnet's own choice by
shape). This script builds one of the benchmark networks (``bench_cnn.MODELS``), then
alternates training steps between the variants, step by step, so that a change in the
machine's load hits every variant alike, and prints each variant's median and
lower-quartile step time. The first variant is usually ``{}``. (A threshold is
re-measured per layer with ``bench_conv_ops.py --paths``, then tried here by forcing the
engine it would pick.)

Run:
    python bench/ab_settings.py --model cifar_convnet --rounds 12 \\
        --variant '{}' --variant '{"conv_dx": "col2im"}'
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
                    help="JSON object of xpnet.cpu.engines keywords (repeat; default: '{}')")
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import xpnet
    from xpnet import functions as F
    from xpnet import optim

    variants = [json.loads(v) for v in (args.variant or ["{}"])]
    for v in variants:
        if not isinstance(v, dict):
            ap.error(f"--variant must be a JSON object, got {v!r}")
        try:
            xpnet.cpu.engines(**v)
        except (TypeError, ValueError) as e:
            ap.error(f"--variant {json.dumps(v)}: {e}")
    xpnet.cpu.tune_allocator()  # as a training process runs (the CLI and Trainer call it)
    xpnet.set_num_threads(args.threads)
    net = bench_cnn.build_xpnet(args.model)
    opt = optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    x, y = bench_cnn.data(bench_cnn.MODELS[args.model], args.batch, 1)

    def step() -> None:
        opt.zero_grad()
        F.softmax_cross_entropy(net(xpnet.Tensor(x)), y).backward()
        opt.step()

    times: list[list[float]] = [[] for _ in variants]
    for _ in range(args.rounds):
        for i, v in enumerate(variants):
            with xpnet.cpu.engines(**v):
                step()  # untimed: the switch's first step
                t = time.perf_counter()
                step()
                step()
                times[i].append((time.perf_counter() - t) / 2)
    print(f"{args.model}, batch {args.batch}, {args.threads} threads, {args.rounds} rounds")
    for v, t in zip(variants, times):
        print(f"{json.dumps(v):40s} median {statistics.median(t) * 1e3:8.2f} ms  "
              f"p25 {numpy.percentile(t, 25) * 1e3:8.2f} ms")


if __name__ == "__main__":
    main()
