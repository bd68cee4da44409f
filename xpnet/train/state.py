"""Nested training state <-> tensors and a JSON skeleton, and the check of a loaded one.

A state (``Module.state_dict()``, an optimiser's, a schedule's, RNG states, the
position...) is nested dicts and lists whose leaves are arrays or JSON values.
:func:`flatten_state` splits it into tensors under dotted keys (for safetensors) and a
JSON skeleton with references to them; :func:`unflatten_state` rebuilds it;
:func:`check_train_state` checks the types of a loaded training state before anything
is loaded from it, so a crafted record is one clear error naming its file.
"""

from __future__ import annotations

from typing import Any

import numpy

from xpnet.train.errors import CheckpointError

_KINDS = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
          list: "a list", dict: "an object", type(None): "null"}

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
        CheckpointError: the skeleton refers to a tensor that is not there, or a marker
            holds something of the wrong type (``{"__tensor__": 5}``).
    """
    if isinstance(skeleton, list):
        return [unflatten_state(tensors, v) for v in skeleton]
    if not isinstance(skeleton, dict):
        return skeleton
    if len(skeleton) == 1:
        (marker, body), = skeleton.items()
        if marker in ("__tensor__", "__scalar__"):
            if not isinstance(body, str) or body not in tensors:
                raise CheckpointError(f"checkpoint state refers to a missing tensor {body!r}")
            return tensors[body][()] if marker == "__scalar__" else tensors[body]
        if marker == "__tuple__" and isinstance(body, list):
            return tuple(unflatten_state(tensors, v) for v in body)
        if marker == "__items__" and isinstance(body, list) and all(
                isinstance(kv, list) and len(kv) == 2 and _is_key(kv[0]) for kv in body):
            return {k: unflatten_state(tensors, v) for k, v in body}
        if marker in _MARKERS:
            kind = _KINDS.get(type(body), type(body).__name__)
            raise CheckpointError(f"checkpoint state: {marker} holds {kind} where a list "
                                  f"{'of [key, value] pairs ' if marker == '__items__' else ''}"
                                  "belongs")
    return {k: unflatten_state(tensors, v) for k, v in skeleton.items()}


def _is_key(k: Any) -> bool:
    return k is None or isinstance(k, (bool, int, float, str))


def _wrong(source: Any, where: str, value: Any, expected: str) -> CheckpointError:
    kind = _KINDS.get(type(value), type(value).__name__)
    if isinstance(value, (bool, int, float, str)):
        kind += f" ({value!r:.40})"
    return CheckpointError(f"{source}: the checkpoint's {where} is {kind} where {expected} "
                           "belongs")


def _nonnegative_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def check_train_state(state: Any, source: Any) -> None:
    """Check the types of a training state (:meth:`xpnet.train.Trainer.state_dict`) as a
    checkpoint brings it, before anything is loaded from it: a crafted or damaged record
    (a number where a tensor reference belongs) is refused here, naming the file.

    Args:
        state: the state :func:`load_state` returned.
        source: the file, for the message.

    Raises:
        CheckpointError: a part of the wrong type.
    """
    if not isinstance(state, dict) or not isinstance(state.get("model"), dict):
        raise CheckpointError(f"{source}: the checkpoint holds no model state")
    for name, value in state["model"].items():
        if not isinstance(value, numpy.ndarray):
            raise _wrong(source, f"model entry {name!r}", value, "a tensor")
    for part, kind, expected in (("optimizer", dict, "an object"), ("rng", dict, "an object"),
                                 ("progress", dict, "an object"), ("history", list, "a list"),
                                 ("callbacks", dict, "an object"),
                                 ("train_acc", dict, "an object")):
        if part in state and not isinstance(state[part], kind):
            raise _wrong(source, part, state[part], expected)
    for key, value in state.get("progress", {}).items():
        if not _nonnegative_int(value):
            raise _wrong(source, f"progress {key!r}", value, "a whole number >= 0")
    for key, value in state.get("rng", {}).items():
        if not isinstance(value, dict):
            raise _wrong(source, f"generator state {key!r}", value, "an object")
    optimizer = state.get("optimizer", {})
    entries = optimizer.get("state", {})
    if not isinstance(entries, dict):
        raise _wrong(source, "optimizer state", entries, "an object")
    for i, entry in entries.items():
        if not isinstance(entry, dict) or not all(
                isinstance(v, numpy.ndarray) for v in entry.values()):
            raise _wrong(source, f"optimizer state of parameter {i}", entry,
                         "an object of tensors")
