"""``xpnet export``: a trained run's model as an ONNX file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from xpnet.cli.common import FORMAT, UsageError, out


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``export``."""
    p = sub.add_parser(
        "export", parents=[common], formatter_class=FORMAT,
        help="write a trained run's model as an ONNX file",
        description="Write a run's model (its fitted pre-processing first, so the file "
                    "takes raw pixels as 'xpnet predict' reads them) as an ONNX graph, "
                    "checked by onnx.checker. Needs the onnx package "
                    "(pip install 'xpnet[onnx]').",
        epilog="examples:\n  xpnet export runs/lenet5-mnist5k-20250101-120000\n"
               "  xpnet export RUN --out lenet.onnx --checkpoint last --opset 18")
    p.add_argument("run", metavar="RUN", help="a run folder written by xpnet train")
    p.add_argument("--out", metavar="FILE.onnx", default=None,
                   help="where to write (default: RUN/CHECKPOINT.onnx)")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best")
    p.add_argument("--opset", type=int, default=None, metavar="N",
                   help="ONNX opset of the graph (default 17; >= 13)")
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    """``xpnet export RUN``: load the checkpoint, trace it on one zero image, write."""
    import numpy  # noqa: PLC0415

    from xpnet.onnx import DEFAULT_OPSET, export  # noqa: PLC0415
    from xpnet.train import load_run  # noqa: PLC0415

    opset = DEFAULT_OPSET if args.opset is None else args.opset
    if opset < 13:
        raise UsageError(f"--opset must be >= 13, got {opset}")
    run = load_run(args.run, args.checkpoint)
    path = Path(args.out) if args.out else run.run_dir / f"{args.checkpoint}.onnx"
    example = numpy.zeros((1, *run.input_shape), numpy.float32)
    proto = export(run.model, example, path, opset=opset)
    params = sum(int(numpy.prod(t.dims)) for t in proto.graph.initializer)
    out(f"run: {run.run_dir}  checkpoint: {run.checkpoint} (epoch {run.meta.get('epoch')})")
    out(f"input: {proto.graph.input[0].name} (N, {', '.join(map(str, run.input_shape))}) "
        f"float32 raw pixels; output: {proto.graph.output[0].name} (N, {run.num_classes}) "
        "scores")
    out(f"graph: opset {opset}, {len(proto.graph.node)} nodes, {params:,} stored values")
    out(f"wrote {path}")
    return 0
