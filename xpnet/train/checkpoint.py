"""Checkpoints: tensors in safetensors, metadata in JSON, each tensor's SHA-256, atomic writes.

A checkpoint named ``X`` is two files::

    X.safetensors   the tensors, plus the *record* (below) embedded as a JSON string in
                    its ``__metadata__`` under the key ``"xpnet.checkpoint"``
    X.json          the same record, pretty-printed, for people and tools

The record is ``{"format": "xpnet.checkpoint", "version": 1, "meta": {...},
"tensors": {name: {"dtype", "shape", "sha256"}}}``; the SHA-256 of its embedded text is
stored beside it (``"xpnet.checkpoint.sha256"``), so the metadata is checked too.

Write order, and why it keeps a consistent pair through any crash:

1. ``X.safetensors`` is written to a temporary file in the same folder, flushed,
   ``fsync``'ed and ``os.replace``'d over the old one. ``os.replace`` is atomic, so at every
   instant ``X.safetensors`` is either the old complete file or the new complete file.
   This rename is the commit point: the new file carries its own record, so it is a
   complete, self-verifying checkpoint on its own.
2. ``X.json`` is written the same way, last. It is a copy of the record that is already
   committed, so it can never describe tensors that are not on disk.
3. The folder is ``fsync``'ed so that both renames survive a power cut.

A crash before (1)'s rename leaves the old pair untouched (and a stray temporary file,
which is ignored). A crash between (1) and (2) leaves the new tensors beside the old
JSON: :func:`load_checkpoint` sees that the JSON's record differs from the embedded one,
warns, and uses the embedded record, which the SHA-256 of every tensor confirms.

Loading never executes code: the bytes are parsed as safetensors and JSON only (never
pickle, never eval), and every tensor's SHA-256 is checked against the record. A file that
is truncated, altered or not a checkpoint at all raises :class:`CheckpointError`.

Nested state (``model.state_dict()``, optimiser, scheduler, RNG states, ...) goes through
:func:`flatten_state`: arrays become tensors under dotted keys, everything else stays in
the JSON "skeleton" with references to those keys; :func:`unflatten_state` rebuilds it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy

from xpnet.train import safetensors
from xpnet.train.errors import CheckpointError

FORMAT = "xpnet.checkpoint"
VERSION = 1
_KEY = "xpnet.checkpoint"  # safetensors __metadata__ key holding the record
_KEY_SHA = "xpnet.checkpoint.sha256"  # ... and the SHA-256 of that record's text


# ----------------------------------------------------------------------------- paths
def checkpoint_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """``(X.safetensors, X.json)`` for ``path`` given as ``X``, ``X.safetensors`` or ``X.json``."""
    p = Path(path)
    if p.suffix in (".safetensors", ".json"):
        p = p.with_suffix("")
    return p.with_name(p.name + ".safetensors"), p.with_name(p.name + ".json")


def checkpoint_exists(path: str | os.PathLike) -> bool:
    """True when ``X.safetensors`` exists (the JSON is optional for loading)."""
    return checkpoint_paths(path)[0].is_file()


def _fsync_dir(folder: Path) -> None:
    """Make renames in ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[Any], None]) -> None:
    """Write a file so that ``path`` is always either the old or the complete new content.

    ``write(f)`` fills a temporary file in the same folder, which is then flushed,
    ``fsync``'ed and ``os.replace``'d over ``path``. On any error the temporary file is
    removed and ``path`` is untouched.

    Args:
        path: the destination.
        write: called with the open binary file object.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# ------------------------------------------------------------------------ save, load
def sha256(array: numpy.ndarray) -> str:
    """Hex SHA-256 of an array's C-order little-endian bytes (what safetensors stores)."""
    a = safetensors._little_endian(array)
    return hashlib.sha256(a.reshape(-1).view(numpy.uint8).data if a.size else b"").hexdigest()


def save_checkpoint(
    path: str | os.PathLike, tensors: dict[str, Any], meta: dict[str, Any] | None = None
) -> Path:
    """Write ``X.safetensors`` and ``X.json`` atomically (see the module notes for the order).

    Args:
        path: ``X``, ``X.safetensors`` or ``X.json``; the folder must exist.
        tensors: name -> array (NumPy or CuPy; copied to the host).
        meta: JSON-able metadata (numbers, strings, lists, dicts, None).

    Returns:
        The path of ``X.safetensors``.

    Example:
        >>> save_checkpoint("run/last", {"w": numpy.ones(3, numpy.float32)}, {"epoch": 2})
        PosixPath('run/last.safetensors')
    """
    st_path, json_path = checkpoint_paths(path)
    arrays = {name: safetensors._little_endian(a) for name, a in tensors.items()}
    record = {
        "format": FORMAT,
        "version": VERSION,
        "meta": {} if meta is None else meta,
        "tensors": {
            name: {
                "dtype": safetensors.dtype_name(a.dtype),
                "shape": list(a.shape),
                "sha256": sha256(a),
            }
            for name, a in sorted(arrays.items())
        },
    }
    try:
        embedded = json.dumps(record, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as e:
        raise TypeError(f"save_checkpoint: meta is not JSON-able: {e}") from None
    digest = hashlib.sha256(embedded.encode("utf-8")).hexdigest()
    header_meta = {_KEY: embedded, _KEY_SHA: digest}
    atomic_write(st_path, lambda f: safetensors.write(f, arrays, header_meta))
    pretty = json.dumps(record, sort_keys=True, indent=1).encode("utf-8") + b"\n"
    atomic_write(json_path, lambda f: f.write(pretty))
    _fsync_dir(st_path.parent)
    return st_path


def _parse_record(source: str, text: str) -> dict:
    try:
        record = json.loads(text)
    except ValueError as e:
        raise CheckpointError(f"{source}: the checkpoint record is not valid JSON ({e})") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise CheckpointError(f"{source}: not an xpnet checkpoint (no {FORMAT!r} record)")
    if record.get("version") != VERSION:
        raise CheckpointError(
            f"{source}: checkpoint format version {record.get('version')!r}, "
            f"this xpnet reads version {VERSION}"
        )
    if not isinstance(record.get("tensors"), dict) or not isinstance(record.get("meta"), dict):
        raise CheckpointError(f"{source}: the checkpoint record lacks 'tensors' or 'meta'")
    return record


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, numpy.ndarray], dict[str, Any]]:
    """Read and verify a checkpoint written by :func:`save_checkpoint`.

    Args:
        path: ``X``, ``X.safetensors`` or ``X.json``.

    Returns:
        ``(tensors, meta)``: name -> NumPy array, and the metadata dict.

    Raises:
        FileNotFoundError: ``X.safetensors`` does not exist.
        CheckpointError: the file is truncated, not safetensors (a pickle, say), carries
            no xpnet record, or a tensor's bytes do not match its SHA-256 (the tensor is
            named). Nothing in the files is ever executed.
    """
    st_path, json_path = checkpoint_paths(path)
    source = os.fspath(st_path)
    blob = safetensors.read_bytes(st_path)
    header, metadata, start = safetensors.parse_header(blob, source)
    if _KEY not in metadata:
        raise CheckpointError(f"{source}: a safetensors file, but not an xpnet checkpoint")
    if hashlib.sha256(metadata[_KEY].encode("utf-8")).hexdigest() != metadata.get(_KEY_SHA):
        raise CheckpointError(f"{source}: the checkpoint record is damaged (SHA-256 mismatch)")
    record = _parse_record(source, metadata[_KEY])
    _verify(source, blob, header, start, record["tensors"])
    _check_sidecar(json_path, record)
    tensors = {name: safetensors._array(blob, start, entry) for name, entry in header.items()}
    return tensors, record["meta"]


def _verify(source: str, blob: Any, header: dict, start: int, expected: dict) -> None:
    """Every tensor present, of the recorded dtype and shape, with the recorded SHA-256."""
    missing, extra = sorted(set(expected) - set(header)), sorted(set(header) - set(expected))
    if missing or extra:
        raise CheckpointError(f"{source}: tensors missing {missing}, unexpected {extra}")
    for name, entry in header.items():
        want = expected[name]
        if entry["dtype"] != want.get("dtype") or entry["shape"] != want.get("shape"):
            raise CheckpointError(
                f"{source}: tensor {name!r} is {entry['dtype']}{entry['shape']}, "
                f"the record says {want.get('dtype')}{want.get('shape')}"
            )
        got = hashlib.sha256(safetensors.tensor_bytes(blob, start, entry)).hexdigest()
        if got != want.get("sha256"):
            raise CheckpointError(
                f"{source}: tensor {name!r} is damaged: SHA-256 {got[:16]}... differs from "
                f"the recorded {str(want.get('sha256'))[:16]}..."
            )


def _check_sidecar(json_path: Path, record: dict) -> None:
    """Warn when ``X.json`` is missing or differs from the record inside the tensors file."""
    try:
        side = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        side = None
    if side != record:
        warnings.warn(
            f"{json_path} is missing or does not match the record inside its .safetensors "
            "(a save interrupted between its two renames?); using the embedded record",
            stacklevel=3,
        )


def load_meta(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata of a checkpoint, verified (reads the whole checkpoint)."""
    return load_checkpoint(path)[1]


# --------------------------------------------------------------------- nested state
_MARKERS = ("__tensor__", "__scalar__", "__tuple__", "__items__")


def flatten_state(state: Any, prefix: str = "") -> tuple[dict[str, Any], Any]:
    """Split a nested state into tensors (by dotted key) and a JSON-able skeleton.

    Arrays (NumPy or CuPy) become tensors; NumPy scalars become 0-d tensors (so their
    dtype survives); dicts, lists, tuples, numbers, strings, booleans and None stay in the
    skeleton, with ``{"__tensor__": key}`` where an array was. Dicts with non-string keys
    (an optimiser's per-parameter index) and tuples are encoded so that they come back
    as they were.

    Args:
        state: nested dicts / lists / tuples whose leaves are arrays or JSON values.
        prefix: prepended to every tensor key.

    Returns:
        ``(tensors, skeleton)``.

    Raises:
        TypeError: a leaf of another type, with its dotted path.

    Example:
        >>> t, s = flatten_state({"model": {"w": numpy.ones(2)}, "epoch": 3})
        >>> list(t), s
        (['model.w'], {'model': {'w': {'__tensor__': 'model.w'}}, 'epoch': 3})
    """
    tensors: dict[str, Any] = {}
    skeleton = _flatten(state, prefix, tensors)
    return tensors, skeleton


def _key(path: str, tensors: dict) -> str:
    key, n = path or "tensor", 1
    while key in tensors:  # "a.b" as one key and as a nested path would collide
        n += 1
        key = f"{path}#{n}"
    return key


def _flatten(value: Any, path: str, tensors: dict) -> Any:
    join = (lambda k: f"{path}.{k}" if path else str(k))  # noqa: E731
    if isinstance(value, numpy.generic):
        key = _key(path, tensors)
        tensors[key] = numpy.asarray(value)
        return {"__scalar__": key}
    if hasattr(value, "shape") and hasattr(value, "dtype") and not isinstance(value, (bool, int)):
        key = _key(path, tensors)
        tensors[key] = value
        return {"__tensor__": key}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value) and not any(k in _MARKERS for k in value):
            return {k: _flatten(v, join(k), tensors) for k, v in value.items()}
        items = []
        for k, v in value.items():
            if not (k is None or isinstance(k, (bool, int, float, str))):
                raise TypeError(f"flatten_state: key {k!r} at {path or '<root>'} is not JSON-able")
            items.append([k, _flatten(v, join(k), tensors)])
        return {"__items__": items}
    if isinstance(value, list):
        return [_flatten(v, join(i), tensors) for i, v in enumerate(value)]
    if isinstance(value, tuple):
        return {"__tuple__": [_flatten(v, join(i), tensors) for i, v in enumerate(value)]}
    raise TypeError(
        f"flatten_state: {path or '<root>'} holds a {type(value).__name__}; expected arrays, "
        "numbers, strings, None, lists, tuples or dicts"
    )


def unflatten_state(tensors: dict[str, Any], skeleton: Any) -> Any:
    """Rebuild the nested state from :func:`flatten_state`'s output.

    Raises:
        CheckpointError: the skeleton refers to a tensor that is not there.
    """
    if isinstance(skeleton, list):
        return [unflatten_state(tensors, v) for v in skeleton]
    if not isinstance(skeleton, dict):
        return skeleton
    if len(skeleton) == 1:
        (marker, body), = skeleton.items()
        if marker in ("__tensor__", "__scalar__"):
            if body not in tensors:
                raise CheckpointError(f"checkpoint state refers to a missing tensor {body!r}")
            return tensors[body][()] if marker == "__scalar__" else tensors[body]
        if marker == "__tuple__":
            return tuple(unflatten_state(tensors, v) for v in body)
        if marker == "__items__":
            return {k: unflatten_state(tensors, v) for k, v in body}
    return {k: unflatten_state(tensors, v) for k, v in skeleton.items()}


def save_state(
    path: str | os.PathLike, state: dict[str, Any], meta: dict[str, Any] | None = None
) -> Path:
    """Flatten a nested ``state`` and save it as a checkpoint.

    Args:
        path: ``X`` (or ``X.safetensors``).
        state: nested dicts of arrays and JSON values (model, optimiser, RNG states...).
        meta: extra JSON-able metadata stored beside the state (not part of it).

    Returns:
        The path of ``X.safetensors``.
    """
    tensors, skeleton = flatten_state(state)
    return save_checkpoint(path, tensors, {"state": skeleton, **(meta or {})})


def load_state(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, Any]]:
    """Load a checkpoint written by :func:`save_state`.

    Returns:
        ``(state, meta)``: the nested state as saved, and the remaining metadata.
    """
    tensors, meta = load_checkpoint(path)
    if "state" not in meta:
        raise CheckpointError(f"{checkpoint_paths(path)[0]}: the checkpoint holds no 'state'")
    meta = dict(meta)
    return unflatten_state(tensors, meta.pop("state")), meta


def load_weights(model: Any, path: str | os.PathLike) -> dict[str, Any]:
    """Load only the model's parameters and buffers from a training checkpoint.

    For evaluation and prediction (``xpnet evaluate RUN``): the optimiser, schedule and
    RNG states in the file are read and verified but not used.

    Args:
        model: a Module of the architecture that was trained.
        path: ``run_dir/best`` or ``run_dir/last`` (with or without a suffix).

    Returns:
        The checkpoint's metadata (``epoch``, ``step``, ``model``, ``metrics``).

    Raises:
        CheckpointError: a damaged file, or one that holds no model state.
    """
    state, meta = load_state(path)
    if not isinstance(state, dict) or "model" not in state:
        raise CheckpointError(f"{checkpoint_paths(path)[0]}: the checkpoint holds no model")
    model.load_state_dict(state["model"])
    return meta
