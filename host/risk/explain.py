"""``explain``: which rule fired for an authorisation, with which figures (operator tool)."""

from __future__ import annotations

from typing import Any

from host.risk.store import RiskStore

__all__ = ["explain", "format_explanation"]


def explain(store: RiskStore, key: str) -> dict[str, Any] | None:
    """The stored decision for an RRN or transaction reference, or None."""
    return store.decision(key)


def format_explanation(d: dict[str, Any]) -> str:
    """Human-readable lines (internal: may name scores and grades; never customer-facing)."""
    det = d["detail"]
    r = det.get("reason") or {}
    lines = [f"rrn {d['rrn']}  txn {d['txn_ref']}  card {det.get('pan_masked', '')}",
             f"{d['channel']} {d['txn_type']} amount {d['amount'] / 100:.2f} CNY  "
             f"grade {d['grade'] or '-'}  limits v{d['limits_version']}",
             f"outcome {d['outcome']}  decided {d['decided_code']}  final {d['final_code']}"]
    if r:
        lines.append(f"rule {r['rule_id']}  code {r['code']}  observed {r['observed']}  "
                     f"limit {r['limit']}  layer {r['layer']}  {r['limit_id']}".rstrip())
        if r.get("detail"):
            lines.append(f"  {r['detail']}")
    else:
        lines.append("no rule fired")
    if det.get("race"):
        lines.append(f"in-transaction re-check: {det['race']}")
    if det.get("ledger_code") not in ("", None, d["decided_code"]):
        lines.append(f"ledger answered {det['ledger_code']}")
    for p in det.get("score_parts", []):
        lines.append(f"  score {p['name']} +{p['points']}  {p['detail']}")
    if det.get("factor"):
        lines.append(f"step-up factor {det['factor']} challenge {det['challenge_id']} "
                     f"verified {det.get('stepup_verified') or '-'}")
    if det.get("pending_until"):
        lines.append(f"pending until {det['pending_until']} (revocable)")
    for n in det.get("notices", []):
        lines.append(f"notice {n}")
    return "\n".join(lines)
