"""Storage: migrations (fresh, upgrade, refusal of a newer schema), the single writer, queries."""
from __future__ import annotations

import sqlite3

import pytest

from groundstation.shell import storage
from groundstation.core.records import (
    CommandResultRow,
    CommandRow,
    EventRow,
    LinkRow,
    MissionRunRow,
    VehicleRow,
)
from groundstation.shell.storage import (
    MIGRATIONS,
    SchemaTooNew,
    StorageError,
    StorageReader,
    StorageWriter,
    migrate,
    open_database,
)


def tables(conn):
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_fresh_database_gets_every_migration_in_wal_mode(tmp_path):
    path = tmp_path / "sub" / "station.sqlite"
    conn = open_database(path)
    assert storage.schema_version(conn) == len(MIGRATIONS)
    assert set(storage.TABLES) <= tables(conn)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    conn = open_database(path)  # reopening is a no-op
    assert storage.schema_version(conn) == len(MIGRATIONS)
    conn.close()


def test_upgrade_from_version_1_keeps_the_data(tmp_path):
    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path, isolation_level=None)
    migrate(old, MIGRATIONS[:1])
    assert storage.schema_version(old) == 1 and "mission_runs" not in tables(old)
    old.execute("INSERT INTO commands (request_id, vehicle_id, action, params_json, requested_by, requested_at_s,"
                " decision, reason) VALUES ('r1', 'd1', 'arm', '{}', 'op', 1.0, 'sent', 'ok')")
    old.close()
    conn = open_database(path)
    assert storage.schema_version(conn) == len(MIGRATIONS)
    assert "mission_runs" in tables(conn)
    assert conn.execute("SELECT request_id, attempts FROM commands").fetchall() == [("r1", None)]
    conn.close()


def test_a_newer_database_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "new.sqlite"
    open_database(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(SchemaTooNew, match="newer than this code knows"):
        open_database(path)
    with pytest.raises(SchemaTooNew):
        StorageReader(path)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) + 1
    conn.close()


def test_a_failing_migration_is_rolled_back_entirely(tmp_path):
    path = tmp_path / "x.sqlite"
    broken = MIGRATIONS + ("CREATE TABLE extra (a INTEGER); INSERT INTO no_such_table VALUES (1);",)
    with pytest.raises(StorageError, match=f"migration {len(MIGRATIONS) + 1} failed"):
        open_database(path, broken)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert "extra" not in tables(conn), "the half-applied step must not remain"
    conn.close()


def test_not_a_database_is_a_clear_error(tmp_path):
    path = tmp_path / "junk.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageError, match="not a usable SQLite database"):
        open_database(path)


def test_writer_records_every_kind_of_row_and_readers_query_them(tmp_path):
    path = tmp_path / "s.sqlite"
    writer = StorageWriter(path).start()
    seq = writer.submit([
        VehicleRow("d1", "tcp:127.0.0.1:5760", 1.0),
        VehicleRow("d1", "", 2.0, system_id=1, is_simulator=True),
        LinkRow("d1", 2.0, True, "connected"),
        CommandRow("r1", "d1", "goto", {"lat_deg": 1.5}, "alice", 3.0, "sent", "checks passed"),
        CommandRow("r2", "d1", "arm", {}, "bob", 3.5, "refused", "battery 20% is below the 50% needed to launch"),
        CommandResultRow("r1", 4.0, "accepted", 192, 0, "MAV_RESULT_ACCEPTED", 1, 0.042, None),
        EventRow("d1", 4.0, "mode", "info", "mode GUIDED -> AUTO", {"to": "AUTO"}),
        MissionRunRow("m1", "d1", 5.0, "uploaded", 4, "MISSION"),
        MissionRunRow("m1", "d1", 6.0, "running", 4, "MISSION", last_reached_seq=2),
    ])
    assert writer.wait_committed(seq, 10)
    with StorageReader(path) as reader:
        (vehicle,) = reader.vehicles()
        assert (vehicle["url"], vehicle["system_id"], vehicle["is_simulator"]) == ("tcp:127.0.0.1:5760", 1, 1)
        goto = reader.command("r1")
        assert goto["params"] == {"lat_deg": 1.5} and goto["requested_by"] == "alice"
        assert (goto["status"], goto["result_name"], goto["round_trip_s"]) == ("accepted", "MAV_RESULT_ACCEPTED", 0.042)
        refused = reader.commands("d1", decision="refused")
        assert [c["reason"] for c in refused] == ["battery 20% is below the 50% needed to launch"]
        assert reader.events("d1", kind="mode")[0]["data"] == {"to": "AUTO"}
        assert reader.link_changes("d1")[0]["up"] == 1
        (run,) = reader.mission_runs()
        assert (run["status"], run["last_reached_seq"], run["created_at_s"]) == ("running", 2, 5.0)
        assert reader.integrity() == "ok"
        with pytest.raises(sqlite3.OperationalError):  # readers cannot write
            reader._conn.execute("DELETE FROM events")
    writer.close()
    assert writer.counters().rows_written == 9 and writer.counters().write_errors == 0


def test_a_bad_row_does_not_lose_the_rest_of_its_batch(tmp_path):
    path = tmp_path / "s.sqlite"
    writer = StorageWriter(path).start()
    writer.submit([
        EventRow("d1", 1.0, "link", "info", "first"),
        CommandResultRow("never-requested", 2.0, "accepted", None, None, None, None, None, None),
        EventRow("d1", 3.0, "link", "info", "third"),
    ])
    assert writer.flush(10)
    writer.close()
    assert writer.counters().write_errors == 1
    with StorageReader(path) as reader:
        assert [e["text"] for e in reader.events()] == ["first", "third"]


def test_many_rows_from_many_threads_are_all_committed(tmp_path):
    import threading

    path = tmp_path / "s.sqlite"
    writer = StorageWriter(path, batch_max=50).start()

    def produce(n):
        for i in range(200):
            writer.submit([EventRow(f"d{n}", float(i), "statustext", "info", f"{n}-{i}")])

    threads = [threading.Thread(target=produce, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.close()
    with StorageReader(path) as reader:
        assert reader.counts()["events"] == 800
        for n in range(4):  # per producer, order kept
            assert [e["at_s"] for e in reader.events(f"d{n}")] == [float(i) for i in range(200)]


def test_readers_refuse_a_database_not_yet_migrated(tmp_path):
    path = tmp_path / "half.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, MIGRATIONS[:1])
    conn.close()
    with pytest.raises(StorageError, match="not yet migrated"):
        StorageReader(path)
    with pytest.raises(StorageError, match="no such database"):
        StorageReader(tmp_path / "missing.sqlite")


def test_crowd_response_rows_are_stored_and_read_back(tmp_path):
    from groundstation.core.response_data import (AlertRow, BroadcastRow, ResponseRow, ResponseStepRow,
                                                  ThermalReadingRow)

    path = tmp_path / "r.sqlite"
    writer = StorageWriter(path).start()
    writer.submit([
        ResponseRow("resp-1", "plaza", 10.0, "confirmed", "plaza@5.000", None, 10.0, count=9, lat_deg=23.1,
                    lon_deg=112.4, reason="9 people over 5"),
        ResponseStepRow("resp-1", 10.0, "confirmed", "9 people over 5"),
        ResponseRow("resp-1", "plaza", 11.0, "approaching", "plaza@5.000", "d1"),
        ResponseStepRow("resp-1", 11.0, "approaching", "d1 chosen", "station", {"distance_m": 120.0}),
        ThermalReadingRow("resp-1", 20.0, 1, 7, 23.1, 112.4, "measured", 38.6, 2.0, True, ""),
        ThermalReadingRow("resp-1", 20.0, 1, 8, 23.1, 112.4, "unmeasured", None, None, None, "occluded"),
        AlertRow("resp-1:fever_hint:20000", 20.0, "fever_hint", "critical", "fever hint", "plaza", "d1", "resp-1",
                 {"people": [{"person_id": 7, "temp_c": 38.6}]}),
        BroadcastRow("resp-1:b1", "resp-1", "d1", 21.0, "speaker", "requested", "please disperse", 3),
        BroadcastRow("resp-1:b1", "resp-1", "d1", 22.0, "speaker", "delivered", "", 3, 4.2, "engines espeak-ng"),
        ResponseRow("resp-1", "plaza", 30.0, "ended", "plaza@5.000", "d1", ended_at_s=30.0, outcome="fever_found",
                    reason="fever hint handed to the ground"),
    ])
    assert writer.flush(10) and writer.counters().write_errors == 0
    writer.close()
    with StorageReader(path) as r:
        (resp,) = r.responses()
        assert (resp["state"], resp["outcome"], resp["vehicle_id"], resp["started_at_s"], resp["ended_at_s"]) == (
            "ended", "fever_found", "d1", 10.0, 30.0)
        assert resp["count"] == 9 and resp["reason"] == "fever hint handed to the ground"
        assert [s["state"] for s in r.response_steps("resp-1")] == ["confirmed", "approaching"]
        assert r.response_steps("resp-1")[1]["data"] == {"distance_m": 120.0}
        readings = r.thermal_readings("resp-1")
        assert [(x["temp_c"], x["fever"], x["status"]) for x in readings] == [(38.6, True, "measured"),
                                                                              (None, None, "unmeasured")]
        (alert,) = r.alerts("fever_hint")
        assert alert["data"]["people"][0]["temp_c"] == 38.6
        (b,) = r.broadcasts("resp-1")
        assert (b["status"], b["duration_s"], b["text"], b["requested_at_s"]) == ("delivered", 4.2,
                                                                                 "please disperse", 21.0)
