"""The one pycryptodome adapter of ``host.risk`` (LAY-5): AES-GCM for identity numbers at rest.

Why not the HSM: the project HSM (``hsm_sim.protocol.HsmService``) has no data-encryption command
(payShield M0/M2), and adding one means changing hsm_sim's protocol, codec, server and client.
KYC records are also written by batch jobs (onboarding import, retention anonymisation, the
benchmark's 100,000 synthetic customers) that must not need a running HSM. So the host holds a
data-protection key (test key from configuration) and encrypts locally; ``hsm_sim.crypto`` stays
out of reach as import-linter requires. The salted lookup hash is stdlib HMAC-SHA-256.

Examples
--------
NIST GCM test case 2 (zero key, zero IV, one zero block):

>>> ct = aes_gcm_encrypt(bytes(16), bytes(16), nonce=bytes(12))
>>> ct[12:28].hex(), ct[28:].hex()
('0388dace60b6a392f328c2b971b2fe78', 'ab6e47d42cec13bdf53a67b21257bddf')
>>> aes_gcm_decrypt(bytes(16), ct) == bytes(16)
True
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from Crypto.Cipher import AES

__all__ = ["CryptoError", "aes_gcm_decrypt", "aes_gcm_encrypt", "lookup_hash"]


class CryptoError(ValueError):
    """Decryption or authentication failed (no detail, by design)."""


def aes_gcm_encrypt(key: bytes, plaintext: bytes, *, aad: bytes = b"",
                    nonce: bytes | None = None) -> bytes:
    """Encrypt; returns ``nonce(12) || ciphertext || tag(16)``."""
    n = nonce if nonce is not None else secrets.token_bytes(12)
    cipher = AES.new(key, AES.MODE_GCM, nonce=n)
    cipher.update(aad)
    ct, tag = cipher.encrypt_and_digest(plaintext)
    return n + ct + tag


def aes_gcm_decrypt(key: bytes, blob: bytes, *, aad: bytes = b"") -> bytes:
    """Inverse of :func:`aes_gcm_encrypt`; raises :class:`CryptoError` on any tampering."""
    if len(blob) < 28:
        raise CryptoError("ciphertext too short")
    cipher = AES.new(key, AES.MODE_GCM, nonce=blob[:12])
    cipher.update(aad)
    try:
        return bytes(cipher.decrypt_and_verify(blob[12:-16], blob[-16:]))
    except ValueError as e:
        raise CryptoError("authentication failed") from e


def lookup_hash(salt: bytes, value: str) -> str:
    """Salted (keyed) hash for equality lookups of an identity number.

    Examples
    --------
    >>> lookup_hash(b"salt", "11010519491231002X")[:16]
    '52b99e1ee04d320c'
    """
    return hmac.new(salt, value.strip().upper().encode(), hashlib.sha256).hexdigest()
