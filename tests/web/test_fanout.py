"""The live updates' join protocol (web/fanout.py), with a recording stand-in for Socket.IO: a page that loads the
view and joins at any moment, while the station publishes, applies every item after its view exactly once."""
from __future__ import annotations

import random
import threading

from web.fakes import FakeStation
from web.fanout import ROOM, Fanout
from web.port import Acknowledgement


class RecordingSocketIO:
    """Delivers each emit to the pages it is addressed to (a room or one sid), in order, like Socket.IO."""

    def __init__(self) -> None:
        self.rooms: dict[str, set[str]] = {}
        self.received: dict[str, list[tuple[str, dict]]] = {}
        self.server = self

    def enter_room(self, sid: str, room: str, namespace: str = "/") -> None:
        self.rooms.setdefault(room, set()).add(sid)

    def emit(self, event: str, data: dict, to: str) -> None:
        for sid in sorted(self.rooms.get(to, {to})):
            self.received.setdefault(sid, []).append((event, data))

    def start_background_task(self, target, *args):  # the tests drain by hand
        return None

    def sleep(self, s: float) -> None:
        pass


class Page:
    """The page's rule (web/static/app.js onBatch): skip what was applied, reload on a gap."""

    def __init__(self, view_seq: int):
        self.seq = view_seq
        self.applied: list[int] = []
        self.gaps = 0

    def on(self, event: str, batch: dict) -> None:
        if event != "batch" or batch["to"] <= self.seq:
            return
        if batch["from"] > self.seq + 1:
            self.gaps += 1
            return
        self.applied += [item["seq"] for item in batch["items"] if item["seq"] > self.seq]
        self.seq = batch["to"]


def test_a_page_joining_while_items_are_published_applies_each_item_after_its_view_once():
    station = FakeStation(capacity=100_000)
    sio = RecordingSocketIO()
    fanout = Fanout(station, sio)
    fanout.start()
    views: dict[str, int] = {}
    rng = random.Random(7)
    stop = threading.Event()

    def publish() -> None:
        while not stop.is_set():
            station.publish("vehicle", {"vehicle_id": "v1", "lat_deg": rng.random()})

    def drain() -> None:
        while not stop.is_set():
            fanout.drain()

    threads = [threading.Thread(target=publish), threading.Thread(target=drain)]
    for t in threads:
        t.start()
    try:
        for i in range(40):  # pages load the view and join at random moments
            sid = f"page{i}"
            views[sid] = station.view()["seq"]
            fanout.join(sid, views[sid])
            threading.Event().wait(rng.random() * 0.005)
    finally:
        stop.set()
        for t in threads:
            t.join()
    fanout.drain()
    last = station.view()["seq"]
    for sid, seq in views.items():
        page = Page(seq)
        for event, data in sio.received.get(sid, []):
            page.on(event, data)
        assert page.gaps == 0, sid
        assert page.applied == list(range(seq + 1, last + 1)), f"{sid}: not every item after {seq} exactly once"


def test_a_page_whose_view_is_too_old_is_told_to_reload():
    station = FakeStation(capacity=10)
    sio = RecordingSocketIO()
    fanout = Fanout(station, sio)
    fanout.start()
    for i in range(30):
        station.publish("vehicle", {"vehicle_id": "v1", "lat_deg": float(i)})
    fanout.join("late", 3)
    fanout.drain()
    assert [event for event, _ in sio.received["late"]] == ["reload"]
    assert "late" not in sio.rooms.get(ROOM, set())


def test_acknowledgements_reach_joined_pages_and_come_with_every_catch_up():
    station = FakeStation()
    station.publish("alert", {"alert_id": "a1", "at_s": 1.0, "kind": "crowd", "text": "x"})
    sio = RecordingSocketIO()
    fanout = Fanout(station, sio)
    fanout.start()
    fanout.join("early", 1)
    fanout.drain()
    ack = station.acknowledge(Acknowledgement("a1", "olga", 2.0))
    fanout.broadcast_ack({"alert_id": ack.alert_id, "by": ack.by, "at_s": ack.at_s, "note": ack.note})
    fanout.join("later", 1)
    fanout.drain()
    assert ("ack", {"alert_id": "a1", "by": "olga", "at_s": 2.0, "note": ""}) in sio.received["early"]
    (event, catch_up), = sio.received["later"]
    assert event == "batch" and catch_up["acks"]["a1"]["by"] == "olga"


def test_recent_alerts_are_kept_up_to_the_views_number():
    station = FakeStation()
    fanout = Fanout(station, RecordingSocketIO())
    fanout.start()
    station.publish("alert", {"alert_id": "a1"})
    station.publish("vehicle", {"vehicle_id": "v1"})
    station.publish("alert", {"alert_id": "a2"})
    assert [a["alert_id"] for a in fanout.recent("alert", 2)] == ["a1"]
    assert [a["alert_id"] for a in fanout.recent("alert", 3)] == ["a1", "a2"]
    fanout.stop()
    station.publish("alert", {"alert_id": "a3"})
    assert [a["alert_id"] for a in fanout.recent("alert", 99)] == ["a1", "a2"], "unsubscribed when stopped"
