"""Framing and message codec of the EPP protocol: exact bytes, round trips, fuzzing."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.epp import messages as m
from devices.epp.base import (
    FDK_NAMES,
    AmountEntryResult,
    EppErrorCode,
    FdkEvent,
    KeyAlgorithm,
    KeyEvent,
    KeyKind,
    KeyUsage,
    PinEntryOutcome,
    PinEntryResult,
    TamperStatus,
)
from devices.epp.codec import (
    Ack,
    BadFrame,
    BadFrameReason,
    EppConnection,
    Frame,
    FrameType,
    Nak,
    NeedData,
    Role,
    encode_frame,
)
from devices.epp.errors import EppDecodeError, EppLocalProtocolError

_printable = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
_fields = st.lists(_printable, max_size=8).filter(lambda f: f != [""]).map(tuple)
_frames = st.builds(
    Frame,
    type=st.sampled_from([FrameType.REPLY, FrameType.EVENT]),
    seq=st.integers(0, 9),
    command=st.characters(min_codepoint=0x20, max_codepoint=0x7E),
    fields=_fields,
)


def _drain(conn: EppConnection) -> list[object]:
    out: list[object] = []
    while not isinstance(ev := conn.next_event(), NeedData):
        out.append(ev)
    return out


@pytest.mark.parametrize(
    ("frame", "wire"),
    [
        (Frame(type=FrameType.COMMAND, seq=1, command="S"), b"\x02003C1S\x0311"),
        (Frame(type=FrameType.COMMAND, seq=0, command="Y"), b"\x02003C0Y\x031A"),
        (
            Frame(type=FrameType.COMMAND, seq=2, command="D", fields=("TPK",)),
            b"\x02006C2DTPK\x034F",
        ),
    ],
)
def test_encode_exact_bytes(frame: Frame, wire: bytes) -> None:
    assert encode_frame(frame) == wire
    dev = EppConnection(Role.DEVICE)
    dev.receive_data(wire)
    assert dev.next_event() == frame


def test_ack_nak_between_frames() -> None:
    host = EppConnection(Role.HOST)
    reply = encode_frame(Frame(type=FrameType.REPLY, seq=1, command="S", fields=("00",)))
    host.receive_data(b"\x06" + reply + b"\x15")
    assert _drain(host) == [
        Ack(),
        Frame(type=FrameType.REPLY, seq=1, command="S", fields=("00",)),
        Nak(),
    ]


def test_events_distinguished_from_replies() -> None:
    host = EppConnection(Role.HOST)
    ev = m.event_frame(KeyEvent(kind=KeyKind.DIGIT, digits=1, display="*"))
    host.receive_data(host_bytes := encode_frame(ev))
    got = host.next_event()
    assert isinstance(got, Frame) and got.type is FrameType.EVENT
    assert host_bytes[4:5] == b"E"


def test_wrong_direction_is_reported() -> None:
    host = EppConnection(Role.HOST)
    host.receive_data(encode_frame(Frame(type=FrameType.COMMAND, seq=1, command="S")))
    assert host.next_event() == BadFrame(reason=BadFrameReason.WRONG_DIRECTION, skipped=10)


def test_bad_lrc_then_resync_on_next_frame() -> None:
    dev = EppConnection(Role.DEVICE)
    good = encode_frame(Frame(type=FrameType.COMMAND, seq=1, command="S"))
    dev.receive_data(good[:-2] + b"00" + b"junk" + good)
    events = _drain(dev)
    assert events[0] == BadFrame(reason=BadFrameReason.BAD_LRC, skipped=14)
    assert events[-1] == Frame(type=FrameType.COMMAND, seq=1, command="S")


def test_send_refuses_wrong_direction_and_bad_frames() -> None:
    with pytest.raises(EppLocalProtocolError, match="a host cannot send a reply frame"):
        EppConnection(Role.HOST).send(Frame(type=FrameType.REPLY, seq=1, command="S"))
    with pytest.raises(EppLocalProtocolError, match=r"seq must be 0\.\.9"):
        Frame(type=FrameType.COMMAND, seq=10, command="S")
    with pytest.raises(EppLocalProtocolError, match="fields must be printable ASCII"):
        Frame(type=FrameType.COMMAND, seq=1, command="S", fields=("\x1c",))


def test_frame_repr_hides_fields() -> None:
    f = m.command_frame(m.LoadTmkComponents(kcv="ABCDEF", components=(b"\x01" * 16,) * 2), seq=1)
    assert "0101" not in repr(f)


@given(frames=st.lists(_frames, max_size=5), cuts=st.lists(st.integers(0, 400), max_size=6))
def test_round_trip_any_split(frames: list[Frame], cuts: list[int]) -> None:
    wire = b"".join(encode_frame(f) for f in frames)
    host = EppConnection(Role.HOST)
    got: list[object] = []
    start = 0
    for cut in [*sorted(cuts), len(wire)]:
        host.receive_data(wire[start:cut] if cut > start else b"")
        start = max(start, cut)
        got += _drain(host)
    assert got == frames


@given(data=st.binary(max_size=600))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    for role in Role:
        conn = EppConnection(role)
        conn.receive_data(data)
        for _ in range(len(data) + 1):
            ev = conn.next_event()
            assert isinstance(ev, (Frame, Ack, Nak, NeedData, BadFrame))
            if isinstance(ev, NeedData):
                break


@given(noise=st.binary(max_size=50), frame=_frames)
def test_resync_after_noise(noise: bytes, frame: Frame) -> None:
    host = EppConnection(Role.HOST)
    host.discard_partial()
    host.receive_data(noise)
    _drain(host)
    host.discard_partial()  # the link layer's inter-byte timeout
    host.receive_data(encode_frame(frame))
    assert _drain(host) == [frame]


_commands = st.one_of(
    st.builds(m.GetStatus),
    st.builds(m.Sync),
    st.builds(
        m.LoadTmkComponents,
        kcv=st.text("0123456789ABCDEF", min_size=6, max_size=6),
        components=st.lists(st.binary(min_size=16, max_size=16), min_size=2, max_size=3).map(tuple),
    ),
    st.builds(
        m.LoadWorkingKey,
        name=st.from_regex(r"[A-Z0-9_]{1,16}", fullmatch=True),
        under=st.just("TMK"),
        algorithm=st.sampled_from(KeyAlgorithm),
        usage=st.sampled_from(KeyUsage),
        encrypted_key=st.binary(min_size=8, max_size=32),
        kcv=st.just("ABCDEF"),
    ),
    st.builds(
        m.StartPinEntry,
        min_length=st.integers(0, 99),
        max_length=st.integers(0, 99),
        inter_key_ms=st.integers(0, 10**6),
        total_ms=st.integers(0, 10**6),
    ),
    st.builds(
        m.GetPinBlock,
        key_name=st.just("TPK"),
        fmt=st.sampled_from(["01", "48"]),
        pan=st.from_regex(r"[0-9]{13,19}", fullmatch=True),
    ),
    st.builds(m.Backlight, on=st.booleans()),
    st.builds(
        m.LoadDukptKey,
        name=st.from_regex(r"[A-Z0-9_]{1,16}", fullmatch=True),
        under=st.sampled_from([None, "TMK"]),
        algorithm=st.sampled_from(KeyAlgorithm),
        key=st.binary(min_size=16, max_size=32),
        ksn=st.binary(min_size=10, max_size=12),
        kcv=st.just("ABCDEF"),
    ),
    st.builds(
        m.StartAmountEntry,
        min_digits=st.integers(0, 99),
        max_digits=st.integers(0, 99),
        inter_key_ms=st.integers(0, 10**6),
        total_ms=st.integers(0, 10**6),
    ),
    st.builds(
        m.EnableFdks,
        keys=st.lists(st.sampled_from(FDK_NAMES), max_size=8, unique=True).map(tuple),
    ),
    st.builds(m.Beep, ms=st.integers(0, 10**6)),
)

_events = st.one_of(
    st.builds(
        KeyEvent,
        kind=st.sampled_from(KeyKind),
        digits=st.integers(0, 12),
        display=st.just(""),
    ).map(lambda e: KeyEvent(kind=e.kind, digits=e.digits,
                             display="*" if e.kind is KeyKind.DIGIT else "")),
    st.builds(
        PinEntryResult,
        outcome=st.sampled_from(PinEntryOutcome),
        digits=st.integers(0, 12),
        error=st.sampled_from([None, EppErrorCode.TAMPERED]),
    ),
    st.builds(
        m.AmountKeyEvent,
        event=st.tuples(st.sampled_from(KeyKind), st.integers(0, 12), st.sampled_from("0123456789"))
        .map(lambda t: KeyEvent(kind=t[0], digits=t[1],
                                display=t[2] if t[0] is KeyKind.DIGIT else "")),
    ),
    st.builds(
        AmountEntryResult,
        outcome=st.sampled_from(PinEntryOutcome),
        value=st.from_regex(r"[0-9]{0,12}", fullmatch=True),
        error=st.sampled_from([None, EppErrorCode.BUSY]),
    ),
    st.builds(FdkEvent, key=st.sampled_from(FDK_NAMES)),
    st.builds(TamperStatus, tampered=st.just(True), count=st.integers(0, 999)),
)


@given(event=_events)
def test_event_round_trip(event: m.EppEvent) -> None:
    host, dev = EppConnection(Role.HOST), EppConnection(Role.DEVICE)
    host.receive_data(dev.send(m.event_frame(event)))
    frame = host.next_event()
    assert isinstance(frame, Frame)
    assert m.decode_event(frame) == event


def test_pin_key_event_cannot_carry_a_digit() -> None:
    frame = m.event_frame(KeyEvent(kind=KeyKind.DIGIT, digits=1, display="7"))
    assert frame.fields == ("D", "1")
    assert m.decode_event(frame) == KeyEvent(kind=KeyKind.DIGIT, digits=1, display="*")


@given(cmd=_commands, seq=st.integers(1, 9))
def test_command_round_trip(cmd: m.Command, seq: int) -> None:
    host, dev = EppConnection(Role.HOST), EppConnection(Role.DEVICE)
    dev.receive_data(host.send(m.command_frame(cmd, seq=seq)))
    frame = dev.next_event()
    assert isinstance(frame, Frame)
    assert m.decode_command(frame) == cmd


@given(command=st.sampled_from([*sorted(m.COMMANDS), "?", "q"]), fields=_fields)
def test_arbitrary_fields_raise_only_decode_error(command: str, fields: tuple[str, ...]) -> None:
    frame = Frame(type=FrameType.COMMAND, seq=1, command=command, fields=fields)
    with contextlib.suppress(EppDecodeError):
        m.decode_command(frame)
    for kind in "KNTAVF?":
        with contextlib.suppress(EppDecodeError):
            m.decode_event(Frame(type=FrameType.EVENT, seq=0, command=kind, fields=fields))


def test_decode_error_messages_exception() -> None:
    with pytest.raises(EppDecodeError, match=r"^unknown command \(command q\)$"):
        m.decode_command(Frame(type=FrameType.COMMAND, seq=1, command="q"))
    with pytest.raises(EppDecodeError, match=r"^bad field count \(command D, pos 0\)$"):
        m.decode_command(Frame(type=FrameType.COMMAND, seq=1, command="D"))


def test_redact_frame_hides_secrets() -> None:
    pb = Frame(type=FrameType.REPLY, seq=1, command="B", fields=("00", "0123456789ABCDEF"))
    assert m.redact_frame(pb).fields == ("00", "*" * 16)
    req = m.command_frame(m.GetPinBlock(key_name="TPK", fmt="01", pan="4012345678909"), seq=1)
    assert "4012345678909" not in encode_frame(m.redact_frame(req)).decode()
    dk = Frame(type=FrameType.REPLY, seq=1, command="B",
               fields=("00", "0123456789ABCDEF", "FFFF9876543210E00001"))
    assert m.redact_frame(dk).fields == ("00", "*" * 16, "FFFF9876543210E00001")
    inject = m.command_frame(
        m.LoadDukptKey(name="DK", under=None, algorithm=KeyAlgorithm.TDES, key=b"\x5a" * 16,
                       ksn=bytes(10), kcv="ABCDEF"), seq=1)
    assert "5A5A5A5A" not in encode_frame(m.redact_frame(inject)).decode()
    assert "ZZZZ" not in repr(m.decode_command(inject))
