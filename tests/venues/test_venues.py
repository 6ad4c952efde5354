"""Venue occupancy, pure (core/venues.py): entries and exits at the entrances, the limit, its alert (routed to the
venue's cell officer like every alert), the floor at 0, an operator's recount; and the shell's entrance lines counting
every analysed frame before the inbox keeps only the latest (shell/venue_lines.py)."""
from __future__ import annotations

import pytest

from groundstation.config import ConfigError, parse_config
from groundstation.core import crowds as cr
from groundstation.core.notice_data import NoticeRow
from groundstation.core.records import CommandRow, EventRow
from groundstation.core.response_data import AlertRow
from groundstation.core.venue_data import VenueCountRow, VenueCrossed
from groundstation.shell.venue_lines import VenueLines
from tests.risk.world import T0, Desk
from vision.records import Detection, FrameResult


def test_occupancy_follows_the_entrances_and_passing_the_limit_is_alerted_once():
    desk = Desk()
    desk(VenueCrossed("hall", "hall-door", 6, 0, T0, T0))
    desk(VenueCrossed("hall", "hall-door", 5, 1, T0 + 1, T0 + 2))  # 10: at the limit, not over
    assert desk.state.venues.venues["hall"].occupancy == 10 and not desk.rows(AlertRow)
    desk(VenueCrossed("hall", "hall-door", 2, 0, T0 + 3, T0 + 3))
    desk(VenueCrossed("hall", "hall-door", 1, 0, T0 + 4, T0 + 4))
    (alert,) = desk.rows(AlertRow)
    assert alert.kind == "venue_over_limit" and alert.text == "venue Market hall holds 12 people, over its limit of 10"
    assert [r.occupancy for r in desk.rows(VenueCountRow)] == [6, 10, 12, 13]
    assert [r.over_limit for r in desk.rows(VenueCountRow)] == [False, False, True, True]
    (notice,) = desk.rows(NoticeRow)  # the alert goes to the officer of the cell the venue stands in
    assert notice.unit_id == "cell-e"
    desk(VenueCrossed("hall", "hall-door", 0, 4, T0 + 5, T0 + 5))
    assert any(e.kind == "venue" and e.text.startswith("venue Market hall back to 9 people (limit 10)")
               for e in desk.rows(EventRow))


def test_more_exits_than_entries_hold_occupancy_at_zero_and_say_so():
    desk = Desk()
    desk(VenueCrossed("hall", "hall-door", 1, 3, T0, T0))
    assert desk.state.venues.venues["hall"].occupancy == 0
    (row,) = desk.rows(VenueCountRow)
    assert row.occupancy == 0 and "2 more people left than were counted in" in row.note
    assert any(e.severity == "warning" and "recount with set_venue_occupancy" in e.text for e in desk.rows(EventRow))


def test_a_recount_is_checked_audited_and_judged():
    desk = Desk()
    for args, why in [(dict(venue_id="nope", occupancy=3), "no venue 'nope' (known: hall)"),
                      (dict(venue_id="hall", occupancy=-1), "occupancy must be a whole number"),
                      (dict(venue_id="hall", occupancy="3"), "occupancy must be a whole number"),
                      (dict(venue_id="hall", occupancy=3, people=3), "unexpected argument")]:
        outcome = desk.request("set_venue_occupancy", by="operator:amy", **args)
        assert outcome.status == "refused_by_station" and why in outcome.reason
    outcome = desk.request("set_venue_occupancy", by="operator:amy", venue_id="hall", occupancy=14, note="door count")
    assert outcome.ok and outcome.reason == "venue Market hall: occupancy 0 -> 14 (door count)"
    assert desk.rows(AlertRow)[0].kind == "venue_over_limit"
    assert desk.rows(VenueCountRow)[-1].note == "recount by operator:amy: door count"
    assert [c.decision for c in desk.rows(CommandRow)] == ["refused"] * 4 + ["sent"]


def test_unknown_venue_crossings_are_noted_not_lost():
    desk = Desk()
    desk(VenueCrossed("nowhere", "door", 1, 0, T0, T0))
    assert any("unknown venue 'nowhere'" in e.text for e in desk.rows(EventRow))


def _config(tmp_path):
    return parse_config({
        "station": {"storage_path": str(tmp_path / "s.sqlite")},
        "vehicles": [{"id": "d1", "url": "tcp:127.0.0.1:5760"}],
        "cameras": [{"id": "door-cam", "vehicle_id": "d1", "source": "rtsp://127.0.0.1/door",
                     "model_path": str(tmp_path / "m.pt")}],
        "venues": [{"id": "hall", "name": "Market hall", "limit_persons": 10, "position": [23.0469, 112.4651],
                    "entrances": [{"id": "hall-door", "camera": "door-cam", "line": [[100, 0], [100, 200]],
                                   "inside": "right"}]}],
    })


def frame(stream: str, index: int, *feet: tuple[int, float]) -> cr.VisionObserved:
    dets = tuple(Detection(x - 10, 50, x + 10, 100, 0.9, tid) for tid, x in feet)
    return cr.VisionObserved(stream, FrameResult(stream, index, T0 + index * 0.1, dets, len(dets), len(dets), "t"))


def test_the_shell_counts_every_frame_before_the_inbox_coalesces_them(tmp_path):
    (tmp_path / "m.pt").write_bytes(b"")
    events, queued = [], []
    lines = VenueLines(_config(tmp_path), events.append)
    put = lines.tap(lambda key, item, merge=None: queued.append(item))
    put("door-cam", frame("door-cam", 0, (1, 150.0), (2, 40.0)))
    put("door-cam", frame("door-cam", 1, (1, 60.0), (2, 140.0)))  # 1 walks in, 2 walks out
    put("door-cam", frame("door-cam", 2, (1, 50.0), (2, 150.0)))  # nothing new
    put("other-cam", frame("other-cam", 0, (7, 150.0)))
    put("other-cam", frame("other-cam", 1, (7, 50.0)))  # no entrance on this camera
    assert len(queued) == 5  # every result still goes on to the inbox
    assert events == [VenueCrossed("hall", "hall-door", 1, 1, T0 + 0.1, T0 + 0.1, "door-cam")]


def test_every_mistake_in_the_venues_is_listed(tmp_path):
    raw = {"station": {"storage_path": str(tmp_path / "s.sqlite")},
           "vehicles": [{"id": "d1", "url": "tcp:127.0.0.1:5760"}],
           "venues": [{"id": "hall", "limit_persons": 10, "position": [23.0, 112.0],
                       "entrances": [{"id": "d", "camera": "nope", "line": [[0, 0], [1, 0]]}]},
                      {"id": "hall", "limit_persons": 5, "position": [23.0, 112.0],
                       "entrances": [{"id": "d", "camera": "nope", "line": [[0, 0], [0, 100]]}]}]}
    with pytest.raises(ConfigError) as err:
        parse_config(raw)
    problems = "\n".join(err.value.problems)
    assert "venues.0.entrances.0.line: the line's two points must be at least 2 px apart" in problems
    assert "venues.1.id: duplicate id 'hall'" in problems
    assert "venues.1.entrances.0.id: duplicate entrance id 'd'" in problems
    assert "venues.0.entrances.0.camera: no camera 'nope' in [[cameras]]" in problems
