"""ArduPilot's mission item protocol, as a pure state machine (time injected)."""
from __future__ import annotations

import pytest

from sim import mission as ms

GCS = (255, 190)
OTHER = (254, 1)


def wp(seq: int, frame: int = ms.FRAME_GLOBAL_RELATIVE_ALT_INT, cmd: int = ms.NAV_WAYPOINT, mtype: int = ms.MISSION):
    return ms.Item(seq, frame, cmd, x=230469000 + seq, y=1124651000, z=20.0, mission_type=mtype)


def upload(p: ms.MissionProtocol, items: list[ms.Item], mtype: int = ms.MISSION) -> list:
    """Send every item; return what the vehicle answers then, plus its acks once the checksum wait is over."""
    out = p.count("peer", GCS, mtype, len(items), 0.0)
    for it in items:
        assert out == [ms.Request("peer", it.seq, mtype)]
        out = p.item("peer", GCS, it, 0.1)
    return [r for r in out if not isinstance(r, ms.Said)] + p.update(10.0)


def test_upload_requests_each_item_then_acks_and_converts_frames():
    store = ms.MissionStore()
    p = ms.MissionProtocol(store)
    out = upload(p, [wp(0, ms.FRAME_GLOBAL_INT), wp(1), wp(2, ms.FRAME_GLOBAL_TERRAIN_ALT_INT)])
    assert out == [ms.Ack("peer", ms.ACCEPTED, ms.MISSION)]
    assert store.count(ms.MISSION) == 3
    assert store.get(ms.MISSION, 1, None).frame == ms.FRAME_GLOBAL_RELATIVE_ALT      # 6 comes back as 3
    assert store.get(ms.MISSION, 2, None).frame == ms.FRAME_GLOBAL_TERRAIN_ALT       # 11 comes back as 10
    home = store.get(ms.MISSION, 0, (23.1, 112.5, 12.0))                            # item 0 is home
    assert (home.x, home.y, home.z, home.frame) == (231000000, 1125000000, 12.0, ms.FRAME_GLOBAL)


@pytest.mark.parametrize("item, result", [
    (wp(1, cmd=31337), ms.UNSUPPORTED),
    (wp(1, frame=1), ms.UNSUPPORTED_FRAME),                     # MAV_FRAME_LOCAL_NED for a waypoint
    (ms.Item(1, 6, ms.NAV_WAYPOINT, x=950_000_000), ms.INVALID_PARAM5_X),
    (wp(1, cmd=ms.RALLY_POINT), ms.UNSUPPORTED),                # rally item in a mission upload
])
def test_bad_items_are_refused_with_the_ardupilot_result(item, result):
    p = ms.MissionProtocol(ms.MissionStore())
    p.count("peer", GCS, ms.MISSION, 2, 0.0)
    p.item("peer", GCS, wp(0), 0.0)
    assert p.item("peer", GCS, item, 0.0) == [ms.Ack("peer", result, ms.MISSION)]
    assert not p.receiving(ms.MISSION)


def test_out_of_sequence_item_and_too_many_items():
    p = ms.MissionProtocol(ms.MissionStore())
    assert p.count("peer", GCS, ms.MISSION, ms.MAX_ITEMS[ms.MISSION] + 1, 0.0) == [ms.Ack("peer", ms.NO_SPACE, 0)]
    p.count("peer", GCS, ms.MISSION, 3, 0.0)
    assert p.item("peer", GCS, wp(1), 0.0) == [ms.Ack("peer", ms.INVALID_SEQUENCE, ms.MISSION)]
    assert p.receiving(ms.MISSION)      # ArduPilot keeps waiting for the right item


def test_second_uploader_is_denied_and_item_without_upload_is_an_error():
    p = ms.MissionProtocol(ms.MissionStore())
    assert p.item("peer", GCS, wp(0), 0.0) == [ms.Ack("peer", ms.ERROR, ms.MISSION)]
    p.count("peer", GCS, ms.MISSION, 3, 0.0)
    assert p.count("other", OTHER, ms.MISSION, 2, 0.0) == [ms.Ack("other", ms.DENIED, ms.MISSION)]
    assert p.download_refused("other", ms.MISSION) == [ms.Ack("other", ms.DENIED, ms.MISSION)]


def test_silent_uploader_gets_re_requests_then_a_cancel():
    p = ms.MissionProtocol(ms.MissionStore())
    p.count("peer", GCS, ms.MISSION, 3, 0.0)
    assert p.update(0.5) == []
    assert p.update(1.2) == [ms.Request("peer", 0, ms.MISSION)]
    assert p.update(8.5) == [ms.Ack("peer", ms.OPERATION_CANCELLED, ms.MISSION)]
    assert not p.receiving(ms.MISSION)


def test_fence_polygon_with_wrong_vertex_count_is_refused():
    store = ms.MissionStore()
    p = ms.MissionProtocol(store)
    bad = [ms.Item(i, 0, ms.FENCE_POLYGON_VERTEX_INCLUSION, 4, mission_type=ms.FENCE) for i in range(3)]
    assert upload(p, bad, ms.FENCE) == [ms.Ack("peer", ms.INVALID_PARAM1, ms.FENCE)]
    assert store.count(ms.FENCE) == 0
    good = [ms.Item(i, 0, ms.FENCE_POLYGON_VERTEX_INCLUSION, 3, mission_type=ms.FENCE) for i in range(3)]
    good.append(ms.Item(3, 0, ms.FENCE_CIRCLE_INCLUSION, 100.0, mission_type=ms.FENCE))
    assert upload(p, good, ms.FENCE) == [ms.Ack("peer", ms.ACCEPTED, ms.FENCE)]
    assert store.count(ms.FENCE) == 4


def test_rally_upload_and_clear_all():
    store = ms.MissionStore()
    p = ms.MissionProtocol(store)
    assert upload(p, [wp(0, cmd=ms.RALLY_POINT, mtype=ms.RALLY)], ms.RALLY) == [ms.Ack("peer", ms.ACCEPTED, ms.RALLY)]
    assert store.count(ms.RALLY) == 1
    assert p.clear_all("peer", ms.RALLY) == [ms.Ack("peer", ms.ACCEPTED, ms.RALLY)]
    assert store.count(ms.RALLY) == 0
    assert p.clear_all("peer", 7) == [ms.Ack("peer", ms.UNSUPPORTED, 7)]


def test_download_of_missing_item_is_invalid_sequence():
    store = ms.MissionStore()
    assert store.get(ms.MISSION, 5, None) == ms.INVALID_SEQUENCE
    assert store.get(9, 0, None) == ms.UNSUPPORTED


def test_upload_ack_waits_half_a_second_after_the_last_item_like_the_opaque_id_checksum():
    p = ms.MissionProtocol(ms.MissionStore())
    p.count("peer", GCS, ms.MISSION, 2, 0.0)
    p.item("peer", GCS, wp(0), 1.0)
    out = p.item("peer", GCS, wp(1), 2.0)
    assert out == [ms.Said("peer", 6, "Flight plan received")]       # said at once, to the uploader
    assert p.download_refused("other", ms.MISSION) == [ms.Ack("other", ms.DENIED, ms.MISSION)]   # still receiving
    assert p.update(2.4) == []
    assert p.update(2.51) == [ms.Ack("peer", ms.ACCEPTED, ms.MISSION)]
    assert not p.receiving(ms.MISSION) and p.update(9.0) == []         # no timeout, no re-request after it


def _item(command: int, p1=0.0, p2=0.0, p3=0.0, p4=0.0, x=230469000, y=1124651000, z=20.0, frame=6, mtype=ms.MISSION):
    return ms.Item(1, frame, command, p1, p2, p3, p4, x, y, z, 1, mtype)


NAN = float("nan")


@pytest.mark.parametrize("sent, params, frame, xyz", [
    # AP_Mission.cpp (Copter build): a waypoint keeps whole seconds of hold (uint16 p1) and nothing else
    (_item(ms.NAV_WAYPOINT, 1.5, 2.0, 3.0, NAN), (1.0, 0.0, 0.0, 0.0), 3, (230469000, 1124651000, 20.0)),
    (_item(ms.NAV_WAYPOINT, 7.99, z=19.999), (7.0, 0.0, 0.0, 0.0), 3, (230469000, 1124651000, 19.99)),
    (_item(ms.NAV_LOITER_TIME, 12.7, 0, -1, 0), (12.0, 0.0, -1.0, 0.0), 3, None),
    (_item(ms.NAV_LOITER_TURNS, 2.6, 0, 30.4, 1), (2.0, 0.0, 30.0, 1.0), 3, None),
    (_item(ms.NAV_LOITER_TURNS, 3, 0, -400, 0), (3.0, 0.0, -400.0, 0.0), 3, None),    # radius > 255 m: tens
    (_item(ms.NAV_TAKEOFF, 0, 0, 0, NAN, z=30.0), (0.0, 0.0, 0.0, 0.0), 3, (230469000, 1124651000, 30.0)),
    (_item(ms.NAV_LAND, 0, 0, 0, NAN, frame=5), (0.0, 0.0, 0.0, 1.0), 0, None),
    (_item(ms.NAV_RETURN_TO_LAUNCH, frame=2), (0.0, 0.0, 0.0, 0.0), 0, (0, 0, 0.0)),
    (_item(ms.DO_CHANGE_SPEED, 1, 7.5, -1, 0, frame=2), (1.0, 7.5, -1.0, 0.0), 0, (0, 0, 0.0)),
    (_item(ms.DO_SET_ROI, 0, 5, 0, 0), (0.0, 0.0, 0.0, 0.0), 3, (230469000, 1124651000, 20.0)),
    (_item(ms.DO_MOUNT_CONTROL, -45.5, 0, 30, 0, 0, 0, 2, frame=2), (-45.5, 0.0, 30.0, 0.0), 0, (0, 0, 0.0)),
    (_item(ms.DO_GIMBAL_MANAGER_PITCHYAW, -45.5, 30.9, NAN, NAN, 16, 0, 0, frame=2), None, 0, None),
    (_item(ms.DO_SET_RELAY, 1.9, 1, frame=2), (1.0, 1.0, 0.0, 0.0), 0, (0, 0, 0.0)),
    (_item(ms.DO_JUMP, 2.7, -1, frame=2), (2.0, -1.0, 0.0, 0.0), 0, (0, 0, 0.0)),
])
def test_items_come_back_as_ardupilot_stores_them(sent, params, frame, xyz):
    if params is None:      # NaN rates are refused: param3/param4 of DO_GIMBAL_MANAGER_PITCHYAW may not be NaN
        assert ms.validate(sent) == ms.INVALID_PARAM3
        sent = ms.Item(1, 2, sent.command, -45.5, 30.9, 0, 0, 16, 0, 1.0)
        back = ms.stored(sent)
        assert (back.param1, back.param2, back.x, back.y, back.z, back.frame) == (-45.0, 30.0, 16, 0, 1.0, 0)
        return
    assert ms.validate(sent) == ms.ACCEPTED
    back = ms.stored(sent)
    assert (back.param1, back.param2, back.param3, back.param4) == pytest.approx(params)
    assert back.frame == frame and back.autocontinue == 1
    if xyz is not None:
        assert (back.x, back.y) == xyz[:2] and back.z == pytest.approx(xyz[2], abs=1e-4)


@pytest.mark.parametrize("item, result", [
    (_item(ms.NAV_WAYPOINT, NAN), ms.INVALID_PARAM1),
    (_item(ms.NAV_LOITER_TIME, 5, 0, 0, NAN), ms.INVALID_PARAM4),        # only WAYPOINT/LAND/TAKEOFF allow it
    (_item(ms.DO_CHANGE_SPEED, 1, float("inf"), frame=2), ms.INVALID_PARAM2),
    (_item(ms.NAV_WAYPOINT, z=NAN), ms.INVALID_PARAM7),
])
def test_nan_and_infinite_params_are_refused_like_sanity_check_params(item, result):
    p = ms.MissionProtocol(ms.MissionStore())
    p.count("peer", GCS, ms.MISSION, 2, 0.0)
    p.item("peer", GCS, wp(0), 0.0)
    assert p.item("peer", GCS, item, 0.0) == [ms.Ack("peer", result, ms.MISSION)]


def test_fence_and_rally_items_come_back_with_autocontinue_zero_and_rally_in_whole_metres():
    store = ms.MissionStore()
    p = ms.MissionProtocol(store)
    fence = [ms.Item(i, 0, ms.FENCE_POLYGON_VERTEX_INCLUSION, 3, x=230469000 + i, y=1124651000,
                     mission_type=ms.FENCE) for i in range(3)]
    assert upload(p, fence, ms.FENCE) == [ms.Ack("peer", ms.ACCEPTED, ms.FENCE)]
    assert [store.get(ms.FENCE, i, None).autocontinue for i in range(3)] == [0, 0, 0]
    rally = ms.Item(0, 6, ms.RALLY_POINT, x=230469000, y=1124651000, z=30.7, mission_type=ms.RALLY)
    assert upload(p, [rally], ms.RALLY) == [ms.Ack("peer", ms.ACCEPTED, ms.RALLY)]
    back = store.get(ms.RALLY, 0, None)
    assert (back.autocontinue, back.z, back.frame) == (0, 30.0, 3)
