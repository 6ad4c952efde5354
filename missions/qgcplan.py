"""QGroundControl .plan documents (JSON, fileType "Plan", version 1): export and import.

Written as QGroundControl writes them for an ArduPilot multirotor (firmwareType 3, vehicleType 2):
mission items as SimpleItems (params null where unset), the geofence's polygons and circles, and
rally points. Import also takes the SimpleItems inside a ComplexItem (e.g. a survey's
TransectStyleComplexItem.Items). Text in, text out: the caller reads and writes the file.
"""
from __future__ import annotations

import json
import math
from types import MappingProxyType
from typing import Any

from missions.documents import parse_json
from missions.errors import PlanFileError
from missions.geo import GeoPoint
from missions.mission import Fence, FenceCircle, FencePolygon, MavFrame, MissionFile, MissionItem, RallyPoint

FIRMWARE_ARDUPILOT = 3
VEHICLE_QUADROTOR = 2
# QGroundControl's AltitudeMode per MAV_FRAME (1 relative, 2 absolute, 4 terrain frame)
_ALTITUDE_MODE = MappingProxyType({int(MavFrame.GLOBAL_RELATIVE_ALT): 1, int(MavFrame.GLOBAL): 2, int(MavFrame.GLOBAL_TERRAIN_ALT): 4})


def _num(v: float | None) -> float | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return float(v)


def plan_to_dict(mf: MissionFile) -> dict[str, Any]:
    """The .plan document as a JSON-ready dict."""
    items = []
    for i, it in enumerate(mf.items):
        d: dict[str, Any] = {
            "type": "SimpleItem", "command": int(it.command), "frame": int(it.frame),
            "params": [_num(p) for p in it.params], "autoContinue": bool(it.autocontinue), "doJumpId": i + 1,
        }
        if int(it.frame) in _ALTITUDE_MODE:
            d.update({"AMSLAltAboveTerrain": None, "Altitude": _num(it.alt_m), "AltitudeMode": _ALTITUDE_MODE[int(it.frame)]})
        items.append(d)
    return {
        "fileType": "Plan",
        "version": 1,
        "groundStation": "QGroundControl",
        "mission": {
            "version": 2,
            "firmwareType": FIRMWARE_ARDUPILOT,
            "vehicleType": VEHICLE_QUADROTOR,
            "globalPlanAltitudeMode": 1,
            "cruiseSpeed": mf.cruise_speed_m_s,
            "hoverSpeed": mf.hover_speed_m_s,
            "plannedHomePosition": [mf.home.lat_deg, mf.home.lon_deg, mf.home_amsl_m],
            "items": items,
        },
        "geoFence": {
            "version": 2,
            "polygons": [
                {"inclusion": p.inclusion, "polygon": [[v.lat_deg, v.lon_deg] for v in p.vertices], "version": 1}
                for p in mf.fence.polygons
            ],
            "circles": [
                {"circle": {"center": [c.centre.lat_deg, c.centre.lon_deg], "radius": c.radius_m}, "inclusion": c.inclusion,
                 "version": 1}
                for c in mf.fence.circles
            ],
        },
        "rallyPoints": {"version": 2, "points": [[r.at.lat_deg, r.at.lon_deg, r.alt_m] for r in mf.rally]},
    }


def dumps_plan(mf: MissionFile) -> str:
    return json.dumps(plan_to_dict(mf), indent=4, allow_nan=False) + "\n"


# --- import -----------------------------------------------------------------------------------


def _req(d: Any, key: str, where: str) -> Any:
    if not isinstance(d, dict) or key not in d:
        raise PlanFileError(f"{where}: missing {key!r}")
    return d[key]


def _obj(v: Any, where: str) -> dict:
    if not isinstance(v, dict):
        raise PlanFileError(f"{where}: expected a JSON object")
    return v


def _list(v: Any, where: str) -> list:
    if not isinstance(v, list):
        raise PlanFileError(f"{where}: expected a list")
    return v


def _float(v: Any, where: str, allow_none: bool = False) -> float | None:
    if v is None and allow_none:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise PlanFileError(f"{where}: expected a number, got {v!r}")
    return float(v)


def _point(v: Any, where: str) -> GeoPoint:
    if not isinstance(v, list) or len(v) < 2:
        raise PlanFileError(f"{where}: expected [lat, lon], got {v!r}")
    try:
        return GeoPoint(_float(v[0], where), _float(v[1], where))  # type: ignore[arg-type]
    except ValueError as e:
        raise PlanFileError(f"{where}: {e}") from None


def _simple_item(d: Any, where: str) -> MissionItem:
    params = _req(d, "params", where)
    if not isinstance(params, list) or len(params) != 7:
        raise PlanFileError(f"{where}: 'params' must be a list of 7 values")
    p = [_float(v, f"{where} params[{k}]", allow_none=True) for k, v in enumerate(params)]
    command = _req(d, "command", where)
    frame = _req(d, "frame", where)
    if not isinstance(command, int) or not isinstance(frame, int) or isinstance(command, bool):
        raise PlanFileError(f"{where}: 'command' and 'frame' must be integers")
    return MissionItem(command=command, frame=frame, param1=p[0], param2=p[1], param3=p[2], param4=p[3],
                       lat_deg=p[4], lon_deg=p[5], alt_m=p[6], autocontinue=bool(d.get("autoContinue", True)))


def _items(raw: Any, where: str) -> list[MissionItem]:
    if not isinstance(raw, list):
        raise PlanFileError(f"{where}: 'items' must be a list")
    out: list[MissionItem] = []
    for i, d in enumerate(raw):
        w = f"{where} item {i + 1}"
        kind = d.get("type") if isinstance(d, dict) else None
        if kind == "SimpleItem":
            out.append(_simple_item(d, w))
        elif kind == "ComplexItem":
            inner = (d.get("TransectStyleComplexItem") or {}).get("Items")
            if inner is None:
                raise PlanFileError(f"{w}: ComplexItem {d.get('complexItemType')!r} without its generated Items is not supported")
            out += _items(inner, w)
        else:
            raise PlanFileError(f"{w}: unknown item type {kind!r}")
    return out


def plan_from_dict(doc: Any) -> MissionFile:
    """A MissionFile from a parsed .plan document."""
    if not isinstance(doc, dict) or doc.get("fileType") != "Plan":
        raise PlanFileError("not a QGroundControl plan: 'fileType' must be \"Plan\"")
    if doc.get("version") != 1:
        raise PlanFileError(f"unsupported .plan version {doc.get('version')!r} (expected 1)")
    mission = _obj(_req(doc, "mission", "plan"), "mission")
    if mission.get("version") != 2:
        raise PlanFileError(f"unsupported mission version {mission.get('version')!r} (expected 2)")
    home_raw = _list(_req(mission, "plannedHomePosition", "mission"), "plannedHomePosition")
    home = _point(home_raw, "plannedHomePosition")
    home_amsl = _float(home_raw[2], "plannedHomePosition altitude", allow_none=True) if len(home_raw) > 2 else 0.0
    items = _items(_req(mission, "items", "mission"), "mission")

    fence_doc = _obj(doc.get("geoFence") or {}, "geoFence")
    polygons = []
    for i, p in enumerate(_list(fence_doc.get("polygons", []), "geoFence polygons")):
        w = f"geoFence polygon {i + 1}"
        verts = _req(p, "polygon", w)
        if not isinstance(verts, list) or len(verts) < 3:
            raise PlanFileError(f"{w}: a fence polygon needs at least 3 vertices")
        polygons.append(FencePolygon(bool(_req(p, "inclusion", w)), tuple(_point(v, w) for v in verts)))
    circles = []
    for i, c in enumerate(_list(fence_doc.get("circles", []), "geoFence circles")):
        w = f"geoFence circle {i + 1}"
        circ = _obj(_req(c, "circle", w), w)
        radius = _float(_req(circ, "radius", w), w)
        if radius is None or radius <= 0:
            raise PlanFileError(f"{w}: radius must be positive")
        circles.append(FenceCircle(bool(_req(c, "inclusion", w)), _point(_req(circ, "center", w), w), radius))
    rally_doc = _obj(doc.get("rallyPoints") or {}, "rallyPoints")
    rally = []
    for i, r in enumerate(_list(rally_doc.get("points", []), "rallyPoints points")):
        w = f"rally point {i + 1}"
        if not isinstance(r, list) or len(r) != 3:
            raise PlanFileError(f"{w}: expected [lat, lon, alt]")
        rally.append(RallyPoint(_point(r, w), _float(r[2], w)))  # type: ignore[arg-type]
    return MissionFile(
        items=tuple(items), home=home, home_amsl_m=home_amsl or 0.0,
        cruise_speed_m_s=_float(mission.get("cruiseSpeed", 15.0), "cruiseSpeed"),  # type: ignore[arg-type]
        hover_speed_m_s=_float(mission.get("hoverSpeed", 5.0), "hoverSpeed"),  # type: ignore[arg-type]
        fence=Fence(polygons=tuple(polygons), circles=tuple(circles)), rally=tuple(rally),
    )


def loads_plan(text: str) -> MissionFile:
    """A QGroundControl .plan document's text -> MissionFile (PlanFileError saying what is wrong)."""
    return plan_from_dict(parse_json(text, "the .plan file", PlanFileError))
