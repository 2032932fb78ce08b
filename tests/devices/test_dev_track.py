"""ISO 7813 track codec: vectors, negatives, hypothesis round trips and fuzzing."""

from __future__ import annotations

import contextlib
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.cardreader.track import (
    Track2,
    TrackError,
    TrackErrorReason,
    build_track1,
    build_track2,
    luhn_check_digit,
    parse_track1,
    parse_track2,
    to_5bit,
    track2_lrc,
)

PAN = "4761739001010010"

# fmt: off
@pytest.mark.parametrize("text", [
    ";4761739001010010=25122011234567890?",
    ";4761739001010010=25122011234567890?7",
    "4761739001010010=25122011234567890",
    "4761739001010010D25122011234567890",
    "4761739001010010D25122011234567890F",
])
def test_parse_track2_forms(text: str) -> None:
    t2 = parse_track2(text)
    assert t2 == Track2(PAN, "2512", "201", "1234567890")
    assert t2.encode() == "4761739001010010=25122011234567890"
# fmt: on


# fmt: off
@pytest.mark.parametrize(("text", "reason"), [
    (";4761739001010010=25122011234567890?8", TrackErrorReason.BAD_LRC),
    (";4761739001010010=2512201", TrackErrorReason.NO_END_SENTINEL),
    ("4761739001010010=2512201?", TrackErrorReason.NO_START_SENTINEL),
    ("47617390010100102512201", TrackErrorReason.NO_SEPARATOR),
    ("4761739001010011=2512201", TrackErrorReason.BAD_LUHN),
    ("47617=2512201", TrackErrorReason.BAD_PAN),
    ("4761739001010010=2513201", TrackErrorReason.BAD_EXPIRY),
    ("4761739001010010=25122", TrackErrorReason.BAD_FORMAT),
    ("4761739001010010=2512201A", TrackErrorReason.BAD_CHARACTER),
    ("4761739001010010=2512201" + "1" * 20, TrackErrorReason.TOO_LONG),
])
def test_parse_track2_exception(text: str, reason: TrackErrorReason) -> None:
    with pytest.raises(TrackError) as ei:
        parse_track2(text)
    assert ei.value.reason is reason
    assert PAN not in str(ei.value)
    assert pickle.loads(pickle.dumps(ei.value)).reason is reason
# fmt: on


def test_repr_masks_pan_and_hides_discretionary() -> None:
    t2 = build_track2(PAN, "2512", "201", "987654321")
    assert repr(t2) == "Track2(pan='476173******0010', expiry='2512', service_code='201')"
    assert "987654321" not in repr(t2) and PAN not in str(t2)
    t1 = build_track1(PAN, "DOE/JOHN", "2512", "201", "000")
    assert PAN not in repr(t1) and "DOE" not in repr(t1)


def test_lrc_and_5bit() -> None:
    assert track2_lrc(";4761739001010010=25122011234567890?") == "7"
    assert to_5bit(";=?") == bytes([0x0B, 0x0D, 0x1F])  # odd parity: 3, 3, 5 one-bits


# fmt: off
@pytest.mark.parametrize(("sc", "chip", "pin", "intl", "online", "cash"), [
    ("101", False, False, True,  False, True),
    ("201", True,  False, True,  False, True),
    ("220", True,  True,  True,  True,  True),
    ("603", True,  True,  False, False, True),
    ("505", False, True,  False, False, False),
    ("126", False, False, True,  True,  True),
])
def test_service_code(sc: str, chip: bool, pin: bool, intl: bool, online: bool, cash: bool) -> None:  # noqa: PLR0917 - one argument per parametrize column
    s = build_track2(PAN, "2512", sc).service
    assert (s.chip_present, s.pin_required, s.international, s.online_required, s.cash_allowed) == (
        chip, pin, intl, online, cash,
    )
# fmt: on


@st.composite
def pans(draw: st.DrawFn) -> str:
    body = draw(st.text(alphabet="0123456789", min_size=11, max_size=18))
    return body + luhn_check_digit(body)


expiries = st.builds(lambda y, m: f"{y:02d}{m:02d}", st.integers(0, 99), st.integers(1, 12))
service_codes = st.text(alphabet="0123456789", min_size=3, max_size=3)


@given(pan=pans(), expiry=expiries, sc=service_codes, disc=st.text("0123456789", max_size=20))
def test_track2_round_trip(pan: str, expiry: str, sc: str, disc: str) -> None:
    try:
        t2 = build_track2(pan, expiry, sc, disc)
    except TrackError as e:
        assert e.reason is TrackErrorReason.TOO_LONG
        assert len(pan) + 8 + len(disc) > 37
        return
    assert parse_track2(t2.encode()) == t2
    assert parse_track2(t2.raw()) == t2
    assert parse_track2(t2.raw(lrc=False)) == t2
    assert parse_track2(t2.encode().replace("=", "D")) == t2


@given(
    pan=pans(),
    expiry=expiries,
    sc=service_codes,
    name=st.from_regex(r"[A-Z /.]{2,26}", fullmatch=True),
    disc=st.text("0123456789", max_size=20),
)
def test_track1_round_trip(pan: str, expiry: str, sc: str, name: str, disc: str) -> None:
    t1 = build_track1(pan, name, expiry, sc, disc)
    assert parse_track1(t1.raw()) == t1
    assert parse_track1(t1.raw(lrc=False)) == t1
    assert parse_track1(t1.encode()) == t1


@given(st.text())
def test_arbitrary_text_raises_only_track_error(text: str) -> None:
    for parse in (parse_track2, parse_track1):
        with contextlib.suppress(TrackError):
            parse(text)


@given(st.text(alphabet="0123456789=D;?F%^B/ ", max_size=60))
def test_track_like_text_raises_only_track_error(text: str) -> None:
    for parse in (parse_track2, parse_track1):
        with contextlib.suppress(TrackError):
            parse(text)
