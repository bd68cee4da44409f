"""``xpnet models`` and ``xpnet summary``: the model zoo."""

from __future__ import annotations

import argparse
from typing import Any

from xpnet.cli.common import FORMAT, UsageError, json_object, out, positive


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``models`` and ``summary``."""
    p = sub.add_parser("models", parents=[common], formatter_class=FORMAT,
                       help="list the model zoo with parameter counts",
                       description="The models of the zoo, each built for its example "
                                   "input shape with 10 classes.",
                       epilog="example:\n  xpnet models")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("summary", parents=[common], formatter_class=FORMAT,
                       help="layers, output shapes, parameters and FLOPs of a model",
                       description="Tabulate a zoo model layer by layer.",
                       epilog="examples:\n  xpnet summary lenet5\n"
                              "  xpnet summary alexnet --input-shape 3 64 64 --classes 100")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--input-shape", type=int, nargs=3, metavar=("C", "H", "W"))
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--model-options", metavar="JSON", help="builder options as JSON")
    p.set_defaults(func=cmd_summary)


def cmd_models(args: argparse.Namespace) -> int:
    """``xpnet models``: every zoo entry with its example shape and parameter count."""
    from xpnet.models.zoo import ZOO, build_model  # noqa: PLC0415

    rows = []
    for name, entry in ZOO.items():
        params = build_model(name, entry.example_shape, 10, seed=0).num_parameters()
        shape = "x".join(str(n) for n in entry.example_shape)
        rows.append((name, shape, f"{params:,}", entry.description))
    head = ("model", "input", "params", "description")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(3)]
    for r in [head, *rows]:
        out(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    """``xpnet summary MODEL``: the layer table of a zoo model."""
    from xpnet.models.summary import summary  # noqa: PLC0415
    from xpnet.models.zoo import ZOO, build_model  # noqa: PLC0415
    from xpnet.train.config import check_setting  # noqa: PLC0415

    check_setting("model", args.model, "summary")
    positive(args.classes, "--classes")
    shape = tuple(args.input_shape) if args.input_shape else ZOO[args.model].example_shape
    if any(n < 1 for n in shape):
        raise UsageError(f"--input-shape must be positive, got {shape}")
    options = json_object(args.model_options, "--model-options") if args.model_options else {}
    model = build_model(args.model, shape, args.classes, seed=0, **options)
    out(f"{args.model} for inputs {shape}, {args.classes} classes")
    out(str(summary(model, shape)))
    return 0
