"""The web map in a real browser (Playwright driving Debian's chromium, headless) against the real server, the real
station and two simulated vehicles over MAVLink: log in; a drone moves on the map; a crowd appears (fed to the
station as a vision worker reports it), its alert shows with a sound and is acknowledged; the operator approves the
crowd response (zone policy "approve") and sees it run; a viewer's command is refused by the server; the page
survives a restart of the web server (the station and its links keep running) and shows no gap; Chinese labels;
1366x768 and 1920x1080. Screenshots go to $SKYGUARD_ARTIFACTS (or the test's tmp dir)."""
from __future__ import annotations

import json
import threading
import time

import pytest

from groundstation.config import parse_config
from groundstation.core.crowds import VisionObserved
from groundstation.core.records import CommandRequest
from groundstation.shell import storage
from groundstation.shell.station import Station
from groundstation.shell.storage import StorageReader
from groundstation.shell.web_bridge import StationWeb
from missions.geo import GeoPoint, LocalFrame
from tests.patrols.helpers import FENCE, ZONE
from tests.waiting import wait_for
from vision.records import FrameResult, PersonOnGround

pytestmark = pytest.mark.slow

PLAZA = ZONE["features"][0]["geometry"]["coordinates"][0]
CENTRE = GeoPoint(sum(p[1] for p in PLAZA[:4]) / 4, sum(p[0] for p in PLAZA[:4]) / 4)
PASSWORDS = {"olga": "olga's long password", "vic": "vic's long password"}


def crowd(n: int) -> list[tuple[float, float]]:
    frame = LocalFrame(CENTRE)
    return [(p.lat_deg, p.lon_deg) for p in (frame.to_geo(-4.5 + 3.0 * (i % 4), -1.5 + 3.0 * (i // 4))
                                             for i in range(n))]


class Camera(threading.Thread):
    """What a camera on v1 would report to the station: the people in the plaza, a frame every 0.25 s."""

    def __init__(self, station: Station):
        super().__init__(daemon=True)
        self.station, self.people, self.stop = station, [], threading.Event()

    def run(self) -> None:
        index = 0
        while not self.stop.wait(0.25):
            now = time.time()
            people = tuple(PersonOnGround(lat, lon, 1.0, 0.9, "v1", now, track_id=i + 1)
                           for i, (lat, lon) in enumerate(self.people))
            self.station.observe(VisionObserved("cam-v1", FrameResult("cam-v1", index, now, (), len(people),
                                                                      len(people), "test", people=people)))
            index += 1


@pytest.fixture
def world(tmp_path, sim, passwords):
    zones = tmp_path / "counting.geojson"
    feature = dict(ZONE["features"][0], id="plaza", properties={"name": "plaza", "capacity": 5})
    zones.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    config = parse_config({
        "station": {"storage_path": str(tmp_path / "station.sqlite"), "tlog_dir": None},
        "vehicles": [{"id": f"v{i + 1}", "url": u, "speaker_url": s}
                     for i, (u, s) in enumerate(zip(sim.urls, sim.speaker_urls))],
        "geofence": {"inclusion": FENCE},
        "counting": {"zones_file": str(zones), "hold_s": 2.0, "clear_s": 2.0, "window_s": 4.0,
                     "grid_origin": [23.0400, 112.4580], "grid_cell_m": 50.0},
        "response": {"mode": "approve", "approval_timeout_s": 600.0, "thermal_frames": 1, "broadcast_repeat": 1,
                     "speech_cache_dir": str(tmp_path / "speech"), "speech_engines": ["espeak-ng"]},
        "web": {"port": 0},
    })
    station = Station(config).start()
    web = StationWeb(station, config, passwords=passwords).start()
    web.users.add("olga", "operator", passwords.hash(PASSWORDS["olga"]), 0.0)
    web.users.add("vic", "viewer", passwords.hash(PASSWORDS["vic"]), 0.0)
    camera = Camera(station)
    camera.start()
    holder = {"web": web}
    try:
        wait_for(lambda: all(s.link_up and s.ready_to_arm and s.home for s in station.snapshot().values())
                 and len(station.snapshot()) == 2, 90, "both vehicles ready")
        yield station, holder, camera, config
    finally:
        camera.stop.set()
        holder["web"].stop()
        station.stop()


def log_in(browser, url: str, name: str, size=(1366, 768)):
    context = browser.new_context(viewport={"width": size[0], "height": size[1]}, locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.fill("#login-name", name)
    page.fill("#login-password", PASSWORDS[name])
    page.click("#login-submit")
    page.wait_for_selector("#app:not([hidden])")
    page.wait_for_function("() => document.body.dataset.live === '1' && window.skyguard.seq >= 0")
    page.errors = errors
    return page


def ask(station: Station, vehicle_id: str, action: str, **args) -> None:
    outcome = station.request(CommandRequest(vehicle_id, action, args, requested_by="test")).result(60)
    assert outcome.ok, outcome


def in_page(page, expression: str):
    return page.evaluate(expression)


def test_operators_and_viewers_in_the_browser(world, browser, artifacts):
    station, holder, camera, config = world
    url = holder["web"].url
    page = log_in(browser, url, "olga")
    assert in_page(page, "window.skyguard.role") == "operator"

    # a drone moves on the map
    start = in_page(page, "window.skyguard.vehicles.v1")
    ask(station, "v1", "set_mode", mode="GUIDED")
    ask(station, "v1", "arm")
    ask(station, "v1", "takeoff", alt_rel_m=20.0)
    wait_for(lambda: (station.snapshot()["v1"].alt_rel_m or 0) > 15, 60, "v1 at 20 m")
    north = LocalFrame(GeoPoint(start["lat_deg"], start["lon_deg"])).to_geo(0.0, 120.0)
    ask(station, "v1", "goto", lat_deg=north.lat_deg, lon_deg=north.lon_deg, alt_rel_m=20.0)
    page.wait_for_function(f"() => window.skyguard.vehicles.v1.lat_deg > {start['lat_deg'] + 0.0008}", timeout=60_000)
    marker = page.locator(".drone-icon").filter(has_text="v1")
    assert marker.count() == 1
    assert in_page(page, "window.skyguard.trails.v1.length") > 5, "a trail behind the drone"
    page.screenshot(path=str(artifacts / "1-drone-moving-1366x768.png"))

    # a crowd appears: the alert shows (with a sound), the operator acknowledges it
    camera.people = crowd(8)
    page.wait_for_selector('#alerts li[data-kind="crowd"][data-state="new"]', timeout=60_000)
    alert_id = page.get_attribute('#alerts li[data-kind="crowd"]', "data-alert")
    assert in_page(page, "window.skyguard.lastAnnounced") == alert_id, "the new alert was announced"
    page.screenshot(path=str(artifacts / "2-crowd-alert-1366x768.png"))
    page.click(f'#alerts li[data-alert="{alert_id}"] button.ack')
    page.wait_for_selector(f'#alerts li[data-alert="{alert_id}"][data-state="acknowledged"]')
    conn = storage.open_database(config.station.storage_path)
    try:
        assert [(a["alert_id"], a["acked_by"]) for a in storage.alert_ack_rows(conn)] == [(alert_id, "olga")]
    finally:
        conn.close()

    # the response waits for approval; the operator approves it and sees it run
    page.wait_for_selector('#responses li[data-state="awaiting_approval"] button.approve', timeout=60_000)
    page.click('#responses li[data-state="awaiting_approval"] button.approve')
    page.wait_for_selector(".toast.accepted")
    page.wait_for_function("() => Object.values(window.skyguard.responses).some(r => "
                           "['approaching', 'thermal_sampling', 'broadcasting', 'verifying'].includes(r.state))",
                           timeout=60_000)
    page.screenshot(path=str(artifacts / "3-response-running-1366x768.png"))
    assert station.flush()
    with StorageReader(config.station.storage_path) as db:
        (approval,) = [c for c in db.commands(limit=1000) if c["action"] == "approve_response"]
        assert approval["requested_by"] == "web:olga" and approval["decision"] == "sent"

    # a viewer's command is refused by the server (the button is there; the server says no)
    viewer = log_in(browser, url, "vic", size=(1920, 1080))
    viewer.click('#fleet li[data-vehicle="v2"] button.rtl')
    viewer.wait_for_selector(".toast.refused")
    assert "403" in viewer.inner_text(".toast.refused")
    viewer.screenshot(path=str(artifacts / "4-viewer-refused-1920x1080.png"))
    with StorageReader(config.station.storage_path) as db:
        assert not [c for c in db.commands(limit=1000) if c["requested_by"] == "web:vic"]

    # the web server restarts; the station and the links keep running; the page reconnects with no gap
    port = holder["web"].server.bound[1]
    seq_before = in_page(page, "window.skyguard.seq")
    holder["web"].stop()
    page.wait_for_function("() => document.body.dataset.live === '0'", timeout=30_000)
    time.sleep(1.0)  # items published while no server runs
    assert station.snapshot()["v1"].link_up, "the link never depended on the web server"
    holder["web"] = StationWeb(station, config, port=port).start()
    page.wait_for_function("() => document.body.dataset.live === '1'", timeout=60_000)
    target = station.feed.seq
    page.wait_for_function(f"() => window.skyguard.seq >= {target}", timeout=30_000)
    assert in_page(page, "window.skyguard.gaps") == 0 and in_page(page, "window.skyguard.seq") > seq_before
    assert in_page(page, "window.skyguard.user") == "olga", "still logged in"
    assert in_page(page, "document.querySelectorAll('#alerts li[data-state=\"acknowledged\"]').length") >= 1
    page.screenshot(path=str(artifacts / "5-after-web-restart-1366x768.png"))

    # Chinese labels; both screen sizes show the map and the panels
    page.click("header button.lang[data-lang='zh']")
    assert "天眼" in page.inner_text("header")
    assert "筛查提示" in page.inner_text("#responses-panel")
    page.screenshot(path=str(artifacts / "6-chinese-1366x768.png"))
    for p, (w, h) in ((page, (1366, 768)), (viewer, (1920, 1080))):
        for selector in ("#map", "#side", "header"):
            box = p.locator(selector).bounding_box()
            assert box and box["width"] > 200 and box["x"] + box["width"] <= w + 1 and box["y"] < h, (selector, box)
    assert page.errors == [] and viewer.errors == []
