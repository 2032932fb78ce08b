"""Sans-io codec for the Thales payShield host-command protocol.

No sockets, no asyncio, no clock: bytes in, frames and typed messages out.

Wire format (``shared/reference/hsm.md`` §1)::

    request : [len 2B BE] [header m] [command 2A] [fields...] [0x19 + trailer]?
    response: [len 2B BE] [header m] [response 2A] [error 2N] [fields...] [0x19 + trailer]?

* :class:`Framer` cuts a byte stream into :class:`Frame` objects (``receive_data`` /
  ``next_frame``); it never assumes that one read is one frame.
* Command layouts are data: :data:`LAYOUTS` maps a command code to a :class:`Layout`, a tuple of
  field specs (:class:`F`, :class:`Group`) plus one frozen dataclass for the request and one for
  the response. :func:`decode_request` / :func:`encode_response` are used by the HSM,
  :func:`encode_request` / :func:`decode_response` by the client.
* Optional trailing blocks ``%`` (LMK identifier), ``#``, ``!``, ``&`` and extra ``;`` groups that
  a layout does not describe are accepted and ignored. A ``0x19`` end-of-message delimiter plus
  trailer is returned to the caller so that it can be echoed.
* Response code = command code with the second character incremented (``NC`` -> ``ND``).

Error answers
-------------
* malformed input (bad field, short message, unexpected data) -> ``<resp>15`` (``<resp>80`` when a
  length-prefixed data field is shorter than its declared length, as ThalesSim does for ``B2``);
* a command that is in :data:`LAYOUTS` or :data:`KNOWN_COMMANDS` but not implemented by the HSM ->
  ``<resp>68`` (command disabled, what a real payShield answers);
* an **unknown** command code, or a frame too short to hold one -> response code ``ZZ`` with error
  ``15`` (:data:`UNKNOWN_RESPONSE_CODE`). ``ZZ`` is never a valid response code, so this answer
  cannot be confused with ``68``. The connection is never dropped for it.

Examples
--------
>>> f = Framer(header_length=4)
>>> f.receive_data(bytes.fromhex("0006535353"))
>>> f.next_frame() is None
True
>>> f.receive_data(bytes.fromhex("534E43"))
>>> frame = f.next_frame()
>>> frame.header, frame.body
(b'SSSS', b'NC')
>>> req = decode_request(frame.body)
>>> req.command
NcRequest()
>>> body = encode_response(NcResponse(lmk_check="0123456789ABCDEF", firmware="0007-E000"))
>>> body
b'ND000123456789ABCDEF0007-E000'
>>> encode_frame(frame.header, body)[:8]
b'\\x00!SSSSND'
>>> response_code("CA")
'CB'
"""

from __future__ import annotations

import dataclasses
import enum
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

__all__ = [
    "END_OF_MESSAGE",
    "KNOWN_COMMANDS",
    "LAYOUTS",
    "UNKNOWN_RESPONSE_CODE",
    "A0Request",
    "A0Response",
    "A6Request",
    "A6Response",
    "A8Request",
    "A8Response",
    "B2Request",
    "B2Response",
    "BuRequest",
    "BuResponse",
    "CaRequest",
    "CaResponse",
    "CcRequest",
    "CcResponse",
    "CiRequest",
    "CiResponse",
    "CwRequest",
    "CwResponse",
    "CyRequest",
    "CyResponse",
    "DaRequest",
    "DaResponse",
    "DcRequest",
    "DcResponse",
    "DeRequest",
    "DeResponse",
    "DecodeError",
    "DecodedRequest",
    "DgRequest",
    "DgResponse",
    "EaRequest",
    "EaResponse",
    "EcRequest",
    "EcResponse",
    "EncodeError",
    "F",
    "FaRequest",
    "FaResponse",
    "Frame",
    "FrameError",
    "Framer",
    "G0Request",
    "G0Response",
    "GcRequest",
    "GcResponse",
    "Group",
    "HcRequest",
    "HcResponse",
    "IaRequest",
    "IaResponse",
    "JcRequest",
    "JcResponse",
    "JeRequest",
    "JeResponse",
    "JgRequest",
    "JgResponse",
    "Kind",
    "KqRequest",
    "KqResponse",
    "KwRequest",
    "KwResponse",
    "Layout",
    "M0Request",
    "M0Response",
    "M2Request",
    "M2Response",
    "M6Request",
    "M6Response",
    "M8Request",
    "M8Response",
    "NcRequest",
    "NcResponse",
    "NoRequest",
    "NoResponse",
    "ThalesError",
    "UnimplementedCommandError",
    "UnknownCommandError",
    "best_effort_trailer",
    "decode_request",
    "decode_response",
    "encode_frame",
    "encode_request",
    "encode_response",
    "error_response_body",
    "is_aes_key_field",
    "response_code",
    "split_trailer",
]

END_OF_MESSAGE = 0x19
UNKNOWN_RESPONSE_CODE = "ZZ"
_BLOCK_DELIMITERS = frozenset(b"%#!&;")
_MAX_TRAILER = 32


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------


class ThalesError(ValueError):
    """Root of the codec's errors: carries the command code and the wire error code.

    Examples
    --------
    >>> import pickle
    >>> err = DecodeError("field too short", command="CA", field="tpk", pos=2)
    >>> e = pickle.loads(pickle.dumps(err))
    >>> (str(e), e.command, e.error_code, e.field, e.pos)
    ('field too short', 'CA', '15', 'tpk', 2)
    """

    default_error_code: ClassVar[str] = "15"

    def __init__(
        self,
        msg: str,
        *,
        command: str = "",
        error_code: str | None = None,
        field: str | None = None,
        pos: int | None = None,
    ) -> None:
        super().__init__(msg)
        self.msg = msg
        self.command = command
        self.error_code = error_code or self.default_error_code
        self.field = field
        self.pos = pos

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild_error,
            (type(self), self.msg, self.command, self.error_code, self.field, self.pos),
        )


def _rebuild_error(  # noqa: PLR0917 - pickle rebuilds positionally
    cls: type[ThalesError],
    msg: str,
    command: str,
    error_code: str,
    field: str | None,
    pos: int | None,
) -> ThalesError:
    return cls(msg, command=command, error_code=error_code, field=field, pos=pos)


class DecodeError(ThalesError):
    """The peer sent something illegal (remote error); wire code ``15`` unless stated."""


class FrameError(DecodeError):
    """A frame is too short to hold a command code (answered ``ZZ15``)."""


class UnknownCommandError(DecodeError):
    """The command code is not a known payShield command (answered ``ZZ15``)."""


class UnimplementedCommandError(ThalesError):
    """A known command this HSM does not implement (answered with ``68``)."""

    default_error_code: ClassVar[str] = "68"


class EncodeError(ThalesError):
    """We tried to build an illegal message (local error)."""


# --------------------------------------------------------------------------------------------
# framing
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Frame:
    """One length-delimited message: the header (echoed back) and the body after it."""

    header: bytes
    body: bytes = field(repr=False)


class Framer:
    """Cut a byte stream into frames: 2-byte big-endian length, then header + body.

    Parameters
    ----------
    header_length
        Number of header characters (an HSM configuration item, default 4). A frame shorter
        than the header keeps what it has as header and an empty body.

    Examples
    --------
    >>> f = Framer(header_length=2)
    >>> f.receive_data(b"\\x00\\x04HHNC\\x00\\x04HHNO")
    >>> [x.body for x in iter(f.next_frame, None)]
    [b'NC', b'NO']
    """

    def __init__(self, *, header_length: int = 4) -> None:
        if not 0 <= header_length <= 255:
            raise ValueError("header_length must be 0 to 255")
        self.header_length = header_length
        self._buf = bytearray()

    def receive_data(self, data: bytes) -> None:
        """Append bytes read from the transport."""
        self._buf += data

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as frames."""
        return len(self._buf)

    def next_frame(self) -> Frame | None:
        """Return the next complete frame, or ``None`` if more data is needed."""
        if len(self._buf) < 2:
            return None
        n = int.from_bytes(self._buf[:2], "big")
        if len(self._buf) < 2 + n:
            return None
        payload = bytes(self._buf[2 : 2 + n])
        del self._buf[: 2 + n]
        hl = self.header_length
        return Frame(header=payload[:hl], body=payload[hl:])


def encode_frame(header: bytes, body: bytes) -> bytes:
    """Length-prefix ``header + body``.

    Examples
    --------
    >>> encode_frame(b"SSSS", b"NC").hex().upper()
    '0006535353534E43'
    """
    n = len(header) + len(body)
    if n > 0xFFFF:
        raise EncodeError("message longer than 65535 bytes")
    return n.to_bytes(2, "big") + header + body


def response_code(command: str) -> str:
    """Response code for a command: second character + 1.

    Examples
    --------
    >>> response_code("NC"), response_code("KQ"), response_code("M6")
    ('ND', 'KR', 'M7')
    """
    if len(command) != 2:
        return UNKNOWN_RESPONSE_CODE
    return command[0] + chr(ord(command[1]) + 1)


def split_trailer(body: bytes) -> tuple[bytes, bytes | None]:
    """Split ``fields 0x19 trailer`` at the first end-of-message delimiter.

    Examples
    --------
    >>> split_trailer(b"NC\\x19abc")
    (b'NC', b'abc')
    >>> split_trailer(b"NC")
    (b'NC', None)
    """
    i = body.find(END_OF_MESSAGE)
    if i < 0:
        return body, None
    return body[:i], body[i + 1 :]


def best_effort_trailer(body: bytes) -> bytes | None:
    """The trailer of a request that could not be decoded, if it can be found safely.

    Text commands cannot contain ``0x19`` except as the end-of-message delimiter; commands with
    binary fields can, so their trailer is only known after a successful decode (``None`` here).

    Examples
    --------
    >>> best_effort_trailer(b"CAxx\x19T1"), best_effort_trailer(b"KQ\x19\x19")
    (b'T1', None)
    """
    layout = LAYOUTS.get(body[:2].decode("ascii", "replace"))
    if layout is not None and layout.binary:
        return None
    trailer = split_trailer(body)[1]
    return trailer if trailer is not None and len(trailer) <= _MAX_TRAILER else None


def error_response_body(command: str, error_code: str, trailer: bytes | None = None) -> bytes:
    """Body of an answer that carries only an error code.

    A ``command`` that is not a known command code gets the ``ZZ`` response code.

    Examples
    --------
    >>> error_response_body("CA", "15")
    b'CB15'
    >>> error_response_body("QQ", "15", b"T1")
    b'ZZ15\\x19T1'
    """
    rc = response_code(command) if command in KNOWN_COMMANDS else UNKNOWN_RESPONSE_CODE
    return (rc + error_code).encode("ascii") + _trailer_bytes(trailer)


def _trailer_bytes(trailer: bytes | None) -> bytes:
    return b"" if trailer is None else bytes([END_OF_MESSAGE]) + trailer[:_MAX_TRAILER]


# --------------------------------------------------------------------------------------------
# layouts as data
# --------------------------------------------------------------------------------------------


class Kind(enum.Enum):
    """How one field is laid out on the wire."""

    N = "numeric"  # fixed-length digits
    H = "hex"  # fixed-length hexadecimal characters
    A = "alphanumeric"  # fixed-length printable ASCII
    B = "binary"  # fixed-length raw bytes
    KEY = "key"  # Thales key field: U/X+32H, T/Y+48H, Z+16H, S+key block, or bare hex
    PAN = "pan"  # variable digits (max ``length``) up to the next delimiter
    LITERAL = "literal"  # a required delimiter (``literal``)
    LEN_DATA = "len_data"  # ``length``-digit hex count, then that many raw bytes
    REST = "rest"  # the remaining characters (requests: up to a trailing block such as %LMK)
    VAR_TAIL = "var_tail"  # variable: all but the ``length`` characters the later fields need
    REST_B = "rest_b"  # the remaining bytes, raw (binary responses)


_KEY_LENGTHS = {"U": 32, "X": 32, "T": 48, "Y": 48, "Z": 16}
_BARE_BY_FLAG = {"0": 16, "1": 32, "2": 48}
_HEX = frozenset(string.hexdigits)
_DIGITS = frozenset(string.digits)
_PRINTABLE = frozenset(chr(c) for c in range(0x20, 0x7F))


@dataclass(frozen=True, kw_only=True)
class F:
    """One field spec.

    ``length`` is the fixed length (``N``/``H``/``A``/``B``), the bare-hex length (``KEY``), the
    maximum length (``PAN``), the number of length digits (``LEN_DATA``) or the number of
    characters the following fields take (``VAR_TAIL``). ``when=(name, values)`` makes the
    field present only if an earlier field has one of ``values``. ``bare_from`` names a key
    length flag (``0``/``1``/``2``) that gives a bare key's length. ``if_longer_than`` (responses)
    makes the field present only if more than that many characters remain. ``radix`` is the
    base of a ``LEN_DATA`` length (16 = hex digits, 10 = decimal digits). ``aes_length`` replaces
    ``length`` when the key field named ``key_from`` is an AES key block (``S`` key whose header
    algorithm is ``A``). ``fit_lengths`` (responses) chooses the length among these so that a
    following 4-digit ``LEN_DATA`` field exactly fills the rest (an optional IV). ``doc`` is a
    short description for the generated documentation.
    """

    name: str
    kind: Kind
    length: int = 0
    literal: str = ""
    when: tuple[str, frozenset[str]] | None = None
    bare_from: str | None = None
    if_longer_than: int | None = None
    error_code: str = "15"
    radix: int = 16
    aes_length: int | None = None
    key_from: str | None = None
    fit_lengths: tuple[int, ...] = ()
    doc: str = ""


@dataclass(frozen=True, kw_only=True)
class Group:
    """An optional group introduced by ``lead`` (usually ``;``): all its fields or none."""

    lead: str
    fields: tuple[F, ...]
    when: tuple[str, frozenset[str]] | None = None
    doc: str = ""


Spec = F | Group


def _n(name: str, n: int, **kw: Any) -> F:
    return F(name=name, kind=Kind.N, length=n, **kw)


def _h(name: str, n: int, **kw: Any) -> F:
    return F(name=name, kind=Kind.H, length=n, **kw)


def _a(name: str, n: int, **kw: Any) -> F:
    return F(name=name, kind=Kind.A, length=n, **kw)


def _key(name: str, bare: int = 16, **kw: Any) -> F:
    return F(name=name, kind=Kind.KEY, length=bare, **kw)


def _lit(text: str) -> F:
    return F(name="", kind=Kind.LITERAL, literal=text)


def _rest(name: str) -> F:
    return F(name=name, kind=Kind.REST)


def _when(name: str, *values: str) -> tuple[str, frozenset[str]]:
    return (name, frozenset(values))


# ---- request / response dataclasses (one per command and per response) -------------------


def _secret() -> Any:
    return field(repr=False)


def _opt_secret() -> Any:
    return field(default=None, repr=False)


@dataclass(frozen=True, kw_only=True)
class NcRequest:
    """NC diagnostics."""

    CODE: ClassVar[str] = "NC"


@dataclass(frozen=True, kw_only=True)
class NcResponse:
    """ND: LMK check value 16H, firmware number 9A."""

    CODE: ClassVar[str] = "ND"
    error_code: str = "00"
    lmk_check: str | None = None
    firmware: str | None = None


@dataclass(frozen=True, kw_only=True)
class NoRequest:
    """NO status; mode ``00`` (status) when absent."""

    CODE: ClassVar[str] = "NO"
    mode: str | None = None


@dataclass(frozen=True, kw_only=True)
class NoResponse:
    """NP: I/O buffer size 1N, ethernet type 1N, TCP sockets 2N, firmware 9A (UNVERIFIED layout)."""

    CODE: ClassVar[str] = "NP"
    error_code: str = "00"
    buffer_size: str | None = None
    ethernet_type: str | None = None
    tcp_sockets: str | None = None
    firmware: str | None = None


@dataclass(frozen=True, kw_only=True)
class B2Request:
    """B2 echo: the data is returned unchanged."""

    CODE: ClassVar[str] = "B2"
    data: bytes


@dataclass(frozen=True, kw_only=True)
class B2Response:
    """B3: the echoed data."""

    CODE: ClassVar[str] = "B3"
    error_code: str = "00"
    data: bytes | None = None


@dataclass(frozen=True, kw_only=True)
class A0Request:
    """A0 generate a key (modes 0/1) or derive a DUKPT IPEK (modes A/B), optionally exported."""

    CODE: ClassVar[str] = "A0"
    mode: str
    key_type: str
    key_scheme_lmk: str
    derive_mode: str | None = None
    bdk_type: str | None = None
    bdk: str | None = None
    ksn: str | None = None
    zmk_flag: str | None = None
    zmk: str | None = None
    key_scheme_zmk: str | None = None
    lmk_id: str | None = field(default=None, compare=False)  # one LMK: informational only
    kb_usage: str | None = None
    kb_algorithm: str | None = None
    kb_mode_of_use: str | None = None
    kb_version: str | None = None
    kb_exportability: str | None = None
    kb_optional_blocks: str | None = None


@dataclass(frozen=True, kw_only=True)
class A0Response:
    """A1: key under LMK, [key under ZMK/TMK], KCV 6H."""

    CODE: ClassVar[str] = "A1"
    error_code: str = "00"
    key_lmk: str | None = None
    key_zmk: str | None = None
    kcv: str | None = None


@dataclass(frozen=True, kw_only=True)
class A6Request:
    """A6 import a key from ZMK to LMK."""

    CODE: ClassVar[str] = "A6"
    key_type: str
    zmk: str
    key_zmk: str
    key_scheme_lmk: str


@dataclass(frozen=True, kw_only=True)
class A6Response:
    """A7: key under LMK, KCV 6H (error ``01`` = parity warning, key still imported)."""

    CODE: ClassVar[str] = "A7"
    error_code: str = "00"
    key_lmk: str | None = None
    kcv: str | None = None


@dataclass(frozen=True, kw_only=True)
class A8Request:
    """A8 export a key from LMK to ZMK/TMK."""

    CODE: ClassVar[str] = "A8"
    key_type: str
    zmk_flag: str | None = None
    zmk: str
    key_lmk: str
    key_scheme_zmk: str


@dataclass(frozen=True, kw_only=True)
class A8Response:
    """A9: key under ZMK/TMK, KCV 6H."""

    CODE: ClassVar[str] = "A9"
    error_code: str = "00"
    key_zmk: str | None = None
    kcv: str | None = None


@dataclass(frozen=True, kw_only=True)
class BuRequest:
    """BU key check value of a key under LMK."""

    CODE: ClassVar[str] = "BU"
    key_type_code: str
    key_length_flag: str
    key: str
    key_type: str | None = None
    reserved_1: str | None = None
    reserved_2: str | None = None
    kcv_type: str | None = None


@dataclass(frozen=True, kw_only=True)
class BuResponse:
    """BV: KCV 16H (type 0) or 6H (type 1)."""

    CODE: ClassVar[str] = "BV"
    error_code: str = "00"
    kcv: str | None = None


@dataclass(frozen=True, kw_only=True)
class FaRequest:
    """FA translate a ZPK from ZMK to LMK."""

    CODE: ClassVar[str] = "FA"
    zmk: str
    zpk_zmk: str
    reserved: str | None = None
    key_scheme_lmk: str | None = None
    kcv_type: str | None = None


@dataclass(frozen=True, kw_only=True)
class FaResponse:
    """FB: ZPK under LMK, KCV (16H or 6H)."""

    CODE: ClassVar[str] = "FB"
    error_code: str = "00"
    zpk_lmk: str | None = None
    kcv: str | None = None


@dataclass(frozen=True, kw_only=True)
class GcRequest:
    """GC translate a ZPK from LMK to ZMK."""

    CODE: ClassVar[str] = "GC"
    zmk: str
    zpk_lmk: str
    key_scheme_zmk: str | None = None
    reserved: str | None = None
    kcv_type: str | None = None


@dataclass(frozen=True, kw_only=True)
class GcResponse:
    """GD: ZPK under ZMK, KCV."""

    CODE: ClassVar[str] = "GD"
    error_code: str = "00"
    zpk_zmk: str | None = None
    kcv: str | None = None


@dataclass(frozen=True, kw_only=True)
class HcRequest:
    """HC generate a TMK/TPK/PVK, returned under the current key and under the LMK."""

    CODE: ClassVar[str] = "HC"
    current_key: str
    key_scheme_tmk: str | None = None
    key_scheme_lmk: str | None = None
    reserved: str | None = None


@dataclass(frozen=True, kw_only=True)
class HcResponse:
    """HD: new key under the current key, new key under LMK."""

    CODE: ClassVar[str] = "HD"
    error_code: str = "00"
    key_tmk: str | None = None
    key_lmk: str | None = None


@dataclass(frozen=True, kw_only=True)
class IaRequest:
    """IA generate a ZPK."""

    CODE: ClassVar[str] = "IA"
    zmk: str
    key_scheme_zmk: str | None = None
    key_scheme_lmk: str | None = None
    kcv_type: str | None = None


@dataclass(frozen=True, kw_only=True)
class IaResponse:
    """IB: ZPK under ZMK, ZPK under LMK, KCV."""

    CODE: ClassVar[str] = "IB"
    error_code: str = "00"
    zpk_zmk: str | None = None
    zpk_lmk: str | None = None
    kcv: str | None = None


@dataclass(frozen=True, kw_only=True)
class CaRequest:
    """CA translate a PIN block from TPK to ZPK."""

    CODE: ClassVar[str] = "CA"
    tpk: str
    zpk: str
    max_pin_length: str
    pin_block: str = _secret()
    source_format: str
    destination_format: str
    account: str = _secret()


@dataclass(frozen=True, kw_only=True)
class CaResponse:
    """CB: PIN length 2N, PIN block 16H, destination format 2N."""

    CODE: ClassVar[str] = "CB"
    error_code: str = "00"
    pin_length: str | None = None
    pin_block: str | None = _opt_secret()
    destination_format: str | None = None


@dataclass(frozen=True, kw_only=True)
class CcRequest:
    """CC translate a PIN block from ZPK to ZPK."""

    CODE: ClassVar[str] = "CC"
    source_zpk: str
    destination_zpk: str
    max_pin_length: str
    pin_block: str = _secret()
    source_format: str
    destination_format: str
    account: str = _secret()


@dataclass(frozen=True, kw_only=True)
class CcResponse:
    """CD: PIN length 2N, PIN block 16H, destination format 2N."""

    CODE: ClassVar[str] = "CD"
    error_code: str = "00"
    pin_length: str | None = None
    pin_block: str | None = _opt_secret()
    destination_format: str | None = None


@dataclass(frozen=True, kw_only=True)
class CiRequest:
    """CI translate a PIN block from DUKPT (BDK) to ZPK."""

    CODE: ClassVar[str] = "CI"
    bdk: str
    zpk: str
    ksn_descriptor: str
    ksn: str
    pin_block: str = _secret()
    destination_format: str
    account: str = _secret()


@dataclass(frozen=True, kw_only=True)
class CiResponse:
    """CJ: PIN length 2N, PIN block 16H, destination format 2N."""

    CODE: ClassVar[str] = "CJ"
    error_code: str = "00"
    pin_length: str | None = None
    pin_block: str | None = _opt_secret()
    destination_format: str | None = None


@dataclass(frozen=True, kw_only=True)
class G0Request:
    """G0 translate a PIN block from DUKPT (TDES BDK) to ZPK, with source format."""

    CODE: ClassVar[str] = "G0"
    bdk: str
    zpk: str
    ksn_descriptor: str
    ksn: str
    pin_block: str = _secret()
    source_format: str
    destination_format: str
    account: str = _secret()


@dataclass(frozen=True, kw_only=True)
class G0Response:
    """G1: PIN length 2N, PIN block 16H (32H for ISO format 4), destination format 2N."""

    CODE: ClassVar[str] = "G1"
    error_code: str = "00"
    pin_length: str | None = None
    pin_block: str | None = _opt_secret()
    destination_format: str | None = None


@dataclass(frozen=True, kw_only=True)
class M0Request:
    """M0 encrypt a data block under a ZEK/DEK (or a DUKPT BDK), ECB or CBC."""

    CODE: ClassVar[str] = "M0"
    mode: str
    input_format: str
    output_format: str
    key_type: str
    key: str
    ksn_descriptor: str | None = None
    ksn: str | None = None
    iv: str | None = None
    message: bytes = _secret()


@dataclass(frozen=True, kw_only=True)
class M0Response:
    """M1: [IV out, CBC modes], message length 4H, encrypted message."""

    CODE: ClassVar[str] = "M1"
    error_code: str = "00"
    iv: str | None = None
    message: bytes | None = None


@dataclass(frozen=True, kw_only=True)
class M2Request:
    """M2 decrypt a data block under a ZEK/DEK (or a DUKPT BDK), ECB or CBC."""

    CODE: ClassVar[str] = "M2"
    mode: str
    input_format: str
    output_format: str
    key_type: str
    key: str
    ksn_descriptor: str | None = None
    ksn: str | None = None
    iv: str | None = None
    message: bytes = _secret()


@dataclass(frozen=True, kw_only=True)
class M2Response:
    """M3: [IV out, CBC modes], message length 4H, decrypted message."""

    CODE: ClassVar[str] = "M3"
    error_code: str = "00"
    iv: str | None = None
    message: bytes | None = _opt_secret()


@dataclass(frozen=True, kw_only=True)
class KwRequest:
    """KW verify an ARQC and/or generate an ARPC (CVN-specific schemes, binary fields)."""

    CODE: ClassVar[str] = "KW"
    mode: str
    scheme: str
    mk_ac: str
    iv_ac: bytes | None = None
    pan_psn: bytes = _secret()
    branch: str | None = None
    height: str | None = None
    atc: bytes
    un: bytes | None = None
    data: bytes = _secret()
    arqc: bytes
    arc: bytes | None = None
    csu: bytes | None = None
    prop_data: bytes | None = None


@dataclass(frozen=True, kw_only=True)
class KwResponse:
    """KX: ARPC (8B method 1, 4B method 2) for modes 1-4."""

    CODE: ClassVar[str] = "KX"
    error_code: str = "00"
    arpc: bytes | None = None


@dataclass(frozen=True, kw_only=True)
class M6Request:
    """M6 generate a MAC (mode 0: the whole message in one command)."""

    CODE: ClassVar[str] = "M6"
    mode: str
    input_format: str
    mac_size: str
    mac_algorithm: str
    padding: str
    key_type: str
    key: str
    iv: str | None = None
    message: bytes


@dataclass(frozen=True, kw_only=True)
class M6Response:
    """M7: MAC 8H (size 0) or 16H (size 1)."""

    CODE: ClassVar[str] = "M7"
    error_code: str = "00"
    mac: str | None = None


@dataclass(frozen=True, kw_only=True)
class M8Request:
    """M8 verify a MAC."""

    CODE: ClassVar[str] = "M8"
    mode: str
    input_format: str
    mac_size: str
    mac_algorithm: str
    padding: str
    key_type: str
    key: str
    iv: str | None = None
    message: bytes
    mac: str


@dataclass(frozen=True, kw_only=True)
class M8Response:
    """M9: error code only (01 = MAC verification failure)."""

    CODE: ClassVar[str] = "M9"
    error_code: str = "00"


@dataclass(frozen=True, kw_only=True)
class KqRequest:
    """KQ verify an ARQC/TC/AAC and/or generate an ARPC (binary fields)."""

    CODE: ClassVar[str] = "KQ"
    mode: str
    scheme: str
    mk_ac: str
    mk_smi: str | None = None
    pan_psn: bytes = _secret()
    atc: bytes
    un: bytes
    data: bytes = _secret()
    arqc: bytes
    arc: bytes | None = None


@dataclass(frozen=True, kw_only=True)
class KqResponse:
    """KR: ARPC 8B (modes 1 and 2)."""

    CODE: ClassVar[str] = "KR"
    error_code: str = "00"
    arpc: bytes | None = None


@dataclass(frozen=True, kw_only=True)
class JcRequest:
    """JC translate a PIN block from TPK to LMK."""

    CODE: ClassVar[str] = "JC"
    tpk: str
    pin_block: str = _secret()
    format: str
    account: str = _secret()


@dataclass(frozen=True, kw_only=True)
class JcResponse:
    """JD: PIN under LMK."""

    CODE: ClassVar[str] = "JD"
    error_code: str = "00"
    pin_lmk: str | None = _opt_secret()


@dataclass(frozen=True, kw_only=True)
class JeRequest:
    """JE translate a PIN block from ZPK to LMK."""

    CODE: ClassVar[str] = "JE"
    zpk: str
    pin_block: str = _secret()
    format: str
    account: str = _secret()


@dataclass(frozen=True, kw_only=True)
class JeResponse:
    """JF: PIN under LMK."""

    CODE: ClassVar[str] = "JF"
    error_code: str = "00"
    pin_lmk: str | None = _opt_secret()


@dataclass(frozen=True, kw_only=True)
class JgRequest:
    """JG translate a PIN from LMK to a ZPK PIN block."""

    CODE: ClassVar[str] = "JG"
    zpk: str
    format: str
    account: str = _secret()
    pin_lmk: str = _secret()


@dataclass(frozen=True, kw_only=True)
class JgResponse:
    """JH: PIN block 16H."""

    CODE: ClassVar[str] = "JH"
    error_code: str = "00"
    pin_block: str | None = _opt_secret()


@dataclass(frozen=True, kw_only=True)
class DaRequest:
    """DA verify a terminal PIN with the IBM 3624 offset method."""

    CODE: ClassVar[str] = "DA"
    tpk: str
    pvk: str
    max_pin_length: str
    pin_block: str = _secret()
    format: str
    check_length: str
    account: str = _secret()
    decimalization_table: str = _secret()
    pin_validation_data: str = _secret()
    offset: str = _secret()


@dataclass(frozen=True, kw_only=True)
class DaResponse:
    """DB: error code only (00 ok, 01 verification failure)."""

    CODE: ClassVar[str] = "DB"
    error_code: str = "00"


@dataclass(frozen=True, kw_only=True)
class EaRequest:
    """EA verify an interchange PIN with the IBM 3624 offset method."""

    CODE: ClassVar[str] = "EA"
    zpk: str
    pvk: str
    max_pin_length: str
    pin_block: str = _secret()
    format: str
    check_length: str
    account: str = _secret()
    decimalization_table: str = _secret()
    pin_validation_data: str = _secret()
    offset: str = _secret()


@dataclass(frozen=True, kw_only=True)
class EaResponse:
    """EB: error code only."""

    CODE: ClassVar[str] = "EB"
    error_code: str = "00"


@dataclass(frozen=True, kw_only=True)
class DcRequest:
    """DC verify a terminal PIN with the Visa PVV method."""

    CODE: ClassVar[str] = "DC"
    tpk: str
    pvk: str
    pin_block: str = _secret()
    format: str
    account: str = _secret()
    pvki: str
    pvv: str = _secret()


@dataclass(frozen=True, kw_only=True)
class DcResponse:
    """DD: error code only."""

    CODE: ClassVar[str] = "DD"
    error_code: str = "00"


@dataclass(frozen=True, kw_only=True)
class EcRequest:
    """EC verify an interchange PIN with the Visa PVV method."""

    CODE: ClassVar[str] = "EC"
    zpk: str
    pvk: str
    pin_block: str = _secret()
    format: str
    account: str = _secret()
    pvki: str
    pvv: str = _secret()


@dataclass(frozen=True, kw_only=True)
class EcResponse:
    """ED: error code only."""

    CODE: ClassVar[str] = "ED"
    error_code: str = "00"


@dataclass(frozen=True, kw_only=True)
class DeRequest:
    """DE generate an IBM 3624 offset from a PIN under LMK."""

    CODE: ClassVar[str] = "DE"
    pvk: str
    pin_lmk: str = _secret()
    check_length: str
    account: str = _secret()
    decimalization_table: str = _secret()
    pin_validation_data: str = _secret()


@dataclass(frozen=True, kw_only=True)
class DeResponse:
    """DF: offset 12H (left-justified, F-padded)."""

    CODE: ClassVar[str] = "DF"
    error_code: str = "00"
    offset: str | None = _opt_secret()


@dataclass(frozen=True, kw_only=True)
class DgRequest:
    """DG generate a Visa PVV from a PIN under LMK."""

    CODE: ClassVar[str] = "DG"
    pvk: str
    pin_lmk: str = _secret()
    account: str = _secret()
    pvki: str


@dataclass(frozen=True, kw_only=True)
class DgResponse:
    """DH: PVV 4N."""

    CODE: ClassVar[str] = "DH"
    error_code: str = "00"
    pvv: str | None = _opt_secret()


@dataclass(frozen=True, kw_only=True)
class CwRequest:
    """CW generate a card verification value."""

    CODE: ClassVar[str] = "CW"
    cvk: str
    pan: str = _secret()
    expiry: str = _secret()
    service_code: str


@dataclass(frozen=True, kw_only=True)
class CwResponse:
    """CX: CVV 3N."""

    CODE: ClassVar[str] = "CX"
    error_code: str = "00"
    cvv: str | None = _opt_secret()


@dataclass(frozen=True, kw_only=True)
class CyRequest:
    """CY verify a card verification value."""

    CODE: ClassVar[str] = "CY"
    cvk: str
    cvv: str = _secret()
    pan: str = _secret()
    expiry: str = _secret()
    service_code: str


@dataclass(frozen=True, kw_only=True)
class CyResponse:
    """CZ: error code only."""

    CODE: ClassVar[str] = "CZ"
    error_code: str = "00"


@dataclass(frozen=True, kw_only=True)
class Layout:
    """How one command and its response are laid out, and their dataclasses."""

    code: str
    request: tuple[Spec, ...]
    request_cls: type[Any]
    response: tuple[Spec, ...]
    response_cls: type[Any]
    binary: bool = False
    errors: tuple[tuple[str, str], ...] = ()
    notes: str = ""

    @property
    def title(self) -> str:
        """First line of the request dataclass docstring (used by the documentation)."""
        return (self.request_cls.__doc__ or self.code).strip().splitlines()[0]


_PIN_TAIL_FIELDS = (_n("format", 2), _n("account", 12))
_IBM_TAIL = (
    _n("check_length", 2),
    _n("account", 12),
    _h("decimalization_table", 16),
    _a("pin_validation_data", 12),
    _h("offset", 12),
)
_PIN_XLATE_RESPONSE = (_n("pin_length", 2), _h("pin_block", 16), _n("destination_format", 2))

_LMK_ID = Group(lead="%", fields=(_n("lmk_id", 2),), doc="LMK identifier (ignored: one LMK)")
_DATA_REQUEST: tuple[Spec, ...] = (
    _n("mode", 2, doc="00 ECB, 01 CBC"),
    _n("input_format", 1, doc="0 binary, 1 hex-encoded, 2 text"),
    _n("output_format", 1, doc="0 binary, 1 hex-encoded"),
    _h("key_type", 3, doc="00A ZEK, 00B DEK, 009 BDK (DUKPT), FFF with an S key"),
    _key("key", 32),
    _h("ksn_descriptor", 3, when=_when("key_type", "009")),
    _h("ksn", 20, when=_when("key_type", "009")),
    _h("iv", 16, aes_length=32, key_from="key", when=_when("mode", "01"), doc="16H (AES: 32H)"),
    F(
        name="message",
        kind=Kind.LEN_DATA,
        length=4,
        error_code="06",
        doc="length 4H in characters, then the message",
    ),
)
_DATA_RESPONSE: tuple[Spec, ...] = (
    _h("iv", 16, fit_lengths=(0, 16, 32), doc="CBC only: the last cipher block, for chaining"),
    F(
        name="message",
        kind=Kind.LEN_DATA,
        length=4,
        doc="length 4H in characters, then the message",
    ),
)
_DATA_ERRORS = (
    ("02", "invalid or unsupported mode flag"),
    ("03", "invalid input format flag"),
    ("04", "invalid output format flag"),
    ("05", "invalid key type"),
    ("06", "message length error (not a multiple of the block size, or short)"),
    ("10", "key parity error"),
    ("15", "invalid input data (bad hex, IV)"),
    ("27", "key length not supported"),
)
_DATA_NOTES = (
    "No padding is added: the message must be a multiple of the cipher block (8 bytes TDES, "
    "16 AES). An AES key is an `S` key whose key block algorithm is `A` (key type FFF or 00B/00A). "
    "With key type 009 the key is a TDES DUKPT BDK: M0 uses the data-response key, M2 the "
    "data-request key (X9.24-1 with the one-way step), CBC with the given IV (ECB allowed)."
)

_LAYOUT_LIST: tuple[Layout, ...] = (
    Layout(
        code="NC",
        request=(),
        request_cls=NcRequest,
        response=(_h("lmk_check", 16), _a("firmware", 9)),
        response_cls=NcResponse,
    ),
    Layout(
        code="NO",
        request=(F(name="mode", kind=Kind.H, length=2, if_longer_than=0),),
        request_cls=NoRequest,
        response=(
            _n("buffer_size", 1),
            _n("ethernet_type", 1),
            _n("tcp_sockets", 2),
            _a("firmware", 9),
        ),
        response_cls=NoResponse,
    ),
    Layout(
        code="B2",
        request=(F(name="data", kind=Kind.LEN_DATA, length=4, error_code="80"),),
        request_cls=B2Request,
        response=(_rest("data"),),
        response_cls=B2Response,
        binary=True,
    ),
    Layout(
        code="A0",
        request=(
            _h("mode", 1, doc="0 generate, 1 generate + export, A derive IPEK, B derive + export"),
            _h("key_type", 3, doc="key type code of the new key (302 = IPEK/IKEY)"),
            _a("key_scheme_lmk", 1, doc="Z/U/T/X/Y, or S for a key block (needs a key-block LMK)"),
            _n("derive_mode", 1, when=_when("mode", "A", "B"), doc="0 = derive the DUKPT IPEK"),
            _a(
                "bdk_type",
                1,
                when=_when("mode", "A", "B"),
                doc="1/2/3 = TDES BDK type 1 (009) / 2 (609) / 3 (809); 4 = AES BDK (S key)",
            ),
            _key("bdk", 32, when=_when("mode", "A", "B"), doc="BDK under the LMK"),
            _h("ksn", 20, when=_when("bdk_type", "1", "2", "3"), doc="TDES KSN (counter ignored)"),
            _h("ksn", 24, when=_when("bdk_type", "4"), doc="AES KSN: IKID 16H + counter 8H"),
            Group(
                lead=";",
                fields=(_n("zmk_flag", 1, doc="0 ZMK, 1 TMK"),),
                when=_when("mode", "1", "B"),
            ),
            _key("zmk", 32, when=_when("mode", "1", "B"), doc="ZMK/TMK under the LMK"),
            _a("key_scheme_zmk", 1, when=_when("mode", "1", "B"), doc="scheme under the ZMK/TMK"),
            _LMK_ID,
            Group(
                lead="#",
                fields=(
                    _a("kb_usage", 2, doc="TR-31 key usage"),
                    _a("kb_algorithm", 2, doc="T2/T3 TDES, A1/A2/A3 AES-128/192/256"),
                    _a("kb_mode_of_use", 1),
                    _a("kb_version", 2),
                    _a("kb_exportability", 1),
                    _n("kb_optional_blocks", 2, doc="must be 00"),
                ),
                doc="key-block attributes (key scheme S)",
            ),
        ),
        request_cls=A0Request,
        response=(
            _key("key_lmk", 32, doc="new key under the LMK"),
            F(
                name="key_zmk",
                kind=Kind.KEY,
                length=32,
                if_longer_than=6,
                doc="modes 1/B: new key under the ZMK/TMK",
            ),
            _h("kcv", 6, doc="key check value (AES keys: AES-CMAC)"),
        ),
        response_cls=A0Response,
        errors=(
            ("04", "invalid key type code"),
            ("10", "ZMK/TMK or BDK parity error"),
            ("15", "invalid input (mode, derive mode, field)"),
            ("26", "invalid key scheme / S key without a key-block LMK"),
            ("27", "BDK or key of the wrong length"),
            ("A6", "key block usage does not fit the key type"),
            ("83", "malformed key block"),
            ("A4", "key block authentication failure"),
        ),
        notes=(
            "Modes A/B (our reading of hsm.md §5.1): derive mode `0`, BDK type, BDK, KSN. "
            "TDES: IPEK per ANSI X9.24-1 from a BDK of type 009/609/809 and a 20H KSN. "
            "AES (BDK type 4, BDK an `S` key with algorithm A): initial key per X9.24-3 from "
            "the KSN's 16H initial key ID; it is returned as an `S` key (usage B1). "
            "Mode B exports a TDES IPEK under the ZMK/TMK like mode 1."
        ),
    ),
    Layout(
        code="A6",
        request=(
            _h("key_type", 3),
            _key("zmk", 32),
            _key("key_zmk", 32),
            _a("key_scheme_lmk", 1),
        ),
        request_cls=A6Request,
        response=(_key("key_lmk", 32), _h("kcv", 6)),
        response_cls=A6Response,
    ),
    Layout(
        code="A8",
        request=(
            _h("key_type", 3),
            Group(lead=";", fields=(_n("zmk_flag", 1),)),
            _key("zmk", 32),
            _key("key_lmk", 32),
            _a("key_scheme_zmk", 1),
        ),
        request_cls=A8Request,
        response=(_key("key_zmk", 32), _h("kcv", 6)),
        response_cls=A8Response,
    ),
    Layout(
        code="BU",
        request=(
            _h("key_type_code", 2),
            _n("key_length_flag", 1),
            F(name="key", kind=Kind.KEY, length=16, bare_from="key_length_flag"),
            Group(lead=";", fields=(_h("key_type", 3),), when=_when("key_type_code", "FF")),
            Group(lead=";", fields=(_a("reserved_1", 1), _a("reserved_2", 1), _n("kcv_type", 1))),
        ),
        request_cls=BuRequest,
        response=(_rest("kcv"),),
        response_cls=BuResponse,
    ),
    Layout(
        code="FA",
        request=(
            _key("zmk", 32),
            _key("zpk_zmk", 16),
            Group(
                lead=";",
                fields=(_a("reserved", 1), _a("key_scheme_lmk", 1), _a("kcv_type", 1)),
            ),
        ),
        request_cls=FaRequest,
        response=(_key("zpk_lmk", 16), _rest("kcv")),
        response_cls=FaResponse,
    ),
    Layout(
        code="GC",
        request=(
            _key("zmk", 32),
            _key("zpk_lmk", 16),
            Group(
                lead=";",
                fields=(_a("key_scheme_zmk", 1), _a("reserved", 1), _a("kcv_type", 1)),
            ),
        ),
        request_cls=GcRequest,
        response=(_key("zpk_zmk", 16), _rest("kcv")),
        response_cls=GcResponse,
    ),
    Layout(
        code="HC",
        request=(
            _key("current_key", 16),
            Group(
                lead=";",
                fields=(_a("key_scheme_tmk", 1), _a("key_scheme_lmk", 1), _a("reserved", 1)),
            ),
        ),
        request_cls=HcRequest,
        response=(_key("key_tmk", 16), _key("key_lmk", 16)),
        response_cls=HcResponse,
    ),
    Layout(
        code="IA",
        request=(
            _key("zmk", 32),
            Group(
                lead=";",
                fields=(_a("key_scheme_zmk", 1), _a("key_scheme_lmk", 1), _n("kcv_type", 1)),
            ),
        ),
        request_cls=IaRequest,
        response=(_key("zpk_zmk", 16), _key("zpk_lmk", 16), _rest("kcv")),
        response_cls=IaResponse,
    ),
    Layout(
        code="CA",
        request=(
            _key("tpk"),
            _key("zpk"),
            _n("max_pin_length", 2),
            _h("pin_block", 16),
            _n("source_format", 2),
            _n("destination_format", 2),
            _n("account", 12),
        ),
        request_cls=CaRequest,
        response=_PIN_XLATE_RESPONSE,
        response_cls=CaResponse,
    ),
    Layout(
        code="CC",
        request=(
            _key("source_zpk"),
            _key("destination_zpk"),
            _n("max_pin_length", 2),
            _h("pin_block", 16),
            _n("source_format", 2),
            _n("destination_format", 2),
            _n("account", 12),
        ),
        request_cls=CcRequest,
        response=_PIN_XLATE_RESPONSE,
        response_cls=CcResponse,
    ),
    Layout(
        code="CI",
        request=(
            _key("bdk", 32),
            _key("zpk"),
            _h("ksn_descriptor", 3),
            _h("ksn", 20),
            _h("pin_block", 16),
            _n("destination_format", 2),
            _n("account", 12),
        ),
        request_cls=CiRequest,
        response=_PIN_XLATE_RESPONSE,
        response_cls=CiResponse,
    ),
    Layout(
        code="G0",
        request=(
            _key("bdk", 32, doc="BDK (TDES 009, or an AES `S` key: AES DUKPT)"),
            _key("zpk", doc="destination ZPK (AES `S` key for format 48)"),
            _h("ksn_descriptor", 3),
            _h("ksn", 20, aes_length=24, key_from="bdk", doc="KSN 20H (AES BDK: 24H)"),
            _h("pin_block", 16, aes_length=32, key_from="bdk", doc="16H (AES BDK: ISO-4 32H)"),
            _n("source_format", 2, doc="01/05/47 (AES BDK: 48)"),
            _n("destination_format", 2, doc="01/05/47, or 48 with an AES ZPK"),
            F(
                name="account",
                kind=Kind.PAN,
                length=19,
                doc="12N account number; the full PAN (up to 19N) when ISO format 4 is involved",
            ),
        ),
        request_cls=G0Request,
        response=(
            _n("pin_length", 2),
            F(name="pin_block", kind=Kind.VAR_TAIL, length=2, doc="16H, or 32H for format 48"),
            _n("destination_format", 2),
        ),
        response_cls=G0Response,
        errors=(
            ("10", "BDK parity error"),
            ("11", "ZPK parity error"),
            ("20", "PIN block does not contain valid values"),
            ("23", "invalid PIN block format code"),
            ("24", "PIN length outside 4-12"),
            ("27", "BDK not double/triple length, or AES/TDES key mismatch"),
        ),
        notes=(
            "payShield 10K adds a source key flag for AES DUKPT; here the BDK's own key block "
            "header (algorithm `A`) selects AES DUKPT, which fixes the KSN at 24H and the source "
            "PIN block at 32H (ISO format 4, decrypted with the derived PIN key, usage 1000, "
            "AES-128). Format 48 output needs an AES ZPK (`S` key)."
        ),
    ),
    Layout(
        code="M0",
        request=_DATA_REQUEST,
        request_cls=M0Request,
        response=_DATA_RESPONSE,
        response_cls=M0Response,
        binary=True,
        errors=_DATA_ERRORS,
        notes=_DATA_NOTES,
    ),
    Layout(
        code="M2",
        request=_DATA_REQUEST,
        request_cls=M2Request,
        response=_DATA_RESPONSE,
        response_cls=M2Response,
        binary=True,
        errors=_DATA_ERRORS,
        notes=_DATA_NOTES,
    ),
    Layout(
        code="KW",
        request=(
            _n(
                "mode",
                1,
                doc="0 verify, 1 verify + ARPC m1, 2 ARPC m1, 3 verify + ARPC m2, 4 ARPC m2",
            ),
            _n(
                "scheme",
                1,
                doc="0 Visa CVN 10, 1 Mastercard SKD (CVN 16/17), 2 EMV2000 tree, 3 EMV CSK",
            ),
            _key("mk_ac", 32, doc="issuer MK-AC (109) under the LMK"),
            F(name="iv_ac", kind=Kind.B, length=16, when=_when("scheme", "2"), doc="scheme 2"),
            F(
                name="pan_psn",
                kind=Kind.LEN_DATA,
                length=2,
                radix=10,
                doc="PAN || PSN, packed BCD (F-padded); length 2N in bytes",
            ),
            Group(
                lead=";",
                fields=(_h("branch", 2), _h("height", 2)),
                when=_when("scheme", "2"),
                doc="scheme 2 only",
            ),
            F(name="atc", kind=Kind.B, length=2),
            F(
                name="un",
                kind=Kind.B,
                length=4,
                when=_when("scheme", "1"),
                doc="scheme 1: unpredictable number",
            ),
            F(
                name="data",
                kind=Kind.LEN_DATA,
                length=2,
                error_code="80",
                doc="transaction data (the HSM pads it)",
            ),
            _lit(";"),
            F(name="arqc", kind=Kind.B, length=8),
            F(name="arc", kind=Kind.B, length=2, when=_when("mode", "1", "2")),
            F(name="csu", kind=Kind.B, length=4, when=_when("mode", "3", "4")),
            F(
                name="prop_data",
                kind=Kind.LEN_DATA,
                length=1,
                when=_when("mode", "3", "4"),
                if_longer_than=0,
                doc="optional proprietary authentication data, length 1H (0-8 bytes)",
            ),
        ),
        request_cls=KwRequest,
        response=(F(name="arpc", kind=Kind.REST_B, doc="8B (method 1) or 4B (method 2)"),),
        response_cls=KwResponse,
        binary=True,
        errors=(
            ("01", "ARQC/TC/AAC verification failure"),
            ("04", "unrecognised mode flag"),
            ("05", "unrecognised or unsupported scheme (2 = EMV2000 tree is not supported)"),
            ("10", "MK-AC parity error"),
            ("27", "MK-AC not double length"),
            ("80", "transaction data length error"),
            ("81", "zero-length transaction data"),
        ),
        notes=(
            "Our reading of KW: ICC MK by option A (PAN <= 16 digits) or B. Scheme 0 (Visa CVN "
            "10): no session key, zero padding, ARPC method 1 with the ICC MK. Scheme 1 "
            "(Mastercard CVN 16/17): session key R = ATC || 0000 || UN, 80 padding, ARPC method "
            "1 with the ICC MK. Scheme 3 (EMV CSK: Visa CVN 18/22 with ARPC method 2 = modes "
            "3/4, Mastercard CVN 20/21 with ARPC method 1 = modes 1/2): session key R = ATC || "
            "00*6, 80 padding; ARPC (both methods) with the session key. Unlike KQ, KW pads the "
            "data itself: the host sends the unpadded CDOL data (tags || CVR / IAD / counters)."
        ),
    ),
    Layout(
        code="M6",
        request=(
            _n("mode", 1),
            _n("input_format", 1),
            _n("mac_size", 1),
            _n("mac_algorithm", 1),
            _n("padding", 1),
            _h("key_type", 3),
            _key("key", 32),
            _h("iv", 16, when=_when("mode", "2", "3")),
            F(name="message", kind=Kind.LEN_DATA, length=4, error_code="80"),
        ),
        request_cls=M6Request,
        response=(_rest("mac"),),
        response_cls=M6Response,
        binary=True,
    ),
    Layout(
        code="M8",
        request=(
            _n("mode", 1),
            _n("input_format", 1),
            _n("mac_size", 1),
            _n("mac_algorithm", 1),
            _n("padding", 1),
            _h("key_type", 3),
            _key("key", 32),
            _h("iv", 16, when=_when("mode", "2", "3")),
            F(name="message", kind=Kind.LEN_DATA, length=4, error_code="80"),
            _h("mac", 8, when=_when("mac_size", "0")),
            _h("mac", 16, when=_when("mac_size", "1")),
        ),
        request_cls=M8Request,
        response=(),
        response_cls=M8Response,
        binary=True,
    ),
    Layout(
        code="KQ",
        request=(
            _n("mode", 1),
            _n("scheme", 1),
            _key("mk_ac", 32),
            _key("mk_smi", 32, when=_when("mode", "3", "4")),
            F(name="pan_psn", kind=Kind.B, length=8),
            F(name="atc", kind=Kind.B, length=2),
            F(name="un", kind=Kind.B, length=4),
            F(name="data", kind=Kind.LEN_DATA, length=2, error_code="80"),
            _lit(";"),
            F(name="arqc", kind=Kind.B, length=8),
            F(name="arc", kind=Kind.B, length=2, when=_when("mode", "1", "2")),
        ),
        request_cls=KqRequest,
        response=(F(name="arpc", kind=Kind.B, length=8),),
        response_cls=KqResponse,
        binary=True,
    ),
    Layout(
        code="JC",
        request=(_key("tpk"), _h("pin_block", 16), *_PIN_TAIL_FIELDS),
        request_cls=JcRequest,
        response=(_rest("pin_lmk"),),
        response_cls=JcResponse,
    ),
    Layout(
        code="JE",
        request=(_key("zpk"), _h("pin_block", 16), *_PIN_TAIL_FIELDS),
        request_cls=JeRequest,
        response=(_rest("pin_lmk"),),
        response_cls=JeResponse,
    ),
    Layout(
        code="JG",
        request=(_key("zpk"), *_PIN_TAIL_FIELDS, _rest("pin_lmk")),
        request_cls=JgRequest,
        response=(_h("pin_block", 16),),
        response_cls=JgResponse,
    ),
    Layout(
        code="DA",
        request=(
            _key("tpk"),
            _key("pvk"),
            _n("max_pin_length", 2),
            _h("pin_block", 16),
            _n("format", 2),
            *_IBM_TAIL,
        ),
        request_cls=DaRequest,
        response=(),
        response_cls=DaResponse,
    ),
    Layout(
        code="EA",
        request=(
            _key("zpk"),
            _key("pvk"),
            _n("max_pin_length", 2),
            _h("pin_block", 16),
            _n("format", 2),
            *_IBM_TAIL,
        ),
        request_cls=EaRequest,
        response=(),
        response_cls=EaResponse,
    ),
    Layout(
        code="DC",
        request=(
            _key("tpk"),
            _key("pvk", 32),
            _h("pin_block", 16),
            *_PIN_TAIL_FIELDS,
            _n("pvki", 1),
            _n("pvv", 4),
        ),
        request_cls=DcRequest,
        response=(),
        response_cls=DcResponse,
    ),
    Layout(
        code="EC",
        request=(
            _key("zpk"),
            _key("pvk", 32),
            _h("pin_block", 16),
            *_PIN_TAIL_FIELDS,
            _n("pvki", 1),
            _n("pvv", 4),
        ),
        request_cls=EcRequest,
        response=(),
        response_cls=EcResponse,
    ),
    Layout(
        code="DE",
        request=(
            _key("pvk"),
            F(name="pin_lmk", kind=Kind.VAR_TAIL, length=2 + 12 + 16 + 12),
            _n("check_length", 2),
            _n("account", 12),
            _h("decimalization_table", 16),
            _a("pin_validation_data", 12),
        ),
        request_cls=DeRequest,
        response=(_h("offset", 12),),
        response_cls=DeResponse,
    ),
    Layout(
        code="DG",
        request=(
            _key("pvk", 32),
            F(name="pin_lmk", kind=Kind.VAR_TAIL, length=12 + 1),
            _n("account", 12),
            _n("pvki", 1),
        ),
        request_cls=DgRequest,
        response=(_n("pvv", 4),),
        response_cls=DgResponse,
    ),
    Layout(
        code="CW",
        request=(
            _key("cvk", 32),
            F(name="pan", kind=Kind.PAN, length=19),
            _lit(";"),
            _n("expiry", 4),
            _n("service_code", 3),
        ),
        request_cls=CwRequest,
        response=(_n("cvv", 3),),
        response_cls=CwResponse,
    ),
    Layout(
        code="CY",
        request=(
            _key("cvk", 32),
            _n("cvv", 3),
            F(name="pan", kind=Kind.PAN, length=19),
            _lit(";"),
            _n("expiry", 4),
            _n("service_code", 3),
        ),
        request_cls=CyRequest,
        response=(),
        response_cls=CyResponse,
    ),
)

_PIN_ERRORS = (
    ("10", "source key parity error"),
    ("11", "destination key / PVK parity error"),
    ("20", "PIN block does not contain valid values"),
    ("23", "invalid PIN block format code"),
    ("24", "PIN length outside 4-12"),
)
_VERIFY_ERRORS = (("01", "verification failure (a business decline)"),)
#: Command-specific error codes of the layouts that do not list their own (hsm.md §2).
_ERRORS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "NO": (("15", "mode not 00/01"),),
    "B2": (("80", "data shorter than the declared length"), ("15", "excess data")),
    "A6": (("01", "imported key has bad parity (warning: key returned)"), ("10", "ZMK parity")),
    "A8": (("10", "ZMK/TMK parity error"), ("11", "key parity error")),
    "BU": (("10", "key parity error"), ("15", "KCV type not 0/1")),
    "FA": (("01", "ZPK parity warning (key returned)"), ("10", "ZMK parity error")),
    "GC": (("10", "ZMK parity error"), ("11", "ZPK parity error")),
    "HC": (("10", "current key parity error"), ("26", "invalid key scheme")),
    "IA": (("10", "ZMK parity error"), ("26", "invalid key scheme")),
    "CA": (("15", "max PIN length not 12"), *_PIN_ERRORS),
    "CC": (("15", "max PIN length not 12"), *_PIN_ERRORS),
    "CI": (*_PIN_ERRORS, ("27", "BDK not double length")),
    "JC": _PIN_ERRORS,
    "JE": _PIN_ERRORS,
    "JG": (("10", "ZPK parity error"), ("14", "PIN under LMK invalid"), ("23", "format")),
    "DA": (*_VERIFY_ERRORS, *_PIN_ERRORS, ("25", "decimalisation table error")),
    "EA": (*_VERIFY_ERRORS, *_PIN_ERRORS, ("25", "decimalisation table error")),
    "DC": (*_VERIFY_ERRORS, *_PIN_ERRORS, ("27", "PVK not double length")),
    "EC": (*_VERIFY_ERRORS, *_PIN_ERRORS, ("27", "PVK not double length")),
    "DE": (("10", "PVK parity error"), ("14", "PIN under LMK invalid"), ("25", "dec. table")),
    "DG": (("10", "PVK parity error"), ("14", "PIN under LMK invalid"), ("27", "PVK length")),
    "CW": (("10", "CVK parity error"), ("27", "CVK not double length")),
    "CY": (*_VERIFY_ERRORS, ("10", "CVK parity error"), ("27", "CVK not double length")),
    "M6": (
        ("02", "mode flag (only 0)"),
        ("03", "input format"),
        ("04", "MAC size / algorithm"),
        ("05", "key type not 003/008"),
        ("06", "message length (padding 0 needs whole blocks)"),
        ("09", "padding method"),
        ("10", "key parity error"),
        ("80", "message shorter than its length"),
    ),
    "M8": (
        ("01", "MAC verification failure"),
        ("02", "mode flag (only 0)"),
        ("04", "MAC size / algorithm"),
        ("05", "key type not 003/008"),
        ("10", "key parity error"),
    ),
    "KQ": (
        ("01", "ARQC/TC/AAC verification failure"),
        ("04", "invalid mode"),
        ("05", "unknown scheme"),
        ("10", "MK-AC parity error"),
        ("68", "modes 3/4 (secure messaging) are not implemented"),
        ("80", "transaction data length error"),
        ("81", "zero-length transaction data"),
    ),
}
_LAYOUT_LIST = tuple(
    dataclasses.replace(x, errors=_ERRORS[x.code]) if not x.errors and x.code in _ERRORS else x
    for x in _LAYOUT_LIST
)

LAYOUTS: Mapping[str, Layout] = MappingProxyType({x.code: x for x in _LAYOUT_LIST})
"""Command code -> layout (read-only)."""

KNOWN_COMMANDS: frozenset[str] = frozenset(
    """A2 A4 AE AG AS AU AW B0 BA BC BE BG BI BK BS BW BY CK CM CU DU DW DY EE EI EW FC FE FG FI
    FK FM FW FY GG GM GO GQ GW GY HA J2 J4 J8 JA JK K2 KA KU KW KY LG LI LO M0 M2 M4
    MA MC ME MG MI MK MM MQ MS N0 NE NG NI NK OC OE PA PE PM QK RA RY SA TA""".split()  # noqa: SIM905
) | frozenset(LAYOUTS)
"""Every command code this codec recognises (with or without a layout); others get ``ZZ15``."""


# --------------------------------------------------------------------------------------------
# decoding
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DecodedRequest:
    """A decoded request: its typed command and the trailer to echo (``None`` if none)."""

    code: str
    command: Any
    trailer: bytes | None = field(default=None, repr=False)


def _condition(values: Mapping[str, Any], cond: tuple[str, frozenset[str]] | None) -> bool:
    return cond is None or values.get(cond[0]) in cond[1]


def _all_names(specs: tuple[Spec, ...]) -> list[str]:
    out: list[str] = []
    for s in specs:
        if isinstance(s, Group):
            out += [f.name for f in s.fields]
        elif s.name:
            out.append(s.name)
    return out


def is_aes_key_field(value: Any) -> bool:
    """Whether a key field is an ``S`` key block holding an AES key (header algorithm ``A``).

    Examples
    --------
    >>> is_aes_key_field("S10096D0AB00S0000..."), is_aes_key_field("U" + "0" * 32)
    (True, False)
    """
    return isinstance(value, str) and value[:1] == "S" and value[8:9] == "A"


class _Reader:
    """Walks the field specs over ``data[pos:end]`` filling ``values``."""

    def __init__(self, data: bytes, pos: int, end: int, code: str, *, lenient: bool) -> None:
        self.data = data
        self.pos = pos
        self.end = end
        self.code = code
        self.lenient = lenient
        self.values: dict[str, Any] = {}

    def fail(self, msg: str, f: F, code: str | None = None) -> DecodeError:
        return DecodeError(
            msg, command=self.code, error_code=code or f.error_code, field=f.name, pos=self.pos
        )

    def text(self, f: F, n: int) -> str:
        if self.pos + n > self.end:
            raise self.fail(f"{f.name or 'field'}: message too short", f)
        raw = self.data[self.pos : self.pos + n]
        try:
            s = raw.decode("ascii")
        except UnicodeDecodeError:
            raise self.fail(f"{f.name or 'field'}: not ASCII", f) from None
        self.pos += n
        return s

    def run(self, specs: tuple[Spec, ...]) -> None:
        for s in specs:
            if isinstance(s, Group):
                self.group(s)
            else:
                self.one(s)

    def group(self, g: Group) -> None:
        lead = g.lead.encode("ascii")
        present = (
            _condition(self.values, g.when)
            and self.pos < self.end
            and self.data[self.pos : self.pos + len(lead)] == lead
        )
        if not present:
            for f in g.fields:
                self.values[f.name] = None
            return
        self.pos += len(lead)
        for f in g.fields:
            self.one(f)

    def one(self, f: F) -> None:  # noqa: PLR0911, PLR0912, PLR0915 - one branch per field kind
        if not _condition(self.values, f.when) or (
            f.if_longer_than is not None and self.end - self.pos <= f.if_longer_than
        ):
            if f.name:
                self.values.setdefault(f.name, None)
            return
        if self.lenient and self.pos >= self.end and f.kind is not Kind.LITERAL:
            self.values[f.name] = None
            return
        kind = f.kind
        if kind is Kind.LITERAL:
            if self.text(f, len(f.literal)) != f.literal:
                self.pos -= len(f.literal)
                raise self.fail(f"expected delimiter {f.literal!r}", f)
            return
        if kind is Kind.B:
            if self.pos + f.length > self.end:
                raise self.fail(f"{f.name}: message too short", f)
            self.values[f.name] = self.data[self.pos : self.pos + f.length]
            self.pos += f.length
            return
        if kind is Kind.LEN_DATA:
            if self.pos + f.length > self.end:
                raise self.fail(f"{f.name}: message too short", f, "15")
            n_txt = self.text(f, f.length)
            if not all(c in (_HEX if f.radix == 16 else _DIGITS) for c in n_txt):
                raise self.fail(f"{f.name}: invalid length", f, "15")
            n = int(n_txt, f.radix)
            if self.pos + n > self.end:
                raise self.fail(f"{f.name}: shorter than its declared length", f)
            self.values[f.name] = self.data[self.pos : self.pos + n]
            self.pos += n
            return
        if kind is Kind.REST:
            self.values[f.name] = self._rest_value(f)
            return
        if kind is Kind.REST_B:
            self.values[f.name] = self.data[self.pos : self.end]
            self.pos = self.end
            return
        if kind is Kind.VAR_TAIL:
            n = self.end - self.pos - f.length
            if n < 1:
                raise self.fail(f"{f.name}: message too short", f)
            self.values[f.name] = self._checked(f, self.text(f, n), _PRINTABLE)
            return
        if kind is Kind.PAN:
            start = self.pos
            while (
                self.pos < self.end
                and self.pos - start < f.length
                and self.data[self.pos] in b"0123456789"
            ):
                self.pos += 1
            if self.pos == start:
                raise self.fail(f"{f.name}: missing", f)
            self.values[f.name] = self.data[start : self.pos].decode("ascii")
            return
        if kind is Kind.KEY:
            self.values[f.name] = self.key(f)
            return
        charset = {Kind.N: _DIGITS, Kind.H: _HEX, Kind.A: _PRINTABLE}[kind]
        n = f.length
        if f.fit_lengths:
            n = self._fit(f)
            if not n:
                self.values[f.name] = None
                return
        elif f.aes_length is not None and is_aes_key_field(self.values.get(f.key_from or "")):
            n = f.aes_length
        self.values[f.name] = self._checked(f, self.text(f, n), charset)

    def _fit(self, f: F) -> int:
        """The length among ``f.fit_lengths`` after which a 4H length + data fills the rest."""
        for n in f.fit_lengths:
            at = self.pos + n
            head = self.data[at : at + 4]
            if (
                len(head) == 4
                and all(c in b"0123456789ABCDEFabcdef" for c in head)
                and at + 4 + int(head, 16) == self.end
            ):
                return n
        return 0

    def _rest_value(self, f: F) -> Any:
        end = self.end
        if not self.lenient:  # in a request, trailing blocks (%LMK...) follow
            end = next(
                (i for i in range(self.pos, self.end) if self.data[i] in _BLOCK_DELIMITERS),
                self.end,
            )
        raw = self.data[self.pos : end]
        self.pos = end
        if f.name == "data":
            return raw
        try:
            s = raw.decode("ascii")
        except UnicodeDecodeError:
            raise self.fail(f"{f.name}: not ASCII", f) from None
        if not s and not self.lenient:
            raise self.fail(f"{f.name}: missing", f)
        return self._checked(f, s, _PRINTABLE)

    def _checked(self, f: F, s: str, charset: frozenset[str]) -> str:
        if not charset.issuperset(s):
            self.pos -= len(s)
            raise self.fail(f"{f.name}: invalid characters", f)
        return s

    def key(self, f: F) -> str:
        if self.pos >= self.end:
            raise self.fail(f"{f.name}: message too short", f)
        scheme = chr(self.data[self.pos])
        if scheme == "S":
            head = self.text(f, 6)
            if not head[2:6].isdigit():
                self.pos -= 6
                raise self.fail(f"{f.name}: invalid key block length", f)
            n = int(head[2:6])
            self.pos -= 6
            if n < 5:
                raise self.fail(f"{f.name}: invalid key block length", f)
            return self._checked(f, self.text(f, 1 + n), _PRINTABLE)
        if scheme in _KEY_LENGTHS:
            n = _KEY_LENGTHS[scheme]
            txt = self.text(f, 1 + n)
            if not _HEX.issuperset(txt[1:]):
                self.pos -= len(txt)
                raise self.fail(f"{f.name}: invalid key", f)
            return txt
        n = f.length
        if f.bare_from is not None:
            n = _BARE_BY_FLAG.get(str(self.values.get(f.bare_from)), 0)
            if not n:
                raise self.fail(f"{f.name}: invalid key length flag", f)
        return self._checked(f, self.text(f, n), _HEX)


def _check_leftover(data: bytes, pos: int, end: int, code: str) -> None:
    """Anything after the described fields must be a trailing block we ignore."""
    if pos < end and data[pos] not in _BLOCK_DELIMITERS:
        raise DecodeError("unexpected data after the last field", command=code, pos=pos)


def decode_request(body: bytes) -> DecodedRequest:
    """Decode a request body (command code onwards) into its typed command.

    Raises
    ------
    FrameError
        The body is shorter than a command code.
    UnknownCommandError
        The command code is not a payShield command this codec knows.
    UnimplementedCommandError
        A known command without a layout (answer ``68``).
    DecodeError
        A field is malformed (``error_code`` is the wire code to answer with).

    Examples
    --------
    >>> decode_request(b"B20003abc\\x19T").command
    B2Request(data=b'abc')
    >>> decode_request(b"NOXY")
    Traceback (most recent call last):
    ...
    hsm_sim.thales.codec.DecodeError: mode: invalid characters
    """
    if len(body) < 2:
        raise FrameError("frame too short for a command code")
    try:
        code = body[:2].decode("ascii")
    except UnicodeDecodeError:
        raise UnknownCommandError("unknown command code") from None
    layout = LAYOUTS.get(code)
    if layout is None:
        if code in KNOWN_COMMANDS:
            raise UnimplementedCommandError("command not implemented", command=code)
        raise UnknownCommandError("unknown command code", command="")
    trailer: bytes | None = None
    if layout.binary:
        data = body
    else:
        data, trailer = split_trailer(body)
    r = _Reader(data, 2, len(data), code, lenient=False)
    has_var_tail = any(isinstance(s, F) and s.kind is Kind.VAR_TAIL for s in layout.request)
    # a trailing %LMK block would otherwise be taken for the variable field's tail
    if has_var_tail and len(data) >= 3 and data[-3:-2] == b"%" and data[-2:].isdigit():
        r.end -= 3
    r.run(layout.request)
    end = len(data)
    if layout.binary:
        rest = data[r.pos :]
        i = rest.find(END_OF_MESSAGE)
        if i >= 0:
            trailer = rest[i + 1 :]
            end = r.pos + i
    _check_leftover(data, r.pos, end, code)
    if trailer is not None and len(trailer) > _MAX_TRAILER:
        raise DecodeError("trailer longer than 32 characters", command=code)
    try:
        command = layout.request_cls(**r.values)
    except TypeError as e:  # pragma: no cover - layouts and dataclasses disagree
        raise DecodeError(f"layout mismatch: {e}", command=code) from e
    return DecodedRequest(code=code, command=command, trailer=trailer)


def decode_response(body: bytes, *, command: str) -> tuple[Any, bytes | None]:
    """Decode a response body (response code onwards) for ``command``.

    Returns the typed response and the echoed trailer. Fields are parsed only when present, so an
    error answer yields a response whose fields are all ``None``.

    Examples
    --------
    >>> decode_response(b"CB0004ABCDEF012345678901", command="CA")[0].pin_length
    '04'
    >>> decode_response(b"CB24", command="CA")[0]
    CaResponse(error_code='24', pin_length=None, destination_format=None)
    """
    layout = LAYOUTS.get(command)
    if layout is None:
        raise EncodeError("no layout for this command", command=command)
    data, trailer = (body, None) if layout.binary else split_trailer(body)
    if len(data) < 4:
        raise DecodeError("response too short", command=command)
    rc = data[:2].decode("ascii", "replace")
    err = data[2:4].decode("ascii", "replace")
    if rc != response_code(command):
        raise DecodeError(
            f"unexpected response code {rc!r}", command=command, error_code=err, pos=0
        )
    values: dict[str, Any] = {}
    if err in ("00", "01", "02") and len(data) > 4:
        r = _Reader(data, 4, len(data), command, lenient=True)
        r.run(layout.response)
        values = r.values
    names = set(_all_names(layout.response))
    return (
        layout.response_cls(error_code=err, **{k: v for k, v in values.items() if k in names}),
        trailer,
    )


# --------------------------------------------------------------------------------------------
# encoding
# --------------------------------------------------------------------------------------------


def _encode_fields(specs: tuple[Spec, ...], obj: Any, code: str) -> bytes:
    values = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    out = bytearray()
    for s in specs:
        if isinstance(s, Group):
            if not _condition(values, s.when):
                continue
            vals = [values.get(f.name) for f in s.fields]
            if all(v is None for v in vals):
                continue
            if any(v is None for v in vals):
                raise EncodeError("optional group is partly filled", command=code)
            out += s.lead.encode("ascii")
            for f in s.fields:
                out += _encode_one(f, values, code)
        elif _condition(values, s.when):
            out += _encode_one(s, values, code)
    return bytes(out)


def _encode_one(f: F, values: Mapping[str, Any], code: str) -> bytes:
    if f.kind is Kind.LITERAL:
        return f.literal.encode("ascii")
    v = values.get(f.name)
    if v is None:
        return b""
    if f.kind is Kind.LEN_DATA:
        if not isinstance(v, bytes) or len(v) >= 16**f.length:
            raise EncodeError(f"{f.name}: invalid data", command=code, field=f.name)
        return f"{len(v):0{f.length}X}".encode("ascii") + v
    if isinstance(v, bytes):
        if f.kind is Kind.B and len(v) != f.length:
            raise EncodeError(f"{f.name}: wrong length", command=code, field=f.name)
        return v
    s = str(v)
    fixed = {Kind.N: _DIGITS, Kind.H: _HEX, Kind.A: _PRINTABLE}.get(f.kind)
    lengths = {f.length, f.aes_length, *f.fit_lengths}
    if fixed is not None and (len(s) not in lengths or not all(c in fixed for c in s)):
        raise EncodeError(f"{f.name}: invalid value", command=code, field=f.name)
    if not all(c in _PRINTABLE for c in s):
        raise EncodeError(f"{f.name}: invalid characters", command=code, field=f.name)
    return s.encode("ascii")


def _code_of(obj: Any) -> str:
    code = getattr(type(obj), "CODE", None)
    if not isinstance(code, str):
        raise EncodeError("not a command or response dataclass")
    return code


def encode_request(command: Any, trailer: bytes | None = None) -> bytes:
    """Encode a typed command into a request body (no length prefix, no header).

    Examples
    --------
    >>> encode_request(NoRequest(mode="00"))
    b'NO00'
    >>> encode_request(CwRequest(cvk="U" + "0" * 32, pan="4123456789012345",
    ...                          expiry="8701", service_code="101"))[-12:]
    b'2345;8701101'
    """
    code = _code_of(command)
    layout = LAYOUTS.get(code)
    if layout is None or not isinstance(command, layout.request_cls):
        raise EncodeError("no layout for this command", command=code)
    return (
        code.encode("ascii")
        + _encode_fields(layout.request, command, code)
        + _trailer_bytes(trailer)
    )


_RESPONSE_TO_COMMAND = {response_code(code): code for code in LAYOUTS}


def encode_response(response: Any, trailer: bytes | None = None) -> bytes:
    """Encode a typed response; fields are written only for ``00``/``01``/``02`` answers.

    Examples
    --------
    >>> encode_response(DcResponse(error_code="01"))
    b'DD01'
    >>> encode_response(CwResponse(cvv="561"), b"x")
    b'CX00561\\x19x'
    """
    rc = _code_of(response)
    code = _RESPONSE_TO_COMMAND.get(rc)
    if code is None:
        raise EncodeError("no layout for this response", command=rc)
    err = str(response.error_code)
    if len(err) != 2 or not all(c in _PRINTABLE for c in err):
        raise EncodeError("invalid error code", command=code)
    fields = b""
    if err in ("00", "01", "02"):
        fields = _encode_fields(LAYOUTS[code].response, response, code)
    return (rc + err).encode("ascii") + fields + _trailer_bytes(trailer)
