"""TR-31 / ANSI X9.143 key blocks: versions A, B, C and D.

A key block is ``header || hex(encrypted key data) || hex(MAC)`` where the header is 16 ASCII
characters plus optional blocks, and the key data is ``key length in bits (2 bytes) || key || pad``.

* **A** and **C** (key variant binding): ``KBEK = KBPK XOR 45..``, ``KBMK = KBPK XOR 4D..``;
  TDES-CBC with IV = the first 8 header bytes; MAC = 4-byte TDES CBC-MAC over
  ``header || ciphertext``. KBPK of 8, 16 or 24 bytes.
* **B** (TDES key derivation binding): KBEK/KBMK by the NIST SP 800-108 counter-mode KDF with
  TDES-CMAC; MAC = 8-byte TDES-CMAC over ``header || clear key data``; TDES-CBC with IV = MAC.
  KBPK of 16 or 24 bytes.
* **D** (AES key derivation binding): as B with AES-CMAC and AES-CBC, 16-byte MAC. KBPK of 16,
  24 or 32 bytes.

Length obfuscation (X9.143 "masked key length") is optional: by default the key data is padded
only to the cipher block size, which is what TR-31:2018 and the payShield 10K emit.

Examples
--------
>>> kbpk = bytes.fromhex("89E88CF7931444F334BD7547FC3F380C")
>>> header, key = unwrap_tr31(kbpk,
...     "A0072P0TE00E0000F5161ED902807AF26F1D62263644BD24192FDB3193C730301CEE8701")
>>> header.key_usage, header.algorithm, header.mode_of_use, header.exportability
('P0', 'T', 'E', 'E')
>>> from hsm_sim.crypto.keys import kcv_tdes
>>> kcv_tdes(key).hex().upper()
'CB9DEA'
>>> block = wrap_tr31(kbpk, "B0000P0TE00N0000", key)
>>> unwrap_tr31(kbpk, block)[1] == key
True
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from enum import StrEnum

from hsm_sim.crypto import _primitives as _p
from hsm_sim.crypto.errors import KeyBlockError, MacVerificationError

__all__ = [
    "TR31_ALGORITHMS",
    "TR31_KEY_USAGES",
    "TR31_MODES_OF_USE",
    "KeyBlockVersion",
    "Tr31Header",
    "parse_tr31_header",
    "unwrap_tr31",
    "wrap_tr31",
]


class KeyBlockVersion(StrEnum):
    """TR-31 key block version ID (the key block protection method)."""

    A = "A"  # TDES key variant binding (TR-31:2005, deprecated)
    B = "B"  # TDES key derivation binding
    C = "C"  # TDES key variant binding (TR-31:2010)
    D = "D"  # AES key derivation binding


TR31_KEY_USAGES: dict[str, str] = {
    "B0": "BDK base derivation key",
    "B1": "DUKPT initial key (IPEK/IK)",
    "B2": "base key variant key",
    "C0": "CVK card verification key",
    "D0": "symmetric data encryption key",
    "D1": "asymmetric data encryption key",
    "D2": "data encryption key for decimalization table",
    "E0": "EMV/chip issuer master key: application cryptograms",
    "E1": "EMV/chip issuer master key: secure messaging for confidentiality",
    "E2": "EMV/chip issuer master key: secure messaging for integrity",
    "E3": "EMV/chip issuer master key: data authentication code",
    "E4": "EMV/chip issuer master key: dynamic numbers",
    "E5": "EMV/chip issuer master key: card personalization",
    "E6": "EMV/chip issuer master key: other",
    "I0": "initialization vector",
    "K0": "key encryption or wrapping key",
    "K1": "TR-31 key block protection key",
    "K2": "TR-34 asymmetric key",
    "K3": "asymmetric key for key agreement / key wrapping",
    "M0": "ISO 16609 MAC algorithm 1 (TDEA)",
    "M1": "ISO 9797-1 MAC algorithm 1",
    "M2": "ISO 9797-1 MAC algorithm 2",
    "M3": "ISO 9797-1 MAC algorithm 3",
    "M4": "ISO 9797-1 MAC algorithm 4",
    "M5": "ISO 9797-1:1999 MAC algorithm 5",
    "M6": "ISO 9797-1:2011 MAC algorithm 5 / CMAC",
    "M7": "HMAC",
    "M8": "ISO 9797-1:2011 MAC algorithm 6",
    "P0": "PIN encryption key",
    "S0": "asymmetric key pair for digital signature",
    "S1": "asymmetric key pair, CA key",
    "S2": "asymmetric key pair, non-X9.24 key",
    "V0": "PIN verification key, other algorithm",
    "V1": "PIN verification key, IBM 3624",
    "V2": "PIN verification key, Visa PVV",
    "V3": "PIN verification key, X9.132 algorithm 1",
    "V4": "PIN verification key, X9.132 algorithm 2",
}
"""Key usage codes (TR-31:2018 table 6); numeric codes are proprietary and allowed too."""

TR31_ALGORITHMS: dict[str, str] = {
    "A": "AES",
    "D": "DEA (single DES)",
    "E": "elliptic curve",
    "H": "HMAC",
    "R": "RSA",
    "S": "DSA",
    "T": "triple DES",
}
"""Algorithm codes."""

TR31_MODES_OF_USE: dict[str, str] = {
    "B": "both encrypt/wrap and decrypt/unwrap",
    "C": "both generate and verify",
    "D": "decrypt / unwrap only",
    "E": "encrypt / wrap only",
    "G": "generate only",
    "N": "no special restrictions",
    "S": "signature only",
    "T": "both sign and decrypt",
    "V": "verify only",
    "X": "key used to derive other keys",
    "Y": "key used to create key variants",
}
"""Mode-of-use codes."""

_BLOCK_SIZE = {"A": 8, "B": 8, "C": 8, "D": 16}
_MAC_SIZE = {"A": 4, "B": 8, "C": 4, "D": 16}
_KBPK_SIZES = {"A": (8, 16, 24), "B": (16, 24), "C": (8, 16, 24), "D": (16, 24, 32)}
_KEY_SIZES = {"T": (16, 24), "D": (8,), "A": (16, 24, 32)}
_EXPORTABILITY = frozenset("ENS")


def _alnum(s: str) -> bool:
    return s.isascii() and s.isalnum()


def _printable(s: str) -> bool:
    return all(0x20 <= ord(c) <= 0x7E for c in s)


@dataclass(frozen=True, kw_only=True)
class Tr31Header:
    """A TR-31 key block header as data.

    Parameters
    ----------
    version : KeyBlockVersion or str
        ``A``, ``B``, ``C`` or ``D`` (a Thales key-block LMK uses ``0`` / ``1``; see
        :mod:`hsm_sim.crypto.keyblock_lmk`, which builds on this class).
    key_usage : str
        2 alphanumeric characters, e.g. ``P0`` (see :data:`TR31_KEY_USAGES`).
    algorithm : str
        1 character, ``T`` (TDES), ``A`` (AES), ``D`` (DES)...
    mode_of_use : str
        1 character, ``E``, ``D``, ``B``, ``N``...
    key_version : str
        2 alphanumeric characters (``00`` = versioning not used).
    exportability : str
        ``E`` (exportable under a trusted key), ``N`` (non-exportable), ``S`` (sensitive).
    optional_blocks : tuple of (str, str)
        ``(id, data)`` pairs in order, without the padding block ``PB`` (it is added and removed
        automatically).
    reserved : str
        2 characters, ``00`` in TR-31 (payShield 10K key blocks put the LMK id here).

    Examples
    --------
    >>> h = Tr31Header.parse("C0096B0TX12S0100KS1800604B120F9292800000")
    >>> h.version, h.key_usage, h.key_version, h.optional_blocks
    ('C', 'B0', '12', (('KS', '00604B120F9292800000'),))
    >>> h.render(key_data_chars=48)[:20]
    'C0096B0TX12S0100KS18'
    """

    version: str
    key_usage: str
    algorithm: str
    mode_of_use: str
    key_version: str = "00"
    exportability: str
    optional_blocks: tuple[tuple[str, str], ...] = field(default=())
    reserved: str = "00"

    def __post_init__(self) -> None:
        checks = (
            (isinstance(self.version, str) and len(self.version) == 1
             and _alnum(self.version), "invalid key block version"),
            (isinstance(self.key_usage, str) and len(self.key_usage) == 2
             and _alnum(self.key_usage), "invalid key usage"),
            (isinstance(self.algorithm, str) and len(self.algorithm) == 1
             and _alnum(self.algorithm), "invalid algorithm"),
            (isinstance(self.mode_of_use, str) and len(self.mode_of_use) == 1
             and _alnum(self.mode_of_use), "invalid mode of use"),
            (isinstance(self.key_version, str) and len(self.key_version) == 2
             and _alnum(self.key_version), "invalid key version number"),
            (isinstance(self.exportability, str) and len(self.exportability) == 1
             and _alnum(self.exportability), "invalid exportability"),
            (isinstance(self.reserved, str) and len(self.reserved) == 2
             and _alnum(self.reserved), "invalid reserved field"),
        )  # fmt: skip
        for ok, message in checks:
            if not ok:
                raise KeyBlockError(message)
        object.__setattr__(self, "version", str(self.version))
        blocks = tuple((str(i), str(d)) for i, d in self.optional_blocks)
        for block_id, data in blocks:
            if len(block_id) != 2 or not _alnum(block_id) or block_id == "PB":
                raise KeyBlockError("invalid optional block ID")
            if not _printable(data):
                raise KeyBlockError("optional block data must be printable ASCII")
        object.__setattr__(self, "optional_blocks", blocks)

    @property
    def block_size(self) -> int:
        """Cipher block size of the protection method (8 for TDES, 16 for AES)."""
        return _block_size(self.version)

    def _blocks_text(self) -> tuple[int, str]:
        parts: list[str] = []
        for block_id, data in self.optional_blocks:
            if len(data) + 4 <= 0xFF:
                parts.append(f"{block_id}{len(data) + 4:02X}{data}")
            elif len(data) + 10 <= 0xFFFF:
                parts.append(f"{block_id}0002{len(data) + 10:04X}{data}")
            else:
                raise KeyBlockError("optional block too long")
        text = "".join(parts)
        count = len(self.optional_blocks)
        size = self.block_size
        if (16 + len(text)) % size:
            pad = -(16 + len(text) + 4) % size
            text += f"PB{pad + 4:02X}" + "0" * pad
            count += 1
        if count > 99:
            raise KeyBlockError("too many optional blocks")
        return count, text

    def render(self, *, key_data_chars: int) -> str:
        """The header text for a key block carrying ``key_data_chars`` hex characters of key data.

        The length field covers header, key data and MAC; a padding block ``PB`` is appended when
        the optional blocks do not end on a cipher block boundary.
        """
        count, blocks = self._blocks_text()
        total = 16 + len(blocks) + key_data_chars + 2 * _mac_size(self.version)
        if total > 9999:
            raise KeyBlockError("key block too long")
        return (
            f"{self.version}{total:04d}{self.key_usage}{self.algorithm}{self.mode_of_use}"
            f"{self.key_version}{self.exportability}{count:02d}{self.reserved}{blocks}"
        )

    @classmethod
    def parse(cls, text: str) -> Tr31Header:
        """Parse a header (or a whole key block); see :func:`parse_tr31_header`."""
        return _parse_header(text)[0]


def _block_size(version: str) -> int:
    try:
        return _BLOCK_SIZE[_protection(version)]
    except KeyError:
        raise KeyBlockError("unsupported key block version") from None


def _mac_size(version: str) -> int:
    return _MAC_SIZE[_protection(version)]


def _protection(version: str) -> str:
    """Map a version ID to its protection method (Thales ``0`` -> B, ``1`` -> D)."""
    return {"0": "B", "1": "D"}.get(version, version)


def _parse_header(text: str) -> tuple[Tr31Header, int]:
    if not isinstance(text, str) or len(text) < 16 or not _printable(text):
        raise KeyBlockError("key block header must be at least 16 printable ASCII characters")
    count_s = text[12:14]
    if not (count_s.isascii() and count_s.isdigit()):
        raise KeyBlockError("invalid number of optional blocks")
    blocks: list[tuple[str, str]] = []
    i = 16
    for _ in range(int(count_s)):
        block_id, len_s = text[i : i + 2], text[i + 2 : i + 4]
        if len(block_id) != 2 or len(len_s) != 2 or not _is_hex(len_s):
            raise KeyBlockError("malformed optional block")
        length = int(len_s, 16)
        if length == 0:
            ll_s = text[i + 4 : i + 6]
            if len(ll_s) != 2 or not _is_hex(ll_s) or int(ll_s, 16) == 0:
                raise KeyBlockError("malformed optional block")
            ll = 2 * int(ll_s, 16)
            ext = text[i + 6 : i + 6 + ll]
            if len(ext) != ll or not _is_hex(ext):
                raise KeyBlockError("malformed optional block")
            start, end = i + 6 + ll, i + int(ext, 16)
        else:
            start, end = i + 4, i + length
        if end < start or end > len(text):
            raise KeyBlockError("malformed optional block")
        if block_id != "PB":
            blocks.append((block_id, text[start:end]))
        i = end
    header = Tr31Header(
        version=text[0],
        key_usage=text[5:7],
        algorithm=text[7],
        mode_of_use=text[8],
        key_version=text[9:11],
        exportability=text[11],
        optional_blocks=tuple(blocks),
        reserved=text[14:16],
    )
    return header, i


def parse_tr31_header(text: str) -> tuple[Tr31Header, int]:
    """Parse the header at the start of ``text`` (a header or a whole key block).

    Returns the header (without the padding block) and the header length in characters,
    optional blocks included. Only the layout is checked here, not the version.

    Examples
    --------
    >>> h, n = parse_tr31_header("B0080P0TE00N0100KS1000000000000000")
    >>> h.optional_blocks, n
    ((('KS', '000000000000'),), 32)
    """
    return _parse_header(text)


def _is_hex(s: str) -> bool:
    return s.isascii() and all(c in "0123456789ABCDEFabcdef" for c in s)


# --- key derivation -------------------------------------------------------------------------


def _variant_keys(kbpk: bytes) -> tuple[bytes, bytes]:
    n = len(kbpk)
    return _p.xor(kbpk, b"\x45" * n), _p.xor(kbpk, b"\x4d" * n)


def _kdf_keys(kbpk: bytes, aes: bool) -> tuple[bytes, bytes]:
    """SP 800-108 counter-mode KDF with CMAC, as TR-31 versions B and D specify."""
    bits = 8 * len(kbpk)
    if aes:
        algorithm = {16: 2, 24: 3, 32: 4}[len(kbpk)]
        cmac, out = _p.aes_cmac, 16
    else:
        algorithm = {16: 0, 24: 1}[len(kbpk)]
        cmac, out = _p.tdes_cmac, 8
    calls = -(-len(kbpk) // out)

    def derive(usage: int) -> bytes:
        material = b"".join(
            cmac(kbpk, bytes([counter]) + usage.to_bytes(2, "big") + b"\x00"
                 + algorithm.to_bytes(2, "big") + bits.to_bytes(2, "big"))
            for counter in range(1, calls + 1)
        )  # fmt: skip
        return material[: len(kbpk)]

    return derive(0x0000), derive(0x0001)


# --- wrap / unwrap ------------------------------------------------------------------------


def _check_kbpk(kbpk: bytes, method: str) -> bytes:
    if not isinstance(kbpk, bytes | bytearray) or len(kbpk) not in _KBPK_SIZES[method]:
        sizes = ", ".join(str(n) for n in _KBPK_SIZES[method])
        raise KeyBlockError(f"KBPK must be {sizes} bytes for key block version {method}")
    return bytes(kbpk)


def wrap_tr31(
    kbpk: bytes,
    header: Tr31Header | str,
    key: bytes,
    *,
    masked_key_length: int | None = None,
    random_pad: bytes | None = None,
) -> str:
    """Wrap ``key`` into a TR-31 key block under ``kbpk``.

    Parameters
    ----------
    kbpk : bytes
        Key block protection key: TDES (8/16/24 bytes) for A and C, 16/24 for B, AES for D.
    header : Tr31Header or str
        The header; as text, its length field and any ``PB`` block are recomputed.
    key : bytes
        The key to wrap.
    masked_key_length : int, optional
        Pad the key data as if the key were this many bytes long (X9.143 length obfuscation).
        Default: no obfuscation (TR-31:2018 / payShield 10K behaviour).
    random_pad : bytes, optional
        The padding bytes to use instead of random ones (reproducible test output); must be
        exactly the padding length.

    Returns
    -------
    str
        The key block (upper-case hex for key data and MAC).

    Examples
    --------
    >>> kbpk = bytes.fromhex("89E88CF7931444F334BD7547FC3F380C")
    >>> key = bytes.fromhex("F039121BEC83D26B169BDCD5B22AAF8F")
    >>> wrap_tr31(kbpk, "A0072P0TE00E0000", key, random_pad=bytes.fromhex("720DF563BB07"))
    'A0072P0TE00E0000F5161ED902807AF26F1D62263644BD24192FDB3193C730301CEE8701'
    """
    hdr = Tr31Header.parse(header) if isinstance(header, str) else header
    method = _protection(hdr.version)
    if method not in _BLOCK_SIZE:
        raise KeyBlockError("unsupported key block version")
    kbpk = _check_kbpk(kbpk, method)
    if not isinstance(key, bytes | bytearray) or not 1 <= len(key) <= 4000:
        raise KeyBlockError("invalid key length")
    key = bytes(key)
    if hdr.algorithm in _KEY_SIZES and len(key) not in _KEY_SIZES[hdr.algorithm]:
        raise KeyBlockError("key length does not match the algorithm")
    size = _BLOCK_SIZE[method]
    shown = len(key) if masked_key_length is None else max(masked_key_length, len(key))
    pad_len = (shown - len(key)) + (-(2 + shown) % size)
    if random_pad is None:
        pad = _p.random_bytes(pad_len)
    elif len(random_pad) != pad_len:
        raise KeyBlockError(f"padding must be {pad_len} bytes")
    else:
        pad = bytes(random_pad)
    clear = (8 * len(key)).to_bytes(2, "big") + key + pad
    text = hdr.render(key_data_chars=2 * len(clear))
    head = text.encode("ascii")
    if method in ("A", "C"):
        kbek, kbmk = _variant_keys(kbpk)
        enc = _p.tdes_encrypt_cbc(kbek, head[:8], clear)
        mac = _p.tdes_encrypt_cbc(kbmk, bytes(8), head + enc)[-8:][:4]
    elif method == "B":
        kbek, kbmk = _kdf_keys(kbpk, aes=False)
        mac = _p.tdes_cmac(kbmk, head + clear)
        enc = _p.tdes_encrypt_cbc(kbek, mac, clear)
    else:
        kbek, kbmk = _kdf_keys(kbpk, aes=True)
        mac = _p.aes_cmac(kbmk, head + clear)
        enc = _p.aes_encrypt_cbc(kbek, mac, clear)
    return text + enc.hex().upper() + mac.hex().upper()


def unwrap_tr31(kbpk: bytes, key_block: str) -> tuple[Tr31Header, bytes]:
    """Verify and decrypt a TR-31 key block.

    Returns
    -------
    (Tr31Header, bytes)
        The parsed header (without the ``PB`` block) and the clear key.

    Raises
    ------
    KeyBlockError
        Malformed key block (Thales ``83``).
    MacVerificationError
        The MAC does not verify: wrong KBPK or a tampered block (Thales ``A4``).

    Examples
    --------
    >>> kbpk = bytes.fromhex("88E1AB2A2E3DD38C1FA039A536500CC8A87AB9D62DC92C01058FA79F44657DE6")
    >>> h, key = unwrap_tr31(kbpk, "D0112P0AE00E0000B82679114F470F540165EDFBF7E250FCEA43F810D2"
    ...     "15F8D207E2E417C07156A27E8E31DA05F7425509593D03A457DC34")
    >>> h.version, key.hex().upper()
    ('D', '3F419E1CB7079442AA37474C2EFBF8B8')
    >>> unwrap_tr31(bytes(32), "D0112P0AE00E0000B82679114F470F540165EDFBF7E250FCEA43F810D2"
    ...     "15F8D207E2E417C07156A27E8E31DA05F7425509593D03A457DC34")
    Traceback (most recent call last):
    ...
    hsm_sim.crypto.errors.MacVerificationError: key block MAC verification failed
    """
    hdr, header_len = _parse_header(key_block)
    method = _protection(hdr.version)
    if method not in _BLOCK_SIZE:
        raise KeyBlockError("unsupported key block version")
    length_s = key_block[1:5]
    if not (length_s.isascii() and length_s.isdigit()) or int(length_s) != len(key_block):
        raise KeyBlockError("key block length field does not match the data length")
    size, mac_size = _BLOCK_SIZE[method], _MAC_SIZE[method]
    body = key_block[header_len:]
    if (
        header_len % size
        or len(body) < 2 * (size + mac_size)
        or ((len(body) - 2 * mac_size) % (2 * size))
    ):
        raise KeyBlockError("invalid key block length")
    if not _is_hex(body):
        raise KeyBlockError("key data and MAC must be hexadecimal")
    kbpk = _check_kbpk(kbpk, method)
    enc, mac = bytes.fromhex(body[: -2 * mac_size]), bytes.fromhex(body[-2 * mac_size :])
    head = key_block[:header_len].encode("ascii")
    if method in ("A", "C"):
        kbek, kbmk = _variant_keys(kbpk)
        expected = _p.tdes_encrypt_cbc(kbmk, bytes(8), head + enc)[-8:][:4]
        if not hmac.compare_digest(expected, mac):
            raise MacVerificationError("key block MAC verification failed")
        clear = _p.tdes_decrypt_cbc(kbek, head[:8], enc)
    elif method == "B":
        kbek, kbmk = _kdf_keys(kbpk, aes=False)
        clear = _p.tdes_decrypt_cbc(kbek, mac, enc)
        if not hmac.compare_digest(_p.tdes_cmac(kbmk, head + clear), mac):
            raise MacVerificationError("key block MAC verification failed")
    else:
        kbek, kbmk = _kdf_keys(kbpk, aes=True)
        clear = _p.aes_decrypt_cbc(kbek, mac, enc)
        if not hmac.compare_digest(_p.aes_cmac(kbmk, head + clear), mac):
            raise MacVerificationError("key block MAC verification failed")
    bits = int.from_bytes(clear[:2], "big")
    if bits == 0 or bits % 8 or bits // 8 > len(clear) - 2:
        raise KeyBlockError("invalid key length in key block")
    return hdr, clear[2 : 2 + bits // 8]
