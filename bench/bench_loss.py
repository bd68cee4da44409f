"""Benchmark: softmax cross-entropy's forward and backward, xpnet's compiled pass against
its NumPy path and PyTorch's ``F.cross_entropy``, per logits shape (N, C).

Each contestant runs ``--number`` forward + backward calls per repeat, on the same
float32 logits and class-index targets, alternating within each repeat; the best repeat
is reported in microseconds per call (the op is small: the best filters the VM's noise).
``xpnet.functions.loss.softmax_cross_entropy.COMPILED_MAX_VALUES`` is where the compiled
pass stops being taken.

Run:
    python bench/bench_loss.py
    python bench/bench_loss.py --shapes 128x10,128x1000 --number 500
    python bench/bench_loss.py --max-values 1000000   # the compiled pass at every shape
"""

from __future__ import annotations

import argparse
import importlib
import sys
import timeit
from pathlib import Path

import numpy

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_cnn  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default="1x10,32x10,128x10,256x10,128x32,256x32,32x100,"
                        "64x100,128x100,1x1000,8x1000,128x1000",
                        help="comma-separated N x C logits shapes")
    parser.add_argument("--number", type=int, default=1000, help="calls per repeat")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-values", type=int, default=None,
                        help="COMPILED_MAX_VALUES for this run (the compiled pass's limit)")
    return parser.parse_args()


def _shapes(text: str) -> list[tuple[int, int]]:
    shapes = []
    for item in text.split(","):
        n, _, c = item.strip().partition("x")
        if not (n.isdigit() and c.isdigit()) or int(n) < 1 or int(c) < 1:
            raise SystemExit(f"--shapes: expected N x C such as 128x10, got {item!r}")
        shapes.append((int(n), int(c)))
    return shapes


def main() -> None:
    args = parse_args()
    bench_cnn.set_threads(args.threads)
    import xpnet  # noqa: PLC0415  (after the thread settings)
    from xpnet import cpu  # noqa: PLC0415
    from xpnet import functions as F  # noqa: PLC0415

    if args.max_values is not None:
        module = importlib.import_module("xpnet.functions.loss.softmax_cross_entropy")
        module.COMPILED_MAX_VALUES = args.max_values
    try:
        import torch  # noqa: PLC0415  (the rival, optional here)
    except ImportError:
        torch = None
    print("us per forward + backward call, best of", args.repeat, "repeats of", args.number)
    print("| N x C | xpnet compiled | xpnet NumPy path | torch |")
    print("|---|---|---|---|")
    for n, c in _shapes(args.shapes):
        rng = numpy.random.default_rng(0)
        x = rng.standard_normal((n, c), dtype=numpy.float32)
        t = rng.integers(0, c, n)

        def ours(x: numpy.ndarray = x, t: numpy.ndarray = t) -> None:
            logits = xpnet.Tensor(x, requires_grad=True)
            F.softmax_cross_entropy(logits, t).backward()

        # (call, its settings scope, entered around the timed calls, not in them)
        calls = {"compiled": (ours, True), "numpy": (ours, False)}
        if torch is not None:
            tx, tt = torch.from_numpy(x), torch.from_numpy(t)

            def theirs(tx: object = tx, tt: object = tt) -> None:
                logits = tx.clone().requires_grad_()
                torch.nn.functional.cross_entropy(logits, tt).backward()

            calls["torch"] = (theirs, True)
        best = {k: float("inf") for k in calls}
        for _ in range(args.repeat):
            for k, (fn, compiled) in calls.items():
                with cpu.engines(compiled=compiled):
                    fn()  # warm
                    seconds = timeit.timeit(fn, number=args.number) / args.number
                best[k] = min(best[k], seconds)
        cells = [f"{best[k] * 1e6:.1f}" if k in best else "-"
                 for k in ("compiled", "numpy", "torch")]
        print(f"| {n} x {c} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
