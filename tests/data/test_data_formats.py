"""Each file format: write small files in it, read them back equal; each error case."""

import gzip
import struct

import numpy
import pytest

from xpnet.data import DataFormatError
from xpnet.data.datasets import (
    ArrayDataset,
    CIFARDataset,
    ImageFolder,
    load_idx_folder,
    load_npz,
    open_dataset,
    read_idx,
    read_npz,
)


def write_idx(path, array, type_byte=0x08, magic_override=None):
    head = magic_override or bytes([0, 0, type_byte, array.ndim])
    dims = b"".join(struct.pack(">I", s) for s in array.shape)
    body = head + dims + array.astype(array.dtype.newbyteorder(">")).tobytes()
    if str(path).endswith(".gz"):
        with gzip.open(path, "wb") as f:
            f.write(body)
    else:
        path.write_bytes(body)


def make_idx_folder(folder, rng, gz=False, n_train=7, n_test=3):
    folder.mkdir(exist_ok=True)
    ext = ".gz" if gz else ""
    out = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        x = rng.integers(0, 256, (n, 28, 28), dtype=numpy.uint8)
        y = rng.integers(0, 10, n).astype(numpy.uint8)
        write_idx(folder / f"{prefix}-images-idx3-ubyte{ext}", x)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{ext}", y)
        out[prefix] = (x, y)
    return out


# ---------------------------------------------------------------- IDX

@pytest.mark.parametrize("gz", [False, True])
def test_data_idx_round_trip(tmp_path, rng, gz):
    written = make_idx_folder(tmp_path / "mnist", rng, gz=gz)
    for split, prefix in (("train", "train"), ("test", "t10k")):
        ds = load_idx_folder(tmp_path / "mnist", split)
        x, y = ds.get_batch(numpy.arange(len(ds)))
        assert x.dtype == numpy.float32 and x.shape == (len(written[prefix][1]), 1, 28, 28)
        numpy.testing.assert_array_equal(numpy.round(x[:, 0] * 255).astype(numpy.uint8),
                                         written[prefix][0])
        numpy.testing.assert_array_equal(y, written[prefix][1].astype(numpy.int64))
        assert y.dtype == numpy.int64 and ds.classes == [str(k) for k in range(10)]
    if not gz:  # plain files stay on disk
        assert isinstance(ds.x, numpy.memmap)


def test_data_idx_other_types_and_fashion_names(tmp_path, rng):
    a = rng.standard_normal((2, 3)).astype(numpy.float32)
    write_idx(tmp_path / "f.idx", a, type_byte=0x0D)
    numpy.testing.assert_array_equal(read_idx(tmp_path / "f.idx"), a)
    make_idx_folder(tmp_path / "fashion-mnist", rng)
    assert load_idx_folder(tmp_path / "fashion-mnist").classes[9] == "Ankle boot"


def test_data_idx_errors(tmp_path, rng):
    folder = tmp_path / "m"
    make_idx_folder(folder, rng)
    images = folder / "train-images-idx3-ubyte"
    good = images.read_bytes()
    images.write_bytes(good[:-5])
    with pytest.raises(DataFormatError, match=r"train-images-idx3-ubyte: truncated"):
        load_idx_folder(folder)
    images.write_bytes(b"\x12\x34" + good[2:])
    with pytest.raises(DataFormatError, match=r"train-images-idx3-ubyte: wrong magic number"):
        load_idx_folder(folder)
    images.write_bytes(good)
    labels = folder / "train-labels-idx1-ubyte"
    write_idx(labels, numpy.array([1, 2, 10, 3, 4, 5, 6], numpy.uint8))
    with pytest.raises(DataFormatError, match=r"label out of range: label 10 at index 2"):
        load_idx_folder(folder)
    write_idx(labels, numpy.zeros((7, 1), numpy.uint8))  # 2-D labels: an images-like file
    with pytest.raises(DataFormatError, match="wrong magic number.*1-dimensional"):
        load_idx_folder(folder)
    write_idx(labels, numpy.zeros(6, numpy.uint8))
    with pytest.raises(DataFormatError, match="6 labels for 7 images"):
        load_idx_folder(folder)
    gz = tmp_path / "t.idx.gz"
    with gzip.open(gz, "wb") as f:
        f.write(good)
    gz.write_bytes(gz.read_bytes()[:-20])
    with pytest.raises(DataFormatError, match=r"t\.idx\.gz: truncated"):
        read_idx(gz)


# ---------------------------------------------------------------- CIFAR

def write_cifar(path, labels, images):
    """labels (N, L) uint8, images (N, 3, 32, 32) uint8 -> CIFAR binary records."""
    records = numpy.concatenate([labels, images.reshape(len(images), -1)], axis=1)
    path.write_bytes(records.astype(numpy.uint8).tobytes())


def test_data_cifar10_round_trip(tmp_path, rng):
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    written = {}
    for name, n in [(f"data_batch_{i}.bin", i + 1) for i in range(1, 6)] + [("test_batch.bin", 4)]:
        x = rng.integers(0, 256, (n, 3, 32, 32), dtype=numpy.uint8)
        y = rng.integers(0, 10, (n, 1), dtype=numpy.uint8)
        write_cifar(folder / name, y, x)
        written[name] = (x, y[:, 0])
    (folder / "batches.meta.txt").write_text("\n".join(f"c{k}" for k in range(10)) + "\n\n")
    ds = CIFARDataset(folder, "train")
    x_all = numpy.concatenate([written[f"data_batch_{i}.bin"][0] for i in range(1, 6)])
    y_all = numpy.concatenate([written[f"data_batch_{i}.bin"][1] for i in range(1, 6)])
    assert len(ds) == len(y_all) == 20 and ds.classes[3] == "c3"
    idx = rng.permutation(len(ds))  # across files, in shuffled order
    x, y = ds.get_batch(idx)
    numpy.testing.assert_array_equal(numpy.round(x * 255).astype(numpy.uint8), x_all[idx])
    numpy.testing.assert_array_equal(y, y_all[idx])
    test = open_dataset(folder, "test")
    numpy.testing.assert_array_equal(test.get_batch(numpy.arange(4))[1],
                                     written["test_batch.bin"][1])


def test_data_cifar100_fine_and_coarse(tmp_path, rng):
    folder = tmp_path / "cifar-100-binary"
    folder.mkdir()
    x = rng.integers(0, 256, (5, 3, 32, 32), dtype=numpy.uint8)
    labels = numpy.stack([rng.integers(0, 20, 5), rng.integers(0, 100, 5)], 1).astype(numpy.uint8)
    write_cifar(folder / "train.bin", labels, x)
    write_cifar(folder / "test.bin", labels[:2], x[:2])
    fine = CIFARDataset(folder, "train")
    coarse = CIFARDataset(folder, "train", label="coarse")
    assert fine.num_classes == 100 and coarse.num_classes == 20
    xb, yb = fine.get_batch(numpy.array([4, 0, 2]))
    numpy.testing.assert_array_equal(yb, labels[[4, 0, 2], 1])
    numpy.testing.assert_array_equal(coarse.get_batch(numpy.array([1]))[1], labels[[1], 0])
    numpy.testing.assert_allclose(xb, x[[4, 0, 2]] / numpy.float32(255), rtol=1e-6)


def test_data_cifar_errors(tmp_path, rng):
    folder = tmp_path / "c"
    folder.mkdir()
    write_cifar(folder / "test_batch.bin", numpy.array([[3], [12]], numpy.uint8),
                numpy.zeros((2, 3, 32, 32), numpy.uint8))
    with pytest.raises(DataFormatError, match=r"test_batch\.bin: label out of range: label 12"):
        CIFARDataset(folder, "test")
    (folder / "test_batch.bin").write_bytes(bytes(3073 * 2 - 1))
    with pytest.raises(DataFormatError, match=r"test_batch\.bin: truncated"):
        CIFARDataset(folder, "test")
    with pytest.raises(FileNotFoundError, match="data_batch_1.bin"):
        CIFARDataset(folder, "train")


# ---------------------------------------------------------------- npz

@pytest.mark.parametrize("compressed", [False, True])
def test_data_npz_round_trip(tmp_path, rng, compressed):
    x_train = rng.integers(0, 256, (6, 1, 5, 5), dtype=numpy.uint8)
    x_test = rng.standard_normal((3, 5, 5)).astype(numpy.float64)  # (N, H, W), float
    y_train, y_test = rng.integers(0, 4, 6), rng.integers(0, 4, 3)
    save = numpy.savez_compressed if compressed else numpy.savez
    path = tmp_path / "d.npz"
    save(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
         classes=numpy.array(["a", "b", "c", "d"]))
    train, test = load_npz(path, "train"), open_dataset(path, "test")
    assert isinstance(train.x, numpy.memmap) != compressed  # stored members are mapped
    x, y = train.get_batch(numpy.arange(6))
    numpy.testing.assert_allclose(x, x_train / numpy.float32(255), rtol=1e-6)
    numpy.testing.assert_array_equal(y, y_train)
    x, y = test.get_batch(numpy.array([2, 0]))
    numpy.testing.assert_array_equal(x[:, 0], x_test[[2, 0]].astype(numpy.float32))
    assert test.classes == ["a", "b", "c", "d"] and test.shape == (1, 5, 5)


def test_data_npz_channels_last_and_single_split(tmp_path, rng):
    x = rng.integers(0, 256, (10, 8, 8, 3), dtype=numpy.uint8)
    y = numpy.arange(10) % 3
    numpy.savez(tmp_path / "a.npz", x=x, y=y)
    train = load_npz(tmp_path / "a.npz", "train", seed=1)
    test = load_npz(tmp_path / "a.npz", "test", seed=1)
    assert len(train) == 8 and len(test) == 2 and train.shape == (3, 8, 8)
    whole = numpy.concatenate([train.indices, test.indices])
    assert sorted(whole.tolist()) == list(range(10))
    xb, yb = test.get_batch(numpy.arange(2))
    numpy.testing.assert_allclose(xb, x[test.indices].transpose(0, 3, 1, 2) / numpy.float32(255),
                                  rtol=1e-6)
    numpy.testing.assert_array_equal(yb, y[test.indices])


def test_data_npz_errors(tmp_path):
    p = tmp_path / "e.npz"
    numpy.savez(p, images=numpy.zeros((2, 4, 4)), labels=numpy.zeros(2, int))
    with pytest.raises(DataFormatError, match=r"e\.npz: expected arrays x_train.*found"):
        load_npz(p)
    numpy.savez(p, x=numpy.zeros((2, 4, 4)), y=numpy.array([0, -1]))
    with pytest.raises(DataFormatError, match="label out of range: label -1 at index 1"):
        load_npz(p)
    numpy.savez(p, x=numpy.zeros((2, 4, 4)), y=numpy.array([0, 5]), classes=numpy.array(["a", "b"]))
    with pytest.raises(DataFormatError, match=r"label out of range: label 5 .* expected 0\.\.1"):
        load_npz(p)
    numpy.savez(p, x=numpy.zeros((2, 4, 4)), y=numpy.array([0, 1, 1]))
    with pytest.raises(DataFormatError, match="3 labels for 2 images"):
        load_npz(p)
    numpy.savez(p, x=numpy.array([{}, {}], dtype=object), y=numpy.array([0, 1]))
    with pytest.raises(DataFormatError, match=r"e\.npz: member x\.npy: holds Python objects"):
        load_npz(p)
    numpy.savez(p, x=numpy.zeros((2, 4, 4)), y=numpy.array([0, 1]))
    p.write_bytes(p.read_bytes()[:100])
    with pytest.raises(DataFormatError, match=r"e\.npz: not an \.npz archive, truncated or"):
        read_npz(p)


# ---------------------------------------------------------------- image folder

def make_tree(root, rng, sizes=((6, 4), (4, 4), (5, 7))):
    Image = pytest.importorskip("PIL.Image")
    written = {}
    for k, name in enumerate(["cat", "dog"]):
        (root / name).mkdir(parents=True)
        for j, (h, w) in enumerate(sizes):
            a = rng.integers(0, 256, (h, w, 3), dtype=numpy.uint8)
            Image.fromarray(a).save(root / name / f"{j}.png")
            written[(k, j)] = a
    return written


def test_data_image_folder_lazy_decode_resize_crop(tmp_path, rng):
    written = make_tree(tmp_path / "tree", rng)
    ds = ImageFolder(tmp_path / "tree", size=4)
    assert ds.classes == ["cat", "dog"] and len(ds) == 6 and ds.shape == (3, 4, 4)
    x, y = ds.get_batch(numpy.array([4, 1]))
    numpy.testing.assert_array_equal(y, [1, 0])
    # dog/1.png is 4x4 already: returned exactly
    numpy.testing.assert_allclose(x[0], written[(1, 1)].transpose(2, 0, 1) / numpy.float32(255),
                                  rtol=1e-6)
    # cat/0.png is 6 high, 4 wide: the shorter side is already 4, so the centre 4 rows
    numpy.testing.assert_allclose(
        ds.get_batch(numpy.array([0]))[0][0],
        written[(0, 0)][1:5].transpose(2, 0, 1) / numpy.float32(255), rtol=1e-6)
    grey = ImageFolder(tmp_path / "tree", size=3, channels=1)
    assert grey.get_batch(numpy.arange(6))[0].shape == (6, 1, 3, 3)


def test_data_image_folder_splits_and_errors(tmp_path, rng):
    make_tree(tmp_path / "root" / "train", rng)
    make_tree(tmp_path / "root" / "val", rng)
    assert len(open_dataset(tmp_path / "root", "test", image_size=4)) == 6
    make_tree(tmp_path / "flat", rng)
    a = open_dataset(tmp_path / "flat", "train", seed=3, image_size=4)
    b = open_dataset(tmp_path / "flat", "test", seed=3, image_size=4)
    assert len(a) + len(b) == 6 and not set(a.indices) & set(b.indices)
    bad = tmp_path / "flat" / "dog" / "9.png"
    bad.write_bytes((tmp_path / "flat" / "dog" / "0.png").read_bytes()[:40])
    ds = ImageFolder(tmp_path / "flat", size=4)
    with pytest.raises(DataFormatError, match=r"9\.png: corrupt image"):
        ds.get_batch(numpy.arange(len(ds)))
    with pytest.raises(FileNotFoundError, match="no images in class sub-folders"):
        ImageFolder(tmp_path / "root" / "train" / "cat")


def test_data_image_folder_without_pillow(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "PIL" or name.startswith("PIL."):
            raise ImportError("no PIL")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match="pip install pillow"):
        ImageFolder(tmp_path)


# ---------------------------------------------------------------- open_dataset, ArrayDataset

@pytest.mark.needs_data("mnist5k")
def test_data_open_dataset_names_and_unknown(tmp_path, rng):
    ds = open_dataset("mnist5k", "test", seed=0)
    assert len(ds) == 1000 and ds.shape == (1, 28, 28)
    make_idx_folder(tmp_path / "idx", rng)
    assert len(open_dataset(str(tmp_path / "idx"), "train")) == 7
    with pytest.raises(ValueError, match=r"(?s)cannot open 'nope'.*mnist5k.*\.npz"):
        open_dataset("nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="format not recognised"):
        open_dataset(tmp_path / "empty")
    with pytest.raises(ValueError, match="split must be"):
        open_dataset("digits", "valid")


def test_data_array_dataset_checks():
    with pytest.raises(ValueError, match="labels must be in"):
        ArrayDataset(numpy.zeros((2, 1, 2, 2)), [0, 2], classes=["a", "b"])
    with pytest.raises(ValueError, match=r"expected y of shape \(2,\)"):
        ArrayDataset(numpy.zeros((2, 1, 2, 2)), [0])
    ds = ArrayDataset(numpy.zeros((2, 1, 2, 2)), [0, 1])
    with pytest.raises(IndexError, match=r"indices must be in \[0, 2\)"):
        ds.get_batch(numpy.array([2]))
    with pytest.raises(TypeError, match="integer index array"):
        ds.get_batch(numpy.array([0.5]))


# ---------------------------------------------------------------- hostile or careless input

def _png(path, h, w, value=0):
    Image = pytest.importorskip("PIL.Image")
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(numpy.full((h, w, 3), value, numpy.uint8)).save(path)


def test_data_image_folder_splits_are_numbered_by_the_training_classes(tmp_path):
    root = tmp_path / "bugs"
    for k, name in enumerate(["ant", "bee", "cat"]):
        _png(root / "train" / name / "0.png", 4, 4, 10 * k)
    for name in ["bee", "cat"]:  # the validation tree lacks a class
        _png(root / "val" / name / "0.png", 4, 4)
    train = open_dataset(root, "train", image_size=4)
    val = open_dataset(root, "test", image_size=4)
    assert train.classes == val.classes == ["ant", "bee", "cat"]
    assert val.y.tolist() == [1, 2]  # bee and cat keep the training numbers (not 0, 1)
    _png(root / "val" / "dog" / "0.png", 4, 4)
    with pytest.raises(DataFormatError) as info:
        open_dataset(root, "test", image_size=4)
    assert str(info.value) == (f"{root / 'val'}: class folder dog not among the 3 classes "
                               "of the training split (ant, bee, cat)")


def test_data_image_folder_hidden_empty_and_looping_folders_are_no_classes(tmp_path):
    root = tmp_path / "tree"
    for name in ["cat", "dog", ".ipynb_checkpoints"]:
        _png(root / name / "0.png", 4, 4)
    _png(root / "cat" / "._0.png", 4, 4)  # macOS's AppleDouble file: hidden
    (root / "empty").mkdir()
    (root / "empty" / "notes.txt").write_text("no image here")
    (root / "loop").symlink_to(root, target_is_directory=True)  # back to the tree
    (root / "a").symlink_to(root / "b")  # a symlink loop
    (root / "b").symlink_to(root / "a")
    ds = ImageFolder(root, size=4)
    assert ds.classes == ["cat", "dog"] and len(ds) == 2 and ds.y.tolist() == [0, 1]
    assert open_dataset(root, "train", image_size=4).classes == ["cat", "dog"]


def test_data_image_bombs_are_refused_before_decoding(tmp_path, monkeypatch):
    from PIL import Image

    from xpnet.data.datasets import limits

    _png(tmp_path / "t" / "cat" / "big.png", 30, 40)
    ds = ImageFolder(tmp_path / "t", size=4)
    monkeypatch.setattr(limits, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(DataFormatError) as info:
        ds.get_batch(numpy.array([0]))
    assert str(info.value) == (f"{ds.paths[0]}: an image of 40x30 = 1,200 pixels, more than "
                               "the 1,000 xpnet decodes (a decompression bomb?); refused "
                               "before decoding")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow's own error, past 2x
    with pytest.raises(DataFormatError, match=r"big\.png: refused before decoding, a "
                                              r"decompression bomb\? \(Image size"):
        ds.get_batch(numpy.array([0]))


def test_data_image_a_thin_image_is_resized_without_exploding(tmp_path, rng):
    # 1 x 100,000: resizing the whole image to a shorter side of 224 would make it
    # 22,400,000 x 224 pixels (15 GB); only its centre pixel is resampled
    Image = pytest.importorskip("PIL.Image")
    row = rng.integers(0, 256, (1, 100_000, 3), dtype=numpy.uint8)
    (tmp_path / "t" / "c").mkdir(parents=True)
    Image.fromarray(row).save(tmp_path / "t" / "c" / "thin.png")
    x, _ = ImageFolder(tmp_path / "t", size=224).get_batch(numpy.array([0]))
    assert x.shape == (1, 3, 224, 224)
    numpy.testing.assert_allclose(x[0, :, 112, 112], row[0, 49_999] / numpy.float32(255),
                                  atol=2 / 255)


def test_data_idx_sizes_that_overflow_or_wrap_are_refused(tmp_path):
    for dims in ([2**32 - 1] * 3, [2**16] * 4):  # 2^96 overflows int64; 2^64 wraps to 0
        path = tmp_path / "x-idx"
        path.write_bytes(bytes([0, 0, 8, len(dims)]) + b"".join(
            struct.pack(">I", d) for d in dims) + bytes(16))
        with pytest.raises(DataFormatError) as info:
            read_idx(path)
        need = 4 + 4 * len(dims) + numpy.prod(dims, dtype=object)
        assert str(info.value) == (f"{path}: truncated file: the header announces shape "
                                   f"{tuple(dims)} ({need:,} bytes), the file has "
                                   f"{path.stat().st_size:,} bytes")


def test_data_idx_gz_inflates_only_what_its_header_announces(tmp_path):
    import tracemalloc

    big = tmp_path / "big-idx1-ubyte.gz"
    with gzip.open(big, "wb", compresslevel=1) as f:
        f.write(bytes([0, 0, 8, 3]) + b"".join(struct.pack(">I", d) for d in (10**5, 10**3,
                                                                              10**3)))
    with pytest.raises(DataFormatError) as info:
        read_idx(big)
    assert str(info.value) == (f"{big}: the header announces shape (100000, 1000, 1000) = "
                               "100,000,000,000 bytes (93.1 GiB), more than the "
                               "4,294,967,296 bytes (4.0 GiB) xpnet inflates into memory; "
                               "gunzip it (plain files are memory-mapped)")
    bomb = tmp_path / "bomb-idx1-ubyte.gz"  # announces 10 labels, inflates to 64 MiB
    with gzip.open(bomb, "wb", compresslevel=1) as f:
        f.write(bytes([0, 0, 8, 1]) + struct.pack(">I", 10) + bytes(range(10)))
        f.write(bytes(64 * 2**20))
    tracemalloc.start()
    try:
        labels = read_idx(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert labels.tolist() == list(range(10)) and peak < 4 * 2**20


def test_data_npz_a_flipped_byte_of_a_stored_member_is_found(tmp_path):
    p = tmp_path / "d.npz"
    numpy.savez(p, x=numpy.zeros((4, 5, 5), numpy.uint8), y=numpy.arange(100) % 4 * 0 + 1)
    blob = bytearray(p.read_bytes())
    blob[blob.index(bytes(25)) + 7] ^= 0x01  # one pixel byte of x, stored uncompressed
    p.write_bytes(bytes(blob))
    with pytest.raises(DataFormatError) as info:
        read_npz(p)
    assert str(info.value) == (f"{p}: not an .npz archive, truncated or damaged (Bad CRC-32 "
                               "for file 'x.npy')")


def test_data_npz_announced_sizes_are_checked_before_reading(tmp_path, monkeypatch):
    from xpnet.data.datasets import limits

    p = tmp_path / "e.npz"
    numpy.savez(p, x=numpy.zeros((2, 4, 4)), y=numpy.array([0, 10**11]))
    with pytest.raises(DataFormatError) as info:
        load_npz(p)
    assert str(info.value) == (f"{p}: the largest label, 100000000000, announces "
                               "100,000,000,001 classes, more than the 100,000 xpnet accepts; "
                               "name the classes in a 'classes' member or renumber the labels")
    numpy.savez_compressed(p, x=numpy.zeros((2, 64, 64)), y=numpy.array([0, 1]))
    monkeypatch.setattr(limits, "MAX_INFLATED_BYTES", 2**15)
    with pytest.raises(DataFormatError) as info:
        load_npz(p)
    assert str(info.value) == (f"{p}: member x.npy announces 65,664 bytes uncompressed, "
                               "more than the 32,768 bytes xpnet inflates into memory; store "
                               "it uncompressed (numpy.savez: memory-mapped)")
    numpy.savez(p, x=numpy.zeros((2, 4, 4), numpy.uint8), y=numpy.array([0, 1]))
    blob = p.read_bytes()
    p.write_bytes(blob.replace(b"(2, 4, 4)", b"(9, 4, 4)", 1))  # more than the member holds
    with pytest.raises(DataFormatError) as info:
        read_npz(p)
    assert str(info.value) == (f"{p}: member x.npy: the .npy header announces shape "
                               "(9, 4, 4) of uint8 = 144 bytes, the member holds 32")


def test_data_npz_splits_share_the_classes_of_all_labels(tmp_path):
    p = tmp_path / "s.npz"
    numpy.savez(p, x_train=numpy.zeros((3, 4, 4)), y_train=numpy.array([0, 1, 2]),
                x_test=numpy.zeros((2, 4, 4)), y_test=numpy.array([0, 1]))
    assert load_npz(p, "train").classes == load_npz(p, "test").classes == ["0", "1", "2"]


def test_data_cifar_a_binary_names_file_is_named(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    write_cifar(folder / "test_batch.bin", numpy.array([[3]], numpy.uint8),
                numpy.zeros((1, 3, 32, 32), numpy.uint8))
    (folder / "batches.meta.txt").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(DataFormatError) as info:
        CIFARDataset(folder, "test")
    assert str(info.value).startswith(f"{folder / 'batches.meta.txt'}: not a UTF-8 text file "
                                      "of class names ('utf-8' codec can't decode byte 0x89")


def test_data_array_dataset_refuses_labels_that_announce_too_many_classes():
    with pytest.raises(ValueError) as info:
        ArrayDataset(numpy.zeros((2, 1, 2, 2)), [0, 10**11])
    assert str(info.value) == ("ArrayDataset: the largest label, 100000000000, announces "
                               "100,000,000,001 classes, more than the 100,000 xpnet accepts; "
                               "give classes")
