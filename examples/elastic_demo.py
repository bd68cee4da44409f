"""Elastic distortion demo: a PNG grid of MNIST-5k digits and distorted versions of them.

Row 0 holds original training digits; each further row the same digits after one draw of
Simard et al.'s elastic distortion (alpha = 34, sigma = 4 by default), so the grid shows
how varied yet legible the augmented digits are. The PNG is drawn with matplotlib when it
is installed, else with Pillow (one of the two is needed).

Run:
    python examples/elastic_demo.py                      # writes ./elastic_demo.png
    python examples/elastic_demo.py --alpha 8 --sigma 3 --out /tmp/grid.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy

from xpnet.data import load_mnist5k
from xpnet.data.transforms import elastic_distortion


def make_grid(n_digits: int, n_draws: int, alpha: float, sigma: float,
              seed: int) -> numpy.ndarray:
    """Rows of digits: originals, then ``n_draws`` distortions; returns (rows*28, cols*28)."""
    x_train, y_train, _, _ = load_mnist5k(seed=seed)
    picks = numpy.array([numpy.flatnonzero(y_train == k % 10)[k // 10] for k in range(n_digits)])
    digits = x_train[picks]  # (n, 1, 28, 28)
    rng = numpy.random.default_rng(seed)
    rows = [digits] + [elastic_distortion(digits, rng, alpha, sigma) for _ in range(n_draws)]
    grid = numpy.stack(rows)[:, :, 0]  # (rows, n, 28, 28)
    grid = numpy.pad(grid, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=0.5)
    r, n, h, w = grid.shape
    return numpy.clip(grid.transpose(0, 2, 1, 3).reshape(r * h, n * w), 0.0, 1.0)


def save_png(grid: numpy.ndarray, out: Path, title: str) -> str:
    """Write the grid as a PNG; return which library drew it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        from PIL import Image

        Image.fromarray((grid * 255).round().astype(numpy.uint8)).resize(
            (grid.shape[1] * 3, grid.shape[0] * 3), Image.NEAREST).save(out)
        return "Pillow"
    fig, ax = plt.subplots(figsize=(grid.shape[1] / 40, grid.shape[0] / 40 + 0.4))
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(title, fontsize=8)
    fig.savefig(out, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return "matplotlib"


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("elastic_demo.png"))
    parser.add_argument("--alpha", type=float, default=34.0)
    parser.add_argument("--sigma", type=float, default=4.0)
    parser.add_argument("--digits", type=int, default=10)
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    grid = make_grid(args.digits, args.draws, args.alpha, args.sigma, args.seed)
    title = f"top: MNIST-5k originals; below: elastic distortion alpha={args.alpha:g}, " \
            f"sigma={args.sigma:g}"
    library = save_png(grid, args.out, title)
    print(f"wrote {args.out} ({library})")
    return args.out


if __name__ == "__main__":
    main()
