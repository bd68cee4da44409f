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
which is ignored; :func:`remove_temporaries` deletes it when the run starts again). A
crash between (1) and (2) leaves the new tensors beside the old JSON:
:func:`load_checkpoint` sees that the JSON's record differs from the embedded one, warns
(:class:`~xpnet.train.errors.CheckpointWarning`, one line) and uses the embedded record,
which the SHA-256 of every tensor confirms; :func:`repair_sidecar` rewrites the JSON.

Loading never executes code: the bytes are parsed as safetensors and JSON only (never
pickle, never eval), the header is checked against the file's size before the tensors
are read (a file padded to gigabytes is refused after its header), and every tensor's
SHA-256 is checked against the record. A file that is truncated, altered or not a
checkpoint at all raises :class:`CheckpointError`.

Nested state (``model.state_dict()``, optimiser, scheduler, RNG states, ...) goes through
:func:`~xpnet.train.state.flatten_state` (:mod:`xpnet.train.state`): arrays become tensors
under dotted keys, everything else stays in the JSON "skeleton" with references to those
keys; :func:`~xpnet.train.state.unflatten_state` rebuilds it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy

from xpnet.train import safetensors
from xpnet.train.errors import CheckpointError, CheckpointWarning
from xpnet.train.state import check_train_state, flatten_state, unflatten_state

__all__ = [
    "CheckpointError",
    "atomic_write",
    "check_train_state",
    "checkpoint_exists",
    "checkpoint_paths",
    "flatten_state",
    "load_checkpoint",
    "load_meta",
    "load_state",
    "load_weights",
    "remove_temporaries",
    "repair_sidecar",
    "save_checkpoint",
    "save_state",
    "unflatten_state",
]

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
    except (ValueError, RecursionError) as e:
        what = "nested too deeply" if isinstance(e, RecursionError) else str(e)
        raise CheckpointError(f"{source}: the checkpoint record is not valid JSON "
                              f"({what})") from None
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
    blob, header, metadata, start = safetensors.read_checked(st_path)
    record = _record(source, metadata)
    _verify(source, blob, header, start, record["tensors"])
    if not sidecar_matches(json_path, record):
        warnings.warn(CheckpointWarning(
            f"{json_path} does not match the record inside {st_path.name} (a save "
            "interrupted between its two renames?); the verified record inside is used"),
            stacklevel=2)
    tensors = {name: safetensors._array(blob, start, entry) for name, entry in header.items()}
    return tensors, record["meta"]


def _record(source: str, metadata: dict[str, str]) -> dict:
    """The xpnet record embedded in a safetensors header, its SHA-256 checked."""
    if _KEY not in metadata:
        raise CheckpointError(f"{source}: a safetensors file, but not an xpnet checkpoint")
    if hashlib.sha256(metadata[_KEY].encode("utf-8")).hexdigest() != metadata.get(_KEY_SHA):
        raise CheckpointError(f"{source}: the checkpoint record is damaged (SHA-256 mismatch)")
    return _parse_record(source, metadata[_KEY])


def _verify(source: str, blob: Any, header: dict, start: int, expected: dict) -> None:
    """Every tensor present, of the recorded dtype and shape, with the recorded SHA-256."""
    missing, extra = sorted(set(expected) - set(header)), sorted(set(header) - set(expected))
    if missing or extra:
        raise CheckpointError(f"{source}: tensors missing {missing}, unexpected {extra}")
    for name, entry in header.items():
        want = expected[name]
        if not isinstance(want, dict):
            raise CheckpointError(f"{source}: the record of tensor {name!r} is not an object")
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


def sidecar_matches(json_path: Path, record: dict) -> bool:
    """Whether ``X.json`` holds exactly ``record`` (False when missing or unreadable)."""
    try:
        side = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return False
    return side == record


def repair_sidecar(path: str | os.PathLike) -> bool:
    """Rewrite ``X.json`` from the verified record inside ``X.safetensors`` when they differ.

    Only the header is read (the record's own SHA-256 vouches for it). Call it where no
    other process can be saving the checkpoint (a run folder held by
    :class:`~xpnet.train.lock.RunLock`).

    Returns:
        True when the sidecar was rewritten.

    Raises:
        CheckpointError: ``X.safetensors`` is damaged or no xpnet checkpoint.
    """
    st_path, json_path = checkpoint_paths(path)
    with open(st_path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        first = f.read(8)
        n = safetensors._header_length(first, size, os.fspath(st_path))
        _, metadata = safetensors._parse_header_text(f.read(n), os.fspath(st_path),
                                                     size - 8 - n)
    record = _record(os.fspath(st_path), metadata)
    if sidecar_matches(json_path, record):
        return False
    pretty = json.dumps(record, sort_keys=True, indent=1).encode("utf-8") + b"\n"
    atomic_write(json_path, lambda f: f.write(pretty))
    return True


_TEMPORARY = re.compile(r"\..+\.[A-Za-z0-9_]{6,}\.tmp")  # atomic_write's temporary names


def remove_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files that saves interrupted by a crash left in ``folder``
    (``.last.safetensors.k2j4x8q1.tmp``: :func:`atomic_write`'s names).

    Call it only where no other process can be saving there (a run folder held by
    :class:`~xpnet.train.lock.RunLock`): a temporary file of a save in progress looks
    the same.

    Returns:
        The files removed.
    """
    removed = []
    for p in Path(folder).iterdir():
        if _TEMPORARY.fullmatch(p.name) and p.is_file() and not p.is_symlink():
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
                removed.append(p)
    return removed


def load_meta(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata of a checkpoint, verified (reads the whole checkpoint)."""
    return load_checkpoint(path)[1]


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
    source = checkpoint_paths(path)[0]
    if "state" not in meta:
        raise CheckpointError(f"{source}: the checkpoint holds no 'state'")
    meta = dict(meta)
    try:
        return unflatten_state(tensors, meta.pop("state")), meta
    except CheckpointError as e:
        raise CheckpointError(f"{source}: {e}") from None
    except RecursionError:
        raise CheckpointError(f"{source}: the checkpoint state is nested too deeply") from None


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
    source = checkpoint_paths(path)[0]
    if not isinstance(state, dict) or "model" not in state:
        raise CheckpointError(f"{source}: the checkpoint holds no model")
    check_train_state(state, source)
    model.load_state_dict(state["model"])
    return meta
