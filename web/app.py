"""The web map's Flask + Flask-SocketIO application: REST API (web/api.py), the page and its static files, Leaflet
from npm, local map tiles (a z/x/y folder, or the station's MBTiles file through the port), the video panel's MJPEG
proxy (/video/<stream>.mjpeg, web/video.py), login sessions, CSRF, Socket.IO live updates (web/fanout.py), and the
grid officers' acknowledgement links (/notices/<notice id>/ack: [grid] ack_base_url = <this map's address>/notices).
/api/, /tiles/ and /video/ answer 401 without a login; an acknowledgement link needs none (its token is the proof).

`create_app(port, users, settings)` builds it around the two Protocols of web/port.py; web/server.py serves it.
Sessions are Flask's signed cookies (HttpOnly, SameSite=Strict, Secure when served over TLS) holding the user's
name and a stamp of their password hash: every request re-reads the user, so a removed user or a changed password
ends the session at once. CSRF: Flask-WTF's token, sent as the X-CSRFToken header. A Socket.IO connection is
accepted only with a valid session cookie (same origin only, Flask-SocketIO's default).
"""
from __future__ import annotations

import logging
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, g, jsonify, render_template_string, request, send_from_directory, session
from flask_socketio import SocketIO
from flask_wtf.csrf import CSRFError, CSRFProtect, generate_csrf

from web.api import ENDPOINTS, Api, Endpoint, LoginBody, openapi_document, parse_body
from web.auth import LoginThrottle, Passwords
from web.errors import (CsrfFailed, Forbidden, NotFound, StationUnavailable, TooManyAttempts, Unauthorized,
                        UnsupportedMediaType, WebError)
from web.fanout import Fanout
from web.port import StationPort, User, UserStore, role_allows
from web.settings import ServerSettings
from web.video import Connect, open_stream

log = logging.getLogger("web.app")

STATIC_DIR = Path(__file__).resolve().parent / "static"
COOKIE_NAME = "skyguard_session"
Call = Callable[..., Any]


def direct_call(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


@dataclass
class WebApp:
    """The application and what the server needs to run it."""

    flask: Flask
    socketio: SocketIO
    fanout: Fanout
    api: Api
    sockets: dict[str, tuple[str, str]] = field(default_factory=dict)  # Socket.IO sid -> (user, login token)


def _stamp(user: User) -> str:
    return user.password_hash[-16:]


def create_app(port: StationPort, users: UserStore, settings: ServerSettings, *, passwords: Passwords | None = None,
               clock: Callable[[], float] = time.time, call: Call = direct_call,
               connect: Connect = socket.create_connection) -> WebApp:
    """`call(fn, *args)` runs a blocking port or user-store call off the server's event loop (web/server.py gives
    one for gevent; the default calls it, for the threading mode and tests). `connect(address, timeout)` opens the
    video proxy's connections to the vision workers (gevent's cooperative one under gevent, web/video.py)."""
    app = Flask("web", static_folder=str(STATIC_DIR), static_url_path="/static")
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_NAME=COOKIE_NAME,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=settings.tls,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_hours),
        WTF_CSRF_CHECK_DEFAULT=False,  # checked in `guard` below, after the login and role checks
        WTF_CSRF_TIME_LIMIT=None,  # valid as long as the session
        MAX_CONTENT_LENGTH=4 * 1024 * 1024,
        JSON_SORT_KEYS=False,
    )
    csrf = CSRFProtect(app)
    socketio = SocketIO(app, async_mode=settings.async_mode, cors_allowed_origins=None, manage_session=False,
                        logger=False, engineio_logger=False)
    fanout = Fanout(port, socketio, settings.batch_interval_s, call=call)
    passwords = passwords or Passwords()
    by_name = LoginThrottle(clock, settings.max_login_failures, settings.login_window_s)
    by_address = LoginThrottle(clock, 4 * settings.max_login_failures, settings.login_window_s)  # a shared NAT
    bad_links = LoginThrottle(clock, 4 * settings.max_login_failures, settings.login_window_s)  # per address
    sockets: dict[str, tuple[str, str]] = {}
    sockets_lock = threading.Lock()

    def disconnect(match: Callable[[str, str], bool]) -> None:
        with sockets_lock:
            sids = [sid for sid, (name, token) in sockets.items() if match(name, token)]
        for sid in sids:
            socketio.server.disconnect(sid, namespace="/")

    api = Api(port, users, passwords, fanout, settings, clock, call,
              on_user_removed=lambda name: disconnect(lambda n, _t: n == name))
    web = WebApp(app, socketio, fanout, api, sockets)
    by_endpoint: dict[str, Endpoint] = {}

    def current_user() -> User | None:
        name = session.get("user")
        if not isinstance(name, str):
            return None
        user = call(users.get, name)
        if user is None or session.get("stamp") != _stamp(user):
            return None
        return user

    @app.errorhandler(WebError)
    def on_web_error(exc: WebError):
        response = jsonify({"error": exc.code, "message": exc.message})
        response.status_code = exc.status
        if isinstance(exc, TooManyAttempts):
            response.headers["Retry-After"] = str(max(1, int(exc.retry_after_s + 0.999)))
        return response

    @app.errorhandler(CSRFError)
    def on_csrf_error(exc: CSRFError):
        return on_web_error(CsrfFailed(f"CSRF check failed: {exc.description} (send the X-CSRFToken header)"))

    @app.errorhandler(404)
    def on_not_found(exc: Any):
        if request.path.startswith("/api/"):
            return jsonify({"error": "not_found", "message": f"no such resource: {request.path}"}), 404
        return exc

    @app.errorhandler(405)
    def on_bad_method(exc: Any):
        if request.path.startswith("/api/"):
            return jsonify({"error": "method_not_allowed",
                            "message": f"{request.method} is not allowed on {request.path}"}), 405
        return exc

    @app.errorhandler(413)
    def on_too_large(exc: Any):
        return jsonify({"error": "too_large", "message": "the request body is too large"}), 413

    @app.before_request
    def guard():
        ep = by_endpoint.get(request.endpoint or "")
        needs_login = ep.role if ep is not None else (
            "viewer" if request.path.startswith(("/api/", "/tiles/", "/video/", "/snapshots/")) else None)
        if needs_login is None:
            return None
        user = current_user()
        if user is None:
            session.clear()
            raise Unauthorized("log in first (POST /api/session)")
        if not role_allows(user.role, needs_login):
            raise Forbidden(f"{request.method} {request.path} needs the {needs_login} role; {user.name} is {user.role}")
        g.user = user
        if ep is not None and ep.changes_state and ep.csrf:
            csrf.protect()
        return None

    @app.after_request
    def headers(response):
        tile_src = ""
        if settings.tiles_url and settings.allow_online_tiles and settings.tiles_dir is None:
            tile_src = " " + _origin_pattern(settings.tiles_url)
        response.headers.setdefault(
            "Content-Security-Policy",
            f"default-src 'self'; img-src 'self' data:{tile_src}; style-src 'self' 'unsafe-inline'; "
            "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if request.path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    def json_body(ep: Endpoint) -> Any:
        if ep.body is None:
            return None
        if not request.is_json:
            raise UnsupportedMediaType(f"{request.method} {request.path} takes a JSON body "
                                       "(Content-Type: application/json)")
        return parse_body(ep.body, request.get_json(silent=True))

    def login():
        body = json_body(by_endpoint["login"])
        assert isinstance(body, LoginBody)
        name, address = [body.name], [str(request.remote_addr)]
        wait = max(by_name.retry_after_s(name) or 0.0, by_address.retry_after_s(address) or 0.0)
        if wait > 0.0:
            raise TooManyAttempts(f"too many failed logins; try again in {wait:.0f} s", wait)
        user = call(users.get, body.name)
        if not call(passwords.verify, user.password_hash if user else None, body.password) or user is None:
            by_name.failed(name)
            by_address.failed(address)
            log.warning("web: failed login for %r from %s", body.name, request.remote_addr)
            raise Unauthorized("wrong name or password")
        by_name.succeeded(name)  # an address keeps its failures: one good account must not unlock guessing others
        session.clear()  # a new session at every login (no fixation)
        session.permanent = True
        session["user"] = user.name
        session["stamp"] = _stamp(user)
        session["token"] = secrets.token_urlsafe(16)
        log.info("web: %s (%s) logged in from %s", user.name, user.role, request.remote_addr)
        return {"user": user.name, "role": user.role, "csrf_token": generate_csrf()}

    def me():
        return {"user": g.user.name, "role": g.user.role, "csrf_token": generate_csrf()}

    def logout():
        token = session.get("token")
        session.clear()
        disconnect(lambda _n, t: t == token)
        return {"logged_out": True}

    def openapi():
        return openapi_document()

    special = {"login": login, "me": me, "logout": logout, "openapi": openapi}

    def make_view(ep: Endpoint) -> Callable[..., Any]:
        def view(**params: Any):
            if ep.handler in special:
                result = special[ep.handler]()
            elif ep.method == "GET":
                result = getattr(api, ep.handler)(g.user, request.args, **params)
            else:
                result = getattr(api, ep.handler)(g.user, json_body(ep), **params)
            return jsonify(result)
        view.__name__ = ep.handler
        return view

    for ep in ENDPOINTS:
        by_endpoint[ep.handler] = ep
        app.add_url_rule(ep.path, endpoint=ep.handler, view_func=make_view(ep), methods=[ep.method])

    @app.get("/favicon.ico")
    def favicon():
        return "", 204

    @app.get("/")
    def index():
        return send_from_directory(STATIC_DIR, "index.html")

    @app.get("/vendor/leaflet/<path:name>")
    def leaflet(name: str):
        return send_from_directory(settings.vendor_dir / "leaflet" / "dist", name)

    @app.get("/vendor/socket.io/<path:name>")
    def socketio_client(name: str):
        return send_from_directory(settings.vendor_dir / "socket.io-client" / "dist", name)

    @app.get("/tiles/<int:z>/<int:x>/<int:y>.<ext>")
    def tile(z: int, x: int, y: int, ext: str):
        if settings.tiles_dir is not None:
            if ext != settings.tiles_ext:
                abort(404)
            return send_from_directory(settings.tiles_dir, f"{z}/{x}/{y}.{ext}", max_age=3600)
        info = call(port.tiles)  # the station's MBTiles file, if it has one
        if info is None or ext != info["format"] or not (0 <= z <= 30 and 0 <= x < 2 ** z and 0 <= y < 2 ** z):
            abort(404)
        data = call(port.tile, z, x, y)
        if data is None:
            abort(404)
        response = Response(data, mimetype=info["media_type"])
        response.headers["Cache-Control"] = "private, max-age=3600"
        return response

    @app.get("/snapshots/<alert_id>.jpg")
    def snapshot(alert_id: str):
        """An alert's evidence snapshot (every person blurred before the station wrote it)."""
        data = call(port.snapshot, alert_id)
        if data is None:
            raise NotFound(f"no snapshot of alert {alert_id!r}")
        response = Response(data, mimetype="image/jpeg")
        response.headers["Cache-Control"] = "private, max-age=3600"
        return response

    @app.get("/video/<stream_id>.mjpeg", endpoint="video_stream")
    def video_stream(stream_id: str):
        """A camera's analysed video (detections drawn), proxied from its vision worker (web/video.py)."""
        source = next((s for s in call(port.video_sources) if s["stream_id"] == stream_id), None)
        if source is None:
            raise NotFound(f"no video stream {stream_id!r}")
        stream = open_stream(source["url"], connect)
        response = Response(stream.chunks, content_type=stream.content_type, direct_passthrough=True)
        response.headers["Cache-Control"] = "no-cache, no-store"
        response.headers["X-Accel-Buffering"] = "no"  # a reverse proxy must not buffer a live stream
        return response

    @app.route("/notices/<path:notice_id>/ack", methods=["GET", "POST"])
    def notice_ack(notice_id: str):
        """A grid officer's acknowledgement link: GET shows what will be acknowledged and a button (a link preview or
        a mail scanner never acknowledges), POST asks the station, which checks the link's token and records it."""
        officer, token = request.values.get("officer", ""), request.values.get("token", "")
        page = {"notice_id": notice_id, "officer": officer, "token": token}
        if not officer or not token or max(len(notice_id), len(officer), len(token)) > 300:
            return _ack_page(page, "This acknowledgement link is incomplete: open the whole link from the message.",
                             400)
        if request.method == "GET":
            return _ack_page(page, None, 200)
        address = [str(request.remote_addr)]
        wait = bad_links.retry_after_s(address)
        if wait is not None:
            return _ack_page(page, f"Too many invalid links from this address; try again in {wait:.0f} s.", 429)
        try:
            outcome = call(port.acknowledge_notice, notice_id, officer, token, request.form.get("note", "")[:500],
                           settings.command_timeout_s)
        except StationUnavailable as exc:
            return _ack_page(page, f"The station did not answer: {exc.message}", 503)
        if outcome.status == "accepted":
            log.info("web: notice %s acknowledged by officer %s from %s", notice_id, officer, request.remote_addr)
            return _ack_page({**page, "done": True}, f"Acknowledged. Thank you ({outcome.reason}).", 200)
        if "not valid" in outcome.reason:
            bad_links.failed(address)
        return _ack_page(page, f"Not acknowledged: {outcome.reason}", 409)

    @socketio.on("connect")
    def on_connect(auth: Any = None):
        user = current_user()
        if user is None:
            raise ConnectionRefusedError("log in first")
        with sockets_lock:
            sockets[request.sid] = (user.name, session.get("token", ""))  # type: ignore[attr-defined]
        return True

    @socketio.on("disconnect")
    def on_disconnect(*args: Any):
        with sockets_lock:
            sockets.pop(request.sid, None)  # type: ignore[attr-defined]

    @socketio.on("join")
    def on_join(data: Any):
        seq = data.get("seq") if isinstance(data, dict) else None
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            return {"error": "invalid_input", "message": "join takes {seq: the seq of the state you loaded}"}
        with sockets_lock:
            known = request.sid in sockets  # type: ignore[attr-defined]
        if not known:
            return {"error": "unauthorized", "message": "not connected"}
        fanout.join(request.sid, seq)  # type: ignore[attr-defined]
        return {"ok": True}

    return web


def _origin_pattern(url_template: str) -> str:
    """The scheme and host of a tile URL template (for the Content-Security-Policy)."""
    import re

    m = re.match(r"^(https?://)([^/]+)", url_template)
    if not m:
        return ""
    host = re.sub(r"\{s\}", "*", m.group(2))
    return m.group(1) + host


_ACK_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>SkyGuard: acknowledge an alert</title>
<style>body{font:16px system-ui,sans-serif;max-width:32em;margin:2em auto;padding:0 1em}
button{font-size:1.1em;padding:.5em 1.5em}textarea{width:100%}</style></head>
<body><h1>Acknowledge an alert</h1>
<p>Notice <code>{{ notice_id }}</code>, sent to officer <code>{{ officer }}</code>.</p>
{% if message %}<p id="outcome" role="status">{{ message }}</p>{% endif %}
{% if not done and officer and token %}
<form method="post"><input type="hidden" name="officer" value="{{ officer }}">
<input type="hidden" name="token" value="{{ token }}">
<p><label>Note (optional)<br><textarea name="note" rows="3" maxlength="500"></textarea></label></p>
<button type="submit" id="acknowledge">Acknowledge</button></form>
<p>Acknowledging tells the station and the operators that you are dealing with it: it stops the alert climbing to
the next level.</p>{% endif %}
</body></html>
"""


def _ack_page(page: dict[str, Any], message: str | None, status: int) -> Response:
    """The acknowledgement page (Jinja escapes every value)."""
    response = Response(render_template_string(_ACK_PAGE, message=message, done=page.get("done", False), **{
        k: v for k, v in page.items() if k != "done"}), status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response
