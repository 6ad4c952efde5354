"""Mission (mission/fence/rally) and parameter protocols against a scripted peer over loopback TCP."""
from __future__ import annotations

import time

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from telemetry.errors import InvalidRequest, MissionError, ParamError
from telemetry.mission_transfer import same_item
from telemetry.records import MissionItem, MissionType
from tests.telemetry.peer import ScriptedVehicle

HOME = MissionItem(16, frame=0, lat_deg=-35.3632621, lon_deg=149.1652374, alt_m=584.0)


def waypoints(n: int) -> list[MissionItem]:
    return [HOME] + [
        MissionItem(16, frame=6, param1=2.5, lat_deg=-35.36 + i * 1.234567e-5, lon_deg=149.16 - i * 1e-5,
                    alt_m=20.1 + i)
        for i in range(n)
    ]


@pytest.mark.parametrize("request_with_int", [False, True], ids=["MISSION_REQUEST", "MISSION_REQUEST_INT"])
def test_upload_then_download_round_trip(make_vehicle, request_with_int):
    peer = ScriptedVehicle(request_with_int=request_with_int).start()
    try:
        v = make_vehicle(peer.url)
        v.wait_ready(10)
        items = waypoints(4)
        v.upload_mission(items)
        assert all(m.get_type() == "MISSION_ITEM_INT" for m in peer.messages("MISSION_ITEM_INT"))
        assert [m.seq for m in peer.messages("MISSION_ITEM_INT")] == [0, 1, 2, 3, 4]
        got = v.download_mission()
        assert len(got) == 5 and v.state.mission_count == 5
        assert got[1].frame == 3  # ArduPilot reads frame 6 back as 3
        assert all(same_item(a, b) for a, b in zip(items, got))
        assert not same_item(items[1], got[2])
        ack = peer.wait_for(lambda m: m.get_type() == "MISSION_ACK")  # the download is acknowledged
        assert ack.type == mavlink.MAV_MISSION_ACCEPTED
    finally:
        peer.stop()


def test_lost_item_is_resent(peer, make_vehicle):
    peer.ignore_items_once = {2, 4}
    v = make_vehicle(peer.url)
    v.wait_ready(10)
    v.upload_mission(waypoints(4), item_timeout_s=0.2)
    assert [m.seq for m in peer.messages("MISSION_ITEM_INT")].count(2) == 2
    assert len(peer.state.mission[0]) == 5


def test_upload_refused_carries_mission_result(peer, make_vehicle):
    peer.mission_ack_result = mavlink.MAV_MISSION_NO_SPACE
    v = make_vehicle(peer.url)
    v.wait_ready(10)
    with pytest.raises(MissionError, match="MAV_MISSION_NO_SPACE") as err:
        v.upload_mission(waypoints(2))
    assert err.value.result == mavlink.MAV_MISSION_NO_SPACE


def test_upload_to_a_vehicle_that_stops_answering(peer, make_vehicle):
    v = make_vehicle(peer.url, link_timeout_s=5.0)
    v.wait_ready(10)
    peer.mute_replies = True
    with pytest.raises(MissionError, match="stopped answering"):
        v.upload_mission(waypoints(2), item_timeout_s=0.1, max_retries=3)
    assert len(peer.messages("MISSION_COUNT")) == 4  # first + 3 resends


@pytest.mark.parametrize("mission_type", [MissionType.FENCE, MissionType.RALLY])
def test_fence_and_rally(peer, make_vehicle, mission_type):
    v = make_vehicle(peer.url)
    v.wait_ready(10)
    command = 5001 if mission_type is MissionType.FENCE else 5100
    items = [MissionItem(command, frame=5, param1=4, lat_deg=-35.36 + i * 1e-3, lon_deg=149.16,
                         mission_type=mission_type) for i in range(4)]
    v.upload_mission(items, mission_type)
    assert len(peer.state.mission[mission_type.value]) == 4 and not peer.state.mission[0]
    got = v.download_mission(mission_type)
    assert [g.mission_type for g in got] == [mission_type] * 4
    assert all(same_item(a, b) for a, b in zip(items, got))
    v.clear_mission(mission_type)
    assert v.download_mission(mission_type) == []


def test_clear_and_set_current(peer, make_vehicle):
    v = make_vehicle(peer.url)
    v.wait_ready(10)
    v.upload_mission(waypoints(3))
    v.set_current_mission_item(2)
    v.wait_until(lambda s: s.mission_seq == 2, 5)
    peer.command_results[mavlink.MAV_CMD_DO_SET_MISSION_CURRENT] = mavlink.MAV_RESULT_UNSUPPORTED
    v.set_current_mission_item(3)  # falls back to MISSION_SET_CURRENT
    assert peer.messages("MISSION_SET_CURRENT")[0].seq == 3
    v.clear_mission()
    assert peer.state.mission[0] == [] and v.state.mission_count == 0
    v.upload_mission([])
    assert v.download_mission() == []


def test_500_item_upload(peer, make_vehicle):
    v = make_vehicle(peer.url)
    v.wait_ready(10)
    items = waypoints(499)
    t0 = time.perf_counter()
    v.upload_mission(items)
    elapsed = time.perf_counter() - t0
    print(f"\n500-item upload over loopback TCP: {elapsed * 1000:.0f} ms")
    assert len(peer.state.mission[0]) == 500


def test_params(peer, make_vehicle):
    v = make_vehicle(peer.url)
    v.wait_ready(10)
    assert v.get_param("WPNAV_SPEED") == 1000.0
    assert v.set_param("WPNAV_SPEED", 750.5) == 750.5
    assert peer.state.params["WPNAV_SPEED"] == pytest.approx(750.5)
    peer.param_refuse.add("ARMING_CHECK")
    with pytest.raises(ParamError, match="kept 1"):
        v.set_param("ARMING_CHECK", 0)
    with pytest.raises(ParamError, match="NO_SUCH_PARAM"):
        v.get_param("NO_SUCH_PARAM", timeout_s=0.1, retries=1)
    with pytest.raises(InvalidRequest):
        v.get_param("A_NAME_LONGER_THAN_16")
    peer.drop_param_indices_once = {1}
    params = v.fetch_params()
    assert params == {"SIM_SPEEDUP": 1.0, "WPNAV_SPEED": 750.5, "ARMING_CHECK": 1.0}
    assert v.state.is_simulator is True
    assert any(m.param_index == 1 for m in peer.messages("PARAM_REQUEST_READ"))  # re-requested the lost one


def test_real_vehicle_has_no_sim_params(make_vehicle):
    peer = ScriptedVehicle().start()
    peer.state.params = {"WPNAV_SPEED": 1000.0}
    try:
        v = make_vehicle(peer.url)
        v.wait_ready(10)
        v.fetch_params()
        assert v.state.is_simulator is False
    finally:
        peer.stop()


@pytest.mark.parametrize("item, why", [
    (MissionItem(16, frame=6, lat_deg=123.0, lon_deg=1.0), "not a latitude/longitude"),
    (MissionItem(16, frame=6, param1=float("inf")), "does not fit"),
    (MissionItem(16, frame=6, alt_m=1e39), "does not fit"),
    (MissionItem(70000), "not a MAV_CMD"),
    (MissionItem(16, frame=300), "not a MAV_FRAME"),
])
def test_bad_items_are_refused_before_sending(peer, make_vehicle, item, why):
    v = make_vehicle(peer.url)
    v.wait_ready(10)
    with pytest.raises(InvalidRequest, match=why):
        v.upload_mission([HOME, item])
    assert not peer.messages("MISSION_COUNT")


def test_unencodable_command_params_are_refused(peer, make_vehicle):
    v = make_vehicle(peer.url)
    v.wait_ready(10)
    with pytest.raises(InvalidRequest, match="cannot encode COMMAND_LONG"):
        v.command_long(mavlink.MAV_CMD_DO_CHANGE_SPEED, [1, 1e40])
    assert v.command_long(mavlink.MAV_CMD_DO_CHANGE_SPEED, [1, 5, -1]).result == 0
