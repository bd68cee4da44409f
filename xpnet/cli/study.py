"""``xpnet study``: a classic claim reproduced on real data, optionally beside PyTorch."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from xpnet.cli.common import FORMAT, UsageError, note, out, positive

_EXAMPLES = """\
examples:
  xpnet study --list                          the studies, one line each
  xpnet study activations                     3 seeds, files in studies/activations/
  xpnet study pooling --seeds 5 --compare torch
  xpnet study all --quick --out /tmp/studies  every study, small budgets (a smoke test)

Each study trains every arm once per seed (seed s: initial weights, batch order,
augmentation) and writes OUT/results.json (every number, per seed), OUT/table.md (mean
+- standard deviation over the seeds, the findings, the command) and OUT/plot.png; the
table is also printed. --compare torch trains each arm's PyTorch twin from the same
initial weights on the same batches (PyTorch must be installed; xpnet never needs it),
and reports both columns, their difference and, where the two should agree step for
step, the largest weight differences after one step in float64 and after the first
epoch in float32.
"""


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``study``."""
    p = sub.add_parser("study", parents=[common], formatter_class=FORMAT,
                       help="reproduce a classic claim over seeds, optionally beside PyTorch",
                       description="Run a study: the arms of one claim, each trained once "
                                   "per seed, summarised as a table and a plot.",
                       epilog=_EXAMPLES)
    p.add_argument("name", nargs="?", metavar="NAME", help="a study (see --list), or all")
    p.add_argument("--list", action="store_true", help="list the studies and exit")
    p.add_argument("--seeds", type=int, default=None, metavar="N",
                   help="seeds 0..N-1 (default 3; 1 with --quick)")
    p.add_argument("--quick", action="store_true",
                   help="small budgets: checks that the study runs, in seconds; not a result")
    p.add_argument("--compare", choices=("torch",), default=None,
                   help="also train each arm in PyTorch, from the same weights on the same "
                        "batches")
    p.add_argument("--out", metavar="DIR", help="where the files go (default studies/NAME; "
                   "for all: DIR/NAME)")
    p.set_defaults(func=cmd_study)


def _list() -> int:
    from xpnet.studies import STUDIES  # noqa: PLC0415

    width = max(len(n) for n in STUDIES)
    for name, study in STUDIES.items():
        out(f"{name:<{width}}  {study.title}")
    return 0


def cmd_study(args: argparse.Namespace) -> int:
    """``xpnet study NAME`` (or ``all``), ``xpnet study --list``."""
    if args.list:
        return _list()
    from xpnet import cpu  # noqa: PLC0415
    from xpnet.studies import STUDIES, run_study  # noqa: PLC0415

    if not args.name:
        raise UsageError("name a study (xpnet study --list shows them) or 'all'")
    if args.name != "all" and args.name not in STUDIES:
        raise UsageError(f"unknown study {args.name!r}; the studies are: "
                         f"{', '.join(STUDIES)} (or all)")
    seeds = positive(args.seeds, "--seeds") if args.seeds is not None else (
        1 if args.quick else 3)
    names = list(STUDIES) if args.name == "all" else [args.name]
    cpu.tune_allocator()  # reuse freed host arrays between steps, as xpnet train does
    for name in names:
        folder = (Path(args.out) / name if args.name == "all" else Path(args.out)) \
            if args.out else Path("studies") / name
        done = run_study(name, seeds=seeds, quick=args.quick, compare=args.compare,
                         out=folder, log=note, progress=sys.stderr.isatty())
        out(done.table)
        out("files: " + ", ".join(str(f) for f in done.files))
    return 0
