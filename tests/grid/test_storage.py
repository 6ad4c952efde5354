"""The grid and the notices in the station's database (migration 8): the grid in force replaces the one before, each
attempt of a delivery is its own row, a notice is one row updated as it climbs, acknowledgements and escalations are
kept; an older database is migrated."""
from __future__ import annotations

from groundstation.core.notice_data import DeliveryRow, EscalationRow, GridRow, NoticeAckRow, NoticeRow
from groundstation.shell import storage
from groundstation.shell.storage import MIGRATIONS, StorageWriter, open_database
from missions.grid import grid_from_text
from tests.grid.city import geojson, units


def _write(path, rows) -> None:
    writer = StorageWriter(path).start()
    writer.submit(rows)
    assert writer.flush(10.0)
    assert writer.counters().write_errors == 0
    writer.close()


def test_the_grid_in_force_replaces_the_one_recorded_before(tmp_path):
    db = tmp_path / "s.sqlite"
    full = grid_from_text(geojson(units()))
    smaller = grid_from_text(geojson([f for f in units() if f["id"] not in ("cell-e", "market-c")]))
    _write(db, [GridRow(1.0, "grid-v1.geojson", full)])
    _write(db, [GridRow(2.0, "grid-v2.geojson", smaller)])
    conn = open_database(db)
    units_ = storage.grid_unit_rows(conn)
    assert [u["unit_id"] for u in units_] == ["duanzhou", "chengdong", "plaza-c", "cell-a", "cell-b"]
    a = next(u for u in units_ if u["unit_id"] == "cell-a")
    assert (a["level"], a["parent_id"], a["officer_id"], a["capacity_persons"], a["source"]) == (
        "cell", "plaza-c", "cell-a.officer", 5, "grid-v2.geojson")
    ring = a["geometry"]["coordinates"][0][0]
    assert a["geometry"]["type"] == "MultiPolygon" and ring[0] == ring[-1] and len(ring) == 5
    assert "sun-li" not in {o["officer_id"] for o in storage.officer_rows(conn)}
    conn.close()


def test_notices_deliveries_acknowledgements_and_escalations_are_kept(tmp_path):
    db = tmp_path / "s.sqlite"
    _write(db, [
        NoticeRow("n1", "a1", 10.0, "open", "cell-b", "cell", "cell-b.officer", 70.0, 0, "routed by its zone"),
        DeliveryRow("n1/cell/email", 1, "n1", "cell-b.officer", "email", "w@example.org", 10.0, "sending"),
        DeliveryRow("n1/cell/email", 1, "n1", "cell-b.officer", "email", "w@example.org", 10.5, "failed",
                    "Unreachable: cannot connect", 15.5, 0.5),
        DeliveryRow("n1/cell/email", 2, "n1", "cell-b.officer", "email", "w@example.org", 15.5, "sending"),
        DeliveryRow("n1/cell/email", 2, "n1", "cell-b.officer", "email", "w@example.org", 15.6, "delivered",
                    "accepted by smtp", None, 0.1),
        EscalationRow("n1", 70.0, "cell-b", "cell", "cell-b.officer", "plaza-c", "community", "plaza-c.officer",
                      "not acknowledged within 60 s"),
        NoticeRow("n1", "a1", 70.0, "open", "plaza-c", "community", "plaza-c.officer", 670.0, 1),
        NoticeAckRow("n1", "a1", 80.0, "officer:plaza-c.officer", "callback", "plaza-c.officer", "there"),
        NoticeRow("n1", "a1", 80.0, "acknowledged", "plaza-c", "community", "plaza-c.officer", None, 1,
                  "acknowledged by officer:plaza-c.officer (callback) after 70 s"),
    ])
    conn = open_database(db)
    (notice,) = storage.notice_rows(conn, "a1")
    assert (notice["status"], notice["unit_id"], notice["escalations"], notice["created_at_s"],
            notice["updated_at_s"]) == ("acknowledged", "plaza-c", 1, 10.0, 80.0)
    assert notice["reason"].startswith("acknowledged by officer:plaza-c.officer")
    attempts = storage.delivery_rows(conn, "n1")
    assert [(d["attempt"], d["status"], d["retry_at_s"]) for d in attempts] == [(1, "failed", 15.5),
                                                                                 (2, "delivered", None)]
    assert attempts[0]["reason"] == "Unreachable: cannot connect" and attempts[0]["requested_at_s"] == 10.0
    assert [e["to_unit"] for e in storage.escalation_rows(conn, "n1")] == ["plaza-c"]
    assert [(a["via"], a["note"]) for a in storage.notice_ack_rows(conn)] == [("callback", "there")]
    assert storage.notice_rows(conn, status="open") == []
    conn.close()


def test_a_database_of_the_version_before_is_migrated(tmp_path):
    db = tmp_path / "old.sqlite"
    old = open_database(db, MIGRATIONS[:7])
    old.close()
    conn = open_database(db)
    assert storage.schema_version(conn) == len(MIGRATIONS) >= 8
    assert storage.notice_rows(conn) == [] and storage.grid_unit_rows(conn) == []
    conn.close()
