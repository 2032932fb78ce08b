"""Render every screen with sample content, in English and Chinese, to PNG files.

Usage::

    python -m screens.preview OUTDIR [--size 800x600] [--font PATH]

writes ``OUTDIR/<screen>-<language>.png`` for every :class:`~screens.model.ScreenId`
(for the docs and for visual review). Needs no display.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from screens.model import (
    LANGUAGES,
    MenuOption,
    ScreenId,
    ScreenModel,
    Severity,
    bilingual,
    screen_title,
    t,
)
from sst.common.logs import configure_logging
from sst.common.redact import mask_pan

__all__ = ["main", "sample_model", "sample_models"]

_LOGGER = logging.getLogger(__name__)

_SAMPLE_PAN = "4761739001010010"  # the well-known Visa test card
_TERMINAL_ID = "ATM00001"
_COLON = {"en": ": ", "zh": "："}  # noqa: RUF001 - Chinese uses the full-width colon


_Sample = dict[str, Any]


def _idle(lang: str, card: str) -> _Sample:
    return {
        "title": bilingual("welcome"),
        "lines": (t("insert_card", "en"), t("insert_card", "zh")),
        "options": (MenuOption(key="language", label=t("other_language", lang), fdk=8),),
    }


def _card(lang: str, card: str) -> _Sample:
    return {"lines": (t("please_wait", lang),)}


def _pin(lang: str, card: str) -> _Sample:
    return {"lines": (t("shield_pin", lang),), "entry": "****", "hint": t("pin_hint", lang)}


def _menu(lang: str, card: str) -> _Sample:
    return {
        "lines": (card,),
        "options": (
            MenuOption(key="withdrawal", label=t("withdrawal", lang)),
            MenuOption(key="balance", label=t("balance_inquiry", lang)),
            MenuOption(key="language", label=t("other_language", lang), fdk=7),
            MenuOption(key="cancel", label=t("cancel", lang), fdk=8),
        ),
    }


def _amount(lang: str, card: str) -> _Sample:
    return {
        "options": (
            MenuOption(key="20", label="20.00"),
            MenuOption(key="50", label="50.00"),
            MenuOption(key="100", label="100.00"),
            MenuOption(key="200", label="200.00"),
            MenuOption(key="other", label=t("other_amount", lang), fdk=7),
            MenuOption(key="cancel", label=t("cancel", lang), fdk=8),
        ),
        "entry": "120.00",
        "hint": t("amount_hint", lang),
    }


def _authorising(lang: str, card: str) -> _Sample:
    return {"lines": (t("contacting_bank", lang),)}


def _dispense(lang: str, card: str) -> _Sample:
    return {"lines": (t("dispensing", lang), "120.00")}


def _eject(lang: str, card: str) -> _Sample:
    return {"lines": (card,), "hint": t("thank_you", lang)}


def _balance(lang: str, card: str) -> _Sample:
    return {
        "lines": (card, t("available_balance", lang) + _COLON[lang] + "1,234.56"),
        "options": (
            MenuOption(key="continue", label=t("yes", lang), fdk=7),
            MenuOption(key="cancel", label=t("cancel", lang), fdk=8),
        ),
    }


def _declined(lang: str, card: str) -> _Sample:
    return {
        "lines": (t("insufficient_funds", lang), t("contact_bank", lang)),
        "severity": Severity.ERROR,
    }


def _cancelled(lang: str, card: str) -> _Sample:
    return {"lines": (t("take_card", lang),), "severity": Severity.WARN}


def _out_of_service(lang: str, card: str) -> _Sample:
    return {
        "title": bilingual("out_of_service"),
        "lines": (t("apologise", "en"), t("apologise", "zh")),
        "severity": Severity.ERROR,
    }


def _receipt(lang: str, card: str) -> _Sample:
    return {
        "lines": (t("receipt_question", lang),),
        "options": (
            MenuOption(key="yes", label=t("yes", lang), fdk=4),
            MenuOption(key="no", label=t("no", lang), fdk=8),
        ),
    }


def _message(lang: str, card: str) -> _Sample:
    return {"lines": (t("please_wait", lang),), "severity": Severity.WARN}


_SAMPLES: Mapping[ScreenId, Callable[[str, str], _Sample]] = MappingProxyType(
    {
        ScreenId.IDLE: _idle,
        ScreenId.CARD: _card,
        ScreenId.PIN: _pin,
        ScreenId.MENU: _menu,
        ScreenId.AMOUNT: _amount,
        ScreenId.AUTHORISING: _authorising,
        ScreenId.DISPENSE: _dispense,
        ScreenId.EJECT: _eject,
        ScreenId.BALANCE: _balance,
        ScreenId.DECLINED: _declined,
        ScreenId.CANCELLED: _cancelled,
        ScreenId.OUT_OF_SERVICE: _out_of_service,
        ScreenId.RECEIPT: _receipt,
        ScreenId.MESSAGE: _message,
    }
)


def sample_model(screen: ScreenId, language: str = "en") -> ScreenModel:
    """A representative model for ``screen`` in ``language`` (sample data only)."""
    fields: _Sample = {"title": screen_title(screen, language)}
    fields.update(_SAMPLES[screen](language, mask_pan(_SAMPLE_PAN)))
    return ScreenModel(screen=screen, language=language, terminal_id=_TERMINAL_ID, **fields)


def sample_models(language: str = "en") -> tuple[ScreenModel, ...]:
    """One sample model per :class:`ScreenId`, in declaration order."""
    return tuple(sample_model(screen, language) for screen in ScreenId)


def _parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = text.lower().split("x")
        return int(w), int(h)
    except ValueError:
        raise argparse.ArgumentTypeError("size must look like 800x600") from None


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m screens.preview``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m screens.preview", description=__doc__)
    parser.add_argument("outdir", type=Path, help="folder for the PNG files")
    parser.add_argument("--size", type=_parse_size, default=(800, 600), help="WxH pixels")
    parser.add_argument("--font", default=None, help="font file with CJK glyphs")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    configure_logging(args.log_level)

    from screens.render import ScreenRenderer  # noqa: PLC0415 - pygame only when rendering

    renderer = ScreenRenderer(size=args.size, font_path=args.font)
    count = 0
    for lang in LANGUAGES:
        for model in sample_models(lang):
            path = renderer.save_png(model, args.outdir / f"{model.screen.value}-{lang}.png")
            count += 1
            _LOGGER.debug("preview written", extra={"path": str(path)})
    _LOGGER.info(
        "previews written",
        extra={"count": count, "outdir": str(args.outdir), "font": renderer.font.path},
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
