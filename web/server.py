"""Serves the web map (web/app.py) on its own thread, next to the station or in a process of its own.

Async mode, measured (benchmarks/web_fanout.py): Flask-SocketIO with gevent's WSGI server, WITHOUT monkey-patching.
The station's own threads (core, links, storage writer, command workers) stay real threads: monkey-patching would
turn them into greenlets of one hub, where a blocking pymavlink read or a long core step would stall every page.
Instead the gevent hub runs on this server's one thread, and every call that may block (the station's command path,
database reads, argon2) runs on the hub's pool of real threads (`hub.threadpool.apply`), which the page's greenlets
wait for cooperatively; the video proxy (web/video.py) reads the vision workers' streams over gevent's cooperative
sockets, made without patching anything. engineio's gevent driver uses simple-websocket with gevent's own Event/Greenlet/selectors
when gevent-websocket is not installed, so WebSocket needs no patching either. The feed callback (the station's core
thread) only appends to a deque; the fan-out greenlet polls it (web/fanout.py), so no greenlet is ever woken from
another thread. async_mode = "threading" (Werkzeug's threaded server + simple-websocket) is kept as a fallback.
"""
from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from web.app import WebApp, create_app
from web.auth import Passwords
from web.port import StationPort, UserStore
from web.settings import ASYNC_MODES, ServerSettings

log = logging.getLogger("web.server")


class WebServerError(Exception):
    """The web server could not start (address in use, bad TLS files, unknown async mode)."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class WebServer:
    """`WebServer(port, users, settings).start()`; `.url`; `.stop()`. Stopping it never touches the station."""

    def __init__(self, port: StationPort, users: UserStore, settings: ServerSettings, *,
                 passwords: Passwords | None = None, clock: Callable[[], float] = time.time):
        if settings.async_mode not in ASYNC_MODES:
            raise WebServerError(f"unknown async_mode {settings.async_mode!r}; use one of {', '.join(ASYNC_MODES)}")
        self._port, self._users, self.settings = port, users, settings
        self._passwords, self._clock = passwords, clock
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stopper: Callable[[], None] | None = None
        self.web: WebApp | None = None
        self.bound: tuple[str, int] | None = None

    @property
    def url(self) -> str:
        assert self.bound is not None, "not started"
        host, port = self.bound
        return f"{self.settings.scheme}://{'[' + host + ']' if ':' in host else host}:{port}/"

    def start(self, timeout_s: float = 15.0) -> "WebServer":
        if not is_loopback(self.settings.host) and not self.settings.tls:
            log.warning("web map listening on %s WITHOUT TLS: passwords and session cookies cross the network in "
                        "clear; set [web] tls_cert and tls_key", self.settings.host)
        if self.settings.async_mode == "gevent":
            # gevent notes the thread that first imports it as the main thread, and a hub made in that thread gets
            # libev's default loop, whose SIGCHLD handler reaps every child process: multiprocessing would then never
            # see a vision worker die. Imported here (the station's main thread), every server hub is a plain loop.
            import gevent.hub  # noqa: F401
        target = self._serve_gevent if self.settings.async_mode == "gevent" else self._serve_threading
        self._thread = threading.Thread(target=self._run, args=(target,), name="web-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise WebServerError(f"the web server did not start within {timeout_s:g} s")
        if self._error is not None:
            raise WebServerError(f"cannot serve on {self.settings.host}:{self.settings.port}: {self._error}") \
                from self._error
        log.info("web map: %s (async mode %s)", self.url, self.settings.async_mode)
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._stopper is not None:
            self._stopper()
            self._stopper = None
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.error("the web server thread did not stop within %g s", timeout_s)
            self._thread = None
        if self.web is not None:
            self.web.fanout.stop()

    def __enter__(self) -> "WebServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self, target: Callable[[], None]) -> None:
        try:
            target()
        except BaseException as exc:  # reported by start(), or logged when it happens later
            if not self._ready.is_set():
                self._error = exc
            else:
                log.exception("the web server failed")
        finally:
            self._ready.set()

    def _serve_gevent(self) -> None:
        import gevent
        from gevent import pywsgi
        from gevent import socket as cooperative_socket

        hub = gevent.get_hub()  # this thread's own hub; nothing is monkey-patched
        hub.threadpool.maxsize = 16

        def call(fn: Callable[..., Any], *args: Any) -> Any:
            return hub.threadpool.apply(fn, args)

        self.web = create_app(self._port, self._users, self.settings, passwords=self._passwords, clock=self._clock,
                              call=call, connect=cooperative_socket.create_connection)
        tls: dict[str, Any] = {}
        if self.settings.tls:
            tls = {"certfile": str(self.settings.tls_cert), "keyfile": str(self.settings.tls_key)}
        open_sockets: set[Any] = set()

        class Handler(pywsgi.WSGIHandler):
            """Ends the HTTP connection after a WebSocket session: simple-websocket talks on a duplicate of the
            socket, and pywsgi would otherwise read the closing WebSocket frames as the next HTTP request. Keeps
            the open connections, so that stopping closes every one (a page then sees the server go at once)."""

            def handle(self) -> None:
                sock = self.socket  # pywsgi drops the attribute when the connection ends
                open_sockets.add(sock)
                try:
                    super().handle()
                finally:
                    open_sockets.discard(sock)

            def run_application(self) -> None:
                upgrade = self.environ.get("HTTP_UPGRADE", "").lower() == "websocket"
                try:
                    super().run_application()
                finally:
                    if upgrade:
                        self.close_connection = True

        server = pywsgi.WSGIServer((self.settings.host, self.settings.port), self.web.flask, log=None,
                                   error_log=logging.getLogger("web.wsgi"), handler_class=Handler, **tls)
        server.start()
        self.bound = server.address[:2]
        web = self.web
        web.fanout.start()

        def shutdown() -> None:  # in the hub: pages first (their WebSockets close cleanly), then the server
            web.fanout.stop()
            try:
                web.socketio.server.shutdown()
                web.socketio.server.eio.disconnect()
            except Exception:
                log.exception("closing the live connections failed")
            server.stop(timeout=1.0)

        loop = hub.loop
        self._stopper = lambda: loop.run_callback_threadsafe(lambda: gevent.spawn(shutdown))
        self._ready.set()
        try:
            server.serve_forever()
        finally:
            for sock in list(open_sockets):  # keep-alive connections the stop did not end: FIN at once
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                    sock.close()
                except OSError:
                    pass
            hub.destroy(destroy_loop=True)

    def _serve_threading(self) -> None:
        from werkzeug.serving import make_server

        self.web = create_app(self._port, self._users, self.settings, passwords=self._passwords, clock=self._clock)
        ssl_context = (str(self.settings.tls_cert), str(self.settings.tls_key)) if self.settings.tls else None
        server = make_server(self.settings.host, self.settings.port, self.web.flask, threaded=True,
                             ssl_context=ssl_context)
        self.bound = (self.settings.host, server.server_port)
        web = self.web
        web.fanout.start()

        def shutdown() -> None:
            web.fanout.stop()
            try:
                web.socketio.server.shutdown()
                web.socketio.server.eio.disconnect()
            except Exception:
                log.exception("closing the live connections failed")
            server.shutdown()

        self._stopper = shutdown
        self._ready.set()
        server.serve_forever()
