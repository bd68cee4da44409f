"""A/B of xpnet variants in one race, optionally with PyTorch beside them.

A variant is a JSON object whose keys are any of:

- ``xpnet.cpu.engines`` keywords (``{"dense": "x_wt"}``, ``{"conv_dx": "col2im"}``);
- a module constant, named in full (``{"xpnet.cpu.dense.BLOCKS_MAX_INFER_ROWS": 128}``),
  set around each of the variant's calls and restored after it (for a threshold: the
  engine files read their constants at every call);
- ``"signalled": false``: every split runs unsignalled (the caller does not wait for the
  workers to enter their kernels: ``xpnet.cpu.pool``).

``{}`` is xpnet as it is. The network is one of ``bench_cnn.MODELS`` or of
``nets.MLPS`` (``--model``), trained with SGD and momentum (``--mode train``) or run
under ``no_grad`` (``--mode infer``), on random data, 2 threads. The variants (and
``torch`` with ``--torch``, in its better layout for convolutional nets: channels_last)
race in alternating turns with pauses between them (``bench_cnn.race``), and the script
prints each one's median time per call and its ratio to the first variant.

Run:
    python bench/ab_race.py --model mlp500 --batch 256 --mode infer --torch \\
        --variant '{}' --variant '{"xpnet.cpu.dense.BLOCKS_MAX_INFER_ROWS": 128}'
    python bench/ab_race.py --model lenet5 --batch 32 --mode train --rounds 31 \\
        --variant '{}' --variant '{"signalled": false}'
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_cnn  # noqa: E402
import bench_mlp  # noqa: E402
from nets import MLPS  # noqa: E402


def _split_variant(v: dict) -> tuple[dict, list[tuple[Any, str, Any]], bool]:
    """(engines keywords, [(module, name, value)], signalled) of one variant."""
    engines, constants, signalled = {}, [], True
    for key, value in v.items():
        if key == "signalled":
            signalled = bool(value)
        elif "." in key:
            module_name, _, name = key.rpartition(".")
            module = importlib.import_module(module_name)
            if not hasattr(module, name):
                raise SystemExit(f"--variant: {module_name} has no {name}")
            constants.append((module, name, value))
        else:
            engines[key] = value
    return engines, constants, signalled


def _wrap(fn: Callable[[], Any], v: dict) -> Callable[[], None]:
    """``fn`` run under variant ``v``."""
    import xpnet
    from xpnet.cpu import pool

    engines, constants, signalled = _split_variant(v)
    xpnet.cpu.engines(**engines)  # a bad keyword fails here, before the race
    real = pool.SpinPool.run_with

    def unsignalled(self: Any, calls: Any, own: Any, signalled: bool = False) -> Any:
        return real(self, calls, own, False)

    def call() -> None:
        saved = [(m, n, getattr(m, n)) for m, n, _ in constants]
        for m, n, value in constants:
            setattr(m, n, value)
        if not signalled:
            pool.SpinPool.run_with = unsignalled
        try:
            if engines:
                with xpnet.cpu.engines(**engines):
                    fn()
            else:  # no engines() scope: 8 us a call, which would bias a race with torch
                fn()
        finally:
            pool.SpinPool.run_with = real
            for m, n, value in saved:
                setattr(m, n, value)

    return call


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="lenet5", choices=sorted([*bench_cnn.MODELS, *MLPS]))
    ap.add_argument("--mode", default="train", choices=("train", "infer"))
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--variant", action="append", default=None,
                    help="JSON object (repeat; default: '{}'); see the module docstring")
    ap.add_argument("--torch", action="store_true", help="race PyTorch too")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cooldown", type=float, default=0.05,
                    help="seconds of pause before each turn: 0.15 or more lets a "
                         "variant's multi-threaded BLAS calls (OpenBLAS's worker spins "
                         "~0.1 s after them) end before the next turn")
    args = ap.parse_args()

    variants = [json.loads(v) for v in (args.variant or ["{}"])]
    if not all(isinstance(v, dict) for v in variants):
        ap.error("--variant must be a JSON object")
    bench_cnn.set_threads(args.threads)  # xpnet's, PyTorch's, the allocator
    if args.model in MLPS:
        ns = argparse.Namespace(lr=0.01, seed=0)
        ours, theirs = bench_mlp._make_runs(MLPS[args.model], args.batch, ns)
        fn = ours.step if args.mode == "train" else ours.infer
        rival = (theirs.step if args.mode == "train" else theirs.infer) if args.torch else None
    else:
        fn = bench_cnn.xpnet_steps(args.model, args.batch, args.batch)[args.mode]
        rival = (bench_cnn.torch_steps(args.model, args.batch, args.batch, True)
                 [args.mode] if args.torch else None)
    players = {json.dumps(v): _wrap(fn, v) for v in variants}
    if rival is not None:
        players["torch"] = rival
    med = bench_cnn.race(players, args.rounds, inner=3, cooldown=args.cooldown, warm=0.05,
                         timed=0.1, quiet=0.15, retries=3)
    first = med[json.dumps(variants[0])]
    print(f"{args.model}, {args.mode}, batch {args.batch}, {args.threads} threads, "
          f"{args.rounds} rounds (median ms; ratio: the first variant's time / this one's)")
    for name, t in med.items():
        print(f"  {name:50s} {t * 1e3:9.3f} ms  {first / t:6.3f}")


if __name__ == "__main__":
    main()
