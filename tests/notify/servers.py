"""Real local servers the notification adapters are tested against: an HTTP server that records what it receives and
answers as told (a webhook receiver, an SMS gateway), an SMTP server (aiosmtpd) that keeps the mail it accepts or
refuses recipients, and addresses where nothing answers."""
from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message as Email
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from aiosmtpd.controller import Controller  # a test dependency (requirements.txt)


@dataclass
class Received:
    path: str
    headers: Email  # case-insensitive, as HTTP header names are
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Answer:
    status: int = 200
    body: bytes = b'{"ok": true}'
    delay_s: float = 0.0  # wait this long before answering (a slow receiver)


class HttpReceiver:
    """An HTTP server on 127.0.0.1 (a port the OS picks) recording every POST; `answer(request)` says what to send."""

    def __init__(self, answer: Callable[[Received], Answer] | None = None) -> None:
        self.received: list[Received] = []
        self.answer = answer or (lambda _r: Answer())
        self._stop = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                got = Received(self.path, self.headers, self.rfile.read(length))
                outer.received.append(got)
                reply = outer.answer(got)
                if reply.delay_s:
                    outer._stop.wait(reply.delay_s)
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except OSError:
                    pass  # the client gave up (its timeout)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="test-http",
                                        daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> "HttpReceiver":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()


@dataclass
class Mailbox:
    """What the SMTP server accepted; recipients in `refuse` are answered 550."""

    refuse: set[str] = field(default_factory=set)
    mails: list[tuple[str, list[str], Email]] = field(default_factory=list)  # (envelope from, to, message)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd's name
        if address in self.refuse:
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.mails.append((envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 Message accepted for delivery"


class SmtpServer:
    """aiosmtpd on 127.0.0.1 (a free port), plain SMTP, keeping mail in `mailbox`."""

    def __init__(self, mailbox: Mailbox | None = None) -> None:
        self.mailbox = mailbox or Mailbox()
        self.port = free_port()
        self._controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> "SmtpServer":
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()


def free_port() -> int:
    """A loopback port nothing listens on (connections to it are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Silent:
    """A TCP port that accepts connections and never answers (a hung receiver)."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self.port = self._sock.getsockname()[1]

    def __enter__(self) -> "Silent":
        return self

    def __exit__(self, *exc: object) -> None:
        self._sock.close()
