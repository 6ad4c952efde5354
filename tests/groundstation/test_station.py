"""The station shell with a test double of the fleet: threads, inbox policies, audit, bad situations."""
from __future__ import annotations

import threading
import time


from groundstation.config import parse_config
from groundstation.core.records import CommandRequest
from groundstation.shell.station import Station
from groundstation.shell.storage import StorageReader
from telemetry.errors import CommandRefused, CommandTimeout, LinkDown
from tests.groundstation.fakes import HOME, FakeFleet, ready_state
from tests.waiting import wait_for

FENCE = [[23.0425, 112.4595], [23.0425, 112.4705], [23.0525, 112.4705], [23.0525, 112.4595]]


def make_config(tmp_path, vehicles=("d1", "d2"), broken=(), inbox_size=1000):
    entries = [{"id": v, "url": f"tcp:127.0.0.1:{5760 + 10 * i}"} for i, v in enumerate(vehicles)]
    entries += [{"id": b, "url": f"serial:/dev/missing-{b}"} for b in broken]
    return parse_config({
        "station": {"storage_path": str(tmp_path / "station.sqlite"), "tlog_dir": str(tmp_path / "tlogs"),
                    "inbox_size": inbox_size},
        "vehicles": entries,
        "geofence": {"inclusion": FENCE},
    })



class Harness:
    def __init__(self, tmp_path, clock=time.time, **config_kw):
        self.config = make_config(tmp_path, **config_kw)
        self.fleet: FakeFleet | None = None
        broken = frozenset(v.url for v in self.config.vehicles if v.url.startswith("serial:"))

        def factory(on_event):
            self.fleet = FakeFleet(on_event, broken)
            return self.fleet

        self.station = Station(self.config, fleet_factory=factory, clock=clock)
        self.db = self.config.station.storage_path

    def __enter__(self):
        self.station.start()
        return self

    def __exit__(self, *exc):
        self.station.stop()

    def ready(self, *vehicle_ids, **state):
        for vid in vehicle_ids:
            self.fleet.link(vid, True)
            self.fleet.state(vid, **state)
        wait_for(lambda: all(getattr(self.station.snapshot().get(v), "link_up", False) for v in vehicle_ids))
        assert self.station.flush()

    def ask(self, vid, action, args=None, timeout_s=10.0):
        return self.station.request(CommandRequest(vid, action, args or {}, "tester")).result(timeout_s)

    def reader(self):
        self.station.flush()
        return StorageReader(self.db)


def test_an_accepted_command_is_audited_before_it_is_sent_and_its_result_recorded(tmp_path):
    with Harness(tmp_path) as h:
        h.ready("d1")
        seen_in_db_when_sent = []

        def arm():
            with StorageReader(h.db) as r:  # what a crash at this instant would leave behind
                seen_in_db_when_sent.append([c["action"] for c in r.commands("d1")])
            from telemetry.records import CommandAck
            return CommandAck(400, 0, "MAV_RESULT_ACCEPTED", 2, 0.123)

        h.fleet.vehicles["d1"].behaviour["arm"] = arm
        outcome = h.ask("d1", "arm")
        assert outcome.ok and outcome.result_name == "MAV_RESULT_ACCEPTED"
        assert seen_in_db_when_sent == [["arm"]], "write-ahead audit: the row is committed before sending"
        with h.reader() as r:
            (row,) = r.commands("d1")
            assert (row["decision"], row["status"], row["requested_by"]) == ("sent", "accepted", "tester")
            assert (row["command"], row["attempts"], row["round_trip_s"]) == (400, 2, 0.123)
            decisions = r.events("d1", kind="decision")
            assert decisions and "sending arm" in decisions[0]["text"]


def test_a_refused_command_is_recorded_with_why_and_never_reaches_the_vehicle(tmp_path):
    with Harness(tmp_path) as h:
        h.ready("d1", armed=True, alt_rel_m=30.0)
        outcome = h.ask("d1", "goto", {"lat_deg": 23.06, "lon_deg": HOME[1], "alt_rel_m": 30})
        assert outcome.status == "refused_by_station" and "outside the geofence" in outcome.reason
        outcome = h.ask("d1", "takeoff", {"alt_rel_m": 500})
        assert "above the limit of 120 m" in outcome.reason
        assert h.fleet.vehicles["d1"].calls == []
        with h.reader() as r:
            assert [c["decision"] for c in r.commands("d1")] == ["refused", "refused"]


def test_vehicle_refusals_and_timeouts_carry_the_protocol_result(tmp_path):
    with Harness(tmp_path) as h:
        h.ready("d1")
        v = h.fleet.vehicles["d1"]

        def refuse():
            raise CommandRefused(400, "MAV_CMD_COMPONENT_ARM_DISARM", 4, "MAV_RESULT_FAILED", "PreArm: Need Position Estimate")

        def silent(name):
            raise CommandTimeout(176, "MAV_CMD_DO_SET_MODE", 3, 1.5)

        v.behaviour["arm"] = refuse
        v.behaviour["set_mode"] = silent
        outcome = h.ask("d1", "arm")
        assert (outcome.status, outcome.result, outcome.result_name) == ("refused_by_vehicle", 4, "MAV_RESULT_FAILED")
        outcome = h.ask("d1", "set_mode", {"mode": "LOITER"})
        assert outcome.status == "failed" and "no COMMAND_ACK after 3 attempts" in outcome.reason
        with h.reader() as r:
            arm = [c for c in r.commands("d1") if c["action"] == "arm"][0]
            assert arm["result_name"] == "MAV_RESULT_FAILED" and "Need Position Estimate" in arm["error"]
            mode = [c for c in r.commands("d1") if c["action"] == "set_mode"][0]
            assert mode["status"] == "failed" and mode["command"] == 176


def test_a_vehicle_that_vanishes_mid_command_fails_that_command_only(tmp_path):
    with Harness(tmp_path) as h:
        h.ready("d1", "d2", armed=True, alt_rel_m=30.0)
        gone = threading.Event()

        def vanish(*args):
            h.fleet.link("d1", False, "no heartbeat for 3 s")  # the link thread notices
            gone.set()
            raise LinkDown("d1: link lost while waiting for COMMAND_ACK")

        h.fleet.vehicles["d1"].behaviour["goto"] = vanish
        outcome = h.ask("d1", "goto", {"lat_deg": 23.0450, "lon_deg": 112.4630, "alt_rel_m": 30})
        assert outcome.status == "failed" and "link lost" in outcome.reason
        assert gone.is_set()
        wait_for(lambda: not h.station.snapshot()["d1"].link_up)
        assert "link to the vehicle is down" in h.ask("d1", "rtl").reason
        assert h.ask("d2", "rtl").ok, "the other vehicle is unaffected"
        with h.reader() as r:
            assert [l["up"] for l in r.link_changes("d1")] == [1, 0]
            assert r.command(outcome.request_id)["error"].startswith("d1: link lost")


def test_a_flapping_link_is_recorded_change_by_change(tmp_path):
    with Harness(tmp_path) as h:
        h.ready("d1")
        for i in range(100):
            h.fleet.link("d1", i % 2 == 1, f"flap {i}")
        h.station.flush()
        wait_for(lambda: h.station.snapshot()["d1"].link_up)
        assert h.ask("d1", "land").ok
        with h.reader() as r:
            ups = [l["up"] for l in r.link_changes("d1")]
            assert ups == [1] + [0, 1] * 50


def test_a_broken_config_entry_does_not_stop_the_station(tmp_path):
    with Harness(tmp_path, vehicles=("d1",), broken=("bad",)) as h:
        h.ready("d1")
        assert "link to the vehicle is down" in h.ask("bad", "arm").reason
        assert h.ask("d1", "arm").ok
        assert "unknown vehicle" in h.ask("nobody", "arm").reason
        with h.reader() as r:
            (event,) = [e for e in r.events("bad") if e["severity"] == "error"]
            assert "cannot open serial:/dev/missing-bad" in event["text"]
            assert {v["vehicle_id"] for v in r.vehicles()} == {"d1", "bad"}


def test_state_updates_are_coalesced_and_the_latest_wins(tmp_path):
    with Harness(tmp_path) as h:
        h.ready("d1")
        n = 5000

        def link_thread():
            for i in range(n):
                h.fleet.state("d1", alt_rel_m=float(i))

        t = threading.Thread(target=link_thread)
        t.start()
        t.join()
        wait_for(lambda: h.station.snapshot()["d1"].alt_rel_m == float(n - 1))
        c = h.station.counters()
        assert c.state_updates_received == n + 1
        assert c.inbox_overflowed == 0, "state updates never take queue space beyond one wake-up"
        with h.reader() as r:
            assert r.counts()["events"] < 20, "plain state updates are not recorded"


def test_the_core_sees_the_state_a_command_left_the_vehicle_in_before_its_result(tmp_path):
    """The link's StateUpdated may reach the inbox after the command's result: the station passes on the state the
    command saw too (an arm confirmed from HEARTBEAT: armed), so the next command is checked against it."""
    with Harness(tmp_path) as h:
        h.ready("d1")
        vehicle = h.fleet.get("d1")
        vehicle.state = ready_state("d1", armed=True, mode="GUIDED", messages_received=50)
        assert h.ask("d1", "arm").ok
        assert h.ask("d1", "takeoff", {"alt_rel_m": 20}).ok, "checked against the armed state, not the link's older one"
        h.fleet.state("d1", armed=False, mode="GUIDED", messages_received=40)  # the link's late, older state
        h.station.flush()
        assert h.station.snapshot()["d1"].armed, "an older state never replaces a newer one"


class GatedClock:
    """A clock the core thread calls for every event; closing the gate stalls the core (to fill its inbox)."""

    def __init__(self):
        self.gate = threading.Event()
        self.gate.set()
        self.stalled = threading.Event()

    def __call__(self):
        if threading.current_thread().name == "station-core" and not self.gate.is_set():
            self.stalled.set()
            self.gate.wait()
        return time.time()


def test_a_full_inbox_refuses_operator_commands_but_loses_no_event(tmp_path):
    clock = GatedClock()
    with Harness(tmp_path, clock=clock, inbox_size=10) as h:
        h.ready("d1")
        clock.gate.clear()
        h.fleet.state("d1", alt_rel_m=1.0)
        assert clock.stalled.wait(10)  # the core is now stuck inside one event
        futures = [h.station.request(CommandRequest("d1", "land", {}, "op")) for _ in range(8)]
        refused = [f.result(0) for f in futures if f.done()]
        assert len(refused) == 3 and all(f.done() for f in futures[5:]) and all("inbox full" in o.reason for o in refused)
        for i in range(60):  # link events keep coming while the inbox is full
            h.fleet.link("d1", i % 2 == 1, f"flap {i}")
        assert h.station.counters().inbox_overflowed > 0
        clock.gate.set()
        admitted = [f.result(10) for f in futures[:5]]
        assert all(o.ok for o in admitted), admitted  # handled before the link events queued after them
        h.station.flush()
        with h.reader() as r:
            assert len(r.link_changes("d1")) == 1 + 60, "every link change recorded, in order"
            assert [l["reason"] for l in r.link_changes("d1")][1:] == [f"flap {i}" for i in range(60)]
            refusals = r.commands("d1", decision="refused")
            assert len(refusals) == 3 and all("inbox full" in c["reason"] for c in refusals)


def test_garbage_from_a_link_is_recorded_and_the_station_keeps_running(tmp_path):
    with Harness(tmp_path) as h:
        h.ready("d1")
        h.fleet.on_event(object())  # a lower layer bug: not an event the core knows
        h.fleet.on_event(None)
        assert h.ask("d1", "rtl").ok
        with h.reader() as r:
            assert len(r.events(kind="internal")) == 2


def test_stop_then_request_is_refused_and_stop_is_idempotent(tmp_path):
    h = Harness(tmp_path)
    h.station.start()
    h.ready("d1")
    h.station.stop()
    h.station.stop()
    assert h.fleet.closed.is_set()
    outcome = h.station.request(CommandRequest("d1", "rtl")).result(0)
    assert outcome.status == "refused_by_station" and "not running" in outcome.reason


def test_a_command_in_flight_when_stopping_gets_its_result_recorded(tmp_path):
    h = Harness(tmp_path)
    h.station.start()
    h.ready("d1")
    release = threading.Event()
    started = threading.Event()

    def slow_land():
        started.set()
        release.wait(10)
        raise LinkDown("fleet closed")

    h.fleet.vehicles["d1"].behaviour["land"] = slow_land
    future = h.station.request(CommandRequest("d1", "land"))
    assert started.wait(10)
    stopper = threading.Thread(target=h.station.stop)
    stopper.start()
    release.set()
    stopper.join(20)
    assert future.result(0).status == "failed"
    with StorageReader(h.db) as r:
        (row,) = r.commands("d1")
        assert row["status"] == "failed" and row["error"] == "fleet closed"


def test_a_request_the_core_fails_on_still_gets_an_outcome_and_an_audit_row(tmp_path, monkeypatch):
    """The last guard in the shell: even if the core itself raised, the request's Future resolves (refused, with the
    error) and the refusal is in the audit trail; the station keeps handling requests."""
    from groundstation.shell import station as shell

    real = shell.handle

    def handle(state, event, now_s):
        if isinstance(event, CommandRequest) and event.action == "takeoff":
            raise RuntimeError("core bug")
        return real(state, event, now_s)

    monkeypatch.setattr(shell, "handle", handle)
    with Harness(tmp_path) as h:
        h.ready("d1")
        outcome = h.ask("d1", "takeoff", {"alt_rel_m": 10})
        assert outcome.status == "refused_by_station" and "RuntimeError: core bug" in outcome.reason
        assert h.ask("d1", "arm").ok, "the station keeps working"
        with h.reader() as r:
            (row,) = [c for c in r.commands("d1") if c["action"] == "takeoff"]
        assert row["decision"] == "refused" and "core bug" in row["reason"]


def test_the_feed_numbers_every_recorded_row_and_state_and_a_view_pairs_with_it(tmp_path):
    with Harness(tmp_path) as h:
        seen = []
        h.station.feed.subscribe(seen.append)
        h.ready("d1")
        view = h.station.view()
        assert view["vehicles"]["d1"]["link_up"] is True and view["seq"] == h.station.feed.seq
        assert h.ask("d1", "arm").ok
        h.station.flush()
        later = h.station.feed.since(view["seq"])
        kinds = [i["kind"] for i in later]
        assert "command" in kinds and "command_result" in kinds, kinds
        (result,) = [i for i in later if i["kind"] == "command_result"]
        assert result["data"]["status"] == "accepted"
        assert [i["seq"] for i in seen] == list(range(seen[0]["seq"], seen[0]["seq"] + len(seen))), "no gaps"
        assert seen[-len(later):] == later
        assert {i["kind"] for i in seen} >= {"vehicle", "link", "event"}
        assert h.station.feed.since(h.station.feed.seq) == []
        assert h.station.feed.since(10**9) is None, "a number from another run of the station: reload"


def test_a_feed_number_too_old_asks_for_a_new_snapshot():
    from groundstation.shell.feed import Feed

    feed = Feed(capacity=3)
    for i in range(5):
        feed.publish("event", float(i), {"i": i})
    assert feed.since(0) is None and [i["data"]["i"] for i in feed.since(2)] == [2, 3, 4]
