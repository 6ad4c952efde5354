"""The page's newer operator and admin tools in a real browser (Playwright driving Debian's chromium, headless)
against the real gevent server, web/fakes.py's station and a stand-in vision worker serving its video: an operator
starts a schedule's patrol now and broadcasts a message now, each outcome shown; watches a drone's video panel
(MJPEG, detections drawn); an admin draws a counting zone on the map and saves it. What the real station does with
these requests: test_with_station.py. Screenshots go to $SKYGUARD_ARTIFACTS (or the test's tmp dir)."""
from __future__ import annotations


import pytest

from tests.web.conftest import PASSWORD, ROLES
from tests.web.test_video import Worker
from web.fakes import FakeStation, MemoryUsers
from web.server import WebServer
from web.settings import ServerSettings

pytestmark = pytest.mark.slow


@pytest.fixture
def site(passwords):
    worker = Worker()
    station, users = FakeStation(), MemoryUsers()
    station.video = [{"stream_id": "cam-v1", "vehicle_id": "v1", "url": worker.url}]
    station.schedule_rows["s1"] = {"schedule_id": "s1", "name": "plaza-sweep", "interval_s": 600.0, "cron": None,
                                   "next_fire_s": None, "last_run": None}
    for role in ROLES:
        users.add(role, role, passwords.hash(PASSWORD), 0.0)
    server = WebServer(station, users, ServerSettings(secret_key=b"b" * 32, port=0), passwords=passwords).start()
    try:
        yield server, station
    finally:
        server.stop()
        worker.stop()


def log_in(browser, url: str, role: str, size=(1366, 768)):
    page = browser.new_context(viewport={"width": size[0], "height": size[1]}, locale="en-US").new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.goto(url)
    page.fill("#login-name", role)
    page.fill("#login-password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_selector("#app:not([hidden])")
    page.wait_for_function("() => document.body.dataset.live === '1' && window.skyguard.seq >= 0")
    return page


def test_an_operator_starts_a_patrol_broadcasts_and_watches_a_drones_video(site, browser, artifacts):
    server, station = site
    page = log_in(browser, server.url, "operator")

    page.select_option('#schedules li[data-schedule="s1"] select.start-vehicle', "v2")
    page.click('#schedules li[data-schedule="s1"] button.start-now')
    page.wait_for_selector(".toast.accepted")
    assert "plaza-sweep" in page.inner_text(".toast.accepted")
    (started,) = [c for c in station.commands if c["action"] == "start_patrol"]
    assert (started["vehicle_id"], started["params"], started["requested_by"]) == ("v2", {"schedule": "s1"},
                                                                                   "web:operator")

    page.click('#fleet li[data-vehicle="v1"] button.broadcast')
    page.select_option("#broadcast-zone", "")
    page.select_option("#broadcast-language", "en")
    page.fill("#broadcast-text", "please keep your distance")
    page.fill("#broadcast-repeat", "2")
    page.click("#broadcast-form button[type=submit]")
    page.wait_for_function("() => document.querySelectorAll('.toast.accepted').length >= 2")
    (said,) = [c for c in station.commands if c["action"] == "broadcast"]
    assert (said["vehicle_id"], said["params"]) == ("v1", {"messages": {"en": "please keep your distance"},
                                                           "repeat": 2})

    station.refusal = "vehicle 'v1' is unknown or its link is down"
    page.click("#broadcast-form button[type=submit]")
    page.wait_for_selector(".toast.refused")
    assert "link is down" in page.inner_text(".toast.refused"), "the station's reason is shown"
    station.refusal = None

    page.click('#fleet li[data-vehicle="v1"] button.watch')
    page.wait_for_function("() => document.body.dataset.video === 'cam-v1'")
    page.wait_for_function("() => document.getElementById('video-img').naturalWidth === 320")
    page.screenshot(path=str(artifacts / "7-video-panel-1366x768.png"))
    page.click("#video-close")
    assert page.is_hidden("#video-panel")
    assert page.errors == []


def test_an_admin_draws_a_counting_zone_on_the_map_and_saves_it(site, browser, artifacts):
    server, station = site
    page = log_in(browser, server.url, "admin", size=(1920, 1080))
    page.wait_for_selector('#zone-list li[data-zone="plaza"]')
    page.fill("#zone-id", "market")
    page.fill("#zone-name", "market")
    page.fill("#zone-capacity", "40")
    page.select_option("#zone-policy", "approve")
    page.click("#zone-draw")
    box = page.locator("#map").bounding_box()
    for dx, dy in ((-60, -40), (60, -40), (60, 40), (-60, 40)):
        page.mouse.click(box["x"] + box["width"] / 2 + dx, box["y"] + box["height"] / 2 + dy)
    assert "4" in page.inner_text("#zone-points")
    page.click("#zone-finish")
    page.screenshot(path=str(artifacts / "8-zone-drawn-1920x1080.png"))
    page.click("#zone-form button[type=submit]")
    page.wait_for_selector('#zone-list li[data-zone="market"]')
    market = station.zone_features[-1]
    assert market["id"] == "market" and market["properties"] == {"name": "market", "capacity": 40, "policy": "approve"}
    ring = market["geometry"]["coordinates"][0]
    assert len(ring) == 5 and ring[0] == ring[-1]
    assert all(110 < lon < 115 and 20 < lat < 25 for lon, lat in ring), "longitude, latitude near the map's centre"
    assert page.errors == []


def test_the_risk_map_its_history_and_why_and_the_venues_occupancy_are_on_the_map(site, browser, artifacts):
    server, station = site
    station.risk_layout = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": cell, "properties": {"area_id": cell, "kind": "cell", "name": name, "parent_id": "c1"},
         "geometry": {"type": "MultiPolygon", "coordinates": [[[[lon, 23.046], [lon + 0.001, 23.046],
                                                                  [lon + 0.001, 23.047], [lon, 23.047], [lon, 23.046]]]]}}
        for cell, name, lon in (("cell-a", "Cell A", 112.465), ("cell-b", "Cell B", 112.466))]}
    station.risk_areas = {c: {"area_id": c, "kind": "cell", "name": n, "level": "green", "since_s": 0.0, "reasons": [],
                              "values": {}} for c, n in (("cell-a", "Cell A"), ("cell-b", "Cell B"))}
    station.venues = [{"venue_id": "hall", "name": "Market hall", "limit_persons": 50, "occupancy": 12,
                       "lat_deg": 23.0465, "lon_deg": 112.4655, "over_limit": False}]
    import time as _time

    long_ago = _time.time() - 3600.0
    station.publish("risk_level", {"area_id": "cell-a", "kind": "cell", "at_s": long_ago, "level": "yellow",
                                   "previous": "green", "reasons": ["2 gatherings in the last day"], "values": {},
                                   "trigger": "schedule"})
    page = log_in(browser, server.url, "viewer", size=(1920, 1080))
    page.wait_for_selector('#risk-list li[data-area="cell-a"][data-level="yellow"]')
    assert "2 gatherings in the last day" in page.inner_text('#risk-list li[data-area="cell-a"]')
    page.wait_for_selector('#venue-list li[data-venue="hall"]')
    assert "12" in page.inner_text('#venue-list li[data-venue="hall"]')

    # live: a lockdown turns cell A red, the hall fills past its limit
    station.publish("risk_level", {"area_id": "cell-a", "kind": "cell", "at_s": _time.time(), "level": "red",
                                   "previous": "yellow", "reasons": ["lockdown of its community declared by health:wu"],
                                   "values": {}, "trigger": "input:health:wu"})
    station.publish("venue_count", {"venue_id": "hall", "entrance_id": "gate", "at_s": _time.time(), "entered": 70,
                                    "exited": 9, "occupancy": 61, "limit_persons": 50, "over_limit": True})
    page.wait_for_selector('#risk-list li[data-area="cell-a"][data-level="red"]')
    assert "lockdown" in page.inner_text('#risk-list li[data-area="cell-a"]')
    page.wait_for_selector('#venue-list li[data-venue="hall"][data-over="1"]')
    fill = page.get_attribute('path[data-area="cell-a"]', "fill")
    assert fill == "#b3261e", f"cell A drawn red on the map, got {fill}"
    page.screenshot(path=str(artifacts / "9-risk-map-and-venues-1920x1080.png"))

    # history: the slider goes back to before the lockdown; the map and the list show the level recorded then
    page.wait_for_function("() => window.skyguard.riskSpan.first !== null")
    page.eval_on_selector("#risk-time", "e => { e.value = '500'; e.dispatchEvent(new Event('input')); }")
    page.wait_for_function("() => document.body.dataset.risk !== 'live'")
    page.wait_for_selector('#risk-list li[data-area="cell-a"][data-level="yellow"]')
    assert page.get_attribute('path[data-area="cell-a"]', "fill") == "#f9a825"
    assert "as recorded at" in page.inner_text("#risk-when")
    page.screenshot(path=str(artifacts / "10-risk-history-1920x1080.png"))
    page.click("#risk-live")
    page.wait_for_selector('#risk-list li[data-area="cell-a"][data-level="red"]')
    assert page.errors == []


def test_a_recorded_period_is_replayed_with_a_time_slider_and_speed(site, browser, artifacts):
    server, station = site
    import time as _time

    start = _time.time() - 1800.0
    station.tracks = {"patrol-1": [[start + i, 23.0466 + i * 0.000005, 112.4650, 25.0, 0.0] for i in range(0, 600, 2)]}
    station.stored["zone_counts"] = [
        {"zone_id": "plaza", "at_s": start + 60.0, "count": 2, "capacity_persons": 5, "over_capacity": False},
        {"zone_id": "plaza", "at_s": start + 300.0, "count": 9, "capacity_persons": 5, "over_capacity": True}]
    station.stored["crowds"] = [{"at_s": start + 290.0, "lat_deg": 23.0474, "lon_deg": 112.4658, "count": 9,
                                 "radius_m": 6.0, "zone_id": "plaza"}]
    station.stored["responses"] = [{"response_id": "resp-9", "zone_id": "plaza", "state": "ended", "lat_deg": 23.0474,
                                    "lon_deg": 112.4658, "started_at_s": start + 310.0, "ended_at_s": start + 500.0}]
    station.stored["response_steps"] = [
        {"id": 1, "response_id": "resp-9", "at_s": start + 310.0, "state": "approaching", "cause": "gathering", "by": "station"},
        {"id": 2, "response_id": "resp-9", "at_s": start + 350.0, "state": "broadcasting", "cause": "no fever", "by": "station"}]
    station.stored["alerts"].append({"alert_id": "a-replay", "at_s": start + 305.0, "kind": "crowd", "severity": "warning",
                                     "text": "9 people in plaza", "zone_id": "plaza", "vehicle_id": None,
                                     "response_id": "resp-9", "data": {}})
    page = log_in(browser, server.url, "viewer", size=(1366, 768))
    page.evaluate("""([from, to]) => {
        const local = s => { const d = new Date(s * 1000); d.setMinutes(d.getMinutes() - d.getTimezoneOffset());
                             return d.toISOString().slice(0, 19); };
        document.getElementById('replay-from').value = local(from);
        document.getElementById('replay-to').value = local(to); }""", [start, start + 600.0])
    page.click("#replay-form button[type=submit]")
    page.wait_for_function("() => document.body.dataset.replay === '1'")
    assert "1 drone track(s), 1 alert(s), 1 response(s)" in page.inner_text("#replay-note")

    def at(fraction: float) -> None:
        page.eval_on_selector("#replay-time", f"e => {{ e.value = '{int(fraction * 1000)}'; e.dispatchEvent(new Event('input')); }}")

    at(0.05)  # 30 s in: the drone near its start, two people in the plaza, no alert yet
    lat = float(page.get_attribute('[data-replay-vehicle="patrol-1"]', "data-lat"))
    assert abs(lat - (23.0466 + 30 * 0.000005)) < 2e-5
    assert page.get_attribute('path[data-replay-count]', "data-replay-count") == ""
    at(0.2)  # 120 s
    assert page.get_attribute('path[data-replay-count]', "data-replay-count") == "2"
    assert page.locator('#replay-events li[data-key="a-replay"]').count() == 0
    at(0.6)  # 360 s: the crowd counted, the alert raised, the response broadcasting
    assert page.get_attribute('path[data-replay-count]', "data-replay-count") == "9"
    page.wait_for_selector('#replay-events li[data-key="a-replay"]')
    assert "broadcasting" in page.inner_text(".replay-response")
    page.screenshot(path=str(artifacts / "11-replay-1366x768.png"))
    # play at 300x from 360 s: the replay reaches the end of the period by itself
    page.select_option("#replay-speed", "300")
    page.click("#replay-play")
    page.wait_for_function("() => Number(document.body.dataset.replayT) >= window.skyguard.replay.to_s", timeout=20_000)
    assert page.inner_text("#replay-play") == "Play"
    page.click("#replay-exit")
    page.wait_for_function("() => document.body.dataset.replay === '0'")
    assert page.locator('[data-replay-vehicle]').count() == 0
    assert page.errors == []


def test_an_admin_changes_a_cells_officer_on_the_map_and_a_viewer_sees_no_contacts(site, browser, artifacts):
    from tests.grid.city import units

    server, station = site
    station.grid_file = units()
    page = log_in(browser, server.url, "admin", size=(1920, 1080))
    page.wait_for_selector('#grid-list li[data-unit="cell-a"]')
    assert "li.na@example.org" in page.inner_text('#grid-list li[data-unit="cell-a"]')
    page.wait_for_selector("#officer-form:not([hidden])")
    page.select_option("#officer-unit", "cell-a")
    assert page.input_value("#officer-name") == "Li Na"
    page.fill("#officer-name", "Zhou Lei")
    page.fill("#officer-email", "")
    page.fill("#officer-webhook", "")
    page.fill("#officer-sms", "+8613900139000")
    page.click("#officer-form button[type=submit]")
    page.wait_for_function("() => document.querySelector('#grid-list li[data-unit=\"cell-a\"]').innerText.includes('Zhou Lei')")
    cell = next(f for f in station.grid_file if f["id"] == "cell-a")["properties"]
    assert cell["officer"] == "Zhou Lei" and cell["sms"] == "+8613900139000" and "email" not in cell
    page.fill("#officer-sms", "12345")  # not E.164: refused by the grid parser, nothing changed
    page.click("#officer-form button[type=submit]")
    page.wait_for_selector(".toast.refused")
    assert next(f for f in station.grid_file if f["id"] == "cell-a")["properties"]["sms"] == "+8613900139000"
    page.screenshot(path=str(artifacts / "12-grid-officers-1920x1080.png"))
    viewer = log_in(browser, server.url, "viewer")
    viewer.wait_for_selector('#grid-list li[data-unit="cell-a"]')
    assert "+8613900139000" not in viewer.inner_text("#grid-list") and viewer.is_hidden("#officer-form")
    assert page.errors == [] and viewer.errors == []


def test_an_alerts_blurred_snapshot_appears_with_it_live(site, browser, artifacts):
    import cv2
    import numpy as np

    server, station = site
    ok, jpeg = cv2.imencode(".jpg", np.full((90, 160, 3), 128, np.uint8))
    station.snapshots["a-snap"] = jpeg.tobytes()
    page = log_in(browser, server.url, "viewer")
    station.publish("alert", {"alert_id": "a-snap", "at_s": 5.0, "kind": "crowd", "severity": "warning",
                              "text": "12 people in plaza", "zone_id": "plaza", "vehicle_id": None,
                              "response_id": None, "data": {}})
    station.publish("snapshot", {"alert_id": "a-snap", "at_s": 6.0, "stream_id": "cam-v1", "people_blurred": 12})
    img = '#alerts li[data-alert="a-snap"] a.snapshot img'
    page.wait_for_selector(img)
    page.wait_for_function(f"() => document.querySelector('{img}').naturalWidth === 160")
    assert page.errors == []


def test_a_responses_card_counts_people_measured_not_readings(site, browser):
    server, station = site
    page = log_in(browser, server.url, "viewer")
    station.publish("response", {"response_id": "resp-7", "zone_id": "plaza", "zone_name": "Plaza",
                                 "state": "thermal_sampling", "count": 3, "vehicle_id": "v1"})
    for shot in (1, 2):  # two thermal frames, the same three people in each; person 2 has a fever hint
        for person, (temp, fever) in enumerate([(34.9, False), (35.1, False), (38.6, True)]):
            station.publish("thermal_reading", {"response_id": "resp-7", "shot": shot, "person_id": person,
                                                "lat_deg": 23.0474, "lon_deg": 112.4654, "status": "measured",
                                                "temp_c": temp, "uncertainty_c": 2.0, "fever": fever, "reason": ""})
    card = '#responses li[data-response="resp-7"] .measured'
    page.wait_for_selector(card)
    page.wait_for_function(f"() => document.querySelector('{card}').textContent.includes('3')")
    assert page.inner_text(card) == "measured: 3 · fever hint: 1"
    assert page.errors == []

