from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from host.risk.engine import RiskConfig, RiskEngine
from host.risk.idcard import check_character
from host.risk.kyc import (
    AccountClass,
    AccountLink,
    CustomerRecord,
    Gender,
    IdType,
    IdVault,
)
from host.risk.limits import LimitBook
from host.risk.model import Channel, RiskGrade, TxnType
from host.risk.records import CardLink, RiskRequest, card_ref
from host.risk.store_sqlite import SqliteRiskStore

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, a Monday


def rid(seq: int) -> str:
    first = f"110105199001{(seq % 28) + 1:02d}{seq % 1000:03d}"
    return first + check_character(first)


class World:
    def __init__(self, path: Path) -> None:
        self.store = SqliteRiskStore(path)
        self.vault = IdVault(key=bytes(range(16)), salt=b"test-salt")
        self.engine = RiskEngine(self.store, LimitBook.load_default(), config=RiskConfig())
        self._n = count(1)
        self._stan = count(1)

    def customer(
        self,
        *,
        grade: RiskGrade = RiskGrade.LOW,
        cards: int = 1,
        account_class: AccountClass = AccountClass.I,
        **kw: Any,
    ) -> tuple[str, list[str]]:
        n = next(self._n)
        cid = f"C{n:06d}"
        rec = CustomerRecord(
            customer_id=cid,
            name=f"测试{n}",
            gender=Gender.F,
            nationality="CN",
            occupation="engineer",
            address="Beijing",
            contact_phone="+8613800000000",
            id_type=IdType.CN_RIC,
            id_number=self.vault.protect(IdType.CN_RIC, rid(n)),
            id_expiry=date(2030, 1, 1),
            risk_grade=grade,
            relationship_start=date(2020, 1, 1),
        )
        self.store.put_customer(replace(rec, **kw))
        acct = f"A{n:06d}"
        self.store.put_account(
            AccountLink(account_no=acct, customer_id=cid, account_class=account_class)
        )
        pans = []
        for i in range(cards):
            pan = f"62220200{n:06d}{i:02d}"
            self.store.put_card(
                CardLink(
                    card=card_ref(pan),
                    customer_id=cid,
                    account_no=acct,
                    pan_masked=pan[:6] + "******" + pan[-4:],
                )
            )
            pans.append(pan)
        return cid, pans

    def req(
        self,
        pan: str,
        amount: int,
        *,
        channel: Channel = Channel.ATM,
        txn: TxnType = TxnType.CASH_WITHDRAWAL,
        at: datetime = T0,
        **kw: Any,
    ) -> RiskRequest:
        s = next(self._stan)
        term = kw.pop("terminal_id", "ATM00001")
        return RiskRequest.for_pan(
            pan,
            txn_ref=f"{term}/0302/{s:06d}",
            rrn=f"R{s:011d}",
            channel=channel,
            txn_type=txn,
            amount=amount,
            at=at,
            terminal_id=term,
            **kw,
        )

    def run(self, pan: str, amount: int, **kw: Any) -> tuple[str, Any]:
        d = self.engine.decide(self.req(pan, amount, **kw))
        code = self.engine.commit(d)
        return code, d


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path / "host.db")
    yield w
    w.store.close()
