"""Generate the mermaid state diagram from ``terminal.flow`` (never edit it by hand).

``python -m terminal.diagram --write docs/state-machine.md`` rewrites the file;
``--check`` exits 1 when the file is stale (CI runs it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from terminal import flow

__all__ = ["main", "mermaid", "render_markdown"]


def mermaid() -> str:
    lines = ["stateDiagram-v2", f"    [*] --> {flow.INITIAL}"]
    for t in flow.TRANSITIONS:
        sources = t["source"] if isinstance(t["source"], list) else [t["source"]]
        label = t["trigger"]
        if "conditions" in t:
            label += f" [{t['conditions']}]"
        if "unless" in t:
            label += f" [not {t['unless']}]"
        for s in sources:
            lines.append(f"    {s} --> {t['dest']}: {label}")
    for s, desc in flow.STATES.items():
        lines.append(f"    {s}: {s} — {desc}")
    return "\n".join(lines)


def render_markdown() -> str:
    return (
        f"# Terminal state machine (flow `{flow.FLOW_NAME}` v{flow.FLOW_VERSION})\n\n"
        "Generated from `terminal/flow.py` by `python -m terminal.diagram --write "
        "docs/state-machine.md`. Do not edit by hand: CI fails when it is stale.\n\n"
        f"States with a customer timeout: {', '.join(f'`{s}`' for s in flow.TIMED_STATES)}.\n\n"
        "```mermaid\n" + mermaid() + "\n```\n"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m terminal.diagram",
                                description="Write or check the generated state diagram.")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--write", metavar="FILE")
    g.add_argument("--check", metavar="FILE")
    ns = p.parse_args(argv)
    text = render_markdown()
    if ns.write:
        Path(ns.write).write_text(text, encoding="utf-8")
        return 0
    current = Path(ns.check).read_text(encoding="utf-8") if Path(ns.check).exists() else ""
    if current != text:
        print(f"{ns.check} is stale: run `make diagrams`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
