"""Step-up verification: factor codes on the wire, OTP issue and check, fingerprint and video.

Wire format (sans-io, documented in docs/risk.md):

* the 1A answer carries field 44 ``SU<factor>:<challenge id>`` (factor ``OTP``, ``FP``, ``VID``);
* the terminal's retry carries field 48 ``SU<factor>:<challenge id>:<value>`` where value is the
  OTP digits, the fingerprint sample reference, or the video snapshot reference.

Examples
--------
>>> parse_factor_field("SUOTP:a1b2c3d4")
(<Factor.OTP: 'OTP'>, 'a1b2c3d4')
>>> ev = parse_evidence("SUOTP:a1b2c3d4:123456")
>>> ev.factor, ev.challenge_id
(<Factor.OTP: 'OTP'>, 'a1b2c3d4')
>>> format_evidence(ev)
'SUOTP:a1b2c3d4:123456'
>>> parse_evidence("XX") is None
True
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from host.risk.records import Evidence, Factor
from host.risk.store import ChallengeRecord, RiskStore

__all__ = [
    "FingerprintMatcher",
    "StepUp",
    "format_evidence",
    "parse_evidence",
    "parse_factor_field",
]

FingerprintMatcher = Callable[[str, str], int]  # (enrolled ref, sample ref) -> score 0..100


def _simulated_matcher(enrolled: str, sample: str) -> int:
    """The simulator's matcher: the same template reference scores 100, anything else 10."""
    return 100 if enrolled and hmac.compare_digest(enrolled, sample) else 10


def parse_factor_field(text: str) -> tuple[Factor, str] | None:
    if not text.startswith("SU") or ":" not in text:
        return None
    f, cid = text[2:].split(":", 1)
    try:
        return Factor(f), cid
    except ValueError:
        return None


def parse_evidence(text: str) -> Evidence | None:
    parts = text.split(":", 2)
    if len(parts) != 3 or not parts[0].startswith("SU"):
        return None
    try:
        factor = Factor(parts[0][2:])
    except ValueError:
        return None
    return Evidence(factor=factor, challenge_id=parts[1], value=parts[2])


def format_evidence(ev: Evidence) -> str:
    return f"SU{ev.factor.value}:{ev.challenge_id}:{ev.value}"


class StepUp:
    """Issues challenges and verifies evidence; every attempt is logged in the store."""

    def __init__(self, store: RiskStore, *, otp_ttl: timedelta = timedelta(minutes=5),
                 max_attempts: int = 3, fingerprint_threshold: int = 80,
                 matcher: FingerprintMatcher = _simulated_matcher,
                 secret: bytes = b"sst-otp-test-secret") -> None:
        self._store, self._ttl, self._max = store, otp_ttl, max_attempts
        self._fp_threshold, self._matcher, self._secret = fingerprint_threshold, matcher, secret

    def _hash(self, cid: str, value: str) -> str:
        return hmac.new(self._secret, f"{cid}:{value}".encode(), hashlib.sha256).hexdigest()

    def issue(self, *, factor: Factor, customer_id: str, card: str, phone: str,
              at: datetime) -> str:
        """Open a challenge; for OTP, 'send' the code (simulated SMS outbox, visible to QA)."""
        cid = secrets.token_hex(4)
        code = ""
        text = ""
        if factor is Factor.OTP:
            code = f"{secrets.randbelow(10**6):06d}"
            text = f"[SST Bank] verification code {code}, valid 5 minutes. Never share it."
        self._store.issue_challenge(ChallengeRecord(
            challenge_id=cid, customer_id=customer_id, card=card, factor=factor,
            secret_hash=self._hash(cid, code) if code else "", created_at=at,
            expires_at=at + self._ttl, attempts=0, status="OPEN"), phone=phone, text=text)
        return cid

    def verify(self, ev: Evidence, *, customer_id: str, card: str, fingerprint_ref: str,
               at: datetime, txn_ref: str) -> tuple[bool, str]:
        """Check evidence against its open challenge; returns (ok, detail) and logs it."""
        ch = self._store.challenge(ev.challenge_id)
        if ch is None or ch.customer_id != customer_id or ch.factor is not ev.factor:
            return False, "unknown challenge"
        if ch.status != "OPEN":
            return False, f"challenge {ch.status.lower()}"
        if at > ch.expires_at:
            ok, detail = False, "challenge expired"
        elif ev.factor is Factor.OTP:
            ok = hmac.compare_digest(ch.secret_hash, self._hash(ch.challenge_id, ev.value))
            detail = "otp match" if ok else "otp mismatch"
        elif ev.factor is Factor.FP:
            score = self._matcher(fingerprint_ref, ev.value)
            ok = score >= self._fp_threshold
            detail = f"fingerprint score {score} threshold {self._fp_threshold}"
        else:
            v = self._store.video(ev.value)
            ok = v is not None and v[0] == customer_id and v[1]
            detail = f"video snapshot {ev.value} {'matched' if ok else 'not matched'}"
        self._store.record_attempt(ch.challenge_id, ok=ok, at=at, txn_ref=txn_ref, detail=detail)
        return ok, detail
