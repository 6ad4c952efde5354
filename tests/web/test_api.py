"""The REST API against web/fakes.py's station, through the real Flask app: every endpoint for every role and for
an anonymous client, CSRF failures, malformed bodies (a clear 4xx and nothing changed), the login throttle,
sessions, the OpenAPI document. What the real station does with the requests: test_with_station.py."""
from __future__ import annotations

import copy
import json
import re

import pytest

from tests.grid.city import geojson, units
from tests.web.conftest import PASSWORD, make_site
from web.api import ENDPOINTS, Endpoint
from web.port import role_allows

ZONE = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"name": "plaza"}, "geometry": {
    "type": "Polygon", "coordinates": [[[112.4654, 23.0472], [112.4662, 23.0472], [112.4662, 23.0477],
                                        [112.4654, 23.0472]]]}}]}
# a valid body for every endpoint that takes one, and the values of the path parameters
BODIES = {
    "login": {"name": "viewer", "password": PASSWORD},
    "vehicle_command": {"action": "rtl"},
    "decision": {"action": "approve"},
    "acknowledge": {"note": "seen"},
    "add_schedule": {"name": "new-patrol", "zone": ZONE, "pattern": "lawnmower", "alt_m": 30, "interval_s": 600},
    "add_user": {"name": "newbie", "role": "viewer", "password": "another long password"},
    "start_patrol": {},
    "broadcast": {"zone": "plaza"},
    "put_zone": {"name": "market", "capacity": 40, "policy": "approve", "geometry": ZONE["features"][0]["geometry"]},
    "import_zones": {"filename": "more.geojson", "text": json.dumps({"type": "FeatureCollection", "features": [
        {**ZONE["features"][0], "id": "square", "properties": {"name": "square", "capacity": 9}}]})},
    "put_grid": {"filename": "grid.geojson", "text": geojson(units())},
    "put_officer": {"officer": "Zhou Lei", "email": "zhou.lei@example.org"},
}
PARAMS = {"vehicle_id": "v1", "response_id": "resp-1", "alert_id": "a1", "schedule_id": "s-old", "name": "spare",
          "kind": "events", "zone_id": "plaza", "unit_id": "cell-a"}
PROTECTED = [ep for ep in ENDPOINTS if ep.role is not None]
CHANGING = [ep for ep in PROTECTED if ep.changes_state]


def path_of(ep: Endpoint) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: PARAMS[m.group(1)], ep.path)


def call(client, ep: Endpoint, body=None, csrf: str | None = "auto", **kw):
    headers = {}
    token = client.csrf if csrf == "auto" else csrf
    if token:
        headers["X-CSRFToken"] = token
    body = BODIES.get(ep.handler) if body is None else body
    return client.open(path_of(ep), method=ep.method, json=body, headers=headers, **kw)


@pytest.fixture
def site(passwords):
    s = make_site(passwords)
    s.station.responses["resp-1"] = {"response_id": "resp-1", "zone_id": "plaza", "state": "awaiting_approval"}
    s.station.publish("alert", {"alert_id": "a1", "at_s": 1.0, "kind": "crowd", "severity": "warning",
                                "text": "crowd over capacity", "zone_id": "plaza", "vehicle_id": None,
                                "response_id": "resp-1", "data": {}})
    s.station.schedule_rows["s-old"] = {"schedule_id": "s-old", "name": "old", "created_at_s": 0.0}
    s.station.grid_file = units()
    s.users.add("spare", "viewer", "$argon2id$v=19$m=8,t=1,p=1$c29tZXNhbHQ$c29tZWhhc2g", 0.0)
    return s


def changeable(site) -> dict:
    """Everything a request could change (compared before and after a refused one)."""
    st = site.station
    return copy.deepcopy({"commands": st.commands, "acks": st.acks, "schedules": st.schedule_rows,
                          "users": [(u.name, u.role, u.password_hash) for u in site.users.all()],
                          "zones": st.zone_features, "grid": st.grid_file})


@pytest.mark.parametrize("ep", PROTECTED, ids=lambda ep: f"{ep.method} {ep.path}")
def test_every_api_resource_answers_401_without_a_login_and_changes_nothing(site, ep):
    before = changeable(site)
    r = call(site.client(), ep)
    assert r.status_code == 401 and r.json["error"] == "unauthorized", r.json
    assert changeable(site) == before


def test_logging_in_and_the_openapi_document_need_no_login(site):
    client = site.client()
    assert client.get("/api/openapi.json").status_code == 200
    r = client.post("/api/session", json={"name": "viewer", "password": PASSWORD})
    assert r.status_code == 200 and r.json["role"] == "viewer" and r.json["csrf_token"]


def test_the_openapi_document_describes_exactly_the_api_routes(site):
    doc = site.client().get("/api/openapi.json").json
    assert doc["openapi"].startswith("3.")
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    routed = {(m, re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)) for rule in site.web.flask.url_map.iter_rules()
              if rule.rule.startswith("/api/") for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert documented == routed
    add_user = doc["paths"]["/api/users"]["post"]
    assert add_user["x-role"] == "admin" and "403" in add_user["responses"]
    assert set(doc["components"]["schemas"]["NewUserBody"]["properties"]) == {"name", "role", "password"}


@pytest.mark.parametrize("ep", [ep for ep in PROTECTED if ep.method == "GET"], ids=lambda ep: ep.path)
@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_every_role_reads_what_its_role_may(site, ep, role):
    r = call(site.client(role), ep)
    if role_allows(role, ep.role):
        assert r.status_code == 200, r.json
    else:
        assert r.status_code == 403 and r.json["error"] == "forbidden"


BELOW = [(ep, role) for ep in CHANGING for role in ("viewer", "operator") if not role_allows(role, ep.role)]


@pytest.mark.parametrize("ep, role", BELOW, ids=[f"{role}-{ep.method} {ep.path}" for ep, role in BELOW])
def test_a_role_below_the_one_needed_is_refused_on_the_server_and_nothing_changes(site, ep, role):
    before = changeable(site)
    r = call(site.client(role), ep)
    assert r.status_code == 403 and r.json["error"] == "forbidden", r.json
    assert ep.role in r.json["message"]
    assert changeable(site) == before


def test_an_operator_command_goes_to_the_station_with_the_users_name(site):
    client = site.client("operator")
    r = client.post("/api/vehicles/v1/commands", json={"action": "rtl"}, headers={"X-CSRFToken": client.csrf})
    assert r.status_code == 200 and r.json["outcome"]["status"] == "accepted"
    (asked,) = site.station.commands
    assert asked["vehicle_id"] == "v1" and asked["action"] == "rtl" and asked["requested_by"] == "web:operator"
    r = client.post("/api/vehicles/v2/commands", json={"action": "abort_patrol", "reason": "weather"},
                    headers={"X-CSRFToken": client.csrf})
    assert site.station.commands[-1]["params"] == {"reason": "weather"} and r.json["outcome"]["action"] == "abort_patrol"


@pytest.mark.parametrize("body, action, args", [
    ({"action": "approve"}, "approve_response", {"response_id": "resp-1"}),
    ({"action": "deny", "reason": "event permitted"}, "deny_response", {"response_id": "resp-1",
                                                                       "reason": "event permitted"}),
    ({"action": "abort", "then": "rtl", "reason": "storm"}, "abort_response", {"response_id": "resp-1", "then": "rtl",
                                                                              "reason": "storm"}),
])
def test_an_operator_decides_on_a_crowd_response_through_the_station(site, body, action, args):
    client = site.client("operator")
    r = client.post("/api/responses/resp-1/decision", json=body, headers={"X-CSRFToken": client.csrf})
    assert r.status_code == 200 and r.json["outcome"]["status"] == "accepted"
    (asked,) = site.station.commands
    assert (asked["action"], asked["params"], asked["requested_by"]) == (action, args, "web:operator")


def test_the_stations_refusal_is_answered_with_its_reason(site):
    site.station.refusal = "battery 20 % below the launch minimum"
    client = site.client("operator")
    r = client.post("/api/vehicles/v1/commands", json={"action": "land"}, headers={"X-CSRFToken": client.csrf})
    assert r.status_code == 200
    assert r.json["outcome"] == {"request_id": "r1", "vehicle_id": "v1", "action": "land", "status": "refused_by_station",
                                 "reason": "battery 20 % below the launch minimum", "result_name": None}


def test_an_operator_acknowledges_an_alert_once(site):
    client = site.client("operator")
    r = client.post("/api/alerts/a1/ack", json={"note": "on it"}, headers={"X-CSRFToken": client.csrf})
    assert r.status_code == 200 and r.json["ack"]["by"] == "operator" and r.json["ack"]["note"] == "on it"
    admin = site.client("admin")
    again = admin.post("/api/alerts/a1/ack", json={}, headers={"X-CSRFToken": admin.csrf})
    assert again.json["ack"]["by"] == "operator", "the first acknowledgement stays"
    (alert,) = site.client("viewer").get("/api/alerts").json["alerts"]
    assert alert["ack"]["by"] == "operator"


def test_an_admin_manages_users_and_schedules(site):
    client = site.client("admin")
    h = {"X-CSRFToken": client.csrf}
    assert client.post("/api/users", json=BODIES["add_user"], headers=h).status_code == 200
    assert {"name": "newbie", "role": "viewer"}.items() <= site.users.get("newbie").__dict__.items()
    assert site.client().post("/api/session", json={"name": "newbie", "password": "another long password"}).status_code == 200
    assert client.post("/api/users", json=BODIES["add_user"], headers=h).status_code == 409
    assert client.delete("/api/users/newbie", headers=h).status_code == 200 and site.users.get("newbie") is None
    assert client.delete("/api/users/admin", headers=h).status_code == 400, "not yourself"
    r = client.post("/api/schedules", json=BODIES["add_schedule"], headers=h)
    assert r.status_code == 200 and r.json["schedule"]["name"] == "new-patrol"
    assert client.post("/api/schedules", json=BODIES["add_schedule"], headers=h).status_code == 409
    assert client.delete(f"/api/schedules/{r.json['schedule']['schedule_id']}", headers=h).status_code == 200
    changes = [(c["action"], c["params"].get("name"), c["requested_by"]) for c in site.station.commands]
    assert changes == [("add_user", "newbie", "web:admin"), ("remove_user", "newbie", "web:admin"),
                       ("add_schedule", "new-patrol", "web:admin"), ("remove_schedule", "new-patrol", "web:admin")], \
        "each change in the audit trail with the admin's name, once, and only when it was made"
    assert all("password" not in c["params"] for c in site.station.commands)


@pytest.mark.parametrize("ep", [ep for ep in CHANGING], ids=lambda ep: f"{ep.method} {ep.path}")
@pytest.mark.parametrize("token", ["missing", "wrong", "another session's"])
def test_a_state_changing_request_without_its_csrf_token_is_refused_and_changes_nothing(site, ep, token):
    client = site.client("admin")
    csrf = {"missing": None, "wrong": "not-a-token", "another session's": site.client("admin").csrf}[token]
    before = changeable(site)
    r = call(client, ep, csrf=csrf)
    assert r.status_code == 403 and r.json["error"] == "csrf_failed", r.json
    assert changeable(site) == before


MALFORMED = [
    ("vehicle_command", "not json", 415, "unsupported_media_type"),
    ("vehicle_command", [1, 2], 400, "invalid_input"),
    ("vehicle_command", {}, 400, "invalid_input"),
    ("vehicle_command", {"action": "arm"}, 400, "invalid_input"),
    ("vehicle_command", {"action": "rtl", "extra": 1}, 400, "invalid_input"),
    ("vehicle_command", {"action": "rtl", "reason": "why"}, 400, "invalid_input"),
    ("vehicle_command", {"action": 7}, 400, "invalid_input"),
    ("decision", {"action": "approve", "then": "rtl"}, 400, "invalid_input"),
    ("decision", {"action": "approve", "reason": "x"}, 400, "invalid_input"),
    ("decision", {"action": "abort", "then": "fly away"}, 400, "invalid_input"),
    ("acknowledge", {"note": "x" * 501}, 400, "invalid_input"),
    ("add_user", {"name": "bad name!", "role": "viewer", "password": "long enough pw"}, 400, "invalid_input"),
    ("add_user", {"name": "shorty", "role": "viewer", "password": "short"}, 400, "invalid_input"),
    ("add_user", {"name": "boss", "role": "owner", "password": "long enough pw"}, 400, "invalid_input"),
    ("add_schedule", {**BODIES["add_schedule"], "interval_s": None}, 400, "invalid_input"),
    ("add_schedule", {**BODIES["add_schedule"], "cron": "0 * * * *"}, 400, "invalid_input"),
    ("add_schedule", {**BODIES["add_schedule"], "alt_m": -5}, 400, "invalid_input"),
    ("add_schedule", {**BODIES["add_schedule"], "zone": {"type": "Point"}}, 400, "invalid_input"),
    ("start_patrol", {"vehicle_id": ""}, 400, "invalid_input"),
    ("start_patrol", {"vehicle": "v1"}, 400, "invalid_input"),
    ("broadcast", {}, 400, "invalid_input"),
    ("broadcast", {"zone": "plaza", "messages": {"en": "go home"}}, 400, "invalid_input"),
    ("broadcast", {"messages": {}}, 400, "invalid_input"),
    ("broadcast", {"messages": {"English!": "go home"}}, 400, "invalid_input"),
    ("broadcast", {"messages": {"en": ""}}, 400, "invalid_input"),
    ("broadcast", {"zone": "plaza", "repeat": 0}, 400, "invalid_input"),
    ("broadcast", {"zone": "plaza", "repeat": "3"}, 400, "invalid_input"),
    ("put_zone", {**BODIES["put_zone"], "policy": "shoot"}, 400, "invalid_input"),
    ("put_zone", {**BODIES["put_zone"], "capacity": -1}, 400, "invalid_input"),
    ("put_zone", {**BODIES["put_zone"], "geometry": {"type": "Point", "coordinates": [112.4, 23.0]}}, 400,
     "invalid_input"),
    ("put_zone", {k: v for k, v in BODIES["put_zone"].items() if k != "capacity"}, 400, "invalid_input"),
    ("import_zones", {**BODIES["import_zones"], "filename": "zones.shp"}, 400, "invalid_input"),
    ("import_zones", {**BODIES["import_zones"], "text": "not json"}, 400, "invalid_input"),
]


@pytest.mark.parametrize("handler, body, status, code", MALFORMED, ids=[f"{m[0]}-{i}" for i, m in enumerate(MALFORMED)])
def test_a_malformed_body_gets_a_clear_4xx_and_changes_nothing(site, handler, body, status, code):
    ep = next(e for e in ENDPOINTS if e.handler == handler)
    client = site.client("admin")
    before = changeable(site)
    if isinstance(body, str):
        r = client.open(path_of(ep), method=ep.method, data=body, headers={"X-CSRFToken": client.csrf,
                                                                         "Content-Type": "text/plain"})
    else:
        r = call(client, ep, body=body)
    assert r.status_code == status and r.json["error"] == code and r.json["message"], r.json
    assert changeable(site) == before


@pytest.mark.parametrize("path, body", [
    ("/api/vehicles/nope/commands", {"action": "rtl"}),
    ("/api/vehicles/nope/broadcast", {"zone": "plaza"}),
    ("/api/schedules/s-old/start", {"vehicle_id": "nope"}),
    ("/api/responses/nope/decision", {"action": "approve"}),
    ("/api/alerts/nope/ack", {}),
])
def test_an_unknown_target_is_404_and_nothing_reaches_the_station(site, path, body):
    client = site.client("operator")
    before = changeable(site)
    r = client.post(path, json=body, headers={"X-CSRFToken": client.csrf})
    assert r.status_code == 404 and r.json["error"] == "not_found"
    assert changeable(site) == before
    admin = site.client("admin")
    assert admin.delete("/api/schedules/nope", headers={"X-CSRFToken": admin.csrf}).status_code == 404
    assert admin.delete("/api/users/nope", headers={"X-CSRFToken": admin.csrf}).status_code == 404
    assert admin.get("/api/vehicles/nope").status_code == 404
    assert admin.get("/api/nothing-here").json["error"] == "not_found"


def test_records_take_only_their_filters_and_a_sane_limit(site):
    client = site.client("viewer")
    assert client.get("/api/records/events?vehicle_id=v1&limit=10").status_code == 200
    assert client.get("/api/records/events?zone_id=x").status_code == 400
    assert client.get("/api/records/events?limit=0").status_code == 400
    assert client.get("/api/records/events?limit=abc").status_code == 400
    assert client.get("/api/records/secrets").status_code == 404


def test_wrong_passwords_are_throttled_per_name_and_per_address_until_the_window_passes(site):
    client = site.client()
    for _ in range(5):
        assert client.post("/api/session", json={"name": "operator", "password": "guess"}).status_code == 401
    r = client.post("/api/session", json={"name": "operator", "password": PASSWORD})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0, "even the right password waits"
    assert r.json["error"] == "too_many_attempts"
    assert client.post("/api/session", json={"name": "viewer", "password": PASSWORD}).status_code == 200
    for i in range(15):  # guessing other names from the same address
        assert client.post("/api/session", json={"name": f"name{i}", "password": "guess"}).status_code == 401
    assert client.post("/api/session", json={"name": "admin", "password": PASSWORD}).status_code == 429
    site.clock.now += 301
    assert client.post("/api/session", json={"name": "operator", "password": PASSWORD}).status_code == 200


def test_unknown_names_and_wrong_passwords_get_the_same_answer(site):
    client = site.client()
    a = client.post("/api/session", json={"name": "nobody", "password": "whatever"})
    b = client.post("/api/session", json={"name": "viewer", "password": "whatever"})
    assert a.status_code == b.status_code == 401 and a.json == b.json


def test_a_session_ends_with_logout_removal_or_a_new_password(site, passwords):
    client = site.client("operator")
    assert client.get("/api/state").status_code == 200
    assert client.delete("/api/session").status_code == 403, "logout needs the CSRF token too"
    assert client.delete("/api/session", headers={"X-CSRFToken": client.csrf}).status_code == 200
    assert client.get("/api/state").status_code == 401
    client = site.client("viewer")
    site.users.remove("viewer")
    site.users.add("viewer", "viewer", passwords.hash("a brand new password"), 0.0)
    assert client.get("/api/state").status_code == 401, "a new password ends the old sessions"
    client = site.client("operator")
    site.users.remove("operator")
    assert client.get("/api/state").status_code == 401


def test_the_session_cookie_is_httponly_samesite_strict_and_secure_with_tls(site, passwords, tmp_path):
    cookie = site.client().post("/api/session", json={"name": "viewer", "password": PASSWORD}).headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    tls = make_site(passwords, tls_cert=tmp_path / "c.pem", tls_key=tmp_path / "k.pem")
    cookie = tls.client().post("/api/session", json={"name": "viewer", "password": PASSWORD},
                               base_url="https://localhost").headers["Set-Cookie"]
    assert "Secure" in cookie


def test_pages_get_a_strict_content_security_policy(site):
    r = site.client().get("/")
    assert r.status_code == 200 and b"leaflet.js" in r.data
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src" not in csp and "frame-ancestors 'none'" in csp
    assert site.client().get("/vendor/leaflet/leaflet.js").status_code == 200, "npm's Leaflet (make install)"
    assert site.client().get("/vendor/socket.io/socket.io.min.js").status_code == 200


def test_state_holds_the_view_its_number_and_the_recent_alerts(site):
    st = site.client("viewer").get("/api/state").json
    assert st["seq"] == 1 and set(st["vehicles"]) == {"v1", "v2"}
    assert [a["alert_id"] for a in st["alerts"]] == ["a1"] and st["acks"] == {}


def test_map_tiles_none_by_default_local_folder_or_an_allowed_online_url(passwords, tmp_path):
    plain = make_site(passwords)
    assert plain.client("viewer").get("/api/layout").json["tiles"] == {"kind": "none"}
    (tmp_path / "tiles" / "15" / "26000").mkdir(parents=True)
    (tmp_path / "tiles" / "15" / "26000" / "14000.png").write_bytes(b"\x89PNG fake")
    local = make_site(passwords, tiles_dir=tmp_path / "tiles")
    assert local.client("viewer").get("/api/layout").json["tiles"]["url"] == "/tiles/{z}/{x}/{y}.png"
    assert local.client().get("/tiles/15/26000/14000.png").status_code == 401
    r = local.client("viewer").get("/tiles/15/26000/14000.png")
    assert r.status_code == 200 and r.data == b"\x89PNG fake"
    assert local.client("viewer").get("/tiles/15/26000/99.png").status_code == 404
    url = "https://tiles.example.org/{z}/{x}/{y}.png"
    refused = make_site(passwords, tiles_url=url)
    assert refused.client("viewer").get("/api/layout").json["tiles"] == {"kind": "none"}, "not allowed: not used"
    online = make_site(passwords, tiles_url=url, allow_online_tiles=True)
    viewer = online.client("viewer")
    assert viewer.get("/api/layout").json["tiles"]["url"] == url
    assert "img-src 'self' data: https://tiles.example.org" in viewer.get("/").headers["Content-Security-Policy"]


def test_an_operator_starts_a_schedules_patrol_now_through_the_station(site):
    client = site.client("operator")
    h = {"X-CSRFToken": client.csrf}
    r = client.post("/api/schedules/s-old/start", json={}, headers=h)
    assert r.status_code == 200 and r.json["outcome"]["status"] == "accepted"
    r = client.post("/api/schedules/old/start", json={"vehicle_id": "v2"}, headers=h)
    assert r.status_code == 200 and r.json["outcome"]["status"] == "accepted"
    asked = [(c["vehicle_id"], c["action"], c["params"], c["requested_by"]) for c in site.station.commands]
    assert asked == [("", "start_patrol", {"schedule": "s-old"}, "web:operator"),
                     ("v2", "start_patrol", {"schedule": "old"}, "web:operator")]


def test_a_patrol_the_station_refuses_to_start_is_answered_with_its_reason(site):
    client = site.client("operator")
    r = client.post("/api/schedules/nothing/start", json={}, headers={"X-CSRFToken": client.csrf})
    assert r.status_code == 200
    assert r.json["outcome"]["status"] == "refused_by_station"
    assert r.json["outcome"]["reason"] == "no patrol schedule with id or name 'nothing'"


@pytest.mark.parametrize("body, args", [
    ({"zone": "plaza"}, {"zone": "plaza"}),
    ({"zone": "plaza", "repeat": 2}, {"zone": "plaza", "repeat": 2}),
    ({"messages": {"zh-cmn": "请戴口罩", "en": "wear a mask"}}, {"messages": {"zh-cmn": "请戴口罩", "en": "wear a mask"}}),
])
def test_an_operator_broadcasts_a_message_now_through_the_station(site, body, args):
    client = site.client("operator")
    r = client.post("/api/vehicles/v1/broadcast", json=body, headers={"X-CSRFToken": client.csrf})
    assert r.status_code == 200 and r.json["outcome"]["status"] == "accepted"
    (asked,) = site.station.commands
    assert (asked["vehicle_id"], asked["action"], asked["params"], asked["requested_by"]) == (
        "v1", "broadcast", args, "web:operator")


def test_the_video_list_gives_the_maps_own_addresses_never_the_workers(site):
    site.station.video = [{"stream_id": "cam v1", "vehicle_id": "v1", "url": "http://127.0.0.1:5/secret/stream.mjpeg"}]
    listed = site.client("viewer").get("/api/video").json
    assert listed == [{"stream_id": "cam v1", "vehicle_id": "v1", "url": "/video/cam%20v1.mjpeg"}]
    assert site.client().get("/video/cam%20v1.mjpeg").status_code == 401
    assert site.client("viewer").get("/video/nope.mjpeg").status_code == 404


def test_a_viewer_reads_the_zone_file_and_an_admin_adds_replaces_and_removes_zones(site):
    assert [f["id"] for f in site.client("viewer").get("/api/zone-file").json["features"]] == ["plaza"]
    admin = site.client("admin")
    h = {"X-CSRFToken": admin.csrf}
    r = admin.put("/api/zones/market", json=BODIES["put_zone"], headers=h)
    assert r.status_code == 200 and r.json["zones"] == 2
    market = site.station.zone_features[-1]
    assert market["id"] == "market" and market["properties"] == {"name": "market", "capacity": 40, "policy": "approve"}
    assert market["geometry"] == BODIES["put_zone"]["geometry"]
    r = admin.put("/api/zones/market", json={**BODIES["put_zone"], "capacity": 60, "policy": None, "dwell_s": 30},
                  headers=h)
    assert r.status_code == 200
    assert site.station.zone_features[-1]["properties"] == {"name": "market", "capacity": 60, "dwell_s": 30.0}
    assert admin.delete("/api/zones/market", headers=h).status_code == 200
    assert [f["id"] for f in site.station.zone_features] == ["plaza"]
    assert admin.delete("/api/zones/market", headers=h).status_code == 404
    assert admin.put("/api/zones/bad id!", json=BODIES["put_zone"], headers=h).status_code == 400
    loads = [c for c in site.station.commands if c["action"] == "load_zones"]
    assert len(loads) == 3 and {c["requested_by"] for c in loads} == {"web:admin"}, "each edit asked by its admin"


def test_an_admin_imports_zones_adding_to_or_replacing_the_file(site):
    admin = site.client("admin")
    h = {"X-CSRFToken": admin.csrf}
    assert admin.post("/api/zones/import", json=BODIES["import_zones"], headers=h).status_code == 200
    assert [f["id"] for f in site.station.zone_features] == ["plaza", "square"]
    r = admin.post("/api/zones/import", json={**BODIES["import_zones"], "replace": True}, headers=h)
    assert r.status_code == 200 and [f["id"] for f in site.station.zone_features] == ["square"]


def test_zones_the_station_cannot_edit_are_a_conflict_and_nothing_changes(site):
    site.station.zones_editable = False
    admin = site.client("admin")
    before = changeable(site)
    r = admin.put("/api/zones/market", json=BODIES["put_zone"], headers={"X-CSRFToken": admin.csrf})
    assert r.status_code == 409 and "KML" in r.json["message"]
    assert changeable(site) == before


def test_map_tiles_from_the_stations_mbtiles_file(site):
    site.station.tile_set[(15, 26000, 14000)] = b"\x89PNG tile"
    viewer = site.client("viewer")
    tiles = viewer.get("/api/layout").json["tiles"]
    assert tiles["kind"] == "mbtiles" and tiles["url"] == "/tiles/{z}/{x}/{y}.png" and tiles["max_zoom"] == 18
    r = viewer.get("/tiles/15/26000/14000.png")
    assert r.status_code == 200 and r.data == b"\x89PNG tile" and r.mimetype == "image/png"
    assert viewer.get("/tiles/15/26000/14001.png").status_code == 404
    assert viewer.get("/tiles/15/26000/14000.jpg").status_code == 404
    assert viewer.get("/tiles/3/8/0.png").status_code == 404, "x beyond the zoom level"
    assert site.client().get("/tiles/15/26000/14000.png").status_code == 401


def test_an_officers_link_shows_a_page_and_only_a_post_with_its_token_acknowledges(site):
    site.station.notice_links[("a1@cell-a", "cell-a.officer")] = "good-token"
    anonymous = site.client()
    path = "/notices/a1%40cell-a/ack"
    page = anonymous.get(f"{path}?officer=cell-a.officer&token=good-token")
    assert page.status_code == 200 and b'id="acknowledge"' in page.data and b"a1@cell-a" in page.data
    assert page.headers["Cache-Control"] == "no-store"
    assert not site.station.notices_acked, "opening the link acknowledges nothing"
    bad = anonymous.post(path, data={"officer": "cell-a.officer", "token": "forged"})
    assert bad.status_code == 409 and b"not valid" in bad.data and not site.station.notices_acked
    good = anonymous.post(path, data={"officer": "cell-a.officer", "token": "good-token", "note": "on my way"})
    assert good.status_code == 200 and b"Acknowledged" in good.data and b'id="acknowledge"' not in good.data
    assert site.station.notices_acked == {"a1@cell-a": "officer:cell-a.officer"}
    assert site.station.commands[-1]["params"] == {"notice_id": "a1@cell-a", "note": "on my way"}
    again = anonymous.post(path, data={"officer": "cell-a.officer", "token": "good-token"})
    assert again.status_code == 409 and b"already acknowledged" in again.data


def test_an_incomplete_or_hostile_link_is_refused_and_escaped(site):
    anonymous = site.client()
    assert anonymous.get("/notices/x/ack?officer=o").status_code == 400
    assert anonymous.post("/notices/x/ack", data={"token": "t"}).status_code == 400
    page = anonymous.get("/notices/%3Cscript%3Ealert(1)%3C%2Fscript%3E/ack?officer=%3Cb%3E&token=t")
    assert page.status_code == 200 and b"<script>" not in page.data and b"&lt;script&gt;" in page.data
    assert b"<b>" not in page.data
    assert not site.station.commands, "nothing was asked of the station"


def test_guessing_tokens_is_throttled_per_address(site):
    anonymous = site.client()
    codes = [anonymous.post("/notices/n1/ack", data={"officer": "o", "token": f"guess-{i}"}).status_code
             for i in range(21)]
    assert codes[:20] == [409] * 20 and codes[20] == 429
    asked = [c for c in site.station.commands if c["action"] == "acknowledge_notice"]
    assert len(asked) == 20, "a throttled guess never reaches the station"


def test_the_risk_map_is_read_now_and_as_it_was_at_a_time_of_its_history(site):
    for at_s, level, reason in ((100.0, "yellow", "2 gatherings in 24 h"), (200.0, "red", "lockdown declared")):
        site.station.publish("risk_level", {"area_id": "plaza", "kind": "zone", "at_s": at_s, "level": level,
                                            "previous": None, "reasons": [reason], "values": {}, "trigger": "schedule"})
    viewer = site.client("viewer")
    now = viewer.get("/api/risk").json
    assert now["at_s"] is None and (now["first_change_s"], now["last_change_s"]) == (100.0, 200.0)
    (plaza,) = now["areas"]
    assert plaza["level"] == "red" and plaza["reasons"] == ["lockdown declared"]
    then = viewer.get("/api/risk?at=150").json
    assert then["at_s"] == 150.0 and [(a["area_id"], a["level"], a["reasons"]) for a in then["areas"]] == [
        ("plaza", "yellow", ["2 gatherings in 24 h"])]
    assert viewer.get("/api/risk?at=50").json["areas"] == [], "nothing recorded before the first change"
    for bad in ("soon", "-5", "nan"):
        r = viewer.get(f"/api/risk?at={bad}")
        assert r.status_code == 400 and "seconds since the epoch" in r.json["message"]
    history = viewer.get("/api/records/risk_levels?area_id=plaza").json
    assert [r["level"] for r in history] == ["yellow", "red"]
    assert site.client().get("/api/risk").status_code == 401


def test_venues_are_read_with_their_occupancy_and_limit(site):
    site.station.venues = [{"venue_id": "hall", "name": "market hall", "limit_persons": 50, "occupancy": 61,
                            "lat_deg": 23.047, "lon_deg": 112.466, "over_limit": True}]
    (hall,) = site.client("viewer").get("/api/venues").json
    assert hall["occupancy"] == 61 and hall["limit_persons"] == 50 and hall["over_limit"] is True


def test_a_period_is_replayed_with_tracks_and_records_and_a_bad_period_is_refused(site):
    site.station.tracks = {"v1": [[100.0, 23.0469, 112.4651, 20.0, 90.0], [101.0, 23.0470, 112.4651, 20.0, 90.0],
                                  [500.0, 23.0480, 112.4651, 20.0, 90.0]]}
    site.station.stored["zone_counts"] = [{"zone_id": "plaza", "at_s": 100.5, "count": 7, "capacity_persons": 5}]
    viewer = site.client("viewer")
    r = viewer.get("/api/replay?from=90&to=200")
    assert r.status_code == 200
    assert (r.json["from_s"], r.json["to_s"]) == (90.0, 200.0)
    assert [p[0] for p in r.json["tracks"]["v1"]] == [100.0, 101.0] and r.json["zone_counts"][0]["count"] == 7
    assert [a["alert_id"] for a in viewer.get("/api/replay?from=0&to=10").json["alerts"]] == ["a1"]
    for query, expected in (("from=200&to=90", "end after it starts"), ("from=0&to=100000", "at most 24 h"),
                            ("from=yesterday&to=5", "from must be"), ("from=1&to=inf", "to must be")):
        r = viewer.get(f"/api/replay?{query}")
        assert r.status_code == 400 and expected in r.json["message"], (query, r.json)
    assert viewer.get("/api/replay").status_code == 200, "the last hour"
    assert site.client().get("/api/replay").status_code == 401


def test_the_grid_is_read_by_everyone_with_contacts_for_admins_only(site):
    cell = next(f for f in site.client("viewer").get("/api/grid").json["features"] if f["id"] == "cell-a")
    assert cell["properties"]["officer"] and not {"email", "sms", "webhook"} & set(cell["properties"])
    admin_cell = next(f for f in site.client("admin").get("/api/grid").json["features"] if f["id"] == "cell-a")
    assert admin_cell["properties"]["email"] == "li.na@example.org"


def test_an_admin_changes_a_cells_officer_and_a_bad_one_is_refused_with_nothing_changed(site):
    admin = site.client("admin")
    h = {"X-CSRFToken": admin.csrf}
    r = admin.put("/api/grid/units/cell-a/officer", json={"officer": "Zhou Lei", "sms": "+8613900139000"}, headers=h)
    assert r.status_code == 200, r.json
    cell = next(f for f in site.station.grid_file if f["id"] == "cell-a")["properties"]
    assert cell["officer"] == "Zhou Lei" and cell["sms"] == "+8613900139000" and "email" not in cell
    assert cell["level"] == "cell" and cell["parent"] == "plaza-c", "the unit's other fields are kept"
    assert site.station.commands[-1]["requested_by"] == "web:admin"
    before = changeable(site)
    bad = admin.put("/api/grid/units/cell-a/officer", json={"officer": "Zhou Lei", "email": "not an address"},
                    headers=h)
    assert bad.status_code == 400 and "email 'not an address' is not an e-mail address" in bad.json["message"]
    nobody = admin.put("/api/grid/units/cell-a/officer", json={"officer": "Zhou Lei"}, headers=h)
    assert nobody.status_code == 400, "an officer who cannot be reached"
    assert admin.put("/api/grid/units/nowhere/officer", json=BODIES["put_officer"], headers=h).status_code == 404
    assert changeable(site) == before


def test_an_admin_uploads_a_whole_grid_and_one_with_overlapping_cells_is_refused(site):
    from tests.grid.city import unit

    admin = site.client("admin")
    h = {"X-CSRFToken": admin.csrf}
    features = units() + [unit("cell-x", "cell", (50, 0, 150, 100), "plaza-c", officer="Wu Fang",
                               email="wu.fang@example.org")]
    before = changeable(site)
    r = admin.put("/api/grid", json={"filename": "grid.geojson", "text": geojson(features)}, headers=h)
    assert r.status_code == 400 and "overlap" in r.json["message"]
    assert changeable(site) == before
    fewer = [f for f in units() if f["id"] != "cell-e"]
    r = admin.put("/api/grid", json={"filename": "grid.geojson", "text": geojson(fewer)}, headers=h)
    assert r.status_code == 200 and r.json["units"] == len(fewer)
    site.station.grid_file = None
    assert admin.put("/api/grid", json=BODIES["put_grid"], headers=h).status_code == 409


def test_an_alerts_snapshot_is_served_to_logged_in_users_only_and_listed_in_the_state(site):
    site.station.snapshots["a1"] = b"\xff\xd8\xff\xe0 a blurred jpeg"
    site.station.stored["snapshots"].append({"alert_id": "a1", "at_s": 1.5, "stream_id": "cam-v1",
                                             "path": "snapshots/a1.jpg", "people_blurred": 4})
    assert site.client().get("/snapshots/a1.jpg").status_code == 401
    viewer = site.client("viewer")
    r = viewer.get("/snapshots/a1.jpg")
    assert r.status_code == 200 and r.mimetype == "image/jpeg" and r.data == site.station.snapshots["a1"]
    assert viewer.get("/snapshots/nope.jpg").status_code == 404
    assert [s["alert_id"] for s in viewer.get("/api/state").json["snapshots"]] == ["a1"]
