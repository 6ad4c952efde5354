"""`groundstation schedule add|list|remove` on a real station database: bad input stores nothing."""
from __future__ import annotations

import json
import sqlite3

import pytest

from groundstation.cli import main
from tests.patrols.helpers import FENCE, ZONE, write_zone


@pytest.fixture
def cfg(tmp_path):
    path = tmp_path / "station.toml"
    path.write_text(f'[station]\nstorage_path = "{tmp_path / "station.sqlite"}"\n[[vehicles]]\nid = "v1"\n'
                    f'url = "tcp:127.0.0.1:5760"\n[limits]\nmax_alt_rel_m = 100.0\n[geofence]\ninclusion = {FENCE}\n')
    return path


def schedules_in(tmp_path):
    db = tmp_path / "station.sqlite"
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return conn.execute("SELECT count(*) FROM schedules").fetchone()[0] if "schedules" in tables else 0


def add(cfg, zone, *extra, name="plaza"):
    return main(["schedule", "add", "--config", str(cfg), "--name", name, "--zone", str(zone), "--pattern", "lawnmower",
                 "--alt", "30", *extra])


def test_add_list_remove(tmp_path, cfg, capsys):
    zone = write_zone(tmp_path / "plaza.geojson")
    assert add(cfg, zone, "--cron", "0 */2 * * *", "--tz", "Asia/Shanghai") == 0
    assert add(cfg, zone, "--every", "900", name="plaza-often") == 0
    capsys.readouterr()
    assert main(["schedule", "list", "--config", str(cfg), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in listed] == ["plaza", "plaza-often"]
    first = listed[0]
    assert first["cron"] == "0 */2 * * *" and first["tz_name"] == "Asia/Shanghai" and first["enabled"] is True
    assert first["next_fire_s"] % 7200 == 0  # even hours in UTC+8 are even hours in UTC
    assert first["plan"]["items"][0]["command"] == 22 and first["plan"]["coverage"] >= 0.98
    assert main(["schedule", "remove", "--db", str(tmp_path / "station.sqlite"), first["schedule_id"]]) == 0
    assert schedules_in(tmp_path) == 1
    assert main(["schedule", "remove", "--config", str(cfg), "no-such"]) == 2
    assert add(cfg, zone, "--every", "900", name="plaza-often") == 2, "names are unique"
    assert "already exists" in capsys.readouterr().err


SELF_CROSSING = {"type": "Polygon", "coordinates": [[[112.4654, 23.0472], [112.4662, 23.0477], [112.4662, 23.0472],
                                                      [112.4654, 23.0477], [112.4654, 23.0472]]]}
FAR_AWAY = {"type": "Polygon", "coordinates": [[[112.50, 23.10], [112.501, 23.10], [112.501, 23.101], [112.50, 23.101],
                                                [112.50, 23.10]]]}


@pytest.mark.parametrize("case, extra, message", [
    ("cron does not parse", ["--cron", "61 * * * *"], "does not parse"),
    ("cron with 4 fields", ["--cron", "0 * * *"], "must have 5 fields"),
    ("unknown time zone", ["--cron", "0 * * * *", "--tz", "Mars/Olympus"], "unknown time zone"),
    ("interval too short", ["--every", "5"], "at least 60 s"),
    ("altitude over the limit", ["--cron", "0 * * * *", "--alt", "150"], "exceeds the 100 m limit"),
    ("missing file", ["--cron", "0 * * * *", "--zone", "MISSING"], "not found"),
    ("empty file", ["--cron", "0 * * * *", "--zone", "EMPTY"], "is empty"),
    ("not UTF-8", ["--cron", "0 * * * *", "--zone", "BINARY"], "not UTF-8"),
    ("not JSON", ["--cron", "0 * * * *", "--zone", "GARBAGE"], "the zone file is not valid JSON"),
    ("a directory", ["--cron", "0 * * * *", "--zone", "DIR"], "is a directory"),
    ("self-intersecting polygon", ["--cron", "0 * * * *", "--zone", "CROSSING"], "intersect"),
    ("zone outside the fence", ["--cron", "0 * * * *", "--zone", "FAR"], "outside the geofence"),
])
def test_bad_input_is_refused_with_exit_2_and_nothing_stored(tmp_path, cfg, capsys, case, extra, message):
    zones = {
        "MISSING": tmp_path / "missing.geojson",
        "EMPTY": tmp_path / "empty.geojson",
        "BINARY": tmp_path / "binary.geojson",
        "GARBAGE": tmp_path / "garbage.geojson",
        "DIR": tmp_path,
        "CROSSING": write_zone(tmp_path / "crossing.geojson", SELF_CROSSING),
        "FAR": write_zone(tmp_path / "far.geojson", FAR_AWAY),
    }
    zones["EMPTY"].write_text("  \n")
    zones["BINARY"].write_bytes(b"\xff\xfe\x00garbage")
    zones["GARBAGE"].write_text("{not json")
    zone = write_zone(tmp_path / "plaza.geojson", ZONE)
    args = list(extra)
    if "--zone" in args:
        i = args.index("--zone")
        zone = zones[args[i + 1]]
        del args[i:i + 2]
    if "--alt" in args:
        i = args.index("--alt")
        alt = args[i + 1]
        del args[i:i + 2]
        code = main(["schedule", "add", "--config", str(cfg), "--name", "bad", "--zone", str(zone), "--pattern",
                     "lawnmower", "--alt", alt, *args])
    else:
        code = add(cfg, zone, *args, name="bad")
    err = capsys.readouterr().err
    assert code == 2, (case, err)
    assert "groundstation schedule: error:" in err and message.lower() in err.lower(), err
    assert schedules_in(tmp_path) == 0
