"""A recorded day for the report tests: 2024-05-01 in Asia/Shanghai over a grid of two districts (tests/grid/city.py's
duanzhou, and gaoyao east of it with one cell, cell-g), written with the station's own row types and storage."""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from groundstation.config import parse_config
from groundstation.core.crowds import CrowdObservationRow, GatheringRow, ZoneCountRow
from groundstation.core.notice_data import NoticeAckRow, NoticeRow
from groundstation.core.patrols import PatrolRunRow
from groundstation.core.records import EventRow
from groundstation.core.response_data import AlertRow, ResponseRow, ResponseStepRow
from groundstation.core.risk_data import RiskInputRow, RiskLevelRow
from groundstation.core.venue_data import VenueCountRow
from groundstation.shell import storage
from tests.grid.city import at, geojson, officer, unit, units

TZ = ZoneInfo("Asia/Shanghai")
DAY = "2024-05-01"


def t(hh: int, mm: int = 0, ss: int = 0) -> float:
    return datetime(2024, 5, 1, hh, mm, ss, tzinfo=TZ).timestamp()


def grid_features() -> list[dict]:
    return units() + [
        unit("gaoyao", "district", (500, 0, 700, 200), **officer("Lin Tao", email="lin.tao@example.org")),
        unit("gy-street", "street", (500, 0, 700, 200), "gaoyao", **officer("Lin Tao", email="lin.tao@example.org")),
        unit("gy-c", "community", (500, 0, 700, 200), "gy-street", **officer("He Ping", email="he.ping@example.org")),
        unit("cell-g", "cell", (500, 0, 700, 200), "gy-c", capacity=6,
             **officer("He Ping", email="he.ping@example.org")),
    ]


def config(tmp_path: Path):
    grid = tmp_path / "grid.geojson"
    grid.write_text(geojson(grid_features()))
    (tmp_path / "secrets.toml").write_text('webhook_secret = "0123456789abcdef-webhook"\n')
    (tmp_path / "model.pt").write_bytes(b"")
    return parse_config({
        "station": {"name": "report-test", "storage_path": str(tmp_path / "station.sqlite"), "tlog_dir": None},
        "vehicles": [{"id": "d1", "url": "tcp:127.0.0.1:5760"}],
        "cameras": [{"id": "hall-cam", "vehicle_id": "d1", "source": "rtsp://127.0.0.1/hall",
                     "model_path": str(tmp_path / "model.pt")}],
        "grid": {"file": str(grid), "secrets_file": str(tmp_path / "secrets.toml"), "smtp": {"host": "127.0.0.1", "sender": "s@example.org", "security": "none"},
                 "sms": {"url": "http://127.0.0.1:9/sms"}},
        "venues": [{"id": "hall", "name": "Gaoyao hall", "limit_persons": 50, "position": list(at(600, 100)),
                    "entrances": [{"id": "hall-door", "camera": "hall-cam", "line": [[0, 100], [200, 100]]}]}],
        "reports": {"tz_name": "Asia/Shanghai"},
    })


def plan(east_m: float) -> dict:
    lat, lon = at(east_m, 100)
    lat2, lon2 = at(east_m + 40, 150)
    return {"items": [{"command": 22, "lat_deg": 0.0, "lon_deg": 0.0, "alt_m": 20.0},
                      {"command": 16, "lat_deg": lat, "lon_deg": lon, "alt_m": 20.0},
                      {"command": 16, "lat_deg": lat2, "lon_deg": lon2, "alt_m": 20.0},
                      {"command": 20, "lat_deg": 0.0, "lon_deg": 0.0, "alt_m": 0.0}]}


def record_day(config) -> None:
    """Write the day into the config's database."""
    conn = storage.open_database(config.station.storage_path)
    before = t(0) - 3600.0
    storage.insert_schedule(conn, "s-plaza", "plaza patrol", "plaza.geojson", "{}", {}, plan(50), None, 600.0,
                            "Asia/Shanghai", 600.0, None, before)
    storage.insert_schedule(conn, "s-gaoyao", "gaoyao patrol", "g.geojson", "{}", {}, plan(550), "0 * * * *", None,
                            "Asia/Shanghai", 600.0, None, before)
    people = [{"lat_deg": at(30, 100)[0], "lon_deg": at(30, 100)[1], "temp_c": 38.2, "uncertainty_c": 1.5}]
    rows = [
        EventRow(None, t(0, 5), "patrol", "info", "2 patrol schedule(s) loaded"),
        PatrolRunRow("s-plaza@1", "s-plaza", t(9), "completed", "landed", "d1", t(9), t(9), t(9, 30)),
        PatrolRunRow("s-plaza@2", "s-plaza", t(10), "aborted", "battery RTL", "d1", t(10), t(10), t(10, 10)),
        PatrolRunRow("s-plaza@3", "s-plaza", t(11), "missed", "missed: no vehicle available", None, t(11),
                     ended_at_s=t(11)),
        PatrolRunRow("s-gaoyao@1", "s-gaoyao", t(13), "completed", "landed", "d1", t(13), t(13), t(13, 45)),
        GatheringRow("g1", "grid:cell-a", t(9, 10), "gathering", t(9, 10), 9, 9, 5, "9 people in Cell A"),
        GatheringRow("g1", "grid:cell-a", t(9, 25), "dispersed", t(9, 10), 3, 12, 5, "back to 3", t(9, 25)),
        GatheringRow("g2", "grid:cell-g", t(14), "gathering", t(14), 10, 10, 6, "10 people in Cell G"),
        ResponseRow("r1", "grid:cell-a", t(9, 11), "confirmed", "g1", None, t(9, 11), count=9),
        ResponseStepRow("r1", t(9, 11), "confirmed", "9 people"),
        ResponseStepRow("r1", t(9, 11, 5), "approaching", "d1 chosen"),
        ResponseStepRow("r1", t(9, 12), "thermal_sampling", "over the crowd"),
        ResponseStepRow("r1", t(9, 13), "fever_found", "fever hint"),
        ResponseStepRow("r1", t(9, 25), "ended", "fever_found"),
        ResponseRow("r1", "grid:cell-a", t(9, 25), "ended", "g1", "d1", ended_at_s=t(9, 25), outcome="fever_found"),
        AlertRow("a1", t(9, 11), "crowd", "warning", "crowd over capacity in Cell A", "grid:cell-a", None, "r1",
                 {"lat_deg": at(30, 100)[0], "lon_deg": at(30, 100)[1]}),
        AlertRow("a2", t(9, 13), "fever_hint", "critical", "fever hint in Cell A", "grid:cell-a", "d1", "r1",
                 {"people": people}),
        AlertRow("a3", t(14, 1), "crowd", "warning", "crowd over capacity in Cell G", "grid:cell-g", None, None, {}),
        NoticeRow("a1@cell-a", "a1", t(9, 11), "open", "cell-a", "cell", "cell-a.officer", t(9, 16), 0),
        NoticeAckRow("a1@cell-a", "a1", t(9, 15), "officer:cell-a.officer", "callback", "cell-a.officer"),
        NoticeRow("a2@cell-a", "a2", t(9, 13), "open", "cell-a", "cell", "cell-a.officer", t(9, 18), 0),
        NoticeRow("a2@cell-a", "a2", t(9, 18), "open", "plaza-c", "community", "plaza-c.officer", t(9, 28), 1),
        RiskLevelRow("cell-a", "cell", t(0, 10), "green", None, ("no indicator reaches blue",), {}, "start"),
        RiskLevelRow("cell-a", "cell", t(12), "yellow", "green", ("fever hints 1.0 reaches yellow",),
                     {"fever_hints": 1.0}, "schedule"),
        RiskLevelRow("cell-g", "cell", t(0, 10), "green", None, ("no indicator reaches blue",), {}, "start"),
        RiskInputRow("i1", t(15), "gy-c", "health:dr-wu", cases=2, note="two confirmed cases"),
        RiskLevelRow("cell-g", "cell", t(15), "orange", "green", ("its community's cases",), {"cases": 2.0},
                     "input:health:dr-wu"),
    ]
    rows += [ZoneCountRow("grid:cell-a", t(9, m), c, 5, c > 5) for m, c in ((0, 2), (5, 4), (10, 9), (20, 12),
                                                                            (25, 3), (40, 1))]
    rows += [ZoneCountRow("grid:cell-g", t(14, m), c, 6, c > 6) for m, c in ((0, 10), (30, 8))]
    rows += [CrowdObservationRow("cam", "d1", t(9, 10), t(9, 10), *at(40, 100), 9, 3.0, 0.5, 0.8, "grid:cell-a")]
    rows += [VenueCountRow("hall", "hall-door", t(16), 30, 0, 30, 50, False),
             VenueCountRow("hall", "hall-door", t(16, 30), 25, 2, 53, 50, True),
             VenueCountRow("hall", "hall-door", t(17), 0, 10, 43, 50, False)]
    conn.execute("BEGIN IMMEDIATE")
    for row in rows:
        storage.write_row(conn, row)
    conn.execute("COMMIT")
    conn.close()
