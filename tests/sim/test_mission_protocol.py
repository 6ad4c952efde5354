"""ArduPilot's mission item protocol, as a pure state machine (time injected)."""
from __future__ import annotations

import pytest

from sim import mission as ms

GCS = (255, 190)
OTHER = (254, 1)


def wp(seq: int, frame: int = ms.FRAME_GLOBAL_RELATIVE_ALT_INT, cmd: int = ms.NAV_WAYPOINT, mtype: int = ms.MISSION):
    return ms.Item(seq, frame, cmd, x=230469000 + seq, y=1124651000, z=20.0, mission_type=mtype)


def upload(p: ms.MissionProtocol, items: list[ms.Item], mtype: int = ms.MISSION) -> list:
    out = p.count("peer", GCS, mtype, len(items), 0.0)
    for it in items:
        assert out == [ms.Request("peer", it.seq, mtype)]
        out = p.item("peer", GCS, it, 0.1)
    return out


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
