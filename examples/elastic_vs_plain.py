"""Does elastic distortion help LeNet-5 on MNIST-5k? Three seeds with, three without.

Each run is ``examples/mnist_lenet.py``'s recipe (same split, epochs, batch, SGD with
momentum, weight decay and learning-rate decay); the only difference between the two
arms is ``--elastic``: Simard et al.'s distortion (alpha, sigma) of every training batch.
A seed fixes the initial weights, the batch order and (with elastic) the displacement
fields, so plain and elastic runs of one seed start from the same weights and see the
digits in the same order. The table prints each seed's test accuracy, the mean and the
standard deviation, and the time, whichever arm wins.

Run:
    python examples/elastic_vs_plain.py                  # 3 seeds x 2 arms, 8 epochs each
    python examples/elastic_vs_plain.py --seeds 0 1 2 3 4 --epochs 12
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run from anywhere

from mnist_lenet import DEFAULTS, train_lenet  # noqa: E402  (an example beside this one)


def compare(seeds: list[int], epochs: int, alpha: float, sigma: float,
            verbose: bool = False) -> dict[str, list[dict[str, Any]]]:
    """Train LeNet-5 with and without elastic distortion for every seed."""
    results: dict[str, list[dict[str, Any]]] = {"plain": [], "elastic": []}
    for seed in seeds:
        for arm in results:
            r = train_lenet(seed, elastic=arm == "elastic", epochs=epochs, alpha=alpha,
                            sigma=sigma, verbose=verbose)
            results[arm].append(r)
            print(f"seed {seed} {arm:8s} test accuracy {r['test_accuracy']:.4f} "
                  f"({r['seconds']:.1f} s)", flush=True)
    return results


def table(seeds: list[int], results: dict[str, list[dict[str, Any]]]) -> str:
    """The comparison as a Markdown table (per-seed accuracy in %, mean +- std, time)."""
    head = "| arm | " + " | ".join(f"seed {s}" for s in seeds) + " | mean +- std | time/run |"
    lines = [head, "|" + "---|" * (len(seeds) + 3)]
    for arm, runs in results.items():
        accs = [100 * r["test_accuracy"] for r in runs]
        std = statistics.stdev(accs) if len(accs) > 1 else 0.0
        secs = statistics.mean(r["seconds"] for r in runs)
        lines.append(f"| {arm} | " + " | ".join(f"{a:.1f}" for a in accs)
                     + f" | {statistics.mean(accs):.2f} +- {std:.2f} | {secs:.0f} s |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, list[dict[str, Any]]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=DEFAULTS["epochs"])
    parser.add_argument("--alpha", type=float, default=DEFAULTS["alpha"])
    parser.add_argument("--sigma", type=float, default=DEFAULTS["sigma"])
    parser.add_argument("--verbose", action="store_true", help="print every epoch")
    args = parser.parse_args(argv)
    print(f"LeNet-5 on MNIST-5k, {args.epochs} epochs per run, seeds {args.seeds}; elastic "
          f"distortion alpha {args.alpha}, sigma {args.sigma}")
    results = compare(args.seeds, args.epochs, args.alpha, args.sigma, args.verbose)
    print()
    print(table(args.seeds, results))
    means = {arm: statistics.mean(r["test_accuracy"] for r in runs)
             for arm, runs in results.items()}
    winner = max(means, key=means.get)
    print(f"\n{winner} wins by {100 * abs(means['elastic'] - means['plain']):.2f} points "
          f"of test accuracy (mean of {len(args.seeds)} seeds)")
    return results


if __name__ == "__main__":
    main()
