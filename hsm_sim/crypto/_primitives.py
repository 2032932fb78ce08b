"""The only module that imports the crypto backend (pycryptodome).

Block-cipher building blocks on raw ``bytes``. Triple DES is done as manual EDE over single DES
so that degenerate keys (K1 == K2, e.g. single-length keys expanded to 16 bytes or the Thales test
LMK pairs 18-19 and 38-39) work; pycryptodome's ``DES3`` refuses them. Callers validate lengths;
this module only asserts them.

Examples
--------
>>> tdes_encrypt_ecb(bytes.fromhex("0123456789ABCDEF" * 2), bytes(8)).hex().upper()
'D5D44FF720683D0D'
"""

from __future__ import annotations

from Crypto.Cipher import AES, DES
from Crypto.Hash import CMAC
from Crypto.Random import get_random_bytes

__all__ = [
    "aes_cmac",
    "aes_decrypt_cbc",
    "aes_decrypt_ecb",
    "aes_encrypt_cbc",
    "aes_encrypt_ecb",
    "des_decrypt_ecb",
    "des_encrypt_ecb",
    "random_bytes",
    "tdes_cmac",
    "tdes_decrypt_cbc",
    "tdes_decrypt_ecb",
    "tdes_encrypt_cbc",
    "tdes_encrypt_ecb",
    "xor",
]


def xor(a: bytes, b: bytes) -> bytes:
    """XOR two equal-length byte strings.

    >>> xor(b"\\x0f", b"\\xf0")
    b'\\xff'
    """
    assert len(a) == len(b)
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


def random_bytes(n: int) -> bytes:
    """``n`` cryptographically random bytes."""
    return get_random_bytes(n)


def des_encrypt_ecb(key: bytes, data: bytes) -> bytes:
    """Single DES ECB encryption (8-byte key, data a multiple of 8 bytes)."""
    assert len(key) == 8 and len(data) % 8 == 0
    return DES.new(key, DES.MODE_ECB).encrypt(data)  # noqa: S304 - payment standards use DES


def des_decrypt_ecb(key: bytes, data: bytes) -> bytes:
    """Single DES ECB decryption (8-byte key, data a multiple of 8 bytes)."""
    assert len(key) == 8 and len(data) % 8 == 0
    return DES.new(key, DES.MODE_ECB).decrypt(data)  # noqa: S304 - payment standards use DES


def _split3(key: bytes) -> tuple[bytes, bytes, bytes]:
    assert len(key) in (8, 16, 24)
    k1 = key[:8]
    k2 = key[8:16] or k1
    k3 = key[16:24] or k1
    return k1, k2, k3


def tdes_encrypt_ecb(key: bytes, data: bytes) -> bytes:
    """TDES-EDE ECB encryption; key of 8 (single DES), 16 (K1 K2 K1) or 24 bytes."""
    k1, k2, k3 = _split3(key)
    assert len(data) % 8 == 0
    if k1 == k2 == k3:
        return des_encrypt_ecb(k1, data)
    return des_encrypt_ecb(k3, des_decrypt_ecb(k2, des_encrypt_ecb(k1, data)))


def tdes_decrypt_ecb(key: bytes, data: bytes) -> bytes:
    """TDES-EDE ECB decryption; key of 8, 16 or 24 bytes."""
    k1, k2, k3 = _split3(key)
    assert len(data) % 8 == 0
    if k1 == k2 == k3:
        return des_decrypt_ecb(k1, data)
    return des_decrypt_ecb(k1, des_encrypt_ecb(k2, des_decrypt_ecb(k3, data)))


def tdes_encrypt_cbc(key: bytes, iv: bytes, data: bytes) -> bytes:
    """TDES-EDE CBC encryption without padding."""
    assert len(iv) == 8 and len(data) % 8 == 0
    out = bytearray()
    prev = iv
    for i in range(0, len(data), 8):
        prev = tdes_encrypt_ecb(key, xor(prev, data[i : i + 8]))
        out += prev
    return bytes(out)


def tdes_decrypt_cbc(key: bytes, iv: bytes, data: bytes) -> bytes:
    """TDES-EDE CBC decryption without padding."""
    assert len(iv) == 8 and len(data) % 8 == 0
    out = bytearray()
    prev = iv
    for i in range(0, len(data), 8):
        block = data[i : i + 8]
        out += xor(prev, tdes_decrypt_ecb(key, block))
        prev = block
    return bytes(out)


def aes_encrypt_ecb(key: bytes, data: bytes) -> bytes:
    """AES ECB encryption (16/24/32-byte key, data a multiple of 16 bytes)."""
    return AES.new(key, AES.MODE_ECB).encrypt(data)


def aes_decrypt_ecb(key: bytes, data: bytes) -> bytes:
    """AES ECB decryption."""
    return AES.new(key, AES.MODE_ECB).decrypt(data)


def aes_encrypt_cbc(key: bytes, iv: bytes, data: bytes) -> bytes:
    """AES CBC encryption without padding."""
    return AES.new(key, AES.MODE_CBC, iv=iv).encrypt(data)


def aes_decrypt_cbc(key: bytes, iv: bytes, data: bytes) -> bytes:
    """AES CBC decryption without padding."""
    return AES.new(key, AES.MODE_CBC, iv=iv).decrypt(data)


def aes_cmac(key: bytes, data: bytes) -> bytes:
    """AES-CMAC (NIST SP 800-38B), full 16 bytes."""
    return CMAC.new(key, msg=data, ciphermod=AES).digest()


def _shift_left_1(block: bytes) -> bytes:
    n = len(block)
    return ((int.from_bytes(block, "big") << 1) & ((1 << (8 * n)) - 1)).to_bytes(n, "big")


def tdes_cmac(key: bytes, data: bytes) -> bytes:
    """TDES-CMAC (NIST SP 800-38B, 64-bit block, Rb = 0x1B), full 8 bytes.

    Implemented over :func:`tdes_encrypt_ecb` so degenerate keys work.
    """
    rb = b"\x00" * 7 + b"\x1b"
    el = tdes_encrypt_ecb(key, bytes(8))
    k1 = _shift_left_1(el)
    if el[0] & 0x80:
        k1 = xor(k1, rb)
    k2 = _shift_left_1(k1)
    if k1[0] & 0x80:
        k2 = xor(k2, rb)
    if data and len(data) % 8 == 0:
        last = xor(data[-8:], k1)
        body = data[:-8]
    else:
        tail_len = len(data) % 8
        tail = data[len(data) - tail_len :] + b"\x80" + bytes(7 - tail_len)
        last = xor(tail, k2)
        body = data[: len(data) - tail_len]
    chain = bytes(8)
    for i in range(0, len(body), 8):
        chain = tdes_encrypt_ecb(key, xor(chain, body[i : i + 8]))
    return tdes_encrypt_ecb(key, xor(chain, last))
