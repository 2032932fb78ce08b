"""The HSM interface the ISO 8583 host depends on, and its result types.

``HsmService`` is a :class:`typing.Protocol`; :class:`hsm_sim.client.HsmClient` implements it over
TCP (Thales host commands). Host code imports only this module and ``hsm_sim.client``.

Conventions
-----------
* Keys are Thales key fields under the HSM's LMK, e.g. ``"U" + 32 hex`` (scheme prefix + hex).
* ``account`` is the Thales 12N account number: the 12 right-most PAN digits excluding the check
  digit (:func:`account_number_from_pan`).
* PIN block format codes are the Thales 2-digit codes: ``"01"`` ISO 0, ``"05"`` ISO 1, ``"47"``
  ISO 3, ``"48"`` ISO 4.
* A result's ``error_code`` is the Thales 2-character error code; ``ok`` means ``"00"``. ``"01"`` on
  a verify command is a business decline (wrong PIN/CVV), not an exception. Exceptions
  (:class:`HsmError`, :class:`HsmTimeout`) mean a broken transport or protocol.

Examples
--------
>>> account_number_from_pan("4012345678909")
'401234567890'
>>> HsmResult(error_code="00").ok, HsmResult(error_code="01").ok
(True, False)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

__all__ = [
    "ArpcResult",
    "CvvResult",
    "Diagnostics",
    "ExportedKey",
    "GeneratedKey",
    "HsmError",
    "HsmResult",
    "HsmService",
    "HsmTimeout",
    "ImportedKey",
    "KeyCheck",
    "MacResult",
    "PinTranslation",
    "account_number_from_pan",
]


def account_number_from_pan(pan: str) -> str:
    """The Thales 12N account number: 12 right-most PAN digits excluding the check digit.

    Parameters
    ----------
    pan
        13 to 19 digits.

    Examples
    --------
    >>> account_number_from_pan("4761739001010010")
    '173900101001'
    >>> account_number_from_pan("12")
    Traceback (most recent call last):
    ...
    ValueError: PAN must be 13 to 19 digits
    """
    if not (pan.isascii() and pan.isdigit() and 13 <= len(pan) <= 19):
        raise ValueError("PAN must be 13 to 19 digits")
    return pan[-13:-1]


class HsmError(OSError):
    """The HSM could not be reached or answered something unparseable.

    ``command`` is the Thales command code involved (``""`` if none).
    """

    def __init__(self, msg: str, *, command: str = "") -> None:
        super().__init__(msg)
        self.msg = msg
        self.command = command

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (type(self), self.msg, self.command))

    def __str__(self) -> str:
        return self.msg


def _rebuild(cls: type[HsmError], msg: str, command: str) -> HsmError:
    return cls(msg, command=command)


class HsmTimeout(HsmError):
    """No answer within the client's timeout."""


@dataclass(frozen=True, kw_only=True)
class HsmResult:
    """Outcome of one HSM command: the Thales error code (``"00"`` = success)."""

    error_code: str

    @property
    def ok(self) -> bool:
        return self.error_code == "00"


@dataclass(frozen=True, kw_only=True)
class Diagnostics(HsmResult):
    """NC: LMK check value and firmware number."""

    lmk_check: str | None = None
    firmware: str | None = None


@dataclass(frozen=True, kw_only=True)
class PinTranslation(HsmResult):
    """CA / CC: the translated PIN block (under the destination key)."""

    pin_length: int | None = None
    pin_block: str | None = field(default=None, repr=False)
    pin_block_format: str | None = None


@dataclass(frozen=True, kw_only=True)
class GeneratedKey(HsmResult):
    """A0: a new key under the LMK and, if requested, under a ZMK/TMK."""

    key_lmk: str | None = None
    key_zmk: str | None = None
    kcv: str | None = None


@dataclass(frozen=True, kw_only=True)
class ImportedKey(HsmResult):
    """A6: a key translated from ZMK to LMK (``error_code`` ``01`` = parity warning)."""

    key_lmk: str | None = None
    kcv: str | None = None


@dataclass(frozen=True, kw_only=True)
class ExportedKey(HsmResult):
    """A8: a key translated from LMK to ZMK/TMK."""

    key_zmk: str | None = None
    kcv: str | None = None


@dataclass(frozen=True, kw_only=True)
class KeyCheck(HsmResult):
    """BU: key check value (6H)."""

    kcv: str | None = None


@dataclass(frozen=True, kw_only=True)
class CvvResult(HsmResult):
    """CW: the generated CVV / CVC (3N)."""

    cvv: str | None = field(default=None, repr=False)


@dataclass(frozen=True, kw_only=True)
class MacResult(HsmResult):
    """M6: the MAC (16 hex for an 8-byte MAC, 8 hex when truncated)."""

    mac: str | None = None


@dataclass(frozen=True, kw_only=True)
class ArpcResult(HsmResult):
    """KQ / KW: ``01`` = ARQC verification failure; ``arpc`` when requested.

    ``arpc`` is 16 hex for ARPC method 1 (KQ, KW modes 1/2) and 8 hex for method 2 (KW modes
    3/4, followed by the proprietary data when some was given).
    """

    arpc: str | None = None


@runtime_checkable
class HsmService(Protocol):
    """What the ISO 8583 host needs from a payment HSM (every option keyword-only)."""

    async def diagnostics(self) -> Diagnostics:
        """NC: LMK check value and firmware number."""
        ...

    async def verify_terminal_pin_pvv(
        self,
        *,
        tpk: str,
        pvk: str,
        pin_block: str,
        pin_block_format: str,
        account: str,
        pvki: int,
        pvv: str,
    ) -> HsmResult:
        """DC: verify a PIN block under a TPK against a Visa PVV (``01`` = wrong PIN)."""
        ...

    async def verify_interchange_pin_pvv(
        self,
        *,
        zpk: str,
        pvk: str,
        pin_block: str,
        pin_block_format: str,
        account: str,
        pvki: int,
        pvv: str,
    ) -> HsmResult:
        """EC: as DC with the PIN block under a ZPK."""
        ...

    async def verify_terminal_pin_ibm(
        self,
        *,
        tpk: str,
        pvk: str,
        pin_block: str,
        pin_block_format: str,
        check_length: int,
        account: str,
        decimalization_table: str,
        pin_validation_data: str,
        offset: str,
    ) -> HsmResult:
        """DA: verify a PIN block under a TPK with the IBM 3624 offset method."""
        ...

    async def verify_interchange_pin_ibm(
        self,
        *,
        zpk: str,
        pvk: str,
        pin_block: str,
        pin_block_format: str,
        check_length: int,
        account: str,
        decimalization_table: str,
        pin_validation_data: str,
        offset: str,
    ) -> HsmResult:
        """EA: as DA with the PIN block under a ZPK."""
        ...

    async def translate_pin_tpk_to_zpk(
        self,
        *,
        tpk: str,
        zpk: str,
        pin_block: str,
        source_format: str,
        destination_format: str,
        account: str,
    ) -> PinTranslation:
        """CA: translate a PIN block from a TPK to a ZPK (acquirer side)."""
        ...

    async def translate_pin_zpk_to_zpk(
        self,
        *,
        source_zpk: str,
        destination_zpk: str,
        pin_block: str,
        source_format: str,
        destination_format: str,
        account: str,
    ) -> PinTranslation:
        """CC: translate a PIN block between two ZPKs (switch)."""
        ...

    async def generate_key(
        self,
        *,
        key_type: str,
        key_scheme: str = "U",
        zmk: str | None = None,
        zmk_key_scheme: str = "X",
        under_tmk: bool = False,
    ) -> GeneratedKey:
        """A0: generate a key (``key_type`` ``VPP``); with ``zmk``, also export it."""
        ...

    async def import_key(
        self, *, key_type: str, zmk: str, key_under_zmk: str, key_scheme: str = "U"
    ) -> ImportedKey:
        """A6: import a key from a ZMK to the LMK."""
        ...

    async def export_key(
        self,
        *,
        key_type: str,
        zmk: str,
        key: str,
        zmk_key_scheme: str = "X",
        under_tmk: bool = False,
    ) -> ExportedKey:
        """A8: export a key under the LMK to a ZMK (or TMK)."""
        ...

    async def key_check_value(self, *, key_type: str, key: str) -> KeyCheck:
        """BU: the 6H check value of a key under the LMK."""
        ...

    async def generate_cvv(
        self, *, cvk: str, pan: str, expiry: str, service_code: str
    ) -> CvvResult:
        """CW: generate a CVV/CVC (``expiry`` YYMM as on the card)."""
        ...

    async def verify_cvv(
        self, *, cvk: str, pan: str, expiry: str, service_code: str, cvv: str
    ) -> HsmResult:
        """CY: verify a CVV/CVC (``01`` = mismatch)."""
        ...

    async def translate_pin_dukpt_to_zpk(
        self,
        *,
        bdk: str,
        zpk: str,
        ksn: str,
        pin_block: str,
        source_format: str,
        destination_format: str,
        account: str,
    ) -> PinTranslation:
        """G0: translate a TDES DUKPT PIN block (``ksn`` 20 hex) to a ZPK."""
        ...

    async def verify_arqc(
        self,
        *,
        mk_ac: str,
        scheme: int,
        pan_psn: str,
        atc: str,
        unpredictable_number: str,
        transaction_data: bytes,
        arqc: str,
        arc: str | None = None,
    ) -> ArpcResult:
        """KQ: verify an ARQC; with ``arc`` (4 hex) also return the ARPC.

        ``scheme`` 0 = Visa (ICC MK, no session key), 1 = Europay/M-Chip (session key from ATC
        and UN). ``pan_psn`` is the 16-digit preformatted PAN/PSN; ``transaction_data`` is
        zero-padded by the HSM (append ``80`` yourself where the scheme pads with it).
        """
        ...

    async def verify_arqc_cvn(
        self,
        *,
        mk_ac: str,
        scheme: int,
        pan_psn: str,
        atc: str,
        transaction_data: bytes,
        arqc: str,
        unpredictable_number: str | None = None,
        arc: str | None = None,
        csu: str | None = None,
        proprietary_data: bytes = b"",
    ) -> ArpcResult:
        """KW: verify an ARQC with a CVN-specific scheme and, on request, build the ARPC.

        ``scheme`` 0 = Visa CVN 10, 1 = Mastercard CVN 16/17 (``unpredictable_number``
        required), 3 = EMV common session key (Visa CVN 18/22, Mastercard CVN 20/21, the PBOC
        profile). ``pan_psn`` is the PAN followed by the 2-digit PSN (digits; the client packs
        them). ``transaction_data`` is unpadded (the HSM pads per scheme). With ``arc`` (4 hex)
        the mode is 1 (verify + ARPC method 1, 16 hex); with ``csu`` (8 hex) it is 3 (verify +
        ARPC method 2, 8 hex, ``proprietary_data`` up to 8 bytes); with neither, verify only.
        ``01`` = ARQC verification failure.
        """
        ...

    async def generate_mac(
        self,
        *,
        key: str,
        message: bytes,
        key_type: str = "003",
        algorithm: int = 3,
        padding: int = 1,
    ) -> MacResult:
        """M6: ISO 9797-1 MAC (algorithm 1 or 3, padding 1 or 2) with a TAK (003) / ZAK (008)."""
        ...

    async def verify_mac(
        self,
        *,
        key: str,
        message: bytes,
        mac: str,
        key_type: str = "003",
        algorithm: int = 3,
        padding: int = 1,
    ) -> HsmResult:
        """M8: verify a MAC (8 hex = truncated, 16 hex = full); ``01`` = mismatch."""
        ...

    async def execute(self, command: str, body: bytes) -> bytes:
        """Send any host command: ``command`` (2 chars) + ``body`` (the fields after it).

        Returns the response from the response code on (no length, no header).
        """
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
