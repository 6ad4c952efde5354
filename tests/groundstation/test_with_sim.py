"""The real station (telemetry/ links) against the real simulator (sim/) over loopback TCP.

Covers: flying through the checks, a vehicle that vanishes mid-command, a flapping link, and the kill -9
test (a station process killed mid-flight loses nothing it committed and leaves a consistent database).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from groundstation.config import parse_config
from groundstation.core.records import CommandRequest
from groundstation.shell.station import Station
from groundstation.shell.storage import TABLES, StorageError, StorageReader
from tests.waiting import wait_for

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
# a fence around the simulator's default home (23.0469, 112.4651)
FENCE = [[23.0400, 112.4580], [23.0400, 112.4720], [23.0540, 112.4720], [23.0540, 112.4580]]


def config_dict(tmp_path, urls):
    return {
        "station": {"storage_path": str(tmp_path / "station.sqlite"), "tlog_dir": str(tmp_path / "tlogs")},
        "vehicles": [{"id": f"v{i + 1}", "url": url, "link_timeout_s": 1.5} for i, url in enumerate(urls)],
        "geofence": {"inclusion": FENCE},
    }


def write_toml(path: Path, d: dict) -> Path:
    lines = ["[station]"] + [f'{k} = "{v}"' for k, v in d["station"].items()]
    for v in d["vehicles"]:
        lines += ["[[vehicles]]"] + [f"{k} = {v[k]!r}".replace("'", '"') for k in v]
    lines += ["[geofence]", f"inclusion = {d['geofence']['inclusion']}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def ready(station, vid):
    s = station.snapshot().get(vid)
    return bool(s and s.link_up and s.ready_to_arm and s.position_known and s.home)


def ask(station, vid, action, **args):
    return station.request(CommandRequest(vid, action, args, requested_by="test")).result(60)


def test_the_station_flies_a_simulated_vehicle_through_its_checks(tmp_path, sim):
    config = parse_config(config_dict(tmp_path, sim.urls))
    with Station(config) as station:
        wait_for(lambda: ready(station, "v1"), what="v1 ready")
        assert ask(station, "v1", "takeoff", alt_rel_m=20).reason == "takeoff needs an armed vehicle"
        assert ask(station, "v1", "set_mode", mode="GUIDED").ok
        arm = ask(station, "v1", "arm")
        assert arm.ok and arm.result_name == "MAV_RESULT_ACCEPTED"
        assert ask(station, "v1", "takeoff", alt_rel_m=20).ok
        wait_for(lambda: (station.snapshot()["v1"].alt_rel_m or 0) > 15, what="climb")
        refused = ask(station, "v1", "goto", lat_deg=23.06, lon_deg=112.4651, alt_rel_m=20)
        assert refused.status == "refused_by_station" and "outside the inclusion fence" in refused.reason
        assert ask(station, "v1", "goto", lat_deg=23.0480, lon_deg=112.4651, alt_rel_m=25).ok
        assert ask(station, "v1", "rtl").ok
        wait_for(lambda: station.snapshot()["v1"].mode == "RTL", what="RTL")
        station.flush()
        with StorageReader(config.station.storage_path) as r:
            commands = {c["action"]: c for c in r.commands("v1") if c["decision"] == "sent"}
            assert commands["arm"]["command"] == 400 and commands["arm"]["result_name"] == "MAV_RESULT_ACCEPTED"
            assert commands["takeoff"]["command"] == 22
            assert any("outside the inclusion fence" in c["reason"] for c in r.commands("v1", decision="refused"))
            texts = [e["text"] for e in r.events("v1")]
            assert "armed" in texts and any("-> GUIDED" in t for t in texts) and any("-> RTL" in t for t in texts)
            assert r.link_changes("v1")[0]["up"] == 1
            assert {v["vehicle_id"]: v["system_id"] for v in r.vehicles()} == {"v1": 1, "v2": 2}


def test_a_vehicle_that_vanishes_mid_command_and_a_flapping_link(tmp_path, sim):
    config = parse_config(config_dict(tmp_path, sim.urls))
    with Station(config) as station:
        wait_for(lambda: ready(station, "v1") and ready(station, "v2"), what="both ready")
        sim.freeze(0)  # v1 goes silent, sockets stay open
        outcome = ask(station, "v1", "set_mode", mode="GUIDED")
        assert outcome.status == "failed", outcome
        wait_for(lambda: not station.snapshot()["v1"].link_up, what="v1 link lost")
        assert ask(station, "v1", "land").reason == "link to the vehicle is down"
        assert ask(station, "v2", "set_mode", mode="GUIDED").ok, "the other vehicle is unaffected"
        sim.unfreeze(0)
        wait_for(lambda: station.snapshot()["v1"].link_up, what="v1 back")

        def v2_link_changes():
            station.flush()
            with StorageReader(config.station.storage_path) as r:
                return [l["up"] for l in r.link_changes("v2")]
        for flap in range(3):  # the link flaps: sockets dropped, the vehicle reconnects each time
            before = len(v2_link_changes())
            assert sim.drop_connections(1) >= 1, "a connection was dropped"
            wait_for(lambda: len(v2_link_changes()) >= before + 2 and v2_link_changes()[-1] == 1,
                     what=f"v2 down and up again (flap {flap + 1})")
        assert ask(station, "v2", "set_mode", mode="LOITER").ok
        station.flush()
        with StorageReader(config.station.storage_path) as r:
            ups = [l["up"] for l in r.link_changes("v1")]
            assert ups[:3] == [1, 0, 1]
            assert r.command(outcome.request_id)["status"] == "failed"
            assert [l["up"] for l in r.link_changes("v2")] == [1, 0, 1, 0, 1, 0, 1], "each flap is recorded"
            assert r.integrity() == "ok"


def snapshot_db(path):
    with StorageReader(path) as r:
        return {t: r._rows(f"SELECT * FROM {t} ORDER BY rowid") for t in TABLES}


def assert_committed_rows_survived(before, path):
    with StorageReader(path) as r:
        assert r.integrity() == "ok"
        after = {t: r._rows(f"SELECT * FROM {t} ORDER BY rowid") for t in TABLES}
    for table, rows in before.items():
        later = {json.dumps(row, sort_keys=True) for row in after[table]}
        for row in rows:
            if table in ("vehicles", "mission_runs", "commands"):  # rows that are updated later: match on key
                key = {"vehicles": "vehicle_id", "mission_runs": "run_id", "commands": "id"}[table]
                assert any(a[key] == row[key] for a in after[table]), (table, row)
            else:
                assert json.dumps(row, sort_keys=True) in later, (table, row)
    return after


def child_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_kill_9_groundstation_run_loses_nothing_committed(tmp_path, sim):
    cfg = write_toml(tmp_path / "station.toml", config_dict(tmp_path, sim.urls))
    db = tmp_path / "station.sqlite"
    proc = subprocess.Popen([sys.executable, "-m", "groundstation", "run", "--config", str(cfg)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=child_env())
    try:
        def recorded():
            try:
                with StorageReader(db) as r:
                    kinds = {(e["vehicle_id"], e["kind"]) for e in r.events()}
            except StorageError:  # not created, or not migrated yet
                return False
            return {(v, k) for v in ("v1", "v2") for k in ("link", "mode", "ready", "home")} <= kinds
        wait_for(recorded, what="events recorded by the station process")
        before = snapshot_db(db)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    after = assert_committed_rows_survived(before, db)
    assert len(after["link_changes"]) >= 2 and len(after["vehicles"]) == 2


def test_kill_9_mid_flight_with_commands_in_flight(tmp_path, sim):
    cfg = write_toml(tmp_path / "station.toml", config_dict(tmp_path, sim.urls))
    db = tmp_path / "station.sqlite"
    proc = subprocess.Popen([sys.executable, "-m", "tests.groundstation.station_child", str(cfg)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=child_env(), cwd=ROOT)
    finished = []
    try:
        for line in proc.stdout:
            if line.strip() == "airborne":
                continue
            finished.append(line.split())
            if len(finished) >= 10:
                break
        assert len(finished) >= 10, "the station process stopped early"
        before = snapshot_db(db)
        assert sum(1 for c in before["commands"] if c["action"] == "goto") >= 5
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    after = assert_committed_rows_survived(before, db)
    sent = {c["request_id"]: c for c in after["commands"] if c["decision"] == "sent"}
    # write-ahead audit: every command the station answered has its row, with the answer the station gave
    assert {rid for rid, status in finished} <= set(sent)
    assert all(sent[rid]["status"] == status == "accepted" for rid, status in finished), finished
    # any other command was either finished (a result and its time) or in flight when killed (no result yet);
    # the child asks one command at a time per vehicle, so at most one per vehicle can be in flight
    in_flight = [c for c in sent.values() if c["status"] is None]
    assert all(c["finished_at_s"] is None and c["action"] == "goto" for c in in_flight), in_flight
    assert len(in_flight) <= len(config_dict(tmp_path, sim.urls)["vehicles"])
    finished_rows = [c for c in sent.values() if c["status"] is not None]
    assert all(c["status"] in ("accepted", "failed", "refused_by_vehicle") and c["finished_at_s"] is not None
               for c in finished_rows), finished_rows
    with StorageReader(db) as r:
        assert any(e["text"] == "armed" for e in r.events(kind="armed"))
