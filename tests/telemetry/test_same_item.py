"""mission_transfer.same_item: a read-back item matches what was uploaded, allowing for what ArduCopter changes."""
from __future__ import annotations

from dataclasses import replace

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from telemetry.mission_transfer import same_item
from telemetry.records import MissionItem, MissionType

M = mavlink
WP = MissionItem(M.MAV_CMD_NAV_WAYPOINT, frame=6, param1=1.5, lat_deg=23.0469123, lon_deg=112.4651234, alt_m=20.3)
FENCE = MissionItem(M.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION, frame=6, param1=4, lat_deg=23.05, lon_deg=112.46,
                    alt_m=30.0, mission_type=MissionType.FENCE)
RALLY = MissionItem(M.MAV_CMD_NAV_RALLY_POINT, frame=3, lat_deg=23.05, lon_deg=112.47, alt_m=30.6,
                    mission_type=MissionType.RALLY)

# name, sent, what came back: the same item with these fields changed
SAME = [
    ("exact copy", WP, {}),
    ("frame 6 comes back as 3", WP, {"frame": 3}),
    ("hold time stored in whole seconds (truncated)", WP, {"frame": 3, "param1": 1.0}),
    ("Copter keeps no acceptance radius, pass radius or yaw", replace(WP, param2=2.0, param3=5.0, param4=90.0),
     {"param2": 0.0, "param3": 0.0, "param4": 0.0}),
    ("altitude kept in whole centimetres", WP, {"alt_m": 20.29}),
    ("lat/lon rounded to 1e-7 degrees", WP, {"lat_deg": 23.0469124, "lon_deg": 112.4651233}),
    ("takeoff: min pitch whole", MissionItem(M.MAV_CMD_NAV_TAKEOFF, frame=3, param1=2.7, alt_m=20), {"param1": 2.0}),
    ("loiter time whole, direction comes back as +-1",
     MissionItem(M.MAV_CMD_NAV_LOITER_TIME, frame=3, param1=10.9, lat_deg=23.0, lon_deg=112.0, alt_m=20),
     {"param1": 10.0, "param3": 1.0}),
    ("land: yaw direction comes back as +-1", MissionItem(M.MAV_CMD_NAV_LAND, frame=3, lat_deg=23.0, lon_deg=112.0),
     {"param4": 1.0}),
    ("change speed: float speed kept", MissionItem(M.MAV_CMD_DO_CHANGE_SPEED, frame=2, param1=1, param2=7.5,
                                                   param3=-1), {}),
    ("relay number and state whole", MissionItem(M.MAV_CMD_DO_SET_RELAY, frame=2, param1=0, param2=1), {}),
    ("fence: frame 0, no altitude, autocontinue 0", FENCE, {"frame": 0, "alt_m": 0.0, "autocontinue": False}),
    ("rally: altitude in whole metres, autocontinue 0", RALLY, {"frame": 6, "alt_m": 30.0, "autocontinue": False}),
    ("fence item sent without its mission type", replace(FENCE, mission_type=MissionType.MISSION),
     {"frame": 0, "alt_m": 0.0, "autocontinue": False, "mission_type": MissionType.FENCE}),
]

DIFFERENT = [
    ("another command", WP, {"command": M.MAV_CMD_NAV_SPLINE_WAYPOINT}),
    ("another frame (absolute altitude)", WP, {"frame": 0}),
    ("hold time off by a whole second", WP, {"param1": 2.0}),
    ("hold time rounded up is not what ArduPilot does", replace(WP, param1=1.6), {"param1": 2.0}),
    ("altitude off by 5 cm", WP, {"alt_m": 20.25}),
    ("latitude off by 1e-6 degrees", WP, {"lat_deg": WP.lat_deg + 1e-6}),
    ("waypoint with autocontinue off", WP, {"autocontinue": False}),
    ("change speed: other speed", MissionItem(M.MAV_CMD_DO_CHANGE_SPEED, frame=2, param1=1, param2=7.5),
     {"param2": 5.0}),
    ("an unknown command keeps all params exactly", MissionItem(31000, frame=2, param3=0.5), {"param3": 0.0}),
    ("fence: another vertex count", FENCE, {"param1": 5.0, "frame": 0, "alt_m": 0.0, "autocontinue": False}),
    ("fence: vertex moved", FENCE, {"lat_deg": 23.051, "frame": 0}),
    ("rally: altitude off by two metres", RALLY, {"alt_m": 28.0}),
]


@pytest.mark.parametrize("name, sent, changes", SAME, ids=[c[0] for c in SAME])
def test_read_back_matches(name, sent, changes):
    assert same_item(sent, replace(sent, **changes))


@pytest.mark.parametrize("name, sent, changes", DIFFERENT, ids=[c[0] for c in DIFFERENT])
def test_read_back_differs(name, sent, changes):
    assert not same_item(sent, replace(sent, **changes))
