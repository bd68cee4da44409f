"""Our own reader and writer of the safetensors format (no pickle, no eval, no dependency).

The format (https://github.com/huggingface/safetensors) is::

    [8 bytes]  N, the header length, unsigned 64-bit little-endian
    [N bytes]  a UTF-8 JSON object:
               {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]},
                ..., "__metadata__": {"key": "value", ...}}       (metadata: str -> str)
    [rest]     the tensors' raw little-endian bytes, C order; ``data_offsets`` count from
               the start of this part and together cover it exactly, without gaps

Reading validates everything before any array is made: the header length lies within the
file, the header is a JSON object of the expected shape, every dtype is known, every byte
count equals ``prod(shape) * itemsize``, and the offsets are contiguous and end exactly at
the end of the file. Any violation raises :class:`~xpnet.train.CheckpointError` naming the
file and the problem. Files written here load with the official
``safetensors.numpy.load_file`` and the other way round.
"""

from __future__ import annotations

import json
import math
import os
import struct
from typing import Any, BinaryIO

import numpy

from xpnet.train.errors import CheckpointError

#: safetensors dtype name -> NumPy dtype (little-endian). BF16 and the F8 types exist in
#: the format but not in NumPy: reading them raises CheckpointError saying so.
DTYPES: dict[str, numpy.dtype] = {
    "BOOL": numpy.dtype("bool"),
    "U8": numpy.dtype("<u1"),
    "I8": numpy.dtype("<i1"),
    "U16": numpy.dtype("<u2"),
    "I16": numpy.dtype("<i2"),
    "F16": numpy.dtype("<f2"),
    "U32": numpy.dtype("<u4"),
    "I32": numpy.dtype("<i4"),
    "F32": numpy.dtype("<f4"),
    "U64": numpy.dtype("<u8"),
    "I64": numpy.dtype("<i8"),
    "F64": numpy.dtype("<f8"),
}
_NAMES = {(dt.kind, dt.itemsize): name for name, dt in DTYPES.items()}
_UNSUPPORTED = {"BF16", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2"}
MAX_HEADER = 100_000_000  # bytes, the official implementation's limit


def dtype_name(dtype: Any) -> str:
    """The safetensors name of a NumPy dtype (``float32`` -> ``"F32"``).

    Raises:
        TypeError: the dtype has no safetensors equivalent (object, complex, strings).
    """
    dt = numpy.dtype(dtype)
    name = _NAMES.get((dt.kind, dt.itemsize))
    if name is None:
        raise TypeError(f"safetensors: dtype {dt} cannot be stored (expected bool, ints, floats)")
    return name


def _little_endian(array: Any) -> numpy.ndarray:
    """A C-contiguous little-endian NumPy copy-if-needed of ``array``."""
    if not isinstance(array, numpy.ndarray):
        to_numpy = getattr(array, "get", None)  # a CuPy array: copy it to the host
        array = to_numpy() if callable(to_numpy) else numpy.asarray(array)
    dt = array.dtype
    if dt.byteorder == ">" or (dt.byteorder == "=" and not numpy.little_endian):
        array = array.astype(dt.newbyteorder("<"))
    # not ascontiguousarray, which turns a 0-d array into a 1-d one
    return array if array.flags.c_contiguous else array.copy(order="C")


def _plan(tensors: dict[str, Any], metadata: dict[str, str] | None) -> tuple[bytes, list]:
    """Build the padded header and the ordered list of arrays to write after it."""
    if not isinstance(tensors, dict):
        raise TypeError(
            f"safetensors: expected a dict of name -> array, got {type(tensors).__name__}"
        )
    arrays = {}
    for name, value in tensors.items():
        if not isinstance(name, str) or not name or name == "__metadata__":
            raise ValueError(f"safetensors: bad tensor name {name!r}")
        arrays[name] = _little_endian(value)
        dtype_name(arrays[name].dtype)
    # widest dtypes first, then by name (as the official writer does): every tensor then
    # starts at a multiple of its itemsize, so readers can map it without copying
    order = sorted(arrays, key=lambda n: (-arrays[n].dtype.itemsize, n))
    header: dict[str, Any] = {}
    if metadata is not None:
        bad = {k: v for k, v in metadata.items() if not (isinstance(k, str) and isinstance(v, str))}
        if bad:
            raise TypeError(f"safetensors: metadata must map str -> str, got {bad!r}")
        header["__metadata__"] = dict(metadata)
    offset = 0
    for name in order:
        a = arrays[name]
        header[name] = {
            "dtype": dtype_name(a.dtype),
            "shape": list(a.shape),
            "data_offsets": [offset, offset + a.nbytes],
        }
        offset += a.nbytes
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)  # pad to 8 bytes so the data part is aligned
    return struct.pack("<Q", len(text)) + text, [arrays[n] for n in order]


def write(
    stream: BinaryIO, tensors: dict[str, Any], metadata: dict[str, str] | None = None
) -> None:
    """Write ``tensors`` in safetensors format to an open binary stream.

    Args:
        stream: a file object opened for binary writing.
        tensors: name -> array (NumPy, or CuPy copied to the host); any shape, including
            scalars and empty arrays; bool, integer or floating dtypes.
        metadata: optional str -> str pairs stored under ``"__metadata__"``.

    Raises:
        TypeError: a dtype or metadata value the format cannot hold.
        ValueError: a bad tensor name.
    """
    head, arrays = _plan(tensors, metadata)
    stream.write(head)
    for a in arrays:
        if a.size:
            stream.write(a.reshape(-1).view(numpy.uint8).data)


def serialize(tensors: dict[str, Any], metadata: dict[str, str] | None = None) -> bytes:
    """The safetensors bytes of ``tensors`` (see :func:`write`).

    Example:
        >>> blob = serialize({"w": numpy.ones((2, 2), numpy.float32)})
        >>> deserialize(blob)[0]["w"].shape
        (2, 2)
    """
    head, arrays = _plan(tensors, metadata)
    return head + b"".join(a.tobytes() for a in arrays)


def save_file(
    tensors: dict[str, Any], path: str | os.PathLike, metadata: dict[str, str] | None = None
) -> None:
    """Write ``tensors`` to ``path`` (plainly; :mod:`xpnet.train.checkpoint` adds atomicity).

    Args:
        tensors: name -> array.
        path: the file to write.
        metadata: optional str -> str pairs.
    """
    with open(path, "wb") as f:
        write(f, tensors, metadata)


# --------------------------------------------------------------------------- reading
def _fail(source: str, what: str) -> CheckpointError:
    return CheckpointError(f"{source}: not a valid safetensors file: {what}")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        dup = sorted({k for k in keys if keys.count(k) > 1})
        raise ValueError(f"duplicate keys {dup}")
    return dict(pairs)


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def parse_header(blob: bytes | memoryview, source: str = "<bytes>") -> tuple[dict, dict, int]:
    """Validate the header of a safetensors file held in ``blob``.

    Args:
        blob: the whole file's bytes.
        source: the file name, for error messages.

    Returns:
        ``(entries, metadata, data_start)``: name -> {"dtype", "shape", "data_offsets"},
        the metadata dict (empty when absent), and where the data part starts in ``blob``.

    Raises:
        CheckpointError: anything wrong, with what and where.
    """
    size = len(blob)
    n = _header_length(bytes(blob[:8]), size, source)
    header, metadata = _parse_header_text(bytes(blob[8 : 8 + n]), source, size - 8 - n)
    return header, metadata, 8 + n


def _header_length(first: bytes, size: int, source: str) -> int:
    """N, from the first 8 bytes of a file of ``size`` bytes, checked against the size."""
    if size < 8 or len(first) < 8:
        raise _fail(source, f"{size} bytes is too short to hold the 8-byte header length")
    (n,) = struct.unpack("<Q", first[:8])
    if n > MAX_HEADER or 8 + n > size:
        raise _fail(source, f"header length {n} does not fit in a file of {size} bytes")
    return n


def _parse_header_text(raw: bytes, source: str, data_size: int) -> tuple[dict, dict]:
    """The entries and metadata of a header's JSON text, checked against ``data_size``."""
    if not raw.startswith(b"{"):
        raise _fail(source, "the header does not start with '{'")
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        what = "nested too deeply" if isinstance(e, RecursionError) else str(e)
        raise _fail(source, f"the header is not valid JSON ({what})") from None
    if not isinstance(header, dict):
        raise _fail(source, "the header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise _fail(source, "__metadata__ must be an object of strings")
    for name, entry in header.items():
        _check_entry(source, name, entry)
    _check_offsets(source, header, data_size)
    return header, metadata


def _check_entry(source: str, name: str, entry: Any) -> None:
    """One tensor entry: known dtype, integer shape, byte count matching the shape."""
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise _fail(source, f"tensor {name!r}: expected keys dtype, shape, data_offsets")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype in _UNSUPPORTED:
        raise _fail(source, f"tensor {name!r}: dtype {dtype} is not supported by NumPy")
    if dtype not in DTYPES:
        raise _fail(source, f"tensor {name!r}: unknown dtype {dtype!r}")
    if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
        raise _fail(source, f"tensor {name!r}: bad shape {shape!r}")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(_is_int(o) and o >= 0 for o in offsets)
        or offsets[0] > offsets[1]
    ):
        raise _fail(source, f"tensor {name!r}: bad data_offsets {offsets!r}")
    expected = math.prod(shape) * DTYPES[dtype].itemsize
    if offsets[1] - offsets[0] != expected:
        raise _fail(
            source,
            f"tensor {name!r}: {offsets[1] - offsets[0]} bytes for shape {shape} of "
            f"{dtype}, expected {expected}",
        )


def _check_offsets(source: str, header: dict, data_size: int) -> None:
    """The tensors tile the data part exactly: no gap, no overlap, nothing past the end."""
    end = 0
    for name, entry in sorted(header.items(), key=lambda kv: tuple(kv[1]["data_offsets"])):
        begin, stop = entry["data_offsets"]
        if begin != end:
            raise _fail(source, f"tensor {name!r} starts at byte {begin}, expected {end}")
        end = stop
    if end != data_size:
        raise _fail(
            source,
            f"the tensors cover {end} bytes but the file holds {data_size} data bytes "
            "(truncated or padded file)",
        )


def deserialize(
    blob: bytes | bytearray | memoryview, source: str = "<bytes>"
) -> tuple[dict[str, numpy.ndarray], dict[str, str]]:
    """Tensors and metadata from the bytes of a safetensors file.

    Arrays are views into ``blob`` when it is writable and aligned (a bytearray), copies
    otherwise; they are always native NumPy arrays.

    Returns:
        ``(tensors, metadata)``.

    Raises:
        CheckpointError: the bytes are not a valid safetensors file.
    """
    header, metadata, start = parse_header(blob, source)
    tensors = {}
    for name, entry in header.items():
        tensors[name] = _array(blob, start, entry)
    return tensors, metadata


def _array(blob: Any, start: int, entry: dict) -> numpy.ndarray:
    dt = DTYPES[entry["dtype"]]
    begin, end = entry["data_offsets"]
    count = (end - begin) // dt.itemsize
    a = numpy.frombuffer(blob, dtype=dt, count=count, offset=start + begin)
    if not a.flags.aligned or not a.flags.writeable:
        a = a.copy()
    return a.reshape(entry["shape"]).astype(dt.newbyteorder("="), copy=False)


def read_checked(path: str | os.PathLike) -> tuple[bytearray, dict, dict, int]:
    """Read a safetensors file header first: the header is validated against the file's
    size before the data is read, so a file padded to gigabytes, or one whose header
    announces more than it holds, is refused after reading its header only.

    Returns:
        ``(blob, entries, metadata, data_start)`` as :func:`parse_header` gives them, with
        ``blob`` the whole file (writable).

    Raises:
        CheckpointError: anything wrong, with what and where.
    """
    source = os.fspath(path)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        first = f.read(8)
        n = _header_length(first, size, source)
        raw = f.read(n)
        header, metadata = _parse_header_text(raw, source, size - 8 - n)
        blob = bytearray(size)
        blob[: 8 + n] = first + raw
        got = f.readinto(memoryview(blob)[8 + n :])
    if 8 + n + got != size:
        raise CheckpointError(f"{source}: short read ({8 + n + got} of {size} bytes)")
    return blob, header, metadata, 8 + n


def load_file(path: str | os.PathLike) -> dict[str, numpy.ndarray]:
    """Read every tensor of a safetensors file.

    Args:
        path: the file.

    Returns:
        name -> NumPy array (writable).

    Raises:
        CheckpointError: the file is damaged or is not safetensors.
        FileNotFoundError: no such file.

    Example:
        >>> save_file({"w": numpy.zeros(3, numpy.float32)}, "w.safetensors")
        >>> load_file("w.safetensors")["w"]
        array([0., 0., 0.], dtype=float32)
    """
    blob, header, _, start = read_checked(path)
    return {name: _array(blob, start, entry) for name, entry in header.items()}


def load_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors file (after validating its header)."""
    return read_checked(path)[2]


def tensor_bytes(blob: Any, start: int, entry: dict) -> memoryview:
    """The raw stored bytes of one tensor (for hashing exactly what is on disk)."""
    begin, end = entry["data_offsets"]
    return memoryview(blob)[start + begin : start + end]

