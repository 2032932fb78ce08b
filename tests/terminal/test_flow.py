"""The flow tables: every (state, trigger) pair is a declared transition or a MachineError."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from transitions import MachineError

from terminal import diagram, flow
from terminal.app import _Machine


class FlowOnly:
    """The flow's conditions and machine-wide callbacks, without any device work."""

    state: str

    def __init__(self, withdrawal: bool) -> None:
        self.withdrawal = withdrawal

    def is_withdrawal(self, event: Any) -> bool:
        return self.withdrawal

    def _leave(self, event: Any) -> None: ...
    def _entered(self, event: Any) -> None: ...

    def _on_exception(self, event: Any) -> None:
        raise event.error


def expected_dest(state: str, trigger: str, withdrawal: bool) -> str | None:
    for t in flow.TRANSITIONS:
        sources = t["source"] if isinstance(t["source"], list) else [t["source"]]
        if t["trigger"] != trigger or state not in sources:
            continue
        if "conditions" in t and not withdrawal:
            continue
        if "unless" in t and withdrawal:
            continue
        return str(t["dest"])
    return None


@settings(max_examples=400, deadline=None)
@given(state=st.sampled_from(list(flow.STATES)), trigger=st.sampled_from(flow.TRIGGERS),
       withdrawal=st.booleans())
def test_every_state_trigger_pair(state: str, trigger: str, withdrawal: bool) -> None:
    model = FlowOnly(withdrawal)
    _Machine(model=model, states=list(flow.STATES), transitions=flow.TRANSITIONS,
                             initial=state, send_event=True, auto_transitions=False,
                             before_state_change="_leave", after_state_change="_entered",
                             on_exception="_on_exception")
    want = expected_dest(state, trigger, withdrawal)

    async def fire() -> None:
        await model.trigger(trigger)  # type: ignore[attr-defined]

    if want is None:
        try:
            asyncio.run(fire())
        except MachineError:
            pass
        else:
            raise AssertionError(f"{trigger} in {state} should be a MachineError")
        assert model.state == state
    else:
        asyncio.run(fire())
        assert model.state == want


def test_every_state_is_reachable_and_can_get_back_to_idle() -> None:
    edges: dict[str, set[str]] = {s: set() for s in flow.STATES}
    for t in flow.TRANSITIONS:
        for s in t["source"] if isinstance(t["source"], list) else [t["source"]]:
            edges[s].add(t["dest"])

    def reach(start: str) -> set[str]:
        seen, todo = {start}, [start]
        while todo:
            for d in edges[todo.pop()]:
                if d not in seen:
                    seen.add(d)
                    todo.append(d)
        return seen

    assert reach(flow.INITIAL) == set(flow.STATES)
    for s in flow.STATES:
        assert "idle" in reach(s), s


def test_generated_diagram_is_current(repo_dir: Any) -> None:
    assert (repo_dir / "docs" / "state-machine.md").read_text() == diagram.render_markdown()
    assert diagram.main(["--check", str(repo_dir / "docs" / "state-machine.md")]) == 0
