"""TensorBoard event files written by xpnet: CRC-32C, the TFRecord framing, the Event
messages (decoded by hand here, and by tensorboardX's protobuf classes where installed)."""

import struct

import pytest

from xpnet.train.events import EventWriter, crc32c


def test_crc32c_known_values():
    assert crc32c(b"123456789") == 0xE3069283  # the standard check value of CRC-32C
    assert crc32c(b"") == 0
    assert crc32c(bytes(32)) == 0x8A9136AA  # RFC 3720 B.4: 32 bytes of zeros


def _unmask(masked):
    rot = (masked - 0xA282EAD8) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


def records(path):
    """The data of every TFRecord of ``path``, both CRCs checked."""
    data, pos, out = path.read_bytes(), 0, []
    while pos < len(data):
        header = data[pos:pos + 8]
        (n,) = struct.unpack("<Q", header)
        (hcrc,) = struct.unpack("<I", data[pos + 8:pos + 12])
        assert _unmask(hcrc) == crc32c(header)
        body = data[pos + 12:pos + 12 + n]
        (bcrc,) = struct.unpack("<I", data[pos + 12 + n:pos + 16 + n])
        assert _unmask(bcrc) == crc32c(body)
        out.append(body)
        pos += 16 + n
    return out


def fields(msg):
    """{field number: [values]} of a protobuf message (varint, fixed32/64, bytes)."""
    out, pos = {}, 0
    while pos < len(msg):
        key, pos = _varint(msg, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(msg, pos)
        elif wire == 1:
            value, pos = struct.unpack("<d", msg[pos:pos + 8])[0], pos + 8
        elif wire == 5:
            value, pos = struct.unpack("<f", msg[pos:pos + 4])[0], pos + 4
        else:
            assert wire == 2
            n, pos = _varint(msg, pos)
            value, pos = msg[pos:pos + n], pos + n
        out.setdefault(number, []).append(value)
    return out


def _varint(buf, pos):
    shift = value = 0
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, pos


def test_scalars_round_trip_by_hand(tmp_path):
    w = EventWriter(tmp_path, purge_step=300)
    w.add_scalar("loss/train", 0.25, 301, wall_time=1234.5)
    w.add_scalar("lr", 0.01, 2**40)  # a step past 32 bits
    w.close()
    (path,) = tmp_path.glob("events.out.tfevents.*")
    events = [fields(r) for r in records(path)]
    assert events[0][3] == [b"brain.Event:2"] and events[0][2] == [0]
    assert events[1][2] == [300] and fields(events[1][7][0]) == {1: [1]}  # purge: START
    value = fields(fields(events[2][5][0])[1][0])
    assert events[2][1] == [1234.5] and events[2][2] == [301]
    assert value[1] == [b"loss/train"] and value[2] == [0.25]
    assert events[3][2] == [2**40]
    assert fields(fields(events[3][5][0])[1][0])[2][0] == pytest.approx(0.01, rel=1e-7)


def test_tensorboards_own_messages_read_the_file(tmp_path):
    event_pb2 = pytest.importorskip("tensorboardX.proto.event_pb2")
    w = EventWriter(tmp_path, purge_step=7)
    w.add_scalar("accuracy/val", 0.875, 9)
    w.close()
    (path,) = tmp_path.glob("events.out.tfevents.*")
    events = [event_pb2.Event.FromString(r) for r in records(path)]
    assert events[0].file_version == "brain.Event:2"
    assert events[1].step == 7 and events[1].session_log.status == event_pb2.SessionLog.START
    (value,) = events[2].summary.value
    assert (events[2].step, value.tag, value.simple_value) == (9, "accuracy/val", 0.875)


def test_writers_get_their_own_files_and_a_closed_one_refuses(tmp_path):
    a, b = EventWriter(tmp_path), EventWriter(tmp_path)
    assert a.path != b.path
    a.close()
    with pytest.raises(ValueError, match="is closed"):
        a.add_scalar("x", 1.0, 1)
    with pytest.raises(ValueError, match="step must be >= 0, got -1"):
        b.add_scalar("x", 1.0, -1)
    b.close()
    b.close()  # twice is fine
