"""The data side of xpnet: data sets, the loader, transforms and pre-processing.

Plain NumPy; batches already on the GPU may be transformed through
``xpnet.backend.get_array_module``. Nothing here needs the autograd core.

Parts: ``datasets`` (formats, embedded sets, ``open_dataset``), ``loader`` (``DataLoader``),
``transforms`` (augmentation on batches), ``preprocessing`` (fitted on the training set).

Example:
    >>> from xpnet import data
    >>> x_train, y_train, x_test, y_test = data.load_mnist5k(seed=0)
    >>> x_train.shape
    (4000, 1, 28, 28)
"""

from xpnet.data import preprocessing, transforms
from xpnet.data.datasets import (
    ArrayDataset,
    CIFARDataset,
    Dataset,
    ImageFolder,
    Subset,
    load_digits,
    load_idx_folder,
    load_mnist5k,
    load_npz,
    open_dataset,
)
from xpnet.data.errors import DataFormatError
from xpnet.data.loader import DataLoader

__all__ = [
    "ArrayDataset",
    "CIFARDataset",
    "DataFormatError",
    "DataLoader",
    "Dataset",
    "ImageFolder",
    "Subset",
    "load_digits",
    "load_idx_folder",
    "load_mnist5k",
    "load_npz",
    "open_dataset",
    "preprocessing",
    "transforms",
]
