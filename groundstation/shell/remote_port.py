"""The web map's station port over loopback HTTP, so that the web server can run as its own process against a running
station (`groundstation web --station URL`) with the same web code as inside the station: the station side
(`PortEndpoint`, serving a StationPort and a UserStore, e.g. web_bridge's) and the web side (`RemotePort`,
`RemoteUsers`: web.port's Protocols implemented by calling it). Restarting the web process never touches the
station or its links; a new one continues the same numbered feed.

The wire, one copy for both sides (this module):
    POST /port/<method>   {"args": [...]} -> 200 {"result": ...}; a refusal -> 4xx/5xx {"error": code, "message": ...}
                          with web.errors' codes, raised again as the same web.errors class on the web side
    GET  /feed[?after=N]  a stream of JSON lines: first {"hello": {"seq": S, "instance": I}}, then every feed item
                          numbered after S (or after N: the kept items after N first, or {"gone": N} when they are
                          no longer kept), an empty line every HEARTBEAT_S while nothing happens
    GET  /tiles/<z>/<x>/<y>  a map tile's bytes (404: none)
    GET  /snapshots/<alert id>  an alert's evidence snapshot, JPEG (404: none)
Every request carries ``Authorization: Bearer <token>``; the token is a random secret in a file of mode 0600
(`load_token`), readable only by the station's user. The endpoint listens on loopback only. Video never crosses it:
the web map reads the vision workers' own streams (web/video.py).
"""
from __future__ import annotations

import hmac
import json
import logging
import os
import queue
import secrets
import socket
import stat
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import quote

from groundstation.shell.web_bridge import BridgeServer
from web.errors import Conflict, InvalidInput, NotFound, StationUnavailable, WebError
from web.port import Acknowledgement, FeedItem, Outcome, ScheduleRequest, User
from web.server import is_loopback

log = logging.getLogger("groundstation.remote_port")

HEARTBEAT_S = 5.0
FEED_QUEUE_ITEMS = 50_000  # a web process this far behind is dropped; it reconnects with after=<its last seq>
CALL_TIMEOUT_S = 30.0
_ERRORS: dict[str, type[WebError]] = {cls.code: cls for cls in (InvalidInput, NotFound, Conflict, StationUnavailable)}


class PortError(Exception):
    """The station port cannot be served or reached as configured (token file, address)."""


# --- the token ------------------------------------------------------------------------------------------------

def load_token(path: str | Path, create: bool = False) -> str:
    """The shared secret in `path` (made, mode 0600, when `create` and missing). PortError when the file is missing,
    empty, or readable by others than its owner."""
    path = Path(path)
    if create and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(32) + "\n")
    try:
        mode = path.stat().st_mode
        token = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise PortError(f"no station port token file {path} (the station makes it when it serves its port)") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise PortError(f"{path} is readable by other users (mode {stat.S_IMODE(mode):04o}): chmod 600 it")
    if len(token) < 16:
        raise PortError(f"{path} holds no usable token")
    return token


def token_path(config: Any) -> Path:
    """Where the station keeps its port token: beside its database."""
    return Path(config.station.storage_path).parent / "station-port.token"


# --- the station side -------------------------------------------------------------------------------------------

def _encode_args(name: str, args: tuple[Any, ...]) -> list[Any]:
    if name == "acknowledge":
        return [asdict(args[0])]
    if name == "add_schedule":
        request = asdict(args[0])
        request["zone_geojson"], request["extra"] = dict(args[0].zone_geojson), dict(args[0].extra)
        return [request, *args[1:]]
    return list(args)


def _decode_args(name: str, args: list[Any]) -> list[Any]:
    if name == "acknowledge":
        return [Acknowledgement(**args[0])]
    if name == "add_schedule":
        return [ScheduleRequest(**args[0]), *args[1:]]
    return args


def _encode_result(name: str, result: Any) -> Any:
    if name in ("command", "acknowledge_notice", "acknowledge", "users_add"):
        return asdict(result)
    if name == "acknowledgements" or name == "users_all":
        return [asdict(r) for r in result]
    if name == "users_get":
        return None if result is None else asdict(result)
    return result


def _decode_result(name: str, result: Any) -> Any:
    if name in ("command", "acknowledge_notice"):
        return Outcome(**result)
    if name == "acknowledge":
        return Acknowledgement(**result)
    if name == "acknowledgements":
        return [Acknowledgement(**r) for r in result]
    if name in ("users_get", "users_add"):
        return None if result is None else User(**result)
    if name == "users_all":
        return [User(**r) for r in result]
    return result


PORT_METHODS = ("view", "layout", "since", "command", "acknowledge_notice", "missions", "records", "acknowledgements", "acknowledge",
                "schedules", "add_schedule", "remove_schedule", "video_sources", "zones_document", "save_zones", "record_change", "risk_at", "replay", "grid_document", "save_grid",
                "parse_zones", "tiles")
USER_METHODS = {"users_get": "get", "users_all": "all", "users_add": "add", "users_remove": "remove"}


class PortEndpoint:
    """Serves `port` (web.port.StationPort) and `users` (web.port.UserStore) on loopback to whoever holds `token`.
    `start()`, `.url`, `stop()` (ends the open feeds; the station is not touched)."""

    def __init__(self, port: Any, users: Any, token: str, host: str = "127.0.0.1", port_number: int = 0):
        if not is_loopback(host):
            raise PortError(f"the station port serves loopback only, not {host!r}")
        self._port, self._users, self._token = port, users, token
        self._host, self._port_number = host, port_number
        self._instance = uuid.uuid4().hex
        self._closing = threading.Event()
        self._feeds: set[queue.Queue[Any]] = set()  # the open feeds' queues (stop() wakes them)
        self._feeds_lock = threading.Lock()
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.bound: tuple[str, int] | None = None

    @property
    def url(self) -> str:
        assert self.bound is not None, "not started"
        return f"http://{self.bound[0]}:{self.bound[1]}/"

    def start(self) -> "PortEndpoint":
        from werkzeug.serving import WSGIRequestHandler, make_server

        class Quiet(WSGIRequestHandler):
            def log_request(self, *args: Any) -> None:  # one line per call would flood the station's log
                pass

        try:
            self._server = make_server(self._host, self._port_number, self._app(), threaded=True,
                                       request_handler=Quiet)
        except OSError as exc:
            raise PortError(f"cannot serve the station port on {self._host}:{self._port_number}: {exc}") from exc
        self._server.daemon_threads = True
        self.bound = (self._host, self._server.server_port)
        self._thread = threading.Thread(target=self._server.serve_forever, name="station-port", daemon=True)
        self._thread.start()
        log.info("station port: %s", self.url)
        return self

    def stop(self) -> None:
        self._closing.set()
        with self._feeds_lock:
            feeds = list(self._feeds)
        for items in feeds:
            try:
                items.put_nowait(None)  # wakes the feed's thread, which sees the endpoint closing
            except queue.Full:
                pass
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None

    def _app(self) -> Any:
        from flask import Flask, Response, jsonify, request

        app = Flask("station-port")
        expected = f"Bearer {self._token}".encode()

        @app.before_request
        def authenticate():
            given = request.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                return jsonify({"error": "unauthorized", "message": "a valid station port token is needed"}), 401
            return None

        @app.errorhandler(WebError)
        def on_web_error(exc: WebError):
            return jsonify({"error": exc.code, "message": exc.message}), exc.status

        @app.post("/port/<name>")
        def call(name: str):
            body = request.get_json(silent=True)
            args = body.get("args") if isinstance(body, dict) else None
            if not isinstance(args, list):
                raise InvalidInput('the body must be {"args": [...]}')
            if name in USER_METHODS:
                fn = getattr(self._users, USER_METHODS[name])
            elif name in PORT_METHODS:
                fn = getattr(self._port, name)
            else:
                raise NotFound(f"no port method {name!r}")
            try:
                result = fn(*_decode_args(name, args))
            except WebError:
                raise
            except TypeError as exc:
                raise InvalidInput(f"{name}: {exc}") from None
            return jsonify({"result": _encode_result(name, result)})

        @app.get("/tiles/<int:z>/<int:x>/<int:y>")
        def tile(z: int, x: int, y: int):
            data = self._port.tile(z, x, y)
            if data is None:
                raise NotFound("no such tile")
            return Response(data, mimetype="application/octet-stream")

        @app.get("/snapshots/<alert_id>")
        def snapshot(alert_id: str):
            data = self._port.snapshot(alert_id)
            if data is None:
                raise NotFound("no such snapshot")
            return Response(data, mimetype="image/jpeg")

        @app.get("/feed")
        def feed():
            after = request.args.get("after")
            if after is not None and not after.isdigit():
                raise InvalidInput("after must be a feed sequence number")
            return Response(self._feed(None if after is None else int(after)), mimetype="application/x-ndjson")

        return app

    def _feed(self, after: int | None) -> Iterator[bytes]:
        """The feed stream of one web process (on its own server thread)."""
        items: queue.Queue[FeedItem | None] = queue.Queue(FEED_QUEUE_ITEMS)
        overflowed = threading.Event()
        with self._feeds_lock:
            self._feeds.add(items)

        def on_item(item: FeedItem) -> None:  # the station's core thread: only enqueue
            try:
                items.put_nowait(item)
            except queue.Full:
                overflowed.set()

        unsubscribe = self._port.subscribe(on_item)
        try:
            current = self._port.view()["seq"]  # subscribed before: nothing after it can be missed
            if after is None or after > current:  # a new follower, or one numbered by a station that restarted
                last = current
                yield _line({"hello": {"seq": current, "instance": self._instance}})
                if after is not None:
                    yield _line({"gone": after})
            else:
                yield _line({"hello": {"seq": after, "instance": self._instance}})
                backlog = self._port.since(after)
                last = after
                if backlog is None:
                    last = current
                    yield _line({"gone": after})
                else:
                    for item in backlog:
                        yield _line(item)
                        last = item["seq"]
            while not self._closing.is_set() and not overflowed.is_set():
                try:
                    batch = [items.get(timeout=HEARTBEAT_S)]
                except queue.Empty:
                    yield b"\n"
                    continue
                while len(batch) < 1000:
                    try:
                        batch.append(items.get_nowait())
                    except queue.Empty:
                        break
                fresh = [item for item in batch if item is not None and item["seq"] > last]
                if fresh:
                    last = fresh[-1]["seq"]
                    yield b"".join(_line(item) for item in fresh)
            if overflowed.is_set():
                log.warning("station port: a web process fell %d items behind; its feed is closed (it reconnects)",
                            FEED_QUEUE_ITEMS)
        finally:
            unsubscribe()
            with self._feeds_lock:
                self._feeds.discard(items)


def _line(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), default=str).encode() + b"\n"


class StationPortService(BridgeServer):
    """The station port of a running station: web_bridge's StationBridge and DatabaseUsers behind a PortEndpoint,
    with the token beside the database (made when missing). `start()` prints nothing; `.url`; `stop()`."""

    def __init__(self, station: Any, config: Any, port_number: int = 0, token_file: str | Path | None = None,
                 mbtiles: str | Path | None = None):
        self.token_file = Path(token_file) if token_file is not None else token_path(config)
        token = load_token(self.token_file, create=True)
        super().__init__(station, config, mbtiles)
        self.server = PortEndpoint(self.bridge, self.users, token, port_number=port_number)


# --- the web side -----------------------------------------------------------------------------------------------

class _Client:
    """HTTP to the endpoint: one requests.Session per thread (calls come from the web server's pool threads)."""

    def __init__(self, url: str, token: str):
        self.url = url if url.endswith("/") else url + "/"
        self._headers = {"Authorization": f"Bearer {token}"}
        self._local = threading.local()

    def session(self) -> Any:
        import requests

        s = getattr(self._local, "session", None)
        if s is None:
            s = self._local.session = requests.Session()
            s.headers.update(self._headers)
        return s

    def call(self, name: str, *args: Any, timeout_s: float = CALL_TIMEOUT_S) -> Any:
        import requests

        try:
            r = self.session().post(f"{self.url}port/{name}", json={"args": _encode_args(name, args)},
                                    timeout=(5.0, timeout_s))
        except requests.RequestException as exc:
            raise StationUnavailable(f"the station at {self.url} does not answer: {type(exc).__name__}") from None
        return _decode_result(name, _answer(r))

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        return self.binary(f"tiles/{z}/{x}/{y}")

    def binary(self, path: str) -> bytes | None:
        """The bytes the endpoint serves at `path` (a tile, a snapshot); None when it has none (404)."""
        import requests

        try:
            r = self.session().get(f"{self.url}{path}", timeout=(5.0, CALL_TIMEOUT_S))
        except requests.RequestException as exc:
            raise StationUnavailable(f"the station at {self.url} does not answer: {type(exc).__name__}") from None
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            _answer(r)
        return r.content


def _answer(r: Any) -> Any:
    try:
        body = r.json()
    except ValueError:
        body = None
    if r.status_code == 200 and isinstance(body, dict) and "result" in body:
        return body["result"]
    code = body.get("error") if isinstance(body, dict) else None
    message = body.get("message") if isinstance(body, dict) else None
    if r.status_code == 401:
        raise StationUnavailable("the station refused this web process's port token")
    raise _ERRORS.get(code or "", WebError)(message or f"the station port answered {r.status_code}")


class RemotePort:
    """web.port.StationPort over a PortEndpoint (see the module docstring)."""

    def __init__(self, url: str, token: str, *, reconnect_max_s: float = 5.0):
        self._client = _Client(url, token)
        self._reconnect_max_s = reconnect_max_s
        self.url = self._client.url

    def view(self) -> dict[str, Any]:
        return self._client.call("view")

    def layout(self) -> dict[str, Any]:
        return self._client.call("layout")

    def since(self, seq: int) -> list[FeedItem] | None:
        return self._client.call("since", seq)

    def command(self, vehicle_id: str, action: str, args: Mapping[str, Any], requested_by: str,
                timeout_s: float) -> Outcome:
        return self._client.call("command", vehicle_id, action, dict(args), requested_by, timeout_s,
                                 timeout_s=timeout_s + 10.0)

    def acknowledge_notice(self, notice_id: str, officer_id: str, token: str, note: str, timeout_s: float) -> Outcome:
        return self._client.call("acknowledge_notice", notice_id, officer_id, token, note, timeout_s,
                                 timeout_s=timeout_s + 10.0)

    def missions(self) -> list[dict[str, Any]]:
        return self._client.call("missions")

    def records(self, kind: str, filters: Mapping[str, Any], limit: int) -> list[dict[str, Any]]:
        return self._client.call("records", kind, dict(filters), limit)

    def acknowledgements(self) -> list[Acknowledgement]:
        return self._client.call("acknowledgements")

    def acknowledge(self, ack: Acknowledgement) -> Acknowledgement:
        return self._client.call("acknowledge", ack)

    def schedules(self, now_s: float) -> list[dict[str, Any]]:
        return self._client.call("schedules", now_s)

    def add_schedule(self, request: ScheduleRequest, now_s: float) -> dict[str, Any]:
        return self._client.call("add_schedule", request, now_s, timeout_s=120.0)

    def remove_schedule(self, schedule_id: str) -> dict[str, Any]:
        return self._client.call("remove_schedule", schedule_id)

    def video_sources(self) -> list[dict[str, Any]]:
        return self._client.call("video_sources")

    def zones_document(self) -> dict[str, Any]:
        return self._client.call("zones_document")

    def grid_document(self) -> dict[str, Any]:
        return self._client.call("grid_document")

    def save_grid(self, text: str, filename: str, requested_by: str) -> dict[str, Any]:
        return self._client.call("save_grid", text, filename, requested_by)

    def replay(self, from_s: float, to_s: float) -> dict[str, Any]:
        return self._client.call("replay", from_s, to_s)

    def risk_at(self, at_s: float) -> dict[str, Any]:
        return self._client.call("risk_at", at_s)

    def record_change(self, action: str, args: Mapping[str, Any], requested_by: str) -> None:
        self._client.call("record_change", action, dict(args), requested_by)

    def save_zones(self, document: Mapping[str, Any], requested_by: str) -> dict[str, Any]:
        return self._client.call("save_zones", dict(document), requested_by)

    def parse_zones(self, text: str, filename: str) -> dict[str, Any]:
        return self._client.call("parse_zones", text, filename)

    def tiles(self) -> dict[str, Any] | None:
        return self._client.call("tiles")

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        return self._client.tile(z, x, y)

    def snapshot(self, alert_id: str) -> bytes | None:
        return self._client.binary(f"snapshots/{quote(alert_id, safe='')}")

    def subscribe(self, callback: Callable[[FeedItem], None], connect_timeout_s: float = 10.0
                  ) -> Callable[[], None]:
        """Follow the station's feed on a thread of its own (reconnecting with the last number it passed on, so
        nothing is skipped while the station keeps the items); returns once the feed is joined (or after
        `connect_timeout_s`, the thread trying on)."""
        feed = _FeedFollower(self._client, callback, self._reconnect_max_s)
        feed.start()
        if not feed.joined.wait(connect_timeout_s):
            log.warning("station port %s: feed not joined within %g s; still trying", self.url, connect_timeout_s)
        return feed.stop


class _FeedFollower:
    def __init__(self, client: _Client, callback: Callable[[FeedItem], None], reconnect_max_s: float):
        self._client, self._callback, self._reconnect_max_s = client, callback, reconnect_max_s
        self._stop = threading.Event()
        self._response: Any = None
        self._lock = threading.Lock()
        self.joined = threading.Event()
        self.last: int | None = None
        self.instance: str | None = None
        self._thread = threading.Thread(target=self._run, name="station-feed", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            response = self._response
        if response is not None:  # end the read the thread is blocked in (else it ends at the next heartbeat)
            try:
                response.raw._fp.fp.raw._sock.shutdown(socket.SHUT_RDWR)  # urllib3 -> http.client -> socket
            except (AttributeError, OSError):
                pass
            response.close()
        self._thread.join(5.0)

    def _run(self) -> None:
        backoff = 0.2
        while not self._stop.is_set():
            try:
                self._follow()
                backoff = 0.2
            except Exception as exc:  # the station is away or restarting: try again
                if self._stop.is_set():
                    return
                log.info("station feed: %s; reconnecting in %.1f s", type(exc).__name__, backoff)
            if self._stop.wait(backoff):
                return
            backoff = min(self._reconnect_max_s, backoff * 2.0)

    def _follow(self) -> None:
        after = "" if self.last is None else f"?after={self.last}"
        response = self._client.session().get(f"{self._client.url}feed{after}", stream=True,
                                              timeout=(5.0, 3 * HEARTBEAT_S))
        with self._lock:
            self._response = response
        try:
            if response.status_code != 200:
                _answer(response)
            for line in response.iter_lines(chunk_size=None):
                if self._stop.is_set():
                    return
                if not line:
                    continue
                message = json.loads(line)
                if "hello" in message:
                    hello = message["hello"]
                    if self.instance is not None and hello["instance"] != self.instance:
                        log.warning("station feed: the station restarted; its feed is numbered anew from %d",
                                    hello["seq"])
                        self.last = hello["seq"]
                    self.instance = hello["instance"]
                    if self.last is None:
                        self.last = hello["seq"]
                    self.joined.set()
                elif "gone" in message:
                    log.warning("station feed: items after %d are no longer kept; pages reload", message["gone"])
                else:
                    self.last = message["seq"]
                    self._callback(message)
        finally:
            with self._lock:
                self._response = None
            response.close()


class RemoteUsers:
    """web.port.UserStore over a PortEndpoint (the station database's users)."""

    def __init__(self, url: str, token: str):
        self._client = _Client(url, token)

    def get(self, name: str) -> User | None:
        return self._client.call("users_get", name)

    def all(self) -> list[User]:
        return self._client.call("users_all")

    def add(self, name: str, role: str, password_hash: str, now_s: float) -> User:
        return self._client.call("users_add", name, role, password_hash, now_s)

    def remove(self, name: str) -> None:
        self._client.call("users_remove", name)


def wait_for_station(port: RemotePort, timeout_s: float, poll_s: float = 0.5) -> bool:
    """Whether the station answers within timeout_s (a web process started before its station waits for it)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            port.view()
            return True
        except StationUnavailable:
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll_s)
