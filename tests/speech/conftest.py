"""Fixtures for speech/: a simulated speaker on loopback, a settable clock, WAV bytes, a dead network."""
from __future__ import annotations

import io
import socket
import wave

import pytest

from sim.speaker import SpeakerServer


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def wav_bytes(duration_s: float, rate_hz: int = 8000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate_hz)
        w.writeframes(b"\x00\x00" * round(duration_s * rate_hz))
    return buf.getvalue()


def free_port() -> int:
    """A loopback port with nothing listening on it (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def speaker(clock):
    server = SpeakerServer(clock=clock).start()
    yield server
    server.stop()


@pytest.fixture
def no_network(monkeypatch):
    """Google unreachable, whatever this machine's network: HTTPS goes to a proxy port that refuses."""
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("HTTPS_PROXY", url)
    monkeypatch.setenv("https_proxy", url)
    return url


@pytest.fixture
def silent_server():
    """A TCP port that accepts connections (the kernel's backlog) and never answers: a stalled network."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    yield s.getsockname()[1]
    s.close()
