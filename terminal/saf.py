"""Store-and-forward of reversal advices (0420, repeated as 0421 until the host acknowledges).

A reversal must reach the host even if the terminal restarts or the link is down: advices are
written to a JSON-lines file before anything is sent, and removed only when the host answers
0430. The stored fields are the reversal message itself, without PIN block or track 2 (a
reversal carries neither); the PAN is needed by the host to find the original and is kept only
in this file, which a person never sees (the journal shows it masked).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from sst.common.redact import mask_pan

__all__ = ["ReversalQueue"]

_LOG = logging.getLogger(__name__)
Fields = dict[str, str]
Sender = Callable[[Fields], Awaitable[Fields]]


class ReversalQueue:
    """Persistent FIFO of reversal advices with a background sender."""

    def __init__(self, path: str | Path, sender: Sender, *, retry_s: float = 5.0,
                 on_done: Callable[[Fields, Fields], None] | None = None) -> None:
        self.path = Path(path)
        self._send = sender
        self._retry_s = retry_s
        self._on_done = on_done
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def pending(self) -> list[Fields]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.append(json.loads(line))
        return out

    def _write(self, items: list[Fields]) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
        os.replace(tmp, self.path)

    def enqueue(self, fields: Fields) -> None:
        """Persist an advice (durably, before returning) and wake the sender."""
        assert not {"35", "52", "55"} & set(fields), (
            "a reversal never carries track 2 or a PIN block")
        items = self.pending()
        items.append(dict(fields))
        self._write(items)
        _LOG.info("reversal queued", extra={"stan": fields.get("11"),
                                            "pan": mask_pan(fields.get("2", "")),
                                            "amount": fields.get("4"), "queued": len(items)})
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="reversal-saf")
            self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def drain(self, timeout: float = 10.0) -> bool:
        """Wait until the queue is empty (True) or ``timeout`` passes (False)."""
        async def empty() -> None:
            while self.pending():
                self._wake.set()
                await asyncio.sleep(0.02)
        try:
            await asyncio.wait_for(empty(), timeout)
        except TimeoutError:
            return False
        return True

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while items := self.pending():
                head = items[0]
                try:
                    resp = await self._send(head)
                except (OSError, TimeoutError, ConnectionError) as e:
                    _LOG.info("reversal not delivered; will repeat", extra={
                        "stan": head.get("11"), "error": type(e).__name__})
                    head["t"] = "0421"  # a repeat from now on
                    self._write([head, *items[1:]])
                    await asyncio.sleep(self._retry_s)
                    continue
                if resp.get("39") not in {"00", "12", "25"}:
                    _LOG.warning("host refused a reversal; kept for the supervisor", extra={
                        "stan": head.get("11"), "rc": resp.get("39")})
                    await asyncio.sleep(self._retry_s)
                    continue
                self._write(self.pending()[1:])
                if self._on_done is not None:
                    self._on_done(head, resp)
