"""The pure station core: safety checks (each refusal with its reason), state derivation, results."""
from __future__ import annotations

from dataclasses import replace

import pytest

from groundstation.core.dispatch import handle
from groundstation.core.policy import Policy
from groundstation.core.records import (
    CommandFinished,
    CommandRequest,
    CommandResultRow,
    CommandRow,
    EventRow,
    LinkRow,
    MissionRunRow,
    Record,
    Reply,
    SendCommand,
    VehicleConfigured,
    VehicleRow,
)
from groundstation.core.state import initial_state
from telemetry.records import (
    GeoPoint,
    LinkChanged,
    LinkError,
    MissionItem,
    MissionProgress,
    StateUpdated,
    StatusText,
    VehicleState,
)

HOME = (23.0475, 112.4650)
# a ~1.1 km square around home, an exclusion square to the north-east of home
FENCE = ((23.0425, 112.4595), (23.0425, 112.4705), (23.0525, 112.4705), (23.0525, 112.4595))
EXCLUSION = ((23.0490, 112.4660), (23.0490, 112.4680), (23.0510, 112.4680), (23.0510, 112.4660))
POLICY = Policy(max_alt_rel_m=120, min_battery_to_launch_pct=50, battery_reserve_pct=25,
                low_battery_warning_pct=35, max_distance_from_home_m=2000, battery_use_pct_per_km=4,
                inclusion=FENCE, exclusions=(EXCLUSION,))
NOW = 1_000.0


def vstate(**kw) -> VehicleState:
    base = dict(vehicle_id="d1", system_id=1, link_up=True, lat_deg=HOME[0], lon_deg=HOME[1], alt_rel_m=0.0,
                battery_pct=90.0, mode="GUIDED", armed=False, gps_fix_type=3, ready_to_arm=True,
                home=GeoPoint(HOME[0], HOME[1], 10.0))
    base.update(kw)
    return VehicleState(**base)


def station(policy: Policy = POLICY, link_up: bool = True, **state_kw):
    """A core state with vehicle d1 configured, its link in the given state and one telemetry state."""
    s = initial_state(policy)
    s, _ = handle(s, VehicleConfigured("d1", "tcp:127.0.0.1:5760", 1), NOW)
    s, _ = handle(s, LinkChanged("d1", True, "connected", 0.0), NOW)
    s, _ = handle(s, StateUpdated(vstate(**state_kw), 0.0), NOW)
    if not link_up:
        s, _ = handle(s, LinkChanged("d1", False, "no heartbeat for 3 s", 1.0), NOW)
    return s


def rows(actions, kind=None):
    out = [a.row for a in actions if isinstance(a, Record)]
    return [r for r in out if kind is None or isinstance(r, kind)]


def decide(s, action, args=None, rid="r1", by="operator"):
    return handle(s, CommandRequest("d1", action, args or {}, by, rid), NOW + 1)


FLYING = dict(armed=True, mode="GUIDED", alt_rel_m=30.0)
INSIDE = (23.0450, 112.4630)  # south-west of home, inside the fence
OUTSIDE = (23.0600, 112.4650)  # 1.4 km north: outside the fence, within max distance

REFUSALS = [
    # (name, state overrides, link up, action, args, reason fragment)
    ("link down", {}, False, "arm", {}, "link to the vehicle is down"),
    ("link down blocks even rtl", FLYING, False, "rtl", {}, "link to the vehicle is down"),
    ("unknown action", {}, True, "flip", {}, "unknown action 'flip'"),
    ("unexpected argument", {}, True, "arm", {"force": True}, "unexpected argument(s) for arm: force"),
    ("missing argument", FLYING, True, "goto", {"lat_deg": 1.0, "lon_deg": 2.0}, "missing argument alt_rel_m"),
    ("argument of wrong type", FLYING, True, "takeoff", {"alt_rel_m": "high"}, "must be a finite number"),
    ("nan altitude", FLYING, True, "takeoff", {"alt_rel_m": float("nan")}, "must be a finite number"),
    ("unknown mode", {}, True, "set_mode", {"mode": "WARP"}, "unknown flight mode 'WARP'"),
    ("gimbal pitched up past its range", {}, True, "point_gimbal", {"pitch_deg": 45.0}, "must be -90..30"),
    ("gimbal with the link down", {}, False, "point_gimbal", {"pitch_deg": -45.0}, "link to the vehicle is down"),
    ("arm with low battery", {"battery_pct": 40.0}, True, "arm", {}, "below the 50% needed to launch"),
    ("arm with unknown battery", {"battery_pct": None}, True, "arm", {}, "battery level unknown"),
    ("arm outside the fence", {"lat_deg": OUTSIDE[0], "lon_deg": OUTSIDE[1]}, True, "arm", {},
     "outside the inclusion fence"),
    ("arm in an exclusion", {"lat_deg": 23.0500, "lon_deg": 112.4670}, True, "arm", {}, "inside exclusion zone 0"),
    ("arm before a position", {"lat_deg": 0.0, "lon_deg": 0.0}, True, "arm", {}, "position unknown"),
    ("takeoff disarmed", {"armed": False}, True, "takeoff", {"alt_rel_m": 20}, "needs an armed vehicle"),
    ("takeoff not guided", {"armed": True, "mode": "LOITER"}, True, "takeoff", {"alt_rel_m": 20},
     "needs GUIDED mode (vehicle is in LOITER)"),
    ("takeoff too high", {"armed": True}, True, "takeoff", {"alt_rel_m": 121}, "above the limit of 120 m"),
    ("takeoff to zero", {"armed": True}, True, "takeoff", {"alt_rel_m": 0}, "must be above home"),
    ("takeoff low battery", {"armed": True, "battery_pct": 45.0}, True, "takeoff", {"alt_rel_m": 20},
     "below the 50% needed to launch"),
    ("goto outside the fence", FLYING, True, "goto", {"lat_deg": OUTSIDE[0], "lon_deg": OUTSIDE[1], "alt_rel_m": 30},
     "target outside the geofence"),
    ("goto into an exclusion", FLYING, True, "goto", {"lat_deg": 23.0500, "lon_deg": 112.4670, "alt_rel_m": 30},
     "inside exclusion zone 0"),
    ("goto path across an exclusion", FLYING, True, "goto",
     {"lat_deg": 23.0520, "lon_deg": 112.4690, "alt_rel_m": 30}, "crosses exclusion zone 0"),
    ("goto too high", FLYING, True, "goto", {"lat_deg": INSIDE[0], "lon_deg": INSIDE[1], "alt_rel_m": 150},
     "above the limit of 120 m"),
    ("goto too far from home", FLYING, True, "goto", {"lat_deg": 23.1, "lon_deg": 112.4650, "alt_rel_m": 30},
     "beyond the limit of 2000 m"),
    ("goto when not flying guided", dict(FLYING, mode="AUTO"), True, "goto",
     {"lat_deg": INSIDE[0], "lon_deg": INSIDE[1], "alt_rel_m": 30}, "needs GUIDED mode"),
    ("goto leaving less than the reserve", dict(FLYING, battery_pct=26.0), True, "goto",
     {"lat_deg": INSIDE[0], "lon_deg": INSIDE[1], "alt_rel_m": 30}, "below the reserve of 25%"),
    ("goto without home", dict(FLYING, home=None), True, "goto",
     {"lat_deg": INSIDE[0], "lon_deg": INSIDE[1], "alt_rel_m": 30}, "home position unknown"),
    ("AUTO without a checked mission", {}, True, "set_mode", {"mode": "AUTO"}, "needs a mission uploaded"),
    ("mission item too high", {}, True, "upload_mission",
     {"items": [MissionItem(16, lat_deg=INSIDE[0], lon_deg=INSIDE[1], alt_m=200)]}, "item 0: altitude 200 m"),
    ("mission item outside the fence", {}, True, "upload_mission",
     {"items": [MissionItem(22, alt_m=20), MissionItem(16, lat_deg=OUTSIDE[0], lon_deg=OUTSIDE[1], alt_m=30)]},
     "item 1: target outside the geofence"),
    ("mission leg across an exclusion", {}, True, "upload_mission",
     {"items": [MissionItem(16, lat_deg=23.0520, lon_deg=112.4690, alt_m=30)]}, "crosses exclusion zone 0"),
    ("mission in an unchecked frame", {}, True, "upload_mission",
     {"items": [MissionItem(16, frame=10, lat_deg=INSIDE[0], lon_deg=INSIDE[1], alt_m=30)]}, "frame 10 cannot be checked"),
    ("mission with a bad item", {}, True, "upload_mission", {"items": [{"command": 16, "speed": 3}]},
     "unknown field(s) speed"),
    ("empty mission", {}, True, "upload_mission", {"items": []}, "non-empty list"),
    ("mission beyond the battery", {"battery_pct": 30.0}, True, "upload_mission",
     {"items": [MissionItem(16, lat_deg=INSIDE[0], lon_deg=INSIDE[1], alt_m=30)] * 1
      + [MissionItem(16, lat_deg=23.0430, lon_deg=112.4700, alt_m=30),
         MissionItem(16, lat_deg=23.0520, lon_deg=112.4600, alt_m=30)] * 20}, "less than the reserve"),
]


@pytest.mark.parametrize("name,overrides,link_up,action,args,reason", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refused_commands_are_recorded_with_why_and_never_sent(name, overrides, link_up, action, args, reason):
    s = station(link_up=link_up, **overrides)
    s2, actions = decide(s, action, args)
    assert not [a for a in actions if isinstance(a, SendCommand)], "a refused command must never be sent"
    (command_row,) = rows(actions, CommandRow)
    assert command_row.decision == "refused"
    assert reason in command_row.reason, command_row.reason
    (decision,) = [r for r in rows(actions, EventRow) if r.kind == "decision"]
    assert reason in decision.text
    (reply,) = [a for a in actions if isinstance(a, Reply)]
    assert reply.outcome.status == "refused_by_station" and reason in reply.outcome.reason
    assert "r1" not in s2.pending


ALLOWED = [
    ("arm", {}, "arm", {}),
    ("takeoff", {"armed": True}, "takeoff", {"alt_rel_m": 120}),
    ("goto inside", FLYING, "goto", {"lat_deg": INSIDE[0], "lon_deg": INSIDE[1], "alt_rel_m": 40}),
    ("rtl with an empty battery", dict(FLYING, battery_pct=3.0), "rtl", {}),
    ("land outside the fence", dict(FLYING, lat_deg=OUTSIDE[0], lon_deg=OUTSIDE[1]), "land", {}),
    ("disarm", {"armed": True}, "disarm", {}),
    ("safety mode", dict(FLYING, battery_pct=1.0), "set_mode", {"mode": "brake"}),
    ("guided", {}, "set_mode", {"mode": "GUIDED"}),
    ("mission as dicts", {}, "upload_mission",
     {"items": [{"command": 22, "alt_m": 20}, {"command": 16, "lat_deg": INSIDE[0], "lon_deg": INSIDE[1], "alt_m": 30},
                {"command": 20}], "mission_type": "mission"}),
    ("fence items are not flight paths", {}, "upload_mission",
     {"items": [MissionItem(5001, lat_deg=1.0, lon_deg=1.0)], "mission_type": "fence"}),
]


@pytest.mark.parametrize("name,overrides,action,args", ALLOWED, ids=[a[0] for a in ALLOWED])
def test_allowed_commands_are_recorded_then_sent(name, overrides, action, args):
    s = station(**overrides)
    s2, actions = decide(s, action, args)
    (send,) = [a for a in actions if isinstance(a, SendCommand)]
    assert send.action == action and send.request_id == "r1"
    (command_row,) = rows(actions, CommandRow)
    assert command_row.decision == "sent" and command_row.reason
    assert actions.index(send) > actions.index(Record(command_row)), "the audit row comes before the send"
    assert "r1" in s2.pending
    assert not [a for a in actions if isinstance(a, Reply)], "the reply waits for the result"


def test_request_for_unknown_vehicle_and_duplicate_id():
    s = station(armed=True)
    _, actions = handle(s, CommandRequest("ghost", "rtl", {}, "op", "x"), NOW)
    assert "unknown vehicle 'ghost'" in rows(actions, CommandRow)[0].reason
    s, _ = decide(s, "rtl", rid="same")
    _, actions = decide(s, "land", rid="same")
    assert "duplicate request id" in rows(actions, CommandRow)[0].reason


def test_command_results_reply_and_record():
    s = station(armed=True)
    s, _ = decide(s, "disarm", rid="a")
    s, _ = decide(s, "rtl", rid="b")
    s, actions = handle(s, CommandFinished("a", "d1", "disarm", True, 400, 0, "MAV_RESULT_ACCEPTED", 1, 0.05), NOW)
    (res,) = rows(actions, CommandResultRow)
    assert (res.status, res.result_name, res.round_trip_s, res.error) == ("accepted", "MAV_RESULT_ACCEPTED", 0.05, None)
    (reply,) = [a.outcome for a in actions if isinstance(a, Reply)]
    assert reply.ok and reply.request_id == "a"
    s, actions = handle(s, CommandFinished("b", "d1", "rtl", False, 20, 4, "MAV_RESULT_FAILED", 1, 0.1,
                                                error_kind="refused", error="RTL refused: no home"), NOW)
    (reply,) = [a.outcome for a in actions if isinstance(a, Reply)]
    assert (reply.status, reply.result_name) == ("refused_by_vehicle", "MAV_RESULT_FAILED")
    assert rows(actions, CommandResultRow)[0].error == "RTL refused: no home"
    assert s.pending == {}


def test_link_loss_is_recorded_once_and_blocks_commands_until_it_is_back():
    s = station(**FLYING)
    s, actions = handle(s, LinkChanged("d1", False, "no heartbeat for 3 s", 5.0), NOW)
    (link,) = rows(actions, LinkRow)
    assert not link.up and link.reason == "no heartbeat for 3 s"
    (event,) = rows(actions, EventRow)
    assert event.severity == "critical" and "link lost while armed" in event.text
    s, actions = handle(s, LinkChanged("d1", False, "still silent", 6.0), NOW)
    assert actions == [], "a repeated 'down' is not a change"
    _, actions = decide(s, "rtl")
    assert "link to the vehicle is down" in rows(actions, CommandRow)[0].reason
    s, actions = handle(s, LinkChanged("d1", True, "heartbeat", 7.0), NOW)
    assert rows(actions, LinkRow)[0].up
    _, actions = decide(s, "rtl")
    assert [a for a in actions if isinstance(a, SendCommand)]


def test_mode_arm_ready_home_changes_are_derived_but_plain_updates_are_not_recorded():
    s = initial_state(POLICY)
    s, _ = handle(s, VehicleConfigured("d1", "tcp:127.0.0.1:5760"), NOW)
    first = vstate(mode="STABILIZE", ready_to_arm=False, home=None)
    s, actions = handle(s, StateUpdated(first, 0.0), NOW)
    kinds = [r.kind for r in rows(actions, EventRow)]
    assert kinds == ["mode"]
    assert rows(actions, VehicleRow)[0].system_id == 1
    s, actions = handle(s, StateUpdated(replace(first, alt_rel_m=0.1), 0.1), NOW)
    assert actions == [], "an ordinary state update records nothing"
    assert s.vehicles["d1"].state.alt_rel_m == 0.1, "but the latest state is kept"
    s, actions = handle(s, StateUpdated(replace(first, mode="GUIDED", armed=True, ready_to_arm=True,
                                                     home=GeoPoint(*HOME)), 0.2), NOW)
    texts = [r.text for r in rows(actions, EventRow)]
    assert "mode STABILIZE -> GUIDED" in texts and "armed" in texts and "ready to arm" in texts
    assert any(t.startswith("home set at") for t in texts)


def test_battery_warnings_with_hysteresis_and_automatic_rtl_below_reserve():
    s = station(**FLYING)
    levels = []
    auto = []
    for pct in (36, 34, 33, 36, 38.5, 30, 24, 26, 24.5, 29):
        s, actions = handle(s, StateUpdated(vstate(**FLYING, battery_pct=pct), 0.0), NOW + pct)
        levels += [(pct, r.severity) for r in rows(actions, EventRow) if r.kind == "battery"]
        auto += [a for a in actions if isinstance(a, SendCommand)]
    assert levels == [(34, "warning"), (38.5, "info"), (30, "warning"), (24, "critical"), (29, "info")]
    (rtl,) = auto
    assert rtl.action == "rtl" and s.pending[rtl.request_id].request.requested_by == "station:battery-reserve"


def test_no_automatic_rtl_on_the_ground_or_when_already_returning():
    for overrides in ({"armed": False}, dict(FLYING, mode="RTL"), dict(FLYING, alt_rel_m=0.2)):
        s = station(**overrides)
        s, actions = handle(s, StateUpdated(vstate(**overrides, battery_pct=10.0), 0.0), NOW)
        assert not [a for a in actions if isinstance(a, SendCommand)], overrides


def test_mission_run_lifecycle():
    s = station()
    items = [MissionItem(22, alt_m=20), MissionItem(16, lat_deg=INSIDE[0], lon_deg=INSIDE[1], alt_m=30),
             MissionItem(20)]
    s, actions = decide(s, "upload_mission", {"items": items}, rid="m1")
    (send,) = [a for a in actions if isinstance(a, SendCommand)]
    assert send.command.items[1:] == tuple(items), "the operator's items follow..."
    assert (send.command.items[0].lat_deg, send.command.items[0].frame) == (HOME[0], 0), "...ArduPilot's home slot"
    s, actions = handle(s, CommandFinished("m1", "d1", "upload_mission", True), NOW)
    (run,) = rows(actions, MissionRunRow)
    assert (run.run_id, run.status, run.item_count) == ("m1", "uploaded", 3)
    _, actions = decide(s, "set_mode", {"mode": "AUTO"}, rid="auto")
    assert [a for a in actions if isinstance(a, SendCommand)], "AUTO is allowed once a checked mission is on board"
    statuses = []
    for st in (vstate(mode="AUTO", armed=True, mission_count=4), vstate(mode="LOITER", armed=True),
               vstate(mode="AUTO", armed=True, mission_count=4)):
        s, actions = handle(s, StateUpdated(st, 0.0), NOW)
        statuses += [r.status for r in rows(actions, MissionRunRow)]
    s, actions = handle(s, MissionProgress("d1", 3, 3, 0.0), NOW)
    statuses += [r.status for r in rows(actions, MissionRunRow)]
    assert statuses == ["running", "interrupted", "running", "completed"]


def test_status_text_and_rate_limited_link_errors():
    s = station()
    _, actions = handle(s, StatusText("d1", 2, "PreArm: Need Position Estimate", 0.0), NOW)
    (row,) = rows(actions)
    assert (row.kind, row.severity, row.text) == ("statustext", "critical", "PreArm: Need Position Estimate")
    recorded = []
    for i in range(10):  # ten bursts of garbage within one second, then one more later
        s, actions = handle(s, LinkError("d1", "bad_crc", "CRC mismatch", 0.0, count=3), NOW + i * 0.05)
        recorded += rows(actions)
    s, actions = handle(s, LinkError("d1", "bad_crc", "CRC mismatch", 0.0, count=1), NOW + 2)
    recorded += rows(actions)
    assert len(recorded) == 2
    assert recorded[1].data["count"] == 9 * 3 + 1, "suppressed errors are counted in the next record"


def test_unknown_event_is_recorded_not_raised():
    s, actions = handle(station(), object(), NOW)  # type: ignore[arg-type]
    assert rows(actions)[0].kind == "internal"


def test_core_reads_no_clock():
    """The same events at the same times give the same actions (time is only what the caller passes)."""
    events = [VehicleConfigured("d1", "u"), LinkChanged("d1", True, "", 0.0),
              StateUpdated(vstate(), 0.0), CommandRequest("d1", "arm", {}, "op", "q")]
    def run():
        s, out = initial_state(POLICY), []
        for i, e in enumerate(events):
            s, actions = handle(s, e, 50.0 + i)
            out += actions
        return out
    assert run() == run()


def test_point_gimbal_is_sent_with_its_angles():
    s, actions = decide(station(), "point_gimbal", {"pitch_deg": -40, "yaw_deg": 15})
    (send,) = [a for a in actions if isinstance(a, SendCommand)]
    assert send.action == "point_gimbal" and send.command.args() == {"pitch_deg": -40.0, "yaw_deg": 15.0}


def test_a_handler_that_raises_refuses_the_request_records_it_and_keeps_the_state(monkeypatch):
    from groundstation.core import safety

    s = station()

    def broken_check(*args):
        raise RuntimeError("a bug in a check")

    monkeypatch.setattr(safety, "check", broken_check)
    after, actions = decide(s, "arm", rid="bug")
    (reply,) = [a for a in actions if isinstance(a, Reply)]
    assert reply.outcome.status == "refused_by_station"
    assert "internal error" in reply.outcome.reason and "RuntimeError: a bug in a check" in reply.outcome.reason
    (row,) = rows(actions, CommandRow)
    assert row.request_id == "bug" and row.decision == "refused" and "RuntimeError" in row.reason
    assert not [a for a in actions if isinstance(a, SendCommand)], "nothing is sent"
    assert after.vehicles == s.vehicles and after.pending == s.pending and after.events_handled == s.events_handled + 1
    monkeypatch.undo()
    _, actions = decide(after, "arm", rid="next")
    assert [a for a in actions if isinstance(a, SendCommand)], "the core keeps working after the failure"


def test_a_handler_that_raises_on_a_telemetry_event_is_logged_not_fatal(monkeypatch):
    from groundstation.core import vehicles

    def broken(*args):
        raise ValueError("bad state")

    monkeypatch.setattr(vehicles, "_battery_level", broken)
    s = station()
    after, actions = handle(s, StateUpdated(vstate(battery_pct=20.0), 0.0), NOW)
    (row,) = rows(actions, EventRow)
    assert row.kind == "internal" and row.severity == "error" and "ValueError: bad state" in row.text
    assert after.vehicles == s.vehicles


def test_set_mission_current_accepts_the_last_item_and_refuses_beyond_it():
    s = station()
    items = [MissionItem(22, alt_m=20), MissionItem(16, lat_deg=INSIDE[0], lon_deg=INSIDE[1], alt_m=30)]
    s, _ = decide(s, "upload_mission", {"items": items}, rid="m1")
    s, _ = handle(s, CommandFinished("m1", "d1", "upload_mission", True), NOW)
    _, ok = decide(s, "set_mission_current", {"seq": 2}, rid="last")
    assert [a for a in ok if isinstance(a, SendCommand)], "seq 2 is the last of 2 items (seq 0 is home)"
    _, refused = decide(s, "set_mission_current", {"seq": 3}, rid="beyond")
    assert "beyond the uploaded mission (2 items)" in rows(refused, CommandRow)[0].reason


def test_last_seen_is_recorded_on_link_changes_and_every_minute_while_up():
    s = station()
    seen = []
    for t in (0.0, 30.0, 59.0, 61.0, 90.0, 125.0):
        s, actions = handle(s, StateUpdated(vstate(), 0.0), NOW + t)
        seen += [r.at_s - NOW for r in rows(actions, VehicleRow)]
    s, actions = handle(s, LinkChanged("d1", False, "silent", 0.0), NOW + 130.0)
    seen += [r.at_s - NOW for r in rows(actions, VehicleRow)]
    assert seen == [61.0, 125.0, 130.0], "vehicles.last_seen_s follows the vehicle, not only the first link-up"


def test_a_state_older_than_the_one_the_core_has_is_ignored():
    s = station(messages_received=120, armed=True)
    stale, actions = handle(s, StateUpdated(vstate(messages_received=100, armed=False), 0.0), NOW)
    assert stale.vehicles["d1"].state.armed and not actions, "a state with fewer of the vehicle's messages is old"
    newer, _ = handle(s, StateUpdated(vstate(messages_received=121, armed=False), 0.0), NOW)
    assert not newer.vehicles["d1"].state.armed
