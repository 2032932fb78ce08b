"""Key-block LMK: keys stored as payShield 10K ``S`` key blocks.

A key-block LMK is a key block protection key (KBPK). Keys under it are key fields
``S`` + key block, where the key block follows the ASC X9 TR-31 structure, as the payShield 10K
does, without X9.143's key-length obfuscation:

* LMK version ``0``: TDES KBPK (16 or 24 bytes); key blocks with version ID ``0``, protected like
  TR-31 version ``B`` (TDES-CMAC key derivation binding, 8-byte MAC).
* LMK version ``1``: AES-256 KBPK; key blocks with version ID ``1``, protected like TR-31
  version ``D`` (AES-CMAC key derivation binding, 16-byte MAC). It holds both AES and TDES keys.

The header's reserved field (characters 14-15) is ``00``. Thales documents the layout as TR-31's
(reference ``hsm.md`` §3.4); that the binding of version ``0``/``1`` blocks is byte-identical to
B/D is UNVERIFIED (no public payShield key-block-LMK vector), so ``S`` keys produced here are
simulator-specific: do not expect a real HSM to accept them.

Examples
--------
>>> lmk = KeyBlockLmk.test()
>>> field = lmk.wrap(bytes.fromhex("0123456789ABCDEFFEDCBA9876543210"),
...                  usage="P0", algorithm="T", mode_of_use="B")
>>> field[:17]
'S10112P0TB00S0000'
>>> header, key = lmk.unwrap(field)
>>> header.key_usage, key.hex().upper()
('P0', '0123456789ABCDEFFEDCBA9876543210')
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hsm_sim.crypto import _primitives as _p
from hsm_sim.crypto.errors import KeyBlockError, LmkError
from hsm_sim.crypto.tr31 import Tr31Header, unwrap_tr31, wrap_tr31

__all__ = ["KeyBlockLmk"]

# TEST ONLY. Fixed, published key-block LMKs for tests, demos and the calculator. They protect
# nothing: never use them for real keys.
_TEST_KBPK_AES = "9B71333A13F9FAE72F9D0E2DAB4AD6784718012F9244033F3F26A2DE0C8AA11A"
_TEST_KBPK_TDES = "16B5E0A2D3CB8F7A4C1F2E3D5B6A7980F1E2D3C4B5A69788"


@dataclass(frozen=True, kw_only=True)
class KeyBlockLmk:
    """A key-block LMK (payShield 10K ``S`` keys).

    Parameters
    ----------
    kbpk : bytes
        32 bytes (AES-256, LMK version ``1``) or 16/24 bytes (TDES, LMK version ``0``).
    """

    kbpk: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.kbpk, bytes | bytearray) or len(self.kbpk) not in (16, 24, 32):
            raise LmkError("a key-block LMK is a 16/24-byte TDES or 32-byte AES key")
        object.__setattr__(self, "kbpk", bytes(self.kbpk))

    @classmethod
    def test(cls, version: str = "1") -> KeyBlockLmk:
        """The fixed TEST-ONLY key-block LMK (``1`` = AES-256, ``0`` = triple-length TDES).

        The keys are published in this module's source: use them for tests and demos only.

        Examples
        --------
        >>> KeyBlockLmk.test().version, KeyBlockLmk.test("0").version
        ('1', '0')
        >>> KeyBlockLmk.test().check_value()
        'DB3FB6'
        """
        if version == "1":
            return cls(kbpk=bytes.fromhex(_TEST_KBPK_AES))
        if version == "0":
            return cls(kbpk=bytes.fromhex(_TEST_KBPK_TDES))
        raise LmkError("key-block LMK version must be 0 (TDES) or 1 (AES)")

    @property
    def version(self) -> str:
        """``1`` for an AES-256 KBPK, ``0`` for a TDES KBPK (the key blocks' version ID)."""
        return "1" if len(self.kbpk) == 32 else "0"

    def check_value(self) -> str:
        """LMK check value (6 hex): AES-CMAC of zeros (AES) or TDES of zeros (TDES)."""
        if self.version == "1":
            return _p.aes_cmac(self.kbpk, bytes(16))[:3].hex().upper()
        return _p.tdes_encrypt_ecb(self.kbpk, bytes(8))[:3].hex().upper()

    def wrap(
        self,
        key: bytes,
        *,
        usage: str,
        algorithm: str,
        mode_of_use: str,
        version: str = "00",
        exportability: str = "S",
        optional_blocks: tuple[tuple[str, str], ...] = (),
        random_pad: bytes | None = None,
    ) -> str:
        """Encrypt ``key`` under the LMK; returns the key field ``S`` + key block.

        Parameters
        ----------
        key : bytes
            The clear key (TDES 16/24 bytes for ``T``, AES 16/24/32 bytes for ``A``).
        usage, algorithm, mode_of_use, version, exportability : str
            TR-31 header fields (``version`` is the 2-character key version number).
        optional_blocks : tuple of (str, str)
            Optional header blocks.
        random_pad : bytes, optional
            Fixed padding (reproducible tests); default random.

        Raises
        ------
        KeyBlockError
            Invalid header field, wrong key length, or an AES key under a TDES LMK.
        """
        if algorithm == "A" and self.version == "0":
            raise KeyBlockError("an AES key needs an AES key-block LMK")
        header = Tr31Header(
            version=self.version,
            key_usage=usage,
            algorithm=algorithm,
            mode_of_use=mode_of_use,
            key_version=version,
            exportability=exportability,
            optional_blocks=optional_blocks,
        )
        return "S" + wrap_tr31(self.kbpk, header, key, random_pad=random_pad)

    def unwrap(self, key_field: str) -> tuple[Tr31Header, bytes]:
        """Verify and decrypt a key field ``S`` + key block (the leading ``S`` is optional).

        Raises
        ------
        KeyBlockError
            Malformed block, or a block for the other LMK version (Thales ``83``).
        MacVerificationError
            The key block does not authenticate under this LMK (Thales ``A4``).

        Examples
        --------
        >>> lmk = KeyBlockLmk.test()
        >>> lmk.unwrap("S0072P0TE00N0000" + "0" * 56)
        Traceback (most recent call last):
        ...
        hsm_sim.crypto.errors.KeyBlockError: key block version does not match the LMK
        """
        if not isinstance(key_field, str):
            raise KeyBlockError("key block must be text")
        block = key_field[1:] if key_field.startswith("S") else key_field
        if block[:1] != self.version:
            raise KeyBlockError("key block version does not match the LMK")
        return unwrap_tr31(self.kbpk, block)
