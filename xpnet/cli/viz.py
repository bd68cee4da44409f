"""``xpnet visualize`` and ``xpnet report``: pictures of what a run learned."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from xpnet.cli.common import FORMAT, UsageError, out


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``visualize`` (its kinds from :data:`xpnet.viz.commands.KINDS`) and ``report``."""
    from xpnet.viz.commands import KINDS  # noqa: PLC0415 (matplotlib stays unimported)

    kinds = tuple(KINDS)
    p = sub.add_parser(
        "visualize", parents=[common], formatter_class=FORMAT,
        help="draw what a trained network learned (PNGs)",
        description="Write PNGs of a run: " + ", ".join(kinds) + ".",
        epilog="examples:\n  xpnet visualize filters RUN\n"
               "  xpnet visualize top RUN --layer 1 --channel 3 --set k=9\n"
               "  xpnet visualize saliency RUN --image 7 --out /tmp/sal\n"
               "  xpnet visualize curves RUN\n"
               "Options of each kind beyond the named ones go through --set KEY=VALUE "
               "(VALUE read as JSON when it parses, else as a string).")
    p.add_argument("kind", choices=kinds, metavar="KIND", help="one of " + ", ".join(kinds))
    p.add_argument("run", metavar="RUN")
    p.add_argument("--out", metavar="DIR", help="where the PNGs go (default RUN/viz)")
    p.add_argument("--layer", help="layer index or name")
    p.add_argument("--channel", type=int, help="channel (unit) of the layer")
    p.add_argument("--image", type=int, help="index of the test image")
    p.add_argument("--set", dest="options", action="append", default=[], metavar="KEY=VALUE",
                   help="another option of the kind (repeatable)")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best")
    p.set_defaults(func=cmd_visualize)

    p = sub.add_parser("report", parents=[common], formatter_class=FORMAT,
                       help="write RUN/report.html: curves, filters, top inputs, saliency",
                       description="One self-contained HTML page about a run.",
                       epilog="example:\n  xpnet report runs/lenet5-mnist5k-20250101-120000")
    p.add_argument("run", metavar="RUN")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best")
    p.set_defaults(func=cmd_report)


def _parse_set(items: list[str]) -> dict[str, Any]:
    options = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            value = text
        options[key.strip().replace("-", "_")] = value
    return options


def cmd_visualize(args: argparse.Namespace) -> int:
    """``xpnet visualize KIND RUN``: PNGs through :func:`xpnet.viz.commands.visualize`."""
    from xpnet.viz.commands import visualize  # noqa: PLC0415

    options = _parse_set(args.options)
    for key in ("layer", "channel", "image"):
        value = getattr(args, key)
        if value is not None:
            options[key] = int(value) if key == "layer" and value.lstrip("-").isdigit() \
                else value
    paths = visualize(args.kind, Path(args.run), out_dir=Path(args.out) if args.out else None,
                      checkpoint=args.checkpoint, **options)
    for path in paths:
        out(path)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """``xpnet report RUN``: RUN/report.html through :func:`xpnet.viz.commands.write_report`."""
    from xpnet.viz.commands import write_report  # noqa: PLC0415

    out(write_report(Path(args.run), checkpoint=args.checkpoint))
    return 0
