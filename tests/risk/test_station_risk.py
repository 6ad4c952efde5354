"""The risk map in the running station (the fleet is tests/groundstation/fakes.py's double, the clock injected, the
database real): a health official's lockdown is audited, recorded with its reasons and shown in view(); after a restart
the map is rebuilt from the database (the lockdown holds) without recording unchanged levels again."""
from __future__ import annotations

from groundstation.config import parse_config
from groundstation.shell import storage
from groundstation.shell.station import Station
from tests.grid.city import geojson, units
from tests.groundstation.fakes import FakeFleet

T0 = 1_700_000_000.0


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _config(tmp_path):
    grid = tmp_path / "grid.geojson"
    grid.write_text(geojson(units()))
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('webhook_secret = "0123456789abcdef-webhook"\n')
    return parse_config({
        "station": {"storage_path": str(tmp_path / "station.sqlite"), "tlog_dir": None},
        "vehicles": [{"id": "d1", "url": "tcp:127.0.0.1:5760"}],
        "response": {"mode": "watch-only", "speech_engines": ["espeak-ng"],
                     "speech_cache_dir": str(tmp_path / "speech")},
        "grid": {"file": str(grid), "secrets_file": str(secrets),
                 "smtp": {"host": "127.0.0.1", "port": 2525, "sender": "skyguard@example.org", "security": "none"},
                 "sms": {"url": "http://127.0.0.1:9/sms"}},
        "risk": {"recompute_h": 2.0, "effects": {"red": {"capacity_factor": 0.4, "patrol_interval_factor": 0.25}}},
    })


def test_a_lockdown_is_audited_recorded_shown_and_survives_a_restart(tmp_path):
    config = _config(tmp_path)
    clock = Clock(T0)
    station = Station(config, fleet_factory=FakeFleet, clock=clock, auto_tick=False).start()
    try:
        assert station.flush()
        outcome = station.risk_input("plaza-c", lockdown=True, note="cluster", requested_by="health:dr-wu").result(10)
        assert outcome.ok, outcome.reason
        refused = station.risk_input("nowhere", cases=1).result(10)
        assert refused.status == "refused_by_station"
        assert station.flush()
        view = station.view()
        areas = {a["area_id"]: a for a in view["risk"]["areas"]}
        assert {k: areas[k]["level"] for k in ("cell-a", "cell-b", "cell-e", "plaza-c")} == {
            "cell-a": "red", "cell-b": "red", "cell-e": "green", "plaza-c": "red"}
        assert areas["cell-a"]["reasons"][0].startswith("lockdown of its community Plaza C declared by health:dr-wu")
        zones = {z["zone_id"]: z for z in view["zones"]}
        assert zones["grid:cell-a"]["capacity_persons"] == 2  # 5 x 0.4
        assert view["venues"] == []
    finally:
        station.stop()
    db = storage.open_database(config.station.storage_path)
    history = storage.risk_level_rows(db)
    assert {(r["area_id"], r["previous"], r["level"]) for r in history} >= {
        ("cell-a", None, "green"), ("cell-a", "green", "red"), ("plaza-c", "green", "red")}
    assert {r["trigger"] for r in history} == {"start", "input:health:dr-wu"}
    (given,) = storage.risk_input_rows(db)
    assert (given["unit_id"], given["by"], given["lockdown"], given["note"]) == ("plaza-c", "health:dr-wu", True,
                                                                                 "cluster")
    audit = storage.audit_rows(db, T0 - 1, T0 + 1)
    assert [(a["record"], a["decision"]) for a in audit if a["record"] == "command"] == [("command", "sent"),
                                                                                         ("command", "refused")]
    assert any(a["record"] == "risk_input" and a["who"] == "health:dr-wu" for a in audit)
    db.close()

    clock.t = T0 + 3600.0
    station = Station(config, fleet_factory=FakeFleet, clock=clock, auto_tick=False).start()
    try:
        assert station.flush()
        areas = {a["area_id"]: a for a in station.view()["risk"]["areas"]}
        assert areas["cell-a"]["level"] == "red" and areas["cell-e"]["level"] == "green"
        outcome = station.risk_input("plaza-c", lockdown=False, requested_by="health:dr-wu").result(10)
        assert outcome.ok and outcome.reason.endswith("lockdown lifted; now green")
        assert station.flush()
    finally:
        station.stop()
    db = storage.open_database(config.station.storage_path)
    after = storage.risk_level_rows(db)
    assert len([r for r in after if r["trigger"] == "start"]) == len([r for r in history if r["trigger"] == "start"])
    assert {(r["area_id"], r["level"]) for r in after if r["trigger"] == "input:health:dr-wu"
            and r["at_s"] > T0} >= {("cell-a", "green"), ("plaza-c", "green")}
    assert storage.risk_levels_at(db, T0 + 10)["cell-a"]["level"] == "red"
    assert storage.risk_levels_at(db, T0 + 3700)["cell-a"]["level"] == "green"
    db.close()


def test_the_web_map_gets_the_areas_outlines_and_the_map_as_recorded_at_any_time(tmp_path):
    from groundstation.shell.web_bridge import StationBridge

    config = _config(tmp_path)
    clock = Clock(T0)
    station = Station(config, fleet_factory=FakeFleet, clock=clock, auto_tick=False).start()
    try:
        assert station.flush()
        clock.t = T0 + 60.0
        assert station.risk_input("plaza-c", lockdown=True, requested_by="health:dr-wu").result(10).ok
        assert station.flush()
        bridge = StationBridge(station, config)
        outlines = {f["id"]: f for f in bridge.layout()["risk_areas"]["features"]}
        assert {"cell-a", "cell-b", "cell-e"} <= set(outlines)
        assert outlines["cell-a"]["properties"]["kind"] == "cell"
        assert outlines["cell-a"]["geometry"]["type"] == "MultiPolygon"
        before = {a["area_id"]: a["level"] for a in bridge.risk_at(T0 + 30.0)["areas"]}
        after = bridge.risk_at(T0 + 90.0)
        assert before["cell-a"] == "green" and {a["area_id"]: a["level"] for a in after["areas"]}["cell-a"] == "red"
        assert (after["first_change_s"], after["last_change_s"]) == (T0, T0 + 60.0)
        why = {a["area_id"]: a["reasons"] for a in after["areas"]}["cell-a"]
        assert why and "lockdown" in why[0]
        history = bridge.records("risk_levels", {"area_id": "cell-a"}, 10)
        assert [r["level"] for r in history] == ["green", "red"]
        bridge.close()
    finally:
        station.stop()
