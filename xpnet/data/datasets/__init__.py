"""Data sets: embedded ones, readers of the file formats users have, and ``open_dataset``.

One format per file: ``embedded`` (MNIST-5k, digits), ``idx`` (MNIST / Fashion-MNIST),
``cifar`` (CIFAR-10/100 binary), ``image_folder`` (class-per-folder images, lazy),
``npz``; ``base`` holds the :class:`Dataset` protocol, ``limits`` what a file may announce
before it is read (sizes, pixels, classes).
"""

from xpnet.data.datasets.base import ArrayDataset, Dataset, Subset, holdout_split
from xpnet.data.datasets.cifar import CIFARDataset
from xpnet.data.datasets.embedded import load_digits, load_mnist5k
from xpnet.data.datasets.idx import load_idx_folder, read_idx
from xpnet.data.datasets.image_folder import ImageFolder
from xpnet.data.datasets.npz import load_npz, read_npz
from xpnet.data.datasets.open import open_dataset

__all__ = [
    "ArrayDataset",
    "CIFARDataset",
    "Dataset",
    "ImageFolder",
    "Subset",
    "holdout_split",
    "load_digits",
    "load_idx_folder",
    "load_mnist5k",
    "load_npz",
    "open_dataset",
    "read_idx",
    "read_npz",
]
