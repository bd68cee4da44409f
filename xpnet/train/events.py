"""TensorBoard event files, written from scratch: scalars for ``tensorboard --logdir``.

An event file is a sequence of TFRecords, each ``length (uint64) | masked CRC-32C of the
length (uint32) | data | masked CRC-32C of the data (uint32)``, all little-endian, the
mask being ``((crc >> 15) | (crc << 17)) + 0xa282ead8`` (mod 2^32). Each record's data
is one ``Event`` protocol-buffer message; this module encodes the few fields a scalar
needs by hand (field numbers from TensorBoard's ``event.proto`` and ``summary.proto``):

    Event      { double wall_time = 1; int64 step = 2; string file_version = 3;
                 Summary summary = 5; SessionLog session_log = 7; }
    Summary    { repeated Value value = 1; }
    Value      { string tag = 1; float simple_value = 2; }
    SessionLog { Status status = 1; }   // START = 1

The first event of a file carries ``file_version = "brain.Event:2"``. A ``SessionLog``
START at step s tells TensorBoard to drop the events of earlier files whose step is >= s:
how a resumed run hides what a killed one wrote after its last checkpoint.

Why not tensorboardX: it needs protobuf, and it imports PyTorch when that is installed
(3.3 s at every ``xpnet train``); these 120 lines need neither.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from pathlib import Path

__all__ = ["EventWriter", "crc32c"]

_FILE_VERSION = b"brain.Event:2"


def _crc_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1  # Castagnoli, reflected
        table.append(c)
    return table


_TABLE = _crc_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of ``data``, as TFRecord uses it.

    Example:
        >>> hex(crc32c(b"123456789"))
        '0xe3069283'
    """
    crc = 0xFFFFFFFF
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _bytes_field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2): string or embedded message."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _event(wall_time: float, step: int, body: bytes) -> bytes:
    """An Event with ``wall_time`` (field 1, fixed 64-bit), ``step`` (field 2, varint) and
    ``body``, the encoded fields that follow."""
    return b"\x09" + struct.pack("<d", wall_time) + b"\x10" + _varint(step) + body


def _scalar_summary(tag: str, value: float) -> bytes:
    """Field 5 of an Event: Summary{value: [Value{tag, simple_value (fixed 32-bit)}]}."""
    v = _bytes_field(1, tag.encode("utf-8")) + b"\x15" + struct.pack("<f", value)
    return _bytes_field(5, _bytes_field(1, v))


def _record(data: bytes) -> bytes:
    header = struct.pack("<Q", len(data))
    return (header + struct.pack("<I", _masked(crc32c(header))) + data
            + struct.pack("<I", _masked(crc32c(data))))


class EventWriter:
    """Append scalar events to a new TensorBoard event file in ``log_dir``.

    Args:
        log_dir: the folder (created if needed); the file is
            ``events.out.tfevents.<unix time>.<host name>`` inside it.
        purge_step: when given, a SessionLog START at this step first (see the module
            notes), for a run resumed from a checkpoint at step ``purge_step - 1``.

    Example:
        >>> w = EventWriter("runs/a/tensorboard")
        >>> w.add_scalar("loss/train", 0.25, step=100)
        >>> w.close()
    """

    def __init__(self, log_dir: str | os.PathLike, purge_step: int | None = None) -> None:
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        now = time.time()
        name = f"events.out.tfevents.{int(now)}.{socket.gethostname() or 'host'}"
        self.path = self.log_dir / name
        n = 1
        while self.path.exists():  # two writers within one second
            n += 1
            self.path = self.log_dir / f"{name}.{n}"
        self._file = open(self.path, "xb")  # noqa: SIM115 (kept open for the writer's life)
        self._file.write(_record(_event(now, 0, _bytes_field(3, _FILE_VERSION))))
        if purge_step is not None:
            start = _bytes_field(7, b"\x08\x01")  # session_log: SessionLog{status: START}
            self._file.write(_record(_event(now, int(purge_step), start)))
        self._file.flush()

    def add_scalar(self, tag: str, value: float, step: int,
                   wall_time: float | None = None) -> None:
        """One scalar ``value`` (stored as float32) of series ``tag`` at ``step`` (>= 0)."""
        if self._file is None:
            raise ValueError(f"EventWriter: {self.path} is closed")
        if step < 0:
            raise ValueError(f"EventWriter: step must be >= 0, got {step}")
        when = time.time() if wall_time is None else wall_time
        self._file.write(_record(_event(when, int(step), _scalar_summary(tag, float(value)))))

    def flush(self) -> None:
        """Hand what was written to the operating system (TensorBoard reads it live)."""
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        """Flush and close the file; further writes are an error."""
        if self._file is not None:
            self._file.close()
            self._file = None
