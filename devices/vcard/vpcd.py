"""The virtual card's vpcd client: 2-byte big-endian length framing over TCP (vsmartcard vpcd).

The card is the TCP client of vpcd (127.0.0.1:35963 = slot 0). ``04`` asks for the ATR
(always answered), ``00``/``02`` power off/reset the card, ``01`` powers it on; any longer
message is a C-APDU answered with ``data || SW1 SW2``. ``TCP_QUICKACK`` is re-armed before
every receive (vpcd 3.3 sends length and data in two segments; without it each APDU waits for
the ~40 ms delayed ACK). On any socket error the client reconnects every ``retry_s``.
Our own implementation of the protocol described in docs/cards.md; no vsmartcard code.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
from collections.abc import Callable

from devices.vcard.card import CardPulledError, VirtualEmvCard

__all__ = ["VpcdCardClient", "VpcdFramer"]

_LOGGER = logging.getLogger(__name__)
_LOGGER.addHandler(logging.NullHandler())

_CTRL_OFF, _CTRL_ON, _CTRL_RESET, _CTRL_ATR = 0x00, 0x01, 0x02, 0x04


class VpcdFramer:
    """Sans-io framer: feed bytes, drain complete messages (WIRE-2).

    Examples
    --------
    >>> f = VpcdFramer()
    >>> f.receive_data(b"\\x00\\x01\\x04\\x00")
    >>> f.next_message(), f.next_message()
    (b'\\x04', None)
    >>> VpcdFramer.frame(b"\\x90\\x00").hex()
    '00029000'
    """

    def __init__(self) -> None:
        self._buf = bytearray()

    def receive_data(self, data: bytes) -> None:
        """Append received bytes."""
        self._buf += data

    def next_message(self) -> bytes | None:
        """The next complete message, or None."""
        if len(self._buf) < 2:
            return None
        (n,) = struct.unpack("!H", self._buf[:2])
        if len(self._buf) < 2 + n:
            return None
        msg = bytes(self._buf[2 : 2 + n])
        del self._buf[: 2 + n]
        return msg

    @staticmethod
    def frame(payload: bytes) -> bytes:
        """Length prefix + payload (sent in one ``sendall``)."""
        return struct.pack("!H", len(payload)) + payload


class VpcdCardClient:
    """Serve one :class:`VirtualEmvCard` to vpcd until :meth:`stop`.

    Parameters
    ----------
    card:
        The card application.
    host, port:
        vpcd's listening address (loopback only).
    quickack:
        Re-arm ``TCP_QUICKACK`` before every receive (Linux).
    retry_s:
        Reconnect delay.
    on_connected:
        Called (from the client thread) each time the connection to vpcd is up.
    """

    def __init__(
        self, card: VirtualEmvCard, *, host: str = "127.0.0.1", port: int = 35963,
        quickack: bool = True, retry_s: float = 0.2,
        on_connected: Callable[[], None] | None = None,
    ) -> None:  # fmt: skip
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("vpcd must be reached on loopback only")
        self.card = card
        self._addr = (host, port)
        self._quickack = quickack
        self._retry = retry_s
        self._on_connected = on_connected
        self._stop = threading.Event()
        self._inserted = threading.Event()
        self._inserted.set()
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.connections = 0

    # ---- control (any thread) ----------------------------------------------------------------

    def start(self) -> None:
        """Run :meth:`serve_forever` in a daemon thread."""
        self._thread = threading.Thread(target=self.serve_forever, name="vpcd-card", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Disconnect (the card is removed) and end the client loop."""
        self._stop.set()
        self._inserted.set()
        self._close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def pull(self) -> None:
        """The card leaves the reader: drop the connection and stay out until :meth:`insert`."""
        self._inserted.clear()
        self._close()

    def insert(self) -> None:
        """Put the card back."""
        self._inserted.set()

    def _close(self) -> None:
        with self._lock:
            s, self._sock = self._sock, None
        if s is not None:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    # ---- loop --------------------------------------------------------------------------------

    def serve_forever(self) -> None:
        """Connect, serve, reconnect after errors until :meth:`stop`."""
        while not self._stop.is_set():
            self._inserted.wait()
            if self._stop.is_set():
                break
            try:
                self._serve_once()
            except OSError as e:
                _LOGGER.debug("vpcd connection ended: %s", e.__class__.__name__)
            finally:
                self._close()
                self.card.reset()
            self._stop.wait(self._retry)

    def _serve_once(self) -> None:
        s = socket.create_connection(self._addr, timeout=2.0)
        s.settimeout(None)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            self._sock = s
        self.connections += 1
        if self._on_connected is not None:
            self._on_connected()
        framer = VpcdFramer()
        while True:
            msg = framer.next_message()
            if msg is None:
                if self._quickack:
                    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
                data = s.recv(4096)
                if not data:
                    raise ConnectionResetError("vpcd closed the connection")
                framer.receive_data(data)
                continue
            reply = self._handle(msg)
            if reply is not None:
                s.sendall(VpcdFramer.frame(reply))

    def _handle(self, msg: bytes) -> bytes | None:
        if len(msg) == 1:
            ctrl = msg[0]
            if ctrl == _CTRL_ATR:
                return self.card.atr
            if ctrl in (_CTRL_OFF, _CTRL_RESET):
                self.card.reset()
            elif ctrl == _CTRL_ON:
                self.card.power_on()
            return None
        if not self.card.powered:
            self.card.power_on()
        try:
            r = self.card.process_apdu(msg)
        except CardPulledError:
            self.pull()
            raise ConnectionResetError("card pulled") from None
        if r is None:
            # Mute: vpcd 3.3 blocks forever on a missing or empty answer, so drop the link
            # instead; the reader sees a failed exchange and the card back ~retry_s later.
            raise ConnectionResetError("mute card")
        return r
