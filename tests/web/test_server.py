"""The web server for real (web/server.py): gevent's WSGI server on its own thread, over loopback HTTP and
Socket.IO, without monkey-patching: the station's threads stay real threads and a slow station call does not
stall the other pages. Logging out ends the page's live connection; a restarted server keeps the sessions."""
from __future__ import annotations

import threading

import pytest
import requests
import socketio

from tests.waiting import wait_for
from tests.web.conftest import PASSWORD, ROLES
from web.fakes import FakeStation, MemoryUsers
from web.server import WebServer, WebServerError
from web.settings import ServerSettings


@pytest.fixture
def served(passwords):
    station, users = FakeStation(), MemoryUsers()
    for role in ROLES:
        users.add(role, role, passwords.hash(PASSWORD), 0.0)
    server = WebServer(station, users, ServerSettings(secret_key=b"s" * 32, port=0), passwords=passwords).start()
    yield server, station, users
    server.stop()


def login(url: str, role: str) -> requests.Session:
    session = requests.Session()
    r = session.post(url + "api/session", json={"name": role, "password": PASSWORD}, timeout=10)
    r.raise_for_status()
    session.headers["X-CSRFToken"] = r.json()["csrf_token"]
    return session


def live(url: str, session: requests.Session) -> tuple[socketio.Client, list[dict]]:
    """A page's live connection: loads the state, connects with the session cookie, joins; returns the batches."""
    batches: list[dict] = []
    state = session.get(url + "api/state", timeout=10).json()
    client = socketio.Client(reconnection=False)
    client.on("batch", batches.append)
    client.connect(url, headers={"Cookie": "; ".join(f"{k}={v}" for k, v in session.cookies.items())},
                   transports=["websocket"], wait_timeout=10)
    assert client.call("join", {"seq": state["seq"]}, timeout=10) == {"ok": True}
    return client, batches


def test_the_gevent_server_needs_no_monkey_patching(served):
    import gevent.monkey

    server, _, _ = served
    assert server.settings.async_mode == "gevent"
    assert not any(gevent.monkey.is_module_patched(m) for m in ("threading", "socket", "time", "queue", "select"))
    assert threading.current_thread() is threading.main_thread()


def test_a_page_gets_the_live_updates_and_an_anonymous_socket_is_refused(served):
    server, station, _ = served
    client, batches = live(server.url, login(server.url, "viewer"))
    try:
        for i in range(5):
            station.publish("vehicle", {"vehicle_id": "v1", "lat_deg": 23.0 + i})
        wait_for(lambda: sum(len(b["items"]) for b in batches) >= 5, 10, "five items")
        seqs = [item["seq"] for b in batches for item in b["items"]]
        assert seqs == [1, 2, 3, 4, 5]
    finally:
        client.disconnect()
    anonymous = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        anonymous.connect(server.url, transports=["websocket"], wait_timeout=10)


def test_a_slow_station_call_does_not_stall_other_pages(served):
    server, station, _ = served
    station.command_delay_s = 3.0
    operator = login(server.url, "operator")
    done = threading.Event()
    threading.Thread(target=lambda: (operator.post(server.url + "api/vehicles/v1/commands", json={"action": "rtl"},
                                                   timeout=30), done.set()), daemon=True).start()
    wait_for(lambda: station.command_delay_s and not done.is_set(), 5, "the command in flight")
    viewer = login(server.url, "viewer")
    r = viewer.get(server.url + "api/vehicles", timeout=10)
    assert r.status_code == 200 and not done.is_set(), "answered while the command still waits for the station"
    wait_for(done.is_set, 30, "the command answered")


def test_logging_out_ends_the_pages_live_connection(served):
    server, _, _ = served
    session = login(server.url, "operator")
    client, _ = live(server.url, session)
    assert session.delete(server.url + "api/session", timeout=10).status_code == 200
    wait_for(lambda: not client.connected, 10, "the live connection closed")


def test_a_restarted_server_on_the_same_port_keeps_the_sessions(served, passwords):
    server, station, users = served
    session = login(server.url, "viewer")
    port = server.bound[1]
    server.stop()
    with pytest.raises(requests.ConnectionError):
        session.get(server.url + "api/state", timeout=5)
    again = WebServer(station, users, ServerSettings(secret_key=b"s" * 32, port=port), passwords=passwords).start()
    try:
        assert session.get(again.url + "api/state", timeout=10).status_code == 200
    finally:
        again.stop()


def test_a_busy_port_is_reported(served, passwords):
    server, station, users = served
    with pytest.raises(WebServerError, match="cannot serve"):
        WebServer(station, users, ServerSettings(secret_key=b"s" * 32, port=server.bound[1]),
                  passwords=passwords).start()


def test_listening_beyond_loopback_without_tls_is_warned_about(passwords, caplog):
    station, users = FakeStation(), MemoryUsers()
    server = WebServer(station, users, ServerSettings(secret_key=b"s" * 32, host="0.0.0.0", port=0),
                       passwords=passwords)
    server.start()
    try:
        assert any("WITHOUT TLS" in r.message for r in caplog.records)
    finally:
        server.stop()


CHILD_REAPING = """
import multiprocessing as mp, sys, time
from web.fakes import FakeStation, MemoryUsers
from web.server import WebServer
from web.settings import ServerSettings

def sleeper():
    time.sleep(60)

if __name__ == "__main__":
    for _ in range(2):  # a web server restarted in the station's process
        server = WebServer(FakeStation(), MemoryUsers(), ServerSettings(secret_key=b"s" * 32, port=0)).start()
        server.stop()
    server = WebServer(FakeStation(), MemoryUsers(), ServerSettings(secret_key=b"s" * 32, port=0)).start()
    child = mp.get_context("spawn").Process(target=sleeper, daemon=True)
    child.start()
    time.sleep(1.0)
    child.kill()
    deadline = time.monotonic() + 10
    while child.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    server.stop()
    sys.exit(0 if child.exitcode == -9 else 1)
"""


@pytest.mark.slow
def test_the_station_still_sees_its_child_processes_die_after_web_server_restarts(tmp_path):
    """gevent's hub must not take libev's default loop, whose SIGCHLD handler would reap every child process: the
    station would never see a killed vision worker (run in a fresh interpreter, where gevent is not imported yet)."""
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "reaping.py"
    script.write_text(CHILD_REAPING)
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, str(script)], cwd=root, env={"PYTHONPATH": str(root)}, timeout=120,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
