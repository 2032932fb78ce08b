"""``hsm_sim.__main__``: argv handling in-process, and ``python -m hsm_sim serve`` as a process."""

from __future__ import annotations

import json
import os
import random
import selectors
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hsm_sim.__main__ import main
from hsm_sim.crypto.lmk import VariantLmk
from hsm_sim.thales.codec import Framer, encode_frame


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["serve", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "--latency-ms" in out and "--fail-commands" in out and "listening" in out


def test_no_subcommand() -> None:
    assert main([]) == 2


@pytest.mark.parametrize(
    "argv",
    [
        ["serve", "--fail-with", "X"],
        ["serve", "--lmk", "/nonexistent/lmk.toml"],
        ["serve", "--config", "/nonexistent/hsm.toml"],
        ["serve", "--latency-ms", "-5"],
    ],
)
def test_configuration_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "configuration error" in capsys.readouterr().err


def _read_line(proc: subprocess.Popen[bytes], deadline: float) -> bytes:
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    buf = b""
    while not buf.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not sel.select(left):
            raise TimeoutError("no 'listening' line from the HSM process")
        chunk = os.read(proc.stdout.fileno(), 1)
        if not chunk:
            raise RuntimeError("HSM process exited early")
        buf += chunk
    return buf


def _ask(sock: socket.socket, framer: Framer, body: bytes, header: bytes = b"0001") -> bytes:
    sock.sendall(encode_frame(header, body))
    while (f := framer.next_frame()) is None:
        data = sock.recv(65536)
        assert data, "connection closed"
        framer.receive_data(data)
    assert f.header == header
    return f.body


def test_serve_subprocess(tmp_path: Path, repo_dir: Path) -> None:
    cfg = tmp_path / "hsm.toml"
    cfg.write_text('fail_with = "68"\nfail_commands = ["DC"]\nlog_level = "WARNING"\n')
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "hsm_sim", "serve", "--port", "0", "--config", str(cfg)],
        cwd=repo_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        line = json.loads(_read_line(proc, time.monotonic() + 20))
        assert line["event"] == "listening" and line["host"] == "127.0.0.1"
        port = int(line["port"])
        nc = b"ND00" + VariantLmk.test().check_value().encode() + b"0007-E000"
        rng = random.Random(8583)
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as good,
            socket.create_connection(("127.0.0.1", port), timeout=10) as bad,
        ):
            gf = Framer()
            assert _ask(good, gf, b"NC") == nc
            for i in range(20):
                junk = rng.randbytes(rng.randrange(0, 60))
                bad.sendall(encode_frame(b"JUNK", junk))  # random frames: each one answered
                if i % 5 == 0:
                    bad.sendall(encode_frame(b"JUNK", b"CA")[:-1])  # a truncated frame...
                    bad.sendall(b"A")  # ...completed by a later write (answered CB15)
                assert _ask(good, gf, b"NC", header=f"{i:04d}".encode()) == nc
            assert _ask(good, gf, b"DCanything") == b"DD68"
            bad.sendall(b"\x00\x00")  # zero-length frame
            bad.settimeout(10)
            bf = Framer()
            answers = 0
            while answers < 20 + 4 + 1:
                data = bad.recv(65536)
                assert data, "garbage connection closed early"
                bf.receive_data(data)
                while bf.next_frame() is not None:
                    answers += 1
            assert _ask(good, gf, b"B20002ok") == b"B300ok"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        proc.stderr.close()
