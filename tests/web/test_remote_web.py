"""The web map as its own process (`groundstation web --station URL`) against a running station and two simulated
vehicles over MAVLink: killing the web process (kill -9) leaves the station's links up and its feed going; a new
web process serves the same state, keeps the users' sessions, and a page that rejoins with the number it had reached
gets every item after it, with no gap and no duplicate."""
from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests
import socketio

from groundstation.config import load_config
from groundstation.shell.remote_port import StationPortService
from groundstation.shell.station import Station
from groundstation.shell.storage import StorageReader
from groundstation.shell.web_bridge import DatabaseUsers
from tests.patrols.helpers import FENCE
from tests.waiting import wait_for
from tests.web.conftest import PASSWORD, ROLES

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def toml_config(tmp_path: Path, urls: list[str]) -> Path:
    vehicles = "\n".join(f'[[vehicles]]\nid = "v{i + 1}"\nurl = "{u}"\n' for i, u in enumerate(urls))
    fence = json.dumps([list(p) for p in FENCE])
    path = tmp_path / "station.toml"
    path.write_text(f'[station]\nstorage_path = "{tmp_path / "station.sqlite"}"\n\n{vehicles}\n'
                    f"[geofence]\ninclusion = {fence}\n\n[web]\nport = 0\n")
    return path


class WebProcess:
    """`groundstation web` in a process of its own; `url` once it printed its address."""

    def __init__(self, station_url: str, config: Path):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "groundstation", "web", "--station", station_url, "--config", str(config),
             "--web-port", "0"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, args=(lines,), daemon=True).start()
        self.url = wait_for(lambda: self._address(lines), 120, "the web process's address")

    def _read(self, lines: queue.Queue) -> None:
        for line in self.proc.stdout:
            self.output.append(line)
            lines.put(line)

    def _address(self, lines: queue.Queue) -> str | None:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            assert self.proc.poll() is None, "".join(self.output)
            return None
        return line.split("web map: ", 1)[1].strip() if line.startswith("web map: ") else None

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(30)


@pytest.fixture
def station(tmp_path, sim, passwords):
    path = toml_config(tmp_path, sim.urls)
    config = load_config(path)
    s = Station(config).start()
    service = StationPortService(s, config).start()
    users = DatabaseUsers(config.station.storage_path)
    for role in ROLES:
        users.add(role, role, passwords.hash(PASSWORD), 0.0)
    users.close()
    wait_for(lambda: len(s.snapshot()) == 2 and all(v.link_up for v in s.snapshot().values()), 60, "both links up")
    webs: list[WebProcess] = []
    try:
        yield s, service, path, webs
    finally:
        for web in webs:
            if web.proc.poll() is None:
                web.kill()
        service.stop()
        s.stop()


def live(url: str, session: requests.Session, seq: int, batches: list) -> socketio.Client:
    client = socketio.Client(reconnection=False)
    client.on("batch", batches.append)
    client.connect(url, headers={"Cookie": "; ".join(f"{k}={v}" for k, v in session.cookies.items())},
                   transports=["websocket"], wait_timeout=20)
    assert client.call("join", {"seq": seq}, timeout=20) == {"ok": True}
    return client


def applied(batches: list, after: int) -> list[int]:
    """The item numbers a page at `after` applies from these batches (web/static/app.js's rule)."""
    seqs, last = [], after
    for b in batches:
        for item in b["items"]:
            if item["seq"] > last:
                seqs.append(item["seq"])
                last = item["seq"]
    return seqs


def test_killing_the_web_process_leaves_the_links_up_and_a_new_one_continues_with_no_gap(station):
    s, service, config, webs = station
    webs.append(WebProcess(service.url, config))
    first = webs[0]
    session = requests.Session()
    r = session.post(first.url + "api/session", json={"name": "operator", "password": PASSWORD}, timeout=30)
    assert r.status_code == 200, r.text
    session.headers["X-CSRFToken"] = r.json()["csrf_token"]
    state = session.get(first.url + "api/state", timeout=30).json()
    assert set(state["vehicles"]) == {"v1", "v2"} and state["vehicles"]["v1"]["link_up"]
    batches: list[dict] = []
    client = live(first.url, session, state["seq"], batches)
    wait_for(lambda: len(applied(batches, state["seq"])) >= 30, 60, "thirty live items through the web process")
    client.disconnect()
    seen = applied(batches, state["seq"])
    assert seen == list(range(state["seq"] + 1, seen[-1] + 1))
    r = session.post(first.url + "api/vehicles/v1/commands", json={"action": "land"}, timeout=60)
    assert r.status_code == 200 and r.json()["outcome"]["request_id"]

    first.kill()
    feed_at_kill = s.feed.seq
    wait_for(lambda: s.feed.seq > feed_at_kill + 20, 60, "the station's feed going on without a web process")
    assert all(v.link_up for v in s.snapshot().values()), "the links never depended on the web process"

    webs.append(WebProcess(service.url, config))
    second = webs[1]
    again = session.get(second.url + "api/state", timeout=30)
    assert again.status_code == 200, "the session survives the restart (the same key signs it)"
    assert again.json()["seq"] >= feed_at_kill
    later: list[dict] = []
    client = live(second.url, session, seen[-1], later)  # the page rejoins with the last number it applied
    try:
        wait_for(lambda: applied(later, seen[-1]) and applied(later, seen[-1])[-1] > feed_at_kill + 20, 60,
                 "the items published while no web process ran, and newer ones")
    finally:
        client.disconnect()
    rejoined = applied(later, seen[-1])
    assert rejoined == list(range(seen[-1] + 1, rejoined[-1] + 1)), "no gap, no duplicate"
    audit = session.get(second.url + "api/audit?vehicle_id=v1", timeout=30).json()
    assert audit[0]["action"] == "land" and audit[0]["requested_by"] == "web:operator"
    assert s.flush()
    with StorageReader(s.config.station.storage_path) as db:
        assert not [c for c in db.link_changes() if not c["up"]], "no link went down"
