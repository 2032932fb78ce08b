"""Database rows to ledger records, shared by the SQLite and PostgreSQL stores.

Both drivers hand rows that index by column name (``sqlite3.Row``, psycopg's ``dict_row``);
integers are normalised with ``int()`` because PostgreSQL ``BIGINT``/``NUMERIC`` and SQLite
``INTEGER`` come back as different Python types.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from host.store.base import (
    AccountRecord,
    AuthorisationRecord,
    CardRecord,
    PinMethod,
    TerminalRecord,
)

__all__ = ["Row", "account_record", "auth_record", "card_record", "terminal_record"]


class Row(Protocol):
    """A result row indexed by column name."""

    def __getitem__(self, key: str, /) -> Any: ...


def card_record(r: Row) -> CardRecord:
    return CardRecord(
        pan=r["pan"],
        account_no=r["account_no"],
        expiry=r["expiry"],
        service_code=r["service_code"],
        pin_method=PinMethod(r["pin_method"]),
        pvk_name=r["pvk_name"],
        pvki=int(r["pvki"]),
        pvv=r["pvv"],
        ibm_offset=r["ibm_offset"],
        decimalization_table=r["decimalization_table"],
        pin_validation_data=r["pin_validation_data"],
        pin_tries=int(r["pin_tries"]),
        status=r["status"],
        mk_ac_name=r["mk_ac_name"],
    )


def account_record(r: Row) -> AccountRecord:
    return AccountRecord(
        account_no=r["account_no"],
        customer_id=r["customer_id"],
        currency=r["currency"],
        balance=int(r["balance"]),
        held=int(r["held"]),
        kind=r["kind"],
        status=r["status"],
    )


def terminal_record(r: Row) -> TerminalRecord:
    return TerminalRecord(
        terminal_id=r["terminal_id"],
        merchant_id=r["merchant_id"],
        tpk_lmk=r["tpk_lmk"],
        tpk_kcv=r["tpk_kcv"],
        status=r["status"],
        tmk_lmk=r["tmk_lmk"],
        tak_lmk=r["tak_lmk"],
        tak_kcv=r["tak_kcv"],
        pin_mode=r["pin_mode"],
        bdk_name=r["bdk_name"],
        mac_required=bool(r["mac_required"]),
        settlement_account=r["settlement_account"],
        signed_on=bool(r["signed_on"]),
    )


def auth_record(r: Row) -> AuthorisationRecord:
    return AuthorisationRecord(
        auth_id=int(r["auth_id"]),
        terminal_id=r["terminal_id"],
        stan=r["stan"],
        local_date=r["local_date"],
        message_class=r["message_class"],
        transmission_datetime=r["transmission_datetime"],
        rrn=r["rrn"],
        mti=r["mti"],
        processing_code=r["processing_code"],
        pan_masked=r["pan_masked"],
        account_no=r["account_no"],
        amount=int(r["amount"]),
        currency=r["currency"],
        response_code=r["response_code"],
        auth_code=r["auth_code"],
        reason=r["reason"],
        reversed_amount=int(r["reversed_amount"]),
        response=dict(json.loads(r["response_json"])),
    )
