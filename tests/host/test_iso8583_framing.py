"""Framing catalogue: golden prefixes, TPDU swap, bad lengths, any split of a stream."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host.iso8583.errors import FramingError
from host.iso8583.framing import (
    FRAMING_ALIASES,
    FRAMINGS,
    AsciiLengthFramer,
    BcdLengthFramer,
    Tpdu,
    TpduFramer,
    TwoByteLengthFramer,
    make_framer,
)

TPDU = Tpdu(destination=0x0001, source=0x0002)

# fmt: off
@pytest.mark.parametrize(("name", "wire"), [
    ("binary2", "0004" "30383030"),
    ("ascii4", "30303034" "30383030"),
    ("bcd2", "0004" "30383030"),
    ("binary2+tpdu", "0009" "6000010002" "30383030"),
    ("ascii4+tpdu", "30303039" "6000010002" "30383030"),
    ("bcd2+tpdu", "0009" "6000010002" "30383030"),
])
def test_golden_frames(name: str, wire: str) -> None:
    f = make_framer(name, tpdu=TPDU) if "tpdu" in name else make_framer(name)
    assert f.frame(b"0800") == bytes.fromhex(wire)
    f.receive_data(bytes.fromhex(wire))
    assert f.next_frame() == b"0800"
    assert f.next_frame() is None and f.buffered == 0
# fmt: on


def test_bcd_length_is_decimal() -> None:
    assert BcdLengthFramer().frame(b"x" * 123)[:2] == b"\x01\x23"
    assert TwoByteLengthFramer.frame(b"x" * 123)[:2] == b"\x00\x7b"


def test_tpdu_swapped_on_reply() -> None:
    client = make_framer("bcd2+tpdu", tpdu=TPDU, swap_on_reply=False)
    server = make_framer("bcd2+tpdu", swap_on_reply=True)
    server.receive_data(client.frame(b"0800"))
    assert server.next_frame() == b"0800"
    assert isinstance(server, TpduFramer) and server.last_tpdu == TPDU
    reply = server.frame(b"0810")
    assert reply[2:7] == bytes.fromhex("6000020001")
    client.receive_data(reply)
    assert client.next_frame() == b"0810"
    assert isinstance(client, TpduFramer) and client.last_tpdu == TPDU.swapped()


def test_aliases_resolve() -> None:
    for alias, name in FRAMING_ALIASES.items():
        assert name in FRAMINGS
        assert type(make_framer(alias)) is type(make_framer(name))


# fmt: off
@pytest.mark.parametrize(("framer", "data", "message"), [
    (TwoByteLengthFramer(max_length=100), b"\xff\xff", "impossible frame length 65535"),
    (TwoByteLengthFramer(), b"\x00\x00", "impossible frame length 0"),
    (AsciiLengthFramer(), b"00x4", "length prefix b'00x4' is not 4 ASCII digits"),
    (AsciiLengthFramer(), b"-004", "length prefix b'-004' is not 4 ASCII digits"),
    (AsciiLengthFramer(max_length=100), b"0101", "impossible frame length 101"),
    (BcdLengthFramer(), b"\x0a\x00", "length prefix 0a00 is not BCD"),
    (make_framer("binary2+tpdu"), b"\x00\x03\x60\x00\x00",
     "frame of 3 bytes has no room for a TPDU and a message"),
    (make_framer("binary2+tpdu"), b"\x00\x06\x61\x00\x00\x00\x00X", "TPDU id 61 is not 60"),
])
def test_bad_lengths_exception(framer: object, data: bytes, message: str) -> None:
    framer.receive_data(data)  # type: ignore[attr-defined]
    with pytest.raises(FramingError) as e:
        framer.next_frame()  # type: ignore[attr-defined]
    assert str(e.value) == message
# fmt: on


def test_bad_frame_requests_exception() -> None:
    with pytest.raises(FramingError, match="unknown framing 'x25'"):
        make_framer("x25")
    with pytest.raises(FramingError, match="cannot frame a body of 0 bytes"):
        AsciiLengthFramer().frame(b"")
    with pytest.raises(FramingError, match="cannot frame a body of 10000 bytes"):
        BcdLengthFramer(max_length=20000).frame(b"x" * 10000)
    with pytest.raises(FramingError, match="TPDU must be 5 bytes"):
        Tpdu.from_bytes(b"\x60")


@settings(max_examples=150, deadline=None)
@given(
    name=st.sampled_from(sorted(FRAMINGS)),
    bodies=st.lists(st.binary(min_size=1, max_size=300), min_size=1, max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=12),
)
def test_any_split_of_a_stream_yields_the_same_frames(name: str, bodies: list[bytes],
                                                      cuts: list[int]) -> None:
    sender = make_framer(name)
    stream = b"".join(sender.frame(b) for b in bodies)
    points = sorted({c % (len(stream) + 1) for c in cuts})
    receiver = make_framer(name)
    got: list[bytes] = []
    prev = 0
    for p in [*points, len(stream)]:
        receiver.receive_data(stream[prev:p])
        prev = p
        while (frame := receiver.next_frame()) is not None:
            got.append(frame)
    assert got == bodies
    assert receiver.buffered == 0


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from(sorted(FRAMINGS)), data=st.binary(max_size=100))
def test_arbitrary_bytes_raise_only_framing_error(name: str, data: bytes) -> None:
    f = make_framer(name)
    f.receive_data(data)
    try:
        while f.next_frame() is not None:
            pass
    except FramingError:
        pass
