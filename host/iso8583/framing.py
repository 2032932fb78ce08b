"""Sans-io length-prefix framing.

The skeleton's host link uses a 2-byte big-endian length that excludes itself. Feed bytes with
``receive_data`` and drain complete frames with ``next_frame`` until it returns ``None``: one
read is never assumed to be one message.

Examples
--------
>>> f = TwoByteLengthFramer()
>>> f.receive_data(b"\\x00\\x040800\\x00")
>>> f.next_frame()
b'0800'
>>> f.next_frame() is None
True
>>> TwoByteLengthFramer.frame(b"0810")
b'\\x00\\x040810'
"""

from __future__ import annotations

from host.iso8583.errors import FramingError

__all__ = ["TwoByteLengthFramer"]


class TwoByteLengthFramer:
    """2-byte big-endian length prefix (excluding itself)."""

    PREFIX = 2

    def __init__(self, *, max_length: int = 8192) -> None:
        self._buf = bytearray()
        self._max = max_length

    def receive_data(self, data: bytes) -> None:
        self._buf += data

    def next_frame(self) -> bytes | None:
        if len(self._buf) < self.PREFIX:
            return None
        n = int.from_bytes(self._buf[:2], "big")
        if n == 0 or n > self._max:
            raise FramingError(f"impossible frame length {n}")
        if len(self._buf) < 2 + n:
            return None
        frame = bytes(self._buf[2 : 2 + n])
        del self._buf[: 2 + n]
        return frame

    @property
    def buffered(self) -> int:
        return len(self._buf)

    @staticmethod
    def frame(body: bytes) -> bytes:
        if not 0 < len(body) <= 0xFFFF:
            raise FramingError(f"cannot frame a body of {len(body)} bytes")
        return len(body).to_bytes(2, "big") + body
