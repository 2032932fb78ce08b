"""The view-model API of the screens package (pure values, no pygame).

``terminal`` builds :class:`ScreenModel` values and pushes them to a
:class:`screens.display.Display`; the display posts :class:`UiEvent` values back through
an injected callback. Nothing here imports pygame, so the terminal and its tests can use the
view-model without a video system.

Examples
--------
>>> model = ScreenModel(
...     screen=ScreenId.PIN,
...     title=t("enter_pin", "zh"),
...     entry="****",
...     hint=t("pin_hint", "zh"),
...     language="zh",
... )
>>> model.title
'请输入您的密码'
>>> model.severity
<Severity.INFO: 'info'>
>>> UiEvent(kind=UiEventKind.KEY, value=PadKey.ENTER).value
'ENTER'
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum, StrEnum

__all__ = [
    "FDK_SLOTS",
    "LANGUAGES",
    "MAX_OPTIONS",
    "MenuOption",
    "PadKey",
    "ScreenId",
    "ScreenModel",
    "ScreenModelError",
    "ScreensError",
    "Severity",
    "UiEvent",
    "UiEventKind",
    "assign_slots",
    "bilingual",
    "screen_title",
    "t",
    "text_keys",
]

LANGUAGES: tuple[str, ...] = ("en", "zh")
"""Language codes the screens know: English and Simplified Chinese."""

FDK_SLOTS: int = 8
"""Function-display keys: F1-F4 down the left edge, F5-F8 down the right edge."""

MAX_OPTIONS: int = FDK_SLOTS


class ScreensError(Exception):
    """Root of the errors raised by the screens package."""


class ScreenModelError(ScreensError, ValueError):
    """An illegal view-model value or UI event (a caller bug)."""


class ScreenId(Enum):
    """One screen per terminal state, plus a generic ``MESSAGE`` screen."""

    IDLE = "idle"
    CARD = "card"
    PIN = "pin"
    MENU = "menu"
    AMOUNT = "amount"
    AUTHORISING = "authorising"
    DISPENSE = "dispense"
    EJECT = "eject"
    BALANCE = "balance"
    DECLINED = "declined"
    CANCELLED = "cancelled"
    OUT_OF_SERVICE = "out_of_service"
    RECEIPT = "receipt"
    MESSAGE = "message"


class Severity(StrEnum):
    """How the screen is tinted: normal information, a warning or an error."""

    INFO = "info"
    WARN = "warn"
    ERROR = "error"


class UiEventKind(Enum):
    """What a :class:`UiEvent` carries."""

    KEY = "key"
    """A PIN-pad or keyboard key: a digit ``'0'``-``'9'`` or a :class:`PadKey`."""
    OPTION = "option"
    """An on-screen option chosen by mouse or FDK; ``value`` is the option's key."""
    QUIT = "quit"
    """The window was closed."""


class PadKey(StrEnum):
    """Function keys of the PIN pad (digits are sent as ``'0'``-``'9'``)."""

    ENTER = "ENTER"
    CANCEL = "CANCEL"
    CLEAR = "CLEAR"


_DIGITS = frozenset("0123456789")
_PAD_VALUES = frozenset(k.value for k in PadKey)


@dataclass(frozen=True, kw_only=True)
class MenuOption:
    """An on-screen option shown as a button beside a function-display key.

    Parameters
    ----------
    key
        Identifier posted back in ``UiEvent(kind=OPTION, value=key)``; never shown.
    label
        Text on the button (already in the screen's language).
    fdk
        Optional FDK position 1-8 (1-4 left, top to bottom; 5-8 right). Options without one
        take the free positions in order; see :func:`assign_slots`.
    """

    key: str
    label: str
    fdk: int | None = None

    def __post_init__(self) -> None:
        if not self.key:
            raise ScreenModelError("option key must not be empty")
        if self.fdk is not None and not 1 <= self.fdk <= FDK_SLOTS:
            raise ScreenModelError(f"option fdk must be 1..{FDK_SLOTS}")


@dataclass(frozen=True, kw_only=True)
class ScreenModel:
    """Everything one screen shows; the renderer draws it and adds nothing.

    Parameters
    ----------
    screen
        Which terminal screen this is.
    title
        The headline, in ``language``.
    lines
        Body text lines (long lines are wrapped by the renderer).
    options
        Up to eight on-screen buttons beside the FDKs.
    entry
        The entry field, already masked by the caller (``'****'`` for a PIN, ``'120.00'`` for
        an amount). The renderer shows it verbatim; it must never hold clear PIN digits.
    hint
        A short help line under the entry field.
    language
        ``'en'`` or ``'zh'``.
    terminal_id
        Shown in the footer.
    severity
        ``Severity`` (or its string value ``'info'``, ``'warn'``, ``'error'``).
    """

    screen: ScreenId
    title: str
    lines: tuple[str, ...] = ()
    options: tuple[MenuOption, ...] = ()
    entry: str = field(default="", repr=False)
    hint: str = ""
    language: str = "en"
    terminal_id: str = ""
    severity: Severity = Severity.INFO

    def __post_init__(self) -> None:
        if not isinstance(self.screen, ScreenId):
            raise ScreenModelError("screen must be a ScreenId")
        if self.language not in LANGUAGES:
            raise ScreenModelError(f"language must be one of {', '.join(LANGUAGES)}")
        try:
            severity = Severity(self.severity)
        except ValueError:
            raise ScreenModelError("severity must be info, warn or error") from None
        object.__setattr__(self, "severity", severity)
        object.__setattr__(self, "lines", tuple(self.lines))
        object.__setattr__(self, "options", tuple(self.options))
        if len(self.options) > MAX_OPTIONS:
            raise ScreenModelError(f"at most {MAX_OPTIONS} options fit on a screen")
        keys = [o.key for o in self.options]
        if len(set(keys)) != len(keys):
            raise ScreenModelError("option keys must be unique")
        assign_slots(self.options)  # raises on clashing fdk positions


@dataclass(frozen=True, kw_only=True)
class UiEvent:
    """A user action posted by the display to the terminal.

    Examples
    --------
    >>> UiEvent(kind=UiEventKind.KEY, value="7")
    UiEvent(kind=<UiEventKind.KEY: 'key'>, value='7')
    >>> UiEvent(kind=UiEventKind.KEY, value="X")
    Traceback (most recent call last):
    ...
    screens.model.ScreenModelError: KEY value must be a digit or ENTER, CANCEL, CLEAR
    """

    kind: UiEventKind
    value: str = ""

    def __post_init__(self) -> None:
        if self.kind is UiEventKind.KEY:
            if self.value not in _DIGITS and self.value not in _PAD_VALUES:
                raise ScreenModelError("KEY value must be a digit or ENTER, CANCEL, CLEAR")
            object.__setattr__(self, "value", str(self.value))
        elif self.kind is UiEventKind.OPTION and not self.value:
            raise ScreenModelError("OPTION value must name an option key")


def assign_slots(options: tuple[MenuOption, ...]) -> dict[int, MenuOption]:
    """Place options on FDK positions 1-8.

    Options with an explicit ``fdk`` keep it; the others fill the free positions in order
    (1-4 down the left edge, then 5-8 down the right edge).

    Examples
    --------
    >>> opts = (MenuOption(key="a", label="A"), MenuOption(key="x", label="X", fdk=8),
    ...         MenuOption(key="b", label="B"))
    >>> {n: o.key for n, o in sorted(assign_slots(opts).items())}
    {1: 'a', 2: 'b', 8: 'x'}
    """
    slots: dict[int, MenuOption] = {}
    for opt in options:
        if opt.fdk is not None:
            if opt.fdk in slots:
                raise ScreenModelError(f"two options on fdk {opt.fdk}")
            slots[opt.fdk] = opt
    free = (n for n in range(1, FDK_SLOTS + 1) if n not in slots)
    for opt in options:
        if opt.fdk is None:
            n = next(free, None)
            if n is None:
                raise ScreenModelError(f"at most {MAX_OPTIONS} options fit on a screen")
            slots[n] = opt
    return slots


# Chinese text uses full-width punctuation on purpose, hence the RUF001 waivers.
# fmt: off
_TEXTS: Mapping[str, Mapping[str, str]] = types.MappingProxyType({
    "bank_name":          {"en": "SST Bank",                        "zh": "SST 银行"},
    "welcome":            {"en": "Welcome",                         "zh": "欢迎光临"},
    "insert_card":        {"en": "Please insert your card",         "zh": "请插入您的银行卡"},
    "reading_card":       {"en": "Reading your card",               "zh": "正在读卡"},
    "please_wait":        {"en": "Please wait",                     "zh": "请稍候"},
    "enter_pin":          {"en": "Please enter your PIN",           "zh": "请输入您的密码"},
    "shield_pin":         {"en": "Shield the keypad while entering your PIN",
                           "zh": "输入密码时请用手遮挡键盘"},
    "pin_hint":           {"en": "Press ENTER when done, CANCEL to stop",
                           "zh": "输入完毕请按确认键，按取消键退出"},  # noqa: RUF001
    "select_transaction": {"en": "Please select a transaction",     "zh": "请选择交易"},
    "withdrawal":         {"en": "Cash withdrawal",                 "zh": "取款"},
    "balance_inquiry":    {"en": "Balance inquiry",                 "zh": "余额查询"},
    "other_language":     {"en": "中文",                            "zh": "English"},
    "cancel":             {"en": "Cancel",                          "zh": "取消"},
    "enter_amount":       {"en": "Please enter the amount",         "zh": "请输入取款金额"},
    "amount_hint":        {"en": "Press ENTER to confirm, CLEAR to correct",
                           "zh": "按确认键继续，按更正键修改"},  # noqa: RUF001
    "other_amount":       {"en": "Other amount",                    "zh": "其他金额"},
    "authorising":        {"en": "Processing, please wait",         "zh": "正在处理，请稍候"},  # noqa: RUF001
    "contacting_bank":    {"en": "Contacting your bank",            "zh": "正在联系您的银行"},
    "take_cash":          {"en": "Please take your cash",           "zh": "请取走您的现金"},
    "dispensing":         {"en": "Your cash is being counted",      "zh": "正在点钞"},
    "take_card":          {"en": "Please take your card",           "zh": "请取回您的银行卡"},
    "balance":            {"en": "Your balance",                    "zh": "您的余额"},
    "available_balance":  {"en": "Available balance",               "zh": "可用余额"},
    "declined":           {"en": "Transaction declined",            "zh": "交易被拒绝"},
    "contact_bank":       {"en": "Please contact your bank",        "zh": "请联系您的发卡行"},
    "incorrect_pin":      {"en": "Incorrect PIN",                   "zh": "密码错误"},
    "insufficient_funds": {"en": "Insufficient funds",              "zh": "余额不足"},
    "cancelled":          {"en": "Transaction cancelled",           "zh": "交易已取消"},
    "out_of_service":     {"en": "Temporarily out of service",      "zh": "暂停服务"},
    "apologise":          {"en": "We apologise for the inconvenience",
                           "zh": "给您带来不便，敬请谅解"},  # noqa: RUF001
    "receipt":            {"en": "Receipt",                         "zh": "交易凭条"},
    "receipt_question":   {"en": "Would you like a receipt?",       "zh": "是否需要打印凭条？"},  # noqa: RUF001
    "take_receipt":       {"en": "Please take your receipt",        "zh": "请取走您的凭条"},
    "yes":                {"en": "Yes",                             "zh": "是"},
    "no":                 {"en": "No",                              "zh": "否"},
    "thank_you":          {"en": "Thank you",                       "zh": "谢谢惠顾"},
    "message":            {"en": "Information",                     "zh": "提示"},
    "terminal":           {"en": "Terminal",                        "zh": "终端"},
    "language_name":      {"en": "English",                         "zh": "中文"},
})

_TITLE_KEYS: Mapping[ScreenId, str] = types.MappingProxyType({
    ScreenId.IDLE:           "welcome",
    ScreenId.CARD:           "reading_card",
    ScreenId.PIN:            "enter_pin",
    ScreenId.MENU:           "select_transaction",
    ScreenId.AMOUNT:         "enter_amount",
    ScreenId.AUTHORISING:    "authorising",
    ScreenId.DISPENSE:       "take_cash",
    ScreenId.EJECT:          "take_card",
    ScreenId.BALANCE:        "balance",
    ScreenId.DECLINED:       "declined",
    ScreenId.CANCELLED:      "cancelled",
    ScreenId.OUT_OF_SERVICE: "out_of_service",
    ScreenId.RECEIPT:        "receipt",
    ScreenId.MESSAGE:        "message",
})
# fmt: on


def t(key: str, language: str = "en") -> str:
    """Return the standard text ``key`` in ``language`` (``'en'`` or ``'zh'``).

    Examples
    --------
    >>> t("insert_card", "en")
    'Please insert your card'
    >>> t("insert_card", "zh")
    '请插入您的银行卡'
    >>> t("no_such_text")
    Traceback (most recent call last):
    ...
    screens.model.ScreenModelError: unknown text key: no_such_text
    """
    if language not in LANGUAGES:
        raise ScreenModelError(f"language must be one of {', '.join(LANGUAGES)}")
    try:
        return _TEXTS[key][language]
    except KeyError:
        raise ScreenModelError(f"unknown text key: {key}") from None


def bilingual(key: str, sep: str = " / ") -> str:
    """Return ``key`` in English and Chinese joined by ``sep`` (for the idle screen).

    Examples
    --------
    >>> bilingual("insert_card")
    'Please insert your card / 请插入您的银行卡'
    """
    return sep.join(t(key, lang) for lang in LANGUAGES)


def screen_title(screen: ScreenId, language: str = "en") -> str:
    """Return the standard title of ``screen`` in ``language``.

    Examples
    --------
    >>> screen_title(ScreenId.DECLINED, "zh")
    '交易被拒绝'
    """
    return t(_TITLE_KEYS[screen], language)


def text_keys() -> tuple[str, ...]:
    """Return every known text key (sorted)."""
    return tuple(sorted(_TEXTS))
