"""The view-model API: validation, texts and FDK placement (no pygame)."""

from __future__ import annotations

import doctest

import pytest
from hypothesis import given
from hypothesis import strategies as st

import screens.model
from screens.model import (
    FDK_SLOTS,
    LANGUAGES,
    MenuOption,
    PadKey,
    ScreenId,
    ScreenModel,
    ScreenModelError,
    ScreensError,
    Severity,
    UiEvent,
    UiEventKind,
    assign_slots,
    bilingual,
    screen_title,
    t,
    text_keys,
)


def test_model_doctests() -> None:
    result = doctest.testmod(screens.model)
    assert result.attempted > 0
    assert result.failed == 0


def test_every_terminal_state_has_a_screen() -> None:
    names = {s.name for s in ScreenId}
    assert names >= {
        "IDLE", "CARD", "PIN", "MENU", "AMOUNT", "AUTHORISING", "DISPENSE", "EJECT", "BALANCE",
        "DECLINED", "CANCELLED", "OUT_OF_SERVICE", "RECEIPT", "MESSAGE",
    }  # fmt: skip


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("screen", list(ScreenId))
def test_every_screen_has_a_title(screen: ScreenId, language: str) -> None:
    assert screen_title(screen, language)


def test_every_text_is_bilingual_and_chinese_is_chinese() -> None:
    for key in text_keys():
        assert t(key, "en")
        assert t(key, "zh")
    assert any("\u4e00" <= ch <= "\u9fff" for ch in t("insert_card", "zh"))


# fmt: off
TEXTS = [
    ("insert_card", "en", "Please insert your card"),
    ("insert_card", "zh", "请插入您的银行卡"),
    ("enter_pin", "zh", "请输入您的密码"),
    ("declined", "en", "Transaction declined"),
]
# fmt: on


@pytest.mark.parametrize(("key", "language", "text"), TEXTS)
def test_t(key: str, language: str, text: str) -> None:
    assert t(key, language) == text


def test_t_exception() -> None:
    with pytest.raises(ScreenModelError, match=r"^unknown text key: nope$"):
        t("nope")
    with pytest.raises(ScreenModelError, match=r"^language must be one of en, zh$"):
        t("insert_card", "fr")


def test_bilingual() -> None:
    assert bilingual("cancel") == "Cancel / 取消"


def test_model_defaults_and_severity_coercion() -> None:
    m = ScreenModel(screen=ScreenId.MESSAGE, title="x", severity="warn")  # type: ignore[arg-type]
    assert m.severity is Severity.WARN
    assert m.lines == () and m.options == () and m.entry == "" and m.language == "en"


def test_model_is_keyword_only_and_frozen() -> None:
    with pytest.raises(TypeError):
        ScreenModel(ScreenId.IDLE, "x")  # type: ignore[call-arg]
    m = ScreenModel(screen=ScreenId.IDLE, title="x")
    with pytest.raises(AttributeError):
        m.title = "y"  # type: ignore[misc]


def test_model_repr_hides_entry() -> None:
    m = ScreenModel(screen=ScreenId.PIN, title="PIN", entry="****")
    assert "****" not in repr(m)


# fmt: off
BAD_MODELS: list[tuple[dict[str, object], str]] = [
    ({"language": "fr"}, "language must be one of en, zh"),
    ({"severity": "fatal"}, "severity must be info, warn or error"),
    ({"options": tuple(MenuOption(key=str(i), label="x") for i in range(9))},
     "at most 8 options fit on a screen"),
    ({"options": (MenuOption(key="a", label="x"), MenuOption(key="a", label="y"))},
     "option keys must be unique"),
    ({"options": (MenuOption(key="a", label="x", fdk=2), MenuOption(key="b", label="y", fdk=2))},
     "two options on fdk 2"),
]
# fmt: on


@pytest.mark.parametrize(("kwargs", "message"), BAD_MODELS)
def test_model_exception(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ScreenModelError) as info:
        ScreenModel(screen=ScreenId.MENU, title="x", **kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message
    assert isinstance(info.value, ScreensError)
    assert isinstance(info.value, ValueError)


def test_option_exception() -> None:
    with pytest.raises(ScreenModelError, match=r"^option key must not be empty$"):
        MenuOption(key="", label="x")
    with pytest.raises(ScreenModelError, match=r"^option fdk must be 1\.\.8$"):
        MenuOption(key="a", label="x", fdk=9)


@pytest.mark.parametrize("value", [*"0123456789", "ENTER", "CANCEL", "CLEAR"])
def test_ui_event_keys(value: str) -> None:
    assert UiEvent(kind=UiEventKind.KEY, value=value).value == value


def test_ui_event_pad_key_is_plain_string() -> None:
    ev = UiEvent(kind=UiEventKind.KEY, value=PadKey.CANCEL)
    assert ev.value == "CANCEL"
    assert ev == UiEvent(kind=UiEventKind.KEY, value="CANCEL")


def test_ui_event_exception() -> None:
    message = r"^KEY value must be a digit or ENTER, CANCEL, CLEAR$"
    with pytest.raises(ScreenModelError, match=message):
        UiEvent(kind=UiEventKind.KEY, value="12")
    with pytest.raises(ScreenModelError, match=r"^OPTION value must name an option key$"):
        UiEvent(kind=UiEventKind.OPTION)
    assert UiEvent(kind=UiEventKind.QUIT).value == ""


def test_assign_slots_fills_free_positions_in_order() -> None:
    opts = (
        MenuOption(key="a", label="A"),
        MenuOption(key="cancel", label="C", fdk=1),
        MenuOption(key="b", label="B"),
    )
    assert {n: o.key for n, o in assign_slots(opts).items()} == {1: "cancel", 2: "a", 3: "b"}


@given(
    fdks=st.lists(st.one_of(st.none(), st.integers(1, FDK_SLOTS)), max_size=FDK_SLOTS).filter(
        lambda xs: len([x for x in xs if x is not None]) == len({x for x in xs if x is not None})
    )
)
def test_assign_slots_is_a_bijection(fdks: list[int | None]) -> None:
    opts = tuple(MenuOption(key=f"k{i}", label="x", fdk=f) for i, f in enumerate(fdks))
    slots = assign_slots(opts)
    assert sorted(o.key for o in slots.values()) == sorted(o.key for o in opts)
    assert all(1 <= n <= FDK_SLOTS for n in slots)
    for n, o in slots.items():
        assert o.fdk in (None, n)
