"""The risk map's and the venues' records in the database (migration 9): written by write_row, read back as the
map's history, the map at a moment, and the evidence a restarting station needs (storage.risk_history)."""
from __future__ import annotations

from groundstation.core.crowds import GatheringRow
from groundstation.core.response_data import AlertRow
from groundstation.core.risk_data import RiskInputRow, RiskLevelRow
from groundstation.core.venue_data import VenueCountRow
from groundstation.shell import storage

T0 = 1_700_000_000.0


def test_the_risk_records_round_trip_and_give_the_evidence_still_weighing(tmp_path):
    conn = storage.open_database(tmp_path / "s.sqlite")
    rows = [
        RiskLevelRow("cell-a", "cell", T0, "green", None, ("no indicator reaches blue",), {}, "start"),
        RiskLevelRow("cell-a", "cell", T0 + 100, "orange", "green", ("cases 1.0 reaches orange (at least 1)",),
                     {"cases": 1.0}, "input:health:dr-wu"),
        RiskLevelRow("plaza-c", "community", T0, "green", None, ("no indicator reaches blue",), {}, "start"),
        RiskInputRow("i1", T0 + 100, "cell-a", "health:dr-wu", cases=1, note="a case"),
        RiskInputRow("i2", T0 + 200, "plaza-c", "health:dr-wu", lockdown=True),
        GatheringRow("old", "grid:cell-a", T0 - 9000, "dispersed", T0 - 9000, 3, 9, 5, "x", T0 - 8000),
        GatheringRow("open", "grid:cell-a", T0 - 9000, "gathering", T0 - 9000, 9, 9, 5, "x"),
        GatheringRow("new", "grid:cell-b", T0 + 10, "dispersed", T0 + 10, 3, 9, 8, "x", T0 + 70),
        AlertRow("f1", T0 + 20, "fever_hint", "critical", "fever", "grid:cell-a", "d1", "r1", {"people": []}),
        AlertRow("c1", T0 + 20, "crowd", "warning", "crowd", "grid:cell-a", "d1", "r1", {}),
        VenueCountRow("hall", "door", T0 + 5, 3, 1, 2, 10, False),
    ]
    conn.execute("BEGIN IMMEDIATE")
    for row in rows:
        storage.write_row(conn, row)
    conn.execute("COMMIT")
    history = storage.risk_level_rows(conn, "cell-a")
    assert [(r["previous"], r["level"], r["trigger"]) for r in history] == [(None, "green", "start"),
                                                                            ("green", "orange", "input:health:dr-wu")]
    assert history[1]["reasons"] == ["cases 1.0 reaches orange (at least 1)"] and history[1]["values"] == {"cases": 1.0}
    assert {k: v["level"] for k, v in storage.risk_levels_at(conn, T0 + 50).items()} == {"cell-a": "green",
                                                                                         "plaza-c": "green"}
    assert storage.risk_levels_at(conn, T0 + 150)["cell-a"]["level"] == "orange"
    loaded = storage.risk_history(conn, T0 - 100)
    assert sorted(g.gathering_id for g in loaded.gatherings) == ["new", "open"]  # "old" ended before; "open" holds
    new = next(g for g in loaded.gatherings if g.gathering_id == "new")
    assert (new.status, new.started_at_s, new.ended_at_s) == ("dispersed", T0 + 10, T0 + 70)
    assert [a.alert_id for a in loaded.alerts] == ["f1"]
    assert [(i.input_id, i.cases, i.lockdown) for i in loaded.inputs] == [("i1", 1, None), ("i2", 0, True)]
    assert dict(loaded.levels) == {"cell-a": "orange", "plaza-c": "green"}
    (venue,) = storage.venue_count_rows(conn, "hall")
    assert (venue["entered"], venue["exited"], venue["occupancy"], venue["over_limit"]) == (3, 1, 2, False)
    conn.close()
