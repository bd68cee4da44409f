"""``open_dataset``: one entry point from a name or a path to a Dataset (the CLI calls it)."""

from __future__ import annotations

from pathlib import Path

from xpnet.data.datasets.base import ArrayDataset, Dataset, holdout_split
from xpnet.data.datasets.cifar import CIFARDataset, cifar_kind
from xpnet.data.datasets.embedded import load_digits, load_mnist5k
from xpnet.data.datasets.idx import is_idx_folder, load_idx_folder
from xpnet.data.datasets.image_folder import ImageFolder, class_folders, is_image_tree
from xpnet.data.datasets.npz import load_npz

EMBEDDED = {"mnist5k": load_mnist5k, "digits": load_digits}
FORMATS = (
    "a folder of MNIST/Fashion-MNIST IDX files (train-images-idx3-ubyte[.gz], ...)",
    "a folder of CIFAR-10 (data_batch_1.bin .. test_batch.bin) or CIFAR-100 "
    "(train.bin, test.bin) binary files",
    "a class-per-folder image tree (root/<class>/*.png|jpg, or root/train and root/val|test)",
    "an .npz file with x_train, y_train, x_test, y_test (or x, y)",
)
_SPLIT_FOLDERS = {"train": ("train",), "test": ("test", "val", "valid", "validation")}


def _image_tree(root: Path, split: str, seed: int, image_size: int) -> Dataset | None:
    """Tree with split folders (root/train, root/val) or a single tree split 80/20.

    Every split is numbered by the classes of the training tree: a test tree that lacks a
    class still labels the others as training does, and one with a class the training
    tree has not is refused (:class:`ImageFolder` with ``classes``).
    """
    for name in _SPLIT_FOLDERS[split]:
        if is_image_tree(root / name):
            train = [t for t in _SPLIT_FOLDERS["train"] if is_image_tree(root / t)]
            if split == "test" and not train:
                raise FileNotFoundError(f"{root}: has a {name} folder but no train folder "
                                        "to take the classes from")
            classes = class_folders(root / train[0]) if split == "test" else None
            return ImageFolder(root / name, size=image_size, classes=classes)
    if any(is_image_tree(root / name) for names in _SPLIT_FOLDERS.values() for name in names):
        raise FileNotFoundError(f"{root}: has split folders but none for split {split!r} "
                                f"(looked for {', '.join(_SPLIT_FOLDERS[split])})")
    if is_image_tree(root):
        return holdout_split(ImageFolder(root, size=image_size), split, seed)
    return None


def open_dataset(spec: str | Path, split: str = "train", seed: int = 0,
                 image_size: int = 224) -> Dataset:
    """Open a data set by name or path.

    Names: ``"mnist5k"`` (4,000 / 1,000 seeded split) and ``"digits"`` (1,437 / 360).
    Paths: a folder of IDX files, a folder of CIFAR-10/100 binary batches, a
    class-per-folder image tree (with ``train/`` and ``val/`` or ``test/`` sub-trees, or a
    single tree split 80/20 by ``seed``), or an ``.npz`` file.

    Args:
        spec: a name or a path.
        split: ``"train"`` or ``"test"``.
        seed: seed of the split where the source has none of its own.
        image_size: side of the images of an image tree (shorter side resized, centre crop).

    Returns:
        A :class:`~xpnet.data.datasets.base.Dataset`.

    Raises:
        ValueError: unknown name or unrecognised path; the message lists what is accepted.
        DataFormatError: the files are not what their format promises.

    Example:
        >>> ds = open_dataset("digits", split="test")
        >>> len(ds), ds.shape, ds.num_classes
        (360, (1, 8, 8), 10)
    """
    if split not in ("train", "test"):
        raise ValueError(f"open_dataset: split must be 'train' or 'test', got {split!r}")
    name = str(spec)
    if name.lower() in EMBEDDED:
        x_train, y_train, x_test, y_test = EMBEDDED[name.lower()](seed=seed)
        x, y = (x_train, y_train) if split == "train" else (x_test, y_test)
        return ArrayDataset(x, y, [str(k) for k in range(10)])
    path = Path(name).expanduser()
    if path.is_file() and path.suffix == ".npz":
        return load_npz(path, split, seed)
    if path.is_dir():
        if is_idx_folder(path):
            return load_idx_folder(path, split)
        if cifar_kind(path) is not None:
            return CIFARDataset(path, split)
        tree = _image_tree(path, split, seed, image_size)
        if tree is not None:
            return tree
    listing = "\n  - ".join(FORMATS)
    raise ValueError(
        f"open_dataset: cannot open {name!r}: "
        + ("no such file or folder" if not path.exists() else "format not recognised")
        + f". Accepted: the names {', '.join(sorted(EMBEDDED))}, or a path to\n  - {listing}"
    )
