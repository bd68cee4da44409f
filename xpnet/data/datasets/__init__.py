"""Data sets: embedded ones and readers of the file formats users have."""

from xpnet.data.datasets.embedded import load_digits, load_mnist5k

__all__ = ["load_digits", "load_mnist5k"]
