"""In-process A/B of one engine module: an older revision's functions against the tree's.

Writes ``--module``'s file as it was at ``--rev`` (``git show``) to a temporary folder,
imports it under another name (numba caches its kernels apart from the tree's), and
alternates a network's training steps (or inference batches; ``bench_cnn.MODELS`` or
``nets.MLPS``) between the old functions ``--attrs`` patched into the tree's module and
the tree's own, step by step, so that a change in the machine's load hits both. The old
file must import what it needs from the tree (the same names): a change to an engine's
entry points, not to its callers. Prints each side's median time per step and old / new.

Run:
    python bench/ab_revision.py --module xpnet.cpu.conv.blocks --rev HEAD~1 \\
        --attrs run_forward,run_param_grads --model cifar_convnet --batch 128
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_cnn  # noqa: E402
import bench_mlp  # noqa: E402
from nets import MLPS  # noqa: E402


def load_old(module: str, rev: str, folder: Path) -> object:
    """``module`` as it was at ``rev``, imported from ``folder`` as ``old_<name>``."""
    root = Path(__file__).resolve().parent.parent
    path = module.replace(".", "/") + ".py"
    if (root / module.replace(".", "/")).is_dir():  # a package: its __init__.py
        path = module.replace(".", "/") + "/__init__.py"
    text = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=root, check=True,
                          capture_output=True, text=True).stdout
    name = "old_" + module.rpartition(".")[2]
    file = folder / f"{name}.py"
    file.write_text(text)
    spec = importlib.util.spec_from_file_location(name, file)
    old = importlib.util.module_from_spec(spec)
    sys.modules[name] = old
    spec.loader.exec_module(old)
    return old


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--module", required=True, help="e.g. xpnet.cpu.conv.blocks")
    ap.add_argument("--rev", default="HEAD", help="the older revision (git)")
    ap.add_argument("--attrs", required=True, help="functions to swap, comma-separated")
    ap.add_argument("--model", default="cifar_convnet", choices=sorted([*bench_cnn.MODELS, *MLPS]))
    ap.add_argument("--mode", default="train", choices=("train", "infer"))
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=13)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    bench_cnn.set_threads(args.threads)
    new = importlib.import_module(args.module)
    names = args.attrs.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        old = load_old(args.module, args.rev, Path(tmp))
        for n in names:
            if not hasattr(old, n) or not hasattr(new, n):
                raise SystemExit(f"{n}: not in both revisions of {args.module}")
        sides = {"old": {n: getattr(old, n) for n in names},
                 "new": {n: getattr(new, n) for n in names}}
        if args.model in MLPS:
            ours, _ = bench_mlp._make_runs(MLPS[args.model], args.batch,
                                           argparse.Namespace(lr=0.01, seed=0))
            fn = ours.step if args.mode == "train" else ours.infer
        else:
            fn = bench_cnn.xpnet_steps(args.model, args.batch, args.batch)[args.mode]
        times: dict[str, list[float]] = {"old": [], "new": []}
        for _ in range(args.rounds):
            for side, funcs in sides.items():
                for n, f in funcs.items():
                    setattr(new, n, f)
                fn()  # untimed: the switch's first call
                t = time.perf_counter()
                fn()
                fn()
                times[side].append((time.perf_counter() - t) / 2)
        for n, f in sides["new"].items():
            setattr(new, n, f)
    med = {side: statistics.median(t) for side, t in times.items()}
    print(f"{args.model}, {args.mode}, batch {args.batch}, {args.threads} threads, "
          f"{args.rounds} rounds; {args.module} at {args.rev} against the tree")
    print(f"old {med['old'] * 1e3:.3f} ms  new {med['new'] * 1e3:.3f} ms  "
          f"old / new {med['old'] / med['new']:.3f}")


if __name__ == "__main__":
    main()
