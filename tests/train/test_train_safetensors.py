"""Our safetensors reader/writer: round trips, strict validation, and the official library."""

import json
import struct

import numpy
import pytest

from xpnet.train import CheckpointError
from xpnet.train import safetensors as st


def _tensors():
    rng = numpy.random.default_rng(0)
    return {
        "w": rng.standard_normal((3, 4)).astype(numpy.float32),
        "b": rng.standard_normal(4),  # float64
        "idx": numpy.arange(5, dtype=numpy.int64),
        "mask": numpy.array([True, False, True]),
        "scalar": numpy.array(2.5, dtype=numpy.float32),
        "empty": numpy.zeros((0, 3), numpy.float32),
        "half": numpy.array([1.5, -2.0], numpy.float16),
        "u8": numpy.array([[1, 255]], numpy.uint8),
    }


def test_round_trip_keeps_values_dtypes_and_shapes(tmp_path):
    t = _tensors()
    st.save_file(t, tmp_path / "a.safetensors", {"note": "hi"})
    back = st.load_file(tmp_path / "a.safetensors")
    assert set(back) == set(t)
    for k in t:
        assert back[k].dtype == t[k].dtype and back[k].shape == t[k].shape
        numpy.testing.assert_array_equal(back[k], t[k])
    assert st.load_metadata(tmp_path / "a.safetensors") == {"note": "hi"}
    back["w"][0, 0] = 7.0  # arrays are writable


def test_header_is_padded_and_data_aligned():
    blob = st.serialize({"a": numpy.ones(3, numpy.float64), "b": numpy.ones(1, numpy.int8)})
    (n,) = struct.unpack("<Q", blob[:8])
    assert n % 8 == 0
    header = json.loads(blob[8 : 8 + n])
    assert header["a"]["data_offsets"] == [0, 24]  # widest dtype first


def test_big_endian_and_non_contiguous_inputs_are_stored_little_endian():
    a = numpy.arange(6, dtype=">f8").reshape(2, 3).T
    back, _ = st.deserialize(st.serialize({"a": a}))
    numpy.testing.assert_array_equal(back["a"], a)
    assert back["a"].dtype == numpy.float64


def test_official_library_reads_ours_and_we_read_theirs(tmp_path):
    official = pytest.importorskip("safetensors.numpy")
    t = _tensors()
    st.save_file(t, tmp_path / "ours.safetensors", {"k": "v"})
    theirs = official.load_file(str(tmp_path / "ours.safetensors"))
    for k in t:
        numpy.testing.assert_array_equal(theirs[k], t[k])
        assert theirs[k].dtype == t[k].dtype
    official.save_file(t, str(tmp_path / "theirs.safetensors"), metadata={"a": "b"})
    ours = st.load_file(tmp_path / "theirs.safetensors")
    for k in t:
        numpy.testing.assert_array_equal(ours[k], t[k])
    assert st.load_metadata(tmp_path / "theirs.safetensors") == {"a": "b"}


def _blob(header, data=b""):
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


@pytest.mark.parametrize(
    "blob, what",
    [
        (b"\x01\x02", "too short"),
        (struct.pack("<Q", 1000) + b"{}", "does not fit"),
        (struct.pack("<Q", 2) + b"[]", "start with"),
        (struct.pack("<Q", 3) + b"{x}", "not valid JSON"),
        (_blob({"a": {"dtype": "F99", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4),
         "unknown dtype"),
        (_blob({"a": {"dtype": "BF16", "shape": [1], "data_offsets": [0, 2]}}, b"\0" * 2),
         "not supported"),
        (_blob({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, b"\0" * 4),
         "expected 8"),
        (_blob({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4),
         "bad shape"),
        (_blob({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\0" * 8),
         "starts at byte 4"),
        (_blob({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 9),
         "truncated or padded"),
        (_blob({"a": {"dtype": "F32", "shape": [1]}}), "expected keys"),
        (_blob({"__metadata__": {"a": 1}}), "object of strings"),
        (struct.pack("<Q", 16) + b'{"a": 1, "a": 2}', "duplicate"),
    ],
)
def test_damaged_files_raise_checkpoint_error_naming_the_problem(tmp_path, blob, what):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(blob)
    with pytest.raises(CheckpointError, match=what) as info:
        st.load_file(path)
    assert "bad.safetensors" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_truncated_file_is_rejected(tmp_path):
    path = tmp_path / "t.safetensors"
    st.save_file(_tensors(), path)
    data = path.read_bytes()
    path.write_bytes(data[:-3])
    with pytest.raises(CheckpointError, match="truncated"):
        st.load_file(path)


def test_unstorable_dtypes_are_refused_on_write():
    with pytest.raises(TypeError, match="cannot be stored"):
        st.serialize({"c": numpy.ones(2, numpy.complex64)})
    with pytest.raises(TypeError, match="str -> str"):
        st.serialize({"a": numpy.ones(1)}, {"k": 1})


def test_a_file_padded_to_gigabytes_is_refused_from_its_header(tmp_path):
    path = tmp_path / "padded.safetensors"
    st.save_file({"w": numpy.ones(3, numpy.float32)}, path)
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(64 * 2**30)  # sparse: reading it whole would need 64 GiB
    with pytest.raises(CheckpointError) as info:
        st.load_file(path)
    head = 8 + struct.unpack("<Q", path.open("rb").read(8))[0]
    assert str(info.value) == (f"{path}: not a valid safetensors file: the tensors cover 12 "
                               f"bytes but the file holds {64 * 2**30 - head} data bytes "
                               "(truncated or padded file)")
    assert size == head + 12


def test_a_deeply_nested_header_is_one_error(tmp_path):
    path = tmp_path / "deep.safetensors"
    text = b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    path.write_bytes(struct.pack("<Q", len(text)) + text)
    with pytest.raises(CheckpointError) as info:
        st.load_file(path)
    assert str(info.value) == (f"{path}: not a valid safetensors file: the header is not valid "
                               "JSON (nested too deeply)")
