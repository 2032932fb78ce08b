"""The terminal's transaction flow, declared as data in one place (SM-1).

Everything that affects transitions lives here: states, triggers, conditions (by name, resolved
on ``TerminalModel``) and which states have a timeout. ``docs/state-machine.md`` is generated
from these tables (``python -m terminal.diagram --write``) and CI checks it is current.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "FLOW_NAME",
    "FLOW_VERSION",
    "INITIAL",
    "STATES",
    "TIMED_STATES",
    "TRANSITIONS",
    "TRIGGERS",
]

FLOW_NAME = "atm-basic"
FLOW_VERSION = "1"

INITIAL = "idle"

#: name -> what the terminal does while in it.
STATES: dict[str, str] = {
    "idle": "attract screen; the card reader waits for a card",
    "card": "a card was read: check track 2 (service code, expiry)",
    "pin": "the EPP collects the PIN; only masked key events reach the terminal",
    "menu": "choose a transaction",
    "amount": "choose or type the amount",
    "authorising": "the EPP forms the PIN block; 0200 goes to the host",
    "stepup": "the host asked for more than card + PIN (1A): collect the factor's evidence",
    "dispense": "the dispenser mixes, dispenses and presents the notes; a receipt is printed",
    "balance": "show the balance returned in field 54; a receipt is printed",
    "declined": "show why the host declined (customer wording)",
    "eject": "the card is ejected and the terminal waits until it is taken",
    "out_of_service": "a device or internal fault; needs a supervisor reset",
}

#: States left by the ``timeout`` trigger when the customer does nothing.
TIMED_STATES: tuple[str, ...] = ("pin", "menu", "amount", "stepup", "balance", "declined", "eject")

_CUSTOMER = ["pin", "menu", "amount", "stepup"]

TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "card_read", "source": "idle", "dest": "card"},
    {"trigger": "card_ok", "source": "card", "dest": "pin"},
    {"trigger": "card_bad", "source": "card", "dest": "eject"},
    {"trigger": "pin_done", "source": "pin", "dest": "menu"},
    {"trigger": "choose_withdrawal", "source": "menu", "dest": "amount"},
    {"trigger": "choose_balance", "source": "menu", "dest": "authorising"},
    {"trigger": "amount_done", "source": "amount", "dest": "authorising"},
    {"trigger": "approved", "source": "authorising", "dest": "dispense",
     "conditions": "is_withdrawal"},
    {"trigger": "approved", "source": "authorising", "dest": "balance", "unless": "is_withdrawal"},
    {"trigger": "declined", "source": "authorising", "dest": "declined"},
    {"trigger": "stepup_required", "source": "authorising", "dest": "stepup"},
    {"trigger": "evidence_ready", "source": "stepup", "dest": "authorising"},
    {"trigger": "dispensed", "source": "dispense", "dest": "eject"},
    {"trigger": "acknowledged", "source": ["balance", "declined"], "dest": "eject"},
    {"trigger": "cancel", "source": _CUSTOMER, "dest": "eject"},
    {"trigger": "timeout", "source": [*_CUSTOMER, "balance", "declined"], "dest": "eject"},
    {"trigger": "timeout", "source": "eject", "dest": "idle"},
    {"trigger": "card_taken", "source": "eject", "dest": "idle"},
    {"trigger": "fault", "source": [s for s in STATES if s != "out_of_service"],
     "dest": "out_of_service"},
    {"trigger": "reset", "source": "out_of_service", "dest": "idle"},
]

TRIGGERS: tuple[str, ...] = tuple(dict.fromkeys(t["trigger"] for t in TRANSITIONS))
