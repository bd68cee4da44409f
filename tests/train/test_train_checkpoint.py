"""Checkpoints: round trip, SHA-256 checks, atomic pair, crafted pickle, nested state."""

import json
import os
import pickle
import warnings

import numpy
import pytest

from xpnet.train import (
    CheckpointError,
    flatten_state,
    load_checkpoint,
    load_state,
    save_checkpoint,
    save_state,
    unflatten_state,
)
from xpnet.train.checkpoint import (
    checkpoint_paths,
    load_weights,
    remove_temporaries,
    repair_sidecar,
)
from xpnet.train.errors import CheckpointWarning


def _tensors():
    rng = numpy.random.default_rng(1)
    return {
        "model.0.weight": rng.standard_normal((8, 5)).astype(numpy.float32),
        "model.0.bias": rng.standard_normal(8).astype(numpy.float32),
        "step": numpy.array(12, numpy.int64),
    }


def test_round_trip_and_the_pair_of_files(tmp_path):
    t = _tensors()
    path = save_checkpoint(tmp_path / "last", t, {"epoch": 2, "lr": 0.1, "best": float("inf")})
    assert path == tmp_path / "last.safetensors"
    record = json.loads((tmp_path / "last.json").read_text())
    assert record["format"] == "xpnet.checkpoint" and record["version"] == 1
    assert len(record["tensors"]["model.0.weight"]["sha256"]) == 64
    back, meta = load_checkpoint(tmp_path / "last.json")  # any of the three names works
    assert meta == {"epoch": 2, "lr": 0.1, "best": float("inf")}
    for k in t:
        numpy.testing.assert_array_equal(back[k], t[k])
        assert back[k].dtype == t[k].dtype
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_official_library_reads_our_checkpoint(tmp_path):
    official = pytest.importorskip("safetensors.numpy")
    save_checkpoint(tmp_path / "c", _tensors(), {})
    theirs = official.load_file(str(tmp_path / "c.safetensors"))
    numpy.testing.assert_array_equal(theirs["model.0.bias"], _tensors()["model.0.bias"])


def test_flipped_data_byte_names_the_tensor(tmp_path):
    save_checkpoint(tmp_path / "c", _tensors(), {})
    path = tmp_path / "c.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01  # inside the last tensor in the file: int64 first, then F32 by name
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"tensor 'model\.0\.weight' is damaged"):
        load_checkpoint(tmp_path / "c")


def test_every_flipped_byte_is_caught(tmp_path):
    save_checkpoint(tmp_path / "c", {"w": numpy.arange(4, dtype=numpy.float32)}, {"a": 1})
    path = tmp_path / "c.safetensors"
    good = path.read_bytes()
    for i in range(len(good)):
        data = bytearray(good)
        data[i] ^= 0x10
        path.write_bytes(bytes(data))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                load_checkpoint(path)
        except CheckpointError:
            continue
        raise AssertionError(f"byte {i} of {len(good)} flipped undetected")


def test_truncated_checkpoint(tmp_path):
    save_checkpoint(tmp_path / "c", _tensors(), {})
    path = tmp_path / "c.safetensors"
    for cut in (4, 20, len(path.read_bytes()) - 1):
        path.write_bytes(path.read_bytes()[:cut] if cut < 20 else _full(tmp_path)[:cut])
        with pytest.raises(CheckpointError, match="c.safetensors"):
            load_checkpoint(path)


def _full(tmp_path):
    save_checkpoint(tmp_path / "full", _tensors(), {})
    return (tmp_path / "full.safetensors").read_bytes()


class _Evil:
    """Unpickling this would create a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_crafted_pickle_is_rejected_and_nothing_runs(tmp_path, protocol):
    marker = tmp_path / "PWNED"
    payload = pickle.dumps(_Evil(str(marker)), protocol=protocol)
    (tmp_path / "c.safetensors").write_bytes(payload)
    (tmp_path / "c.json").write_bytes(payload)
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "c")
    assert not marker.exists()
    # sanity: the payload really is armed
    pickle.loads(payload)
    assert marker.exists()


def test_plain_safetensors_is_not_a_checkpoint(tmp_path):
    from xpnet.train import safetensors

    safetensors.save_file({"w": numpy.ones(2)}, tmp_path / "p.safetensors")
    with pytest.raises(CheckpointError, match="not an xpnet checkpoint"):
        load_checkpoint(tmp_path / "p")


def test_crash_between_the_two_renames_keeps_a_loadable_checkpoint(tmp_path):
    save_checkpoint(tmp_path / "last", {"w": numpy.zeros(3)}, {"epoch": 1})
    old_json = (tmp_path / "last.json").read_bytes()
    save_checkpoint(tmp_path / "last", {"w": numpy.ones(3)}, {"epoch": 2})
    (tmp_path / "last.json").write_bytes(old_json)  # as if the JSON rename never happened
    with pytest.warns(CheckpointWarning) as caught:
        t, meta = load_checkpoint(tmp_path / "last")
    assert [str(w.message) for w in caught] == [
        f"{tmp_path / 'last.json'} does not match the record inside last.safetensors (a save "
        "interrupted between its two renames?); the verified record inside is used"]
    assert meta == {"epoch": 2}
    numpy.testing.assert_array_equal(t["w"], numpy.ones(3))
    assert repair_sidecar(tmp_path / "last") is True  # from the verified record inside
    assert json.loads((tmp_path / "last.json").read_text())["meta"] == {"epoch": 2}
    assert repair_sidecar(tmp_path / "last") is False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_checkpoint(tmp_path / "last")[1] == {"epoch": 2}


def test_temporary_files_of_interrupted_saves_are_removed(tmp_path):
    save_checkpoint(tmp_path / "last", {"w": numpy.zeros(3)}, {"epoch": 1})
    stale = [tmp_path / ".last.safetensors.k2j4x8q1.tmp", tmp_path / ".last.json.a_b9ZZ01.tmp"]
    for p in stale:
        p.write_bytes(b"half a save")
    kept = [tmp_path / "notes.tmp", tmp_path / ".hidden", tmp_path / "last.safetensors"]
    kept[0].write_text("mine")
    kept[1].write_text("mine")
    assert sorted(remove_temporaries(tmp_path)) == sorted(stale)
    assert not any(p.exists() for p in stale) and all(p.exists() for p in kept)


def test_failed_write_leaves_the_old_checkpoint(tmp_path):
    save_checkpoint(tmp_path / "last", {"w": numpy.zeros(3)}, {"epoch": 1})
    with pytest.raises(TypeError):
        save_checkpoint(tmp_path / "last", {"w": numpy.ones(3)}, {"bad": object()})
    with pytest.raises(TypeError):
        save_checkpoint(tmp_path / "last", {"w": numpy.ones(3, numpy.complex64)}, {})
    t, meta = load_checkpoint(tmp_path / "last")
    assert meta == {"epoch": 1} and not t["w"].any()
    assert sorted(os.listdir(tmp_path)) == ["last.json", "last.safetensors"]


def test_nested_state_round_trip(tmp_path):
    rng = numpy.random.default_rng(3)
    state = {
        "model": {"0.weight": numpy.ones((2, 2), numpy.float32)},
        "optimizer": {"state": {0: {"momentum_buffer": numpy.full(3, 0.5)}, 1: {}},
                      "param_groups": [{"lr": 0.1, "momentum": 0.9, "params": [0, 1]}]},
        "rng": {"dropout": rng.bit_generator.state},
        "mt": numpy.random.MT19937(5).state,  # holds an array
        "scalar": numpy.float32(0.25),
        "shape": (3, 4),
        "tricky": {"__tensor__": "not a ref"},
        "none": None,
        "big": 2**100,
    }
    save_state(tmp_path / "s", state, {"extra": True})
    back, meta = load_state(tmp_path / "s")
    assert meta == {"extra": True}
    assert back["optimizer"]["state"][0]["momentum_buffer"].tolist() == [0.5] * 3
    assert back["optimizer"]["param_groups"] == state["optimizer"]["param_groups"]
    assert back["rng"]["dropout"] == state["rng"]["dropout"]
    numpy.testing.assert_array_equal(back["mt"]["state"]["key"], state["mt"]["state"]["key"])
    assert type(back["scalar"]) is numpy.float32 and back["scalar"] == numpy.float32(0.25)
    assert back["shape"] == (3, 4) and back["tricky"] == state["tricky"]
    assert back["none"] is None and back["big"] == 2**100
    g = numpy.random.default_rng()
    g.bit_generator.state = back["rng"]["dropout"]
    assert g.random() == numpy.random.default_rng(3).random()


def test_flatten_uses_dotted_keys_and_refuses_objects():
    t, skel = flatten_state({"model": {"fc": {"w": numpy.zeros(1)}}, "n": 1})
    assert list(t) == ["model.fc.w"] and skel["n"] == 1
    assert unflatten_state(t, skel)["model"]["fc"]["w"] is t["model.fc.w"]
    with pytest.raises(TypeError, match="model.bad"):
        flatten_state({"model": {"bad": object()}})


def test_checkpoint_paths():
    assert checkpoint_paths("r/last.safetensors") == checkpoint_paths("r/last")
    assert checkpoint_paths("r/best.json")[0].name == "best.safetensors"


def _record_with(tmp_path, record_text):
    """A safetensors file whose xpnet record is ``record_text`` (with its true SHA-256)."""
    import hashlib

    from xpnet.train import safetensors

    path = tmp_path / "crafted.safetensors"
    safetensors.save_file({}, path, {
        "xpnet.checkpoint": record_text,
        "xpnet.checkpoint.sha256": hashlib.sha256(record_text.encode()).hexdigest()})
    return path


def test_a_deeply_nested_record_is_one_error(tmp_path):
    path = _record_with(tmp_path, '{"a":' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert str(info.value) == (f"{path}: the checkpoint record is not valid JSON (nested too "
                               "deeply)")


@pytest.mark.parametrize("state, message", [
    ({"model": {"w": {"__tensor__": 5}}}, "checkpoint state refers to a missing tensor 5"),
    ({"model": {"w": {"__tensor__": ["w"]}}},
     "checkpoint state refers to a missing tensor ['w']"),
    ({"model": {"w": {"__items__": 5}}},
     "checkpoint state: __items__ holds an integer where a list of [key, value] pairs belongs"),
    ({"model": {"w": {"__tuple__": "ab"}}},
     "checkpoint state: __tuple__ holds a string where a list belongs"),
    ({"model": {"w": 5}},
     "the checkpoint's model entry 'w' is an integer (5) where a tensor belongs"),
    ({"model": 7}, "the checkpoint holds no model state"),
    ({"model": {}, "progress": {"epoch": -1}},
     "the checkpoint's progress 'epoch' is an integer (-1) where a whole number >= 0 belongs"),
    ({"model": {}, "optimizer": {"state": {"0": 3}}},
     "the checkpoint's optimizer state of parameter 0 is an integer (3) where an object of "
     "tensors belongs"),
])
def test_crafted_records_of_the_wrong_type_are_one_error(tmp_path, state, message):
    record = {"format": "xpnet.checkpoint", "version": 1, "meta": {"state": state},
              "tensors": {}}
    text = json.dumps(record, sort_keys=True, separators=(",", ":"))
    path = _record_with(tmp_path, text)
    (tmp_path / "crafted.json").write_text(json.dumps(record, sort_keys=True, indent=1) + "\n")
    with pytest.raises(CheckpointError) as info:
        load_weights(None, path)
    assert str(info.value) == f"{path}: {message}"
