"""Per-customer risk engine and KYC controls (事前/事中/事后): KYC record, cited limits,
in-event rules with field 39 codes, step-up, scoring, post-event reports. See docs/risk.md.

Integration surface for the host: :class:`~host.risk.engine.RiskParticipant` (an authorisation
participant), ``SqliteRiskStore.apply``/``restore``/``revoke_transfer`` (inside the ledger
transaction) and :func:`host.risk.reports.main` (``sst host report`` / ``explain``).
"""

from __future__ import annotations

from host.risk.engine import RiskConfig, RiskEngine, RiskParticipant, request_from_context
from host.risk.limits import LimitBook
from host.risk.records import Decision, Evidence, Factor, RiskRequest, card_ref
from host.risk.store import ApplyResult, RiskStore
from host.risk.store_sqlite import SqliteRiskStore

__all__ = [
    "ApplyResult",
    "Decision",
    "Evidence",
    "Factor",
    "LimitBook",
    "RiskConfig",
    "RiskEngine",
    "RiskParticipant",
    "RiskRequest",
    "RiskStore",
    "SqliteRiskStore",
    "card_ref",
    "request_from_context",
]
