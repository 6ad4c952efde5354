"""Routing alerts to grid officers, retries and escalation, pure: the core driven with an explicit clock (the patrol
Tick), every delivery answered by the test as the shell would. No threads, no sockets, no sleep."""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import pytest

from groundstation.core import notices
from groundstation.core.dispatch import handle
from groundstation.core.notice_data import (
    Deliver,
    DeliveryFinished,
    DeliveryRow,
    EscalationRow,
    GridLoaded,
    GridRow,
    NoticeAckRow,
    NoticePolicy,
    NoticeRow,
)
from groundstation.core.patrols import Tick
from groundstation.core.policy import Policy
from groundstation.core.records import CommandRequest, CommandRow, EventRow, Record, Reply, VehicleConfigured
from groundstation.core.response_data import AlertRow
from groundstation.core.state import StationState, initial_state
from missions.grid import grid_from_text
from telemetry.records import LinkChanged, StateUpdated, VehicleState
from tests.grid.city import at, geojson, units

GRID = grid_from_text(geojson(units()))
T0 = 10_000.0


def policy(**kw: Any) -> NoticePolicy:
    base = dict(grid=GRID, zone_cells=MappingProxyType({"plaza": ("cell-a", "cell-b"), "market": ("cell-e",)}))
    base.update(kw)
    return NoticePolicy(**base)


@dataclass
class Desk:
    """The core with a clock; `failing` channels (or addresses) fail every attempt with `reason`."""

    notice_policy: NoticePolicy = field(default_factory=policy)
    now_s: float = T0
    state: StationState = None  # type: ignore[assignment]
    actions: list = field(default_factory=list)
    delivers: list[Deliver] = field(default_factory=list)
    failing: set[str] = field(default_factory=set)
    answer: bool = True  # answer each Deliver at once (as a quick channel would)

    def __post_init__(self) -> None:
        self.state = initial_state(Policy(), notice_policy=self.notice_policy)

    def __call__(self, event: Any) -> list:
        self.state, actions = handle(self.state, event, self.now_s)
        self._take(actions)
        return actions

    def _take(self, actions: list) -> None:
        self.actions.extend(actions)
        for a in actions:
            if isinstance(a, Deliver):
                self.delivers.append(a)
                if self.answer:
                    bad = a.channel in self.failing or a.address in self.failing
                    self(DeliveryFinished(a.delivery_id, a.attempt, not bad, "connection refused" if bad else "",
                                          "" if bad else "HTTP 200", 0.05))

    def alert(self, kind: str = "crowd", zone_id: str | None = "plaza", vehicle_id: str | None = None,
              **data: Any) -> AlertRow:
        """An alert as a concern records it; routed the way dispatch routes every event's alerts."""
        alert = AlertRow(f"a{len(self.actions)}:{kind}", self.now_s, kind, "warning", f"{kind} in {zone_id}",
                         zone_id, vehicle_id, None, data)
        self.state, more = notices.on_actions(self.state, [Record(alert)], self.now_s)
        self._take(more)
        return alert

    def until(self, t_s: float) -> None:
        while self.now_s < t_s:
            self.now_s = min(t_s, self.now_s + 1.0)
            self(Tick())

    def ack(self, by: str = "officer:cell-a.officer", **args: Any):
        actions = self(CommandRequest("", "acknowledge_notice", args, requested_by=by,
                                      request_id=f"ack-{len(self.actions)}"))
        (reply,) = [a for a in actions if isinstance(a, Reply)]
        return reply.outcome

    def rows(self, kind: type) -> list:
        return [a.row for a in self.actions if isinstance(a, Record) and isinstance(a.row, kind)]

    def told(self) -> list[tuple[str, str]]:
        """(officer, channel) of each first attempt, in order."""
        return [(d.message.officer_id, d.channel) for d in self.delivers if d.attempt == 1]


# --- routing ------------------------------------------------------------------------------------------------------


def _vehicle_in_cell_e(desk: Desk) -> None:
    desk(VehicleConfigured("d1", "tcp:x:1"))
    desk(LinkChanged("d1", True, "heartbeat", 0.0))
    lat, lon = at(300, 100)
    desk(StateUpdated(VehicleState(vehicle_id="d1", system_id=1, link_up=True, lat_deg=lat, lon_deg=lon,
                                   gps_fix_type=3), 0.0))


@pytest.mark.parametrize("alert, expected", [
    (dict(lat_deg=at(50, 50)[0], lon_deg=at(50, 50)[1]), ["cell-a"]),  # its position, not its zone
    (dict(kind="fever_hint", people=[{"lat_deg": at(20, 20)[0], "lon_deg": at(20, 20)[1]},
                                     {"lat_deg": at(150, 20)[0], "lon_deg": at(150, 20)[1]},
                                     {"lat_deg": at(30, 20)[0], "lon_deg": at(30, 20)[1]}]), ["cell-a", "cell-b"]),
    (dict(zone_id="grid:cell-b"), ["cell-b"]),  # a cell's own zone
    (dict(zone_id="plaza"), ["cell-a", "cell-b"]),  # a counting zone: the cells it covers
    (dict(zone_id="market", lat_deg=at(900, 900)[0], lon_deg=at(900, 900)[1]), ["cell-e"]),  # outside: by zone
    (dict(zone_id=None, vehicle_id="d1"), ["cell-e"]),  # a drone in trouble: where it is
    (dict(zone_id="nowhere"), []),
])
def test_an_alert_goes_to_the_officer_of_the_cell_it_happened_in(alert, expected):
    desk = Desk()
    _vehicle_in_cell_e(desk)
    row = desk.alert(**alert)
    assert [n.unit_id for n in desk.rows(NoticeRow)] == expected
    assert all(n.alert_id == row.alert_id and n.level == "cell" and n.status == "open" for n in desk.rows(NoticeRow))
    if not expected:
        assert any("in no grid cell" in e.text for e in desk.rows(EventRow))


def test_each_channel_of_the_officer_gets_the_notice():
    desk = Desk()
    desk.alert(lat_deg=at(50, 50)[0], lon_deg=at(50, 50)[1])
    assert desk.told() == [("cell-a.officer", "webhook"), ("cell-a.officer", "email")]
    assert [d.address for d in desk.delivers] == ["https://hooks.example.org/li-na", "li.na@example.org"]
    message = desk.delivers[0].message
    assert (message.unit_name, message.level, message.officer_name) == ("Cell A", "cell", "Li Na")
    assert sorted((r.channel, r.status, r.attempt) for r in desk.rows(DeliveryRow)) == [
        ("email", "delivered", 1), ("email", "sending", 1), ("webhook", "delivered", 1), ("webhook", "sending", 1)]


def test_two_cells_of_one_officer_make_one_notice():
    features = [f for f in units() if f["id"] != "cell-b"] + [_cell_b_of_li_na()]
    for f in features:
        if f["id"] == "cell-a":
            f["properties"]["officer_id"] = "li-na"
    desk = Desk(policy(grid=grid_from_text(geojson(features))))
    desk.alert(zone_id="plaza")
    assert [n.unit_id for n in desk.rows(NoticeRow)] == ["cell-a"]


def _cell_b_of_li_na() -> dict:
    (b,) = [f for f in units() if f["id"] == "cell-b"]
    (a,) = [f for f in units() if f["id"] == "cell-a"]
    props = {**b["properties"], **{k: a["properties"][k] for k in ("officer", "webhook", "email")},
             "officer_id": "li-na"}
    return {**b, "properties": props}


@pytest.mark.parametrize("kinds, kind, routed", [
    (None, "crowd", True), (None, "escalation", True), (frozenset({"fever_hint"}), "crowd", False),
    (frozenset({"fever_hint"}), "fever_hint", True), (None, "notice_failed", False),
    (None, "notice_unanswered", False),
])
def test_the_policy_says_which_alerts_go_to_officers(kinds, kind, routed):
    desk = Desk(policy(alert_kinds=kinds))
    desk.alert(kind=kind, zone_id="grid:cell-a")
    assert bool(desk.rows(NoticeRow)) is routed


def test_without_a_grid_alerts_stay_with_the_operators():
    desk = Desk(NoticePolicy())
    desk.alert(zone_id="plaza")
    assert desk.actions == []


def test_the_grid_in_force_is_recorded():
    desk = Desk()
    desk(GridLoaded("config/grid.geojson"))
    (row,) = desk.rows(GridRow)
    assert row.grid is GRID and row.source == "config/grid.geojson"
    assert "3 cell(s)" in desk.rows(EventRow)[-1].text


# --- retries ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backoff, attempts, expected_at", [
    (dict(retry_backoff_s=5.0, retry_backoff_factor=2.0, retry_backoff_max_s=300.0), 4, [0, 5, 15, 35]),
    (dict(retry_backoff_s=10.0, retry_backoff_factor=3.0, retry_backoff_max_s=40.0), 4, [0, 10, 40, 80]),
    (dict(retry_backoff_s=1.0, retry_backoff_factor=1.0, retry_backoff_max_s=1.0), 3, [0, 1, 2]),
    (dict(), 1, [0]),
])
def test_a_failed_delivery_is_retried_with_backoff_then_reported(backoff, attempts, expected_at):
    desk = Desk(policy(max_attempts=attempts, **backoff), failing={"https://hooks.example.org/li-na"})
    desk.alert(zone_id="grid:cell-a")
    desk.until(T0 + 200)
    tries = [d for d in desk.delivers if d.channel == "webhook" and d.message.officer_id == "cell-a.officer"]
    assert [round(desk_time - T0) for desk_time in _sent_at(desk, tries)] == expected_at
    failed = [r for r in desk.rows(DeliveryRow) if r.channel == "webhook" and r.status == "failed"]
    assert [r.attempt for r in failed] == list(range(1, attempts + 1))
    assert all(r.reason == "connection refused" for r in failed)
    assert [r.retry_at_s is None for r in failed] == [False] * (attempts - 1) + [True]
    (alert,) = [a for a in desk.rows(AlertRow) if a.kind == "notice_failed"]
    assert "li-na" in alert.text and f"after {attempts} attempt(s): connection refused" in alert.text
    assert alert.data["channel"] == "webhook"
    assert any(e.severity == "error" and "could not be delivered" in e.text for e in desk.rows(EventRow))


def _sent_at(desk: Desk, delivers: list[Deliver]) -> list[float]:
    sending = {(r.delivery_id, r.attempt): r.at_s for r in desk.rows(DeliveryRow) if r.status == "sending"}
    return [sending[(d.delivery_id, d.attempt)] for d in delivers]


def test_a_channel_that_works_keeps_the_notice_at_its_level():
    desk = Desk(policy(max_attempts=2), failing={"webhook"})
    desk.alert(zone_id="grid:cell-a")
    desk.until(T0 + 60)
    assert desk.rows(EscalationRow) == []  # the e-mail reached the officer: wait for the acknowledgement


def test_when_no_channel_reaches_the_officer_the_notice_climbs_at_once():
    desk = Desk(policy(max_attempts=2, retry_backoff_s=5.0), failing={"https://hooks.example.org/li-na",
                                                                     "li.na@example.org"})
    desk.alert(zone_id="grid:cell-a")
    desk.until(T0 + 10)
    (esc,) = desk.rows(EscalationRow)
    assert (esc.from_unit, esc.to_unit, esc.at_s) == ("cell-a", "plaza-c", T0 + 5)
    assert "no channel reached officer cell-a.officer" in esc.reason
    assert desk.told()[-2:] == [("plaza-c.officer", "webhook"), ("plaza-c.officer", "email")]


# --- escalation ---------------------------------------------------------------------------------------------------


def test_an_unacknowledged_notice_climbs_level_by_level_then_is_unanswered():
    timeouts = {"cell": 60.0, "community": 120.0, "street": 180.0, "district": 240.0}
    desk = Desk(policy(ack_timeout_s=MappingProxyType(timeouts)))
    desk.alert(zone_id="grid:cell-b")
    desk.until(T0 + 1000)
    assert [(e.from_unit, e.to_unit, e.at_s - T0) for e in desk.rows(EscalationRow)] == [
        ("cell-b", "plaza-c", 60), ("plaza-c", "chengdong", 180), ("chengdong", "duanzhou", 360)]
    assert all("not acknowledged within" in e.reason for e in desk.rows(EscalationRow))
    assert [o for o, _ in desk.told()] == ["cell-b.officer", "plaza-c.officer", "plaza-c.officer",
                                           "chengdong.officer", "duanzhou.officer", "duanzhou.officer"]
    last = desk.rows(NoticeRow)[-1]
    assert (last.status, last.unit_id, last.at_s - T0, last.escalations) == ("unanswered", "duanzhou", 600, 3)
    (alert,) = [a for a in desk.rows(AlertRow) if a.kind == "notice_unanswered"]
    assert alert.severity == "critical" and "not acknowledged by any officer (4 told)" in alert.text
    escalated = [d.message for d in desk.delivers if d.message.officer_id == "duanzhou.officer"][0]
    assert "not acknowledged by Huang Min (street Chengdong)" in escalated.escalated_from


def test_a_level_whose_officer_was_told_already_is_passed_over():
    desk = Desk(policy(ack_timeout_s=MappingProxyType({"cell": 30.0, "community": 30.0, "street": 30.0,
                                                       "district": 30.0})))
    desk.alert(zone_id="grid:cell-e")  # Sun Li has cell-e and its community
    desk.until(T0 + 31)
    (esc,) = desk.rows(EscalationRow)
    assert (esc.from_unit, esc.to_unit) == ("cell-e", "chengdong")
    assert "passing over Sun Li (community Market C): told already" in esc.reason


# --- acknowledgement ----------------------------------------------------------------------------------------------


def test_the_officers_acknowledgement_ends_the_notice():
    desk = Desk(policy(ack_timeout_s=MappingProxyType({"cell": 60.0, "community": 60.0, "street": 60.0,
                                                       "district": 60.0})), failing={"webhook"})
    desk.alert(zone_id="grid:cell-a")
    nid = desk.rows(NoticeRow)[0].notice_id
    desk.until(T0 + 20)
    outcome = desk.ack(notice_id=nid, via="callback", officer_id="cell-a.officer", token_valid=True, note="on my way")
    assert outcome.ok, outcome.reason
    (ack,) = desk.rows(NoticeAckRow)
    assert (ack.by, ack.via, ack.officer_id, ack.note, ack.at_s) == ("officer:cell-a.officer", "callback",
                                                                      "cell-a.officer", "on my way", T0 + 20)
    assert desk.rows(NoticeRow)[-1].status == "acknowledged"
    cancelled = [r for r in desk.rows(DeliveryRow) if r.status == "cancelled"]
    assert [(r.channel, r.attempt) for r in cancelled] == [("webhook", 4)]  # the retry due at T0 + 35
    audit = [r for r in desk.rows(CommandRow) if r.action == "acknowledge_notice"]
    assert audit[0].decision == "sent" and audit[0].requested_by == "officer:cell-a.officer"
    sent = len(desk.delivers)
    desk.until(T0 + 400)
    assert desk.rows(EscalationRow) == [] and len(desk.delivers) == sent


@pytest.mark.parametrize("args, by, reason", [
    (dict(via="callback", officer_id="cell-a.officer", token_valid=False), "officer:x", "not valid (bad token)"),
    (dict(via="callback", officer_id="duanzhou.officer", token_valid=True), "officer:x", "was not sent it"),
    (dict(via="fax"), "alice", "via must be operator or callback"),
    (dict(colour="red"), "alice", "unexpected argument(s) for acknowledge_notice: colour"),
])
def test_an_acknowledgement_that_does_not_hold_is_refused_and_recorded(args, by, reason):
    desk = Desk()
    desk.alert(zone_id="grid:cell-a")
    nid = desk.rows(NoticeRow)[0].notice_id
    outcome = desk.ack(by=by, notice_id=nid, **args)
    assert outcome.status == "refused_by_station" and reason in outcome.reason
    assert desk.rows(NoticeAckRow) == []
    assert [r.decision for r in desk.rows(CommandRow)] == ["refused"]


def test_an_operator_acknowledges_every_notice_of_an_alert_once():
    desk = Desk()
    alert = desk.alert(zone_id="plaza")
    assert desk.ack(by="alice", alert_id=alert.alert_id).ok
    assert sorted(a.notice_id.split("@")[1] for a in desk.rows(NoticeAckRow)) == ["cell-a", "cell-b"]
    assert {a.via for a in desk.rows(NoticeAckRow)} == {"operator"}
    again = desk.ack(by="bob", alert_id=alert.alert_id)
    assert not again.ok and "already acknowledged by alice" in again.reason
    unknown = desk.ack(by="bob", notice_id="no-such-notice")
    assert not unknown.ok and "no such notice" in unknown.reason


def test_an_unanswered_notice_can_still_be_acknowledged_then_is_forgotten():
    desk = Desk(policy(ack_timeout_s=MappingProxyType({"cell": 10.0, "community": 10.0, "street": 10.0,
                                                       "district": 10.0}), forget_after_s=100.0))
    desk.alert(zone_id="grid:cell-a")
    desk.until(T0 + 45)
    assert desk.rows(NoticeRow)[-1].status == "unanswered"
    nid = desk.rows(NoticeRow)[-1].notice_id
    assert desk.ack(by="alice", notice_id=nid).ok
    desk.until(T0 + 200)
    assert desk.state.notices.notices == {}
    late = desk.ack(by="alice", notice_id=nid)
    assert not late.ok and "no such notice" in late.reason
