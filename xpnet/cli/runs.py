"""``xpnet evaluate`` and ``xpnet predict``: a trained run's checkpoint at work."""

from __future__ import annotations

import argparse
import math
from typing import Any

import numpy

from xpnet.cli.common import FORMAT, UsageError, out, positive


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``evaluate`` and ``predict``."""
    p = sub.add_parser(
        "evaluate", parents=[common], formatter_class=FORMAT,
        help="accuracy and confusion matrix of a trained run",
        description="Evaluate a run's checkpoint on its test split (or another split).",
        epilog="examples:\n  xpnet evaluate runs/lenet5-mnist5k-20250101-120000\n"
               "  xpnet evaluate RUN --checkpoint last --split val\n"
               "  xpnet evaluate RUN --ten-crop      average over crops (corners, centre; "
               "mirrored too\n                                     for runs trained with flips)")
    p.add_argument("run", metavar="RUN", help="a run folder written by xpnet train")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best")
    p.add_argument("--split", choices=("test", "val", "train"), default="test")
    p.add_argument("--ten-crop", action="store_true", help="average the softmax over the "
                   "four corner and the centre crops of the padded image, and their mirrors "
                   "(AlexNet's ten crops); padded by H/8 when the run was trained with "
                   "random crops, else 1 pixel; mirrors only when it was trained with flips")
    p.add_argument("--batch-size", type=int, default=256, metavar="B")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "predict", parents=[common], formatter_class=FORMAT,
        help="classify image files with a trained run",
        description="Classify images (PNG/JPEG through Pillow, or .npy arrays): each is "
                    "converted to the model's input shape; the model's own pre-processing "
                    "does the rest.",
        epilog="examples:\n  xpnet predict runs/lenet5-mnist5k-20250101-120000 seven.png\n"
               "  xpnet predict RUN a.png b.jpg c.npy --top 5")
    p.add_argument("run", metavar="RUN")
    p.add_argument("images", metavar="IMAGE", nargs="+")
    p.add_argument("--top", type=int, default=3, help="classes shown per image (default 3)")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best")
    p.set_defaults(func=cmd_predict)


def _confusion_text(matrix: numpy.ndarray, classes: list[str]) -> str:
    labels = [c[:8] for c in classes]
    width = max(max(len(s) for s in labels), len(str(int(matrix.max()))), 3) + 1
    lines = [" " * width + "".join(s.rjust(width) for s in labels)]
    for label, row in zip(labels, matrix):
        lines.append(label.rjust(width) + "".join(str(int(v)).rjust(width) for v in row))
    return "\n".join(lines)


def cmd_evaluate(args: argparse.Namespace) -> int:
    """``xpnet evaluate RUN``: accuracy (top-5 over 10 classes), loss, confusion matrix."""
    from xpnet import backend  # noqa: PLC0415
    from xpnet.data import DataLoader  # noqa: PLC0415
    from xpnet.train import crop_plan, evaluate, evaluate_crops, load_run  # noqa: PLC0415
    from xpnet.train.builders import LOSSES  # noqa: PLC0415

    device = backend.check_device(args.device)
    positive(args.batch_size, "--batch-size")
    run = load_run(args.run, args.checkpoint, device=device)
    loader = DataLoader(run.dataset(args.split), args.batch_size, shuffle=False)
    if args.ten_crop:
        pad, mirror = crop_plan(run.config.augment, run.input_shape[1])
        result = evaluate_crops(run.model, loader, pad, mirror, device, run.num_classes)
    else:
        result = evaluate(run.model, loader, LOSSES[run.config.loss], device=device,
                          num_classes=run.num_classes)
    if not math.isfinite(result["loss"]):
        raise FloatingPointError(f"{run.run_dir / run.checkpoint}.safetensors: the model's "
                                 f"outputs on the {args.split} split are not finite (loss "
                                 f"{result['loss']}); its numbers would mean nothing")
    out(f"run: {run.run_dir}  checkpoint: {run.checkpoint} (epoch {run.meta.get('epoch')})")
    out(f"{args.split} set: {result['count']} images, {run.num_classes} classes"
        + (f", test-time crops ({result['crops']})" if args.ten_crop else ""))
    out(f"loss: {result['loss']:.4f}")
    if "top5" in result:
        out(f"top-5 accuracy: {100 * result['top5']:.2f}%")
    out(f"accuracy: {100 * result['accuracy']:.2f}%")
    matrix = result["confusion"]
    if run.num_classes <= 20:
        out("confusion matrix (rows: true class, columns: predicted class):")
        out(_confusion_text(matrix, run.classes))
    else:
        path = run.run_dir / f"confusion-{run.checkpoint}-{args.split}.csv"
        numpy.savetxt(path, matrix, fmt="%d", delimiter=",")
        out(f"confusion matrix ({run.num_classes}x{run.num_classes}) written to {path}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """``xpnet predict RUN IMAGE...``: the top classes of each image with probabilities."""
    from xpnet.data.images import read_image  # noqa: PLC0415
    from xpnet.train import load_run, predict  # noqa: PLC0415

    if args.top < 1:
        raise UsageError(f"--top must be > 0, got {args.top}")
    run = load_run(args.run, args.checkpoint)
    x = numpy.stack([read_image(p, run.input_shape) for p in args.images])  # (N, C, H, W)
    probs = predict(run.model, x)
    for path, p in zip(args.images, probs):
        if not numpy.isfinite(p).all():
            raise FloatingPointError(f"{path}: the model's outputs are not finite (NaN/inf); "
                                     "no class can be given")
    k = min(args.top, run.num_classes)
    for path, p in zip(args.images, probs):
        best = numpy.argsort(-p, kind="stable")[:k]
        out(f"{path}: {run.classes[best[0]]}")
        for j in best:
            out(f"  {run.classes[j]:>12}  {100 * p[j]:6.2f}%")
    return 0
