"""QGroundControl .plan export and import: the format's fields, a round trip, QGC's own files, bad files."""
import json

import pytest

from missions.errors import PlanFileError
from missions.geo import GeoPoint
from missions.mission import Fence, FenceCircle, FencePolygon, MissionFile, RallyPoint
from missions.planner import PatrolSpec, plan_patrol
from missions.qgcplan import dumps_plan, loads_plan, plan_to_dict
from missions.zone import zones_from_geojson

from tests.missions.shapes import feature, geojson, point_feature, rect


@pytest.fixture(scope="module")
def mission() -> MissionFile:
    zs = zones_from_geojson(geojson(
        feature("inclusion", [rect(-300, -300, 300, 300), rect(-50, -50, 50, 50)], "park"),
        point_feature("home", -320, -320), point_feature("rally", 320, 320)))
    mf = plan_patrol(zs, PatrolSpec("lawnmower", alt_m=45, loiter_s=10)).mission_file()
    # add a fence circle too, so every part of the format is exercised
    return MissionFile(items=mf.items, home=mf.home, home_amsl_m=12.5, cruise_speed_m_s=mf.cruise_speed_m_s,
                       hover_speed_m_s=mf.hover_speed_m_s, rally=mf.rally,
                       fence=Fence(mf.fence.polygons, (FenceCircle(False, GeoPoint(23.05, 112.46), 15.0),)))


def test_export_has_qgroundcontrol_fields(mission):
    doc = plan_to_dict(mission)
    assert (doc["fileType"], doc["version"], doc["groundStation"]) == ("Plan", 1, "QGroundControl")
    m = doc["mission"]
    assert (m["version"], m["firmwareType"], m["vehicleType"]) == (2, 3, 2)
    assert m["plannedHomePosition"] == [mission.home.lat_deg, mission.home.lon_deg, 12.5]
    assert m["cruiseSpeed"] == m["hoverSpeed"] == 8.0
    first = m["items"][0]
    assert first["type"] == "SimpleItem" and first["command"] == 22 and first["frame"] == 3
    assert len(first["params"]) == 7 and first["params"][3] is None  # unset yaw -> null, as QGC writes it
    assert first["autoContinue"] is True and first["doJumpId"] == 1
    assert first["AltitudeMode"] == 1 and first["Altitude"] == 45 and first["AMSLAltAboveTerrain"] is None
    speed = m["items"][1]
    assert speed["command"] == 178 and speed["frame"] == 2 and "Altitude" not in speed
    assert [i["doJumpId"] for i in m["items"]] == list(range(1, len(m["items"]) + 1))
    fence = doc["geoFence"]
    assert fence["version"] == 2
    assert {p["version"] for p in fence["polygons"]} == {1}
    assert [p["inclusion"] for p in fence["polygons"]] == [True, False]  # the zone's hole is an exclusion fence
    assert fence["circles"] == [{"circle": {"center": [23.05, 112.46], "radius": 15.0}, "inclusion": False, "version": 1}]
    assert doc["rallyPoints"]["version"] == 2 and len(doc["rallyPoints"]["points"]) == 1
    json.loads(dumps_plan(mission))  # strict JSON (no NaN)


def test_round_trip_is_identical(mission):
    again = loads_plan(dumps_plan(mission))
    assert again == mission
    assert again.items == mission.items
    assert loads_plan(dumps_plan(again)) == again


# A plan as QGroundControl writes it (its documented sample, trimmed): PX4, a survey ComplexItem with
# its generated items, nulls for unset params.
QGC_PLAN = {
    "fileType": "Plan", "version": 1, "groundStation": "QGroundControl",
    "geoFence": {"circles": [{"circle": {"center": [47.3975, 8.5446], "radius": 319.85}, "inclusion": True, "version": 1}],
                 "polygons": [{"inclusion": True, "polygon": [[47.398, 8.5438], [47.3998, 8.55], [47.3964, 8.545]], "version": 1}],
                 "version": 2},
    "mission": {
        "cruiseSpeed": 15, "firmwareType": 12, "globalPlanAltitudeMode": 1, "hoverSpeed": 5, "vehicleType": 2, "version": 2,
        "plannedHomePosition": [47.3977419, 8.545594, 487.989],
        "items": [
            {"AMSLAltAboveTerrain": None, "Altitude": 50, "AltitudeMode": 0, "autoContinue": True, "command": 22, "doJumpId": 1,
             "frame": 3, "params": [15, 0, 0, None, 47.3985099, 8.5451002, 50], "type": "SimpleItem"},
            {"type": "ComplexItem", "complexItemType": "survey", "version": 4, "angle": 0,
             "TransectStyleComplexItem": {"Items": [
                 {"autoContinue": True, "command": 16, "doJumpId": 2, "frame": 3, "params": [0, 0, 0, None, 47.39, 8.54, 50], "type": "SimpleItem"},
                 {"autoContinue": True, "command": 16, "doJumpId": 3, "frame": 3, "params": [0, 0, 0, None, 47.391, 8.541, 50], "type": "SimpleItem"}]}},
            {"autoContinue": True, "command": 20, "doJumpId": 4, "frame": 2, "params": [0, 0, 0, 0, 0, 0, 0], "type": "SimpleItem"},
        ],
    },
    "rallyPoints": {"points": [[47.39760401, 8.5509154, 50], [47.39902017, 8.54263274, 50]], "version": 2},
}


def test_imports_a_qgroundcontrol_file():
    mf = loads_plan(json.dumps(QGC_PLAN))
    assert [it.command for it in mf.items] == [22, 16, 16, 20]
    assert mf.items[0].param1 == 15 and mf.items[0].param4 is None and mf.items[0].alt_m == 50
    assert mf.home == GeoPoint(47.3977419, 8.545594) and mf.home_amsl_m == pytest.approx(487.989)
    assert mf.fence.circles[0].radius_m == pytest.approx(319.85)
    assert mf.fence.polygons == (FencePolygon(True, (GeoPoint(47.398, 8.5438), GeoPoint(47.3998, 8.55), GeoPoint(47.3964, 8.545))),)
    assert mf.rally[1] == RallyPoint(GeoPoint(47.39902017, 8.54263274), 50.0)
    assert mf.hover_speed_m_s == 5


def _broken(**changes):
    doc = json.loads(json.dumps(QGC_PLAN))
    for path, value in changes.items():
        target = doc
        keys = path.split("__")
        for k in keys[:-1]:
            target = target[int(k)] if k.isdigit() else target[k]
        target[keys[-1]] = value
    return json.dumps(doc)


@pytest.mark.parametrize("text,match", [
    ("", "empty"),
    ("{", "not valid JSON"),
    (_broken(fileType="Mission"), "fileType"),
    (_broken(version=2), "version"),
    (_broken(mission__version=1), "mission version"),
    (_broken(mission__plannedHomePosition=None), "plannedHomePosition"),
    (_broken(mission__items__0__params=[0, 0, 0]), "7 values"),
    (_broken(mission__items__0__params=[0, 0, 0, None, "x", 8.5, 50]), "expected a number"),
    (_broken(mission__items__0__type="Odd"), "unknown item type"),
    (_broken(mission__items__1__TransectStyleComplexItem={}), "ComplexItem 'survey'"),
    (_broken(geoFence__polygons__0__polygon=[[1, 2]]), "at least 3 vertices"),
    (_broken(geoFence__circles__0__circle={"center": [47.3, 8.5], "radius": -1}), "radius must be positive"),
    (_broken(rallyPoints__points=[[47.3, 8.5]]), "expected \\[lat, lon, alt\\]"),
    (_broken(mission__plannedHomePosition=[147.3, 8.5, 0]), "latitude"),
])
def test_bad_plan_files(text, match):
    with pytest.raises(PlanFileError, match=match):
        loads_plan(text)
