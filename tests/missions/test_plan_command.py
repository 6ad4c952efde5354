"""`groundstation plan`: the printed summary, the --json contract, the .plan written, and bad input."""
import json
import subprocess
import sys

import pytest

from groundstation.cli import main
from missions.qgcplan import loads_plan

from tests.missions.shapes import feature, geojson, point_feature, rect
from tests.missions.test_zone import BOWTIE, KML

ZONE = geojson(feature("inclusion", [rect(-300, -300, 300, 300), rect(-200, -150, -50, 0)], "park"), point_feature("home", -320, -320))


@pytest.fixture
def zone_file(tmp_path):
    p = tmp_path / "park.geojson"
    p.write_text(ZONE, encoding="utf-8")
    return p


def run(capsys, *argv):
    code = main(["plan", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_output_contract_and_plan_file(zone_file, tmp_path, capsys):
    out_file = tmp_path / "patrol.plan"
    code, out, err = run(capsys, "--zone", zone_file, "--pattern", "lawnmower", "--alt", 50, "--camera-hfov", 84,
                         "--overlap", 0.2, "--gimbal-pitch", -90, "--speed", 8, "--out", out_file, "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert set(doc) == {"waypoints", "length_m", "duration_s", "coverage"}
    assert isinstance(doc["length_m"], float) and isinstance(doc["duration_s"], float)
    assert 0.98 <= doc["coverage"] <= 1.0
    assert doc["length_m"] > 0 and doc["duration_s"] > doc["length_m"] / 8
    mission = loads_plan(out_file.read_text())
    nav = [it for it in mission.items if it.command == 16]
    assert [(w["lat_deg"], w["lon_deg"]) for w in doc["waypoints"]] == [(round(it.lat_deg, 7), round(it.lon_deg, 7)) for it in nav]
    assert all(w["alt_m"] == 50 for w in doc["waypoints"])
    assert mission.fence.polygons and mission.items[0].command == 22 and mission.items[-1].command == 20
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file left


@pytest.mark.parametrize("pattern", ["perimeter", "orbit"])
def test_human_summary(zone_file, tmp_path, capsys, pattern):
    code, out, err = run(capsys, "--zone", zone_file, "--pattern", pattern, "--alt", 40, "--out", tmp_path / "p.plan")
    assert code == 0, err
    assert "length" in out and "duration" in out and "coverage" in out and " m" in out
    assert (tmp_path / "p.plan").exists()


def test_kml_zone(tmp_path, capsys):
    kml = tmp_path / "park.kml"
    kml.write_text(KML, encoding="utf-8")
    code, out, err = run(capsys, "--zone", kml, "--pattern", "lawnmower", "--alt", 60, "--out", tmp_path / "k.plan", "--json")
    assert code == 0, err
    assert json.loads(out)["coverage"] >= 0.98


def _bad_zone_files(tmp_path):
    (tmp_path / "empty.geojson").write_text("", encoding="utf-8")
    (tmp_path / "bowtie.geojson").write_text(json.dumps(BOWTIE), encoding="utf-8")
    (tmp_path / "binary.geojson").write_bytes(b"\xff\xfe\x00garbage\x80")
    (tmp_path / "dir.geojson").mkdir()
    (tmp_path / "outside.geojson").write_text(
        geojson(feature("inclusion", [rect(-300, -300, 300, 300)]), feature("fence", [rect(-1000, -1000, 0, 1000)])), encoding="utf-8")


@pytest.mark.parametrize("zone,alt,message", [
    ("missing.geojson", 50, "not found"),
    ("empty.geojson", 50, "empty"),
    ("binary.geojson", 50, "not UTF-8"),
    ("dir.geojson", 50, "is a directory"),
    ("bowtie.geojson", 50, "intersects itself"),
    ("outside.geojson", 50, "outside the geofence"),
    ("park.geojson", 130, "exceeds the 120 m limit"),
    ("park.geojson", -5, "altitude"),
])
def test_bad_input_exit_2_and_nothing_written(zone_file, tmp_path, capsys, zone, alt, message):
    _bad_zone_files(tmp_path)
    out_file = tmp_path / "patrol.plan"
    out_file.write_text("previous plan", encoding="utf-8")
    code, out, err = run(capsys, "--zone", tmp_path / zone, "--pattern", "lawnmower", "--alt", alt, "--out", out_file, "--json")
    assert code == 2
    assert message in err and err.startswith("groundstation plan: error:")
    assert out == ""
    assert out_file.read_text(encoding="utf-8") == "previous plan"  # untouched
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_output_directory_missing(zone_file, tmp_path, capsys):
    code, out, err = run(capsys, "--zone", zone_file, "--pattern", "perimeter", "--alt", 40, "--out", tmp_path / "no" / "p.plan")
    assert code == 2 and "does not exist" in err


def test_config_may_allow_flying_higher(zone_file, tmp_path, capsys):
    cfg = tmp_path / "station.toml"
    cfg.write_text('[[vehicles]]\nid = "p1"\nurl = "tcp:127.0.0.1:5760"\n\n[limits]\nmax_alt_rel_m = 150.0\n', encoding="utf-8")
    code, _, err = run(capsys, "--zone", zone_file, "--pattern", "perimeter", "--alt", 140, "--out", tmp_path / "p.plan",
                       "--config", cfg)
    assert code == 0, err
    code, _, err = run(capsys, "--zone", zone_file, "--pattern", "perimeter", "--alt", 160, "--out", tmp_path / "p.plan",
                       "--config", cfg)
    assert code == 2 and "150 m limit" in err


def test_battery_check(zone_file, tmp_path, capsys):
    code, _, err = run(capsys, "--zone", zone_file, "--pattern", "lawnmower", "--alt", 50, "--out", tmp_path / "p.plan",
                       "--battery-pct", 30)
    assert code == 2 and "the drone has 30 %" in err


def test_real_entry_point(zone_file, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "groundstation", "plan", "--zone", str(zone_file), "--pattern", "orbit",
                           "--alt", "50", "--out", str(tmp_path / "o.plan"), "--json"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert set(json.loads(proc.stdout)) == {"waypoints", "length_m", "duration_s", "coverage"}
