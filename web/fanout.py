"""Live updates to every connected page: the station's feed items, in batches, over Socket.IO.

The station calls our feed callback on its core thread: it only appends to a deque (and keeps the last few
alerts, thermal readings and broadcasts, see `recent`). One background task of the server's async mode drains the
deque every `interval_s` and emits ONE ``batch`` event to the room of joined pages:
``{"from": first seq, "to": last seq, "items": [...]}``; a batch holds every item from `from` to `to`.

Joining without gap or duplicate: a page loads /api/state (the view, numbered `seq`), then sends ``join`` with
that number. The background task answers joins after emitting what was pending to the room: it sends that page
``feed.since(seq)`` as its own batch (with every alert acknowledgement), or ``reload`` when those items are no longer
kept, then adds it to the room. Items published after since() reach the room; an item can reach a page twice (in its
catch-up and in a room batch) and never not at all: the page skips items numbered at or below the last one it
applied, and reloads when a batch starts after a gap (`from` > last + 1). Acknowledgements (``ack`` events) go to
the room in order with the batches.
"""
from __future__ import annotations

import collections
import logging
import threading
from typing import Any

from web.port import FeedItem, StationPort

log = logging.getLogger("web.fanout")

ROOM = "live"
RECENT_KINDS = ("alert", "thermal_reading", "broadcast", "snapshot")


class _Join:
    __slots__ = ("sid", "seq")

    def __init__(self, sid: str, seq: int):
        self.sid, self.seq = sid, seq


class _Ack:
    __slots__ = ("ack",)

    def __init__(self, ack: dict[str, Any]):
        self.ack = ack


class Fanout:
    def __init__(self, port: StationPort, socketio: Any, interval_s: float = 0.01, recent_per_kind: int = 500,
                 call: Any = None):
        """`call(fn, *args)` runs a blocking port call off the event loop (default: calls it)."""
        self._port = port
        self._call = call or (lambda fn, *args: fn(*args))
        self._socketio = socketio
        self._interval_s = interval_s
        self._pending: collections.deque[Any] = collections.deque()
        self._recent = {kind: collections.deque(maxlen=recent_per_kind) for kind in RECENT_KINDS}
        self._recent_lock = threading.Lock()
        self._unsubscribe: Any = None
        self._running = False
        self.batches_sent = 0
        self.items_sent = 0

    def start(self) -> None:
        self._running = True
        self._unsubscribe = self._port.subscribe(self._on_item)
        self._socketio.start_background_task(self._run)

    def stop(self) -> None:
        self._running = False
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def join(self, sid: str, seq: int) -> None:
        """A page (Socket.IO session `sid`) that has the view up to `seq` wants the items after it."""
        self._pending.append(_Join(sid, seq))

    def broadcast_ack(self, ack: dict[str, Any]) -> None:
        """An alert acknowledged: sent to the joined pages in order with the batches (a page that joins later gets
        every acknowledgement with its catch-up)."""
        self._pending.append(_Ack(ack))

    def recent(self, kind: str, up_to_seq: int) -> list[dict[str, Any]]:
        """The data of the last items of one RECENT_KINDS kind numbered at most `up_to_seq` (what a view numbered
        `up_to_seq` implies even when the station's database has not committed it yet)."""
        with self._recent_lock:
            return [item["data"] for item in self._recent[kind] if item["seq"] <= up_to_seq]

    def _on_item(self, item: FeedItem) -> None:  # the station's core thread: only enqueue
        self._pending.append(item)
        if item["kind"] in self._recent:
            with self._recent_lock:
                self._recent[item["kind"]].append(item)

    def _run(self) -> None:
        while self._running:
            self._socketio.sleep(self._interval_s)
            try:
                self.drain()
            except Exception:  # never let the live updates die
                log.exception("live update failed")

    def drain(self) -> None:
        """Emit what is pending, then answer the joins (the background task calls this; tests may too)."""
        items: list[FeedItem] = []
        joins: list[_Join] = []
        for _ in range(len(self._pending)):
            entry = self._pending.popleft()
            if isinstance(entry, _Join):
                joins.append(entry)
            elif isinstance(entry, _Ack):
                self._emit_room(items)
                items = []
                self._socketio.emit("ack", entry.ack, to=ROOM)
            else:
                items.append(entry)
        self._emit_room(items)
        for join in joins:  # after the room's batch: their catch-up holds it, and they get what follows
            self._join(join)

    def _emit_room(self, items: list[FeedItem]) -> None:
        if not items:
            return
        self._socketio.emit("batch", {"from": items[0]["seq"], "to": items[-1]["seq"], "items": items}, to=ROOM)
        self.batches_sent += 1
        self.items_sent += len(items)

    def _join(self, join: _Join) -> None:
        items = self._call(self._port.since, join.seq)
        if items is None:
            self._socketio.emit("reload", {"reason": f"updates after {join.seq} are no longer kept"}, to=join.sid)
            return
        acks = {a.alert_id: {"alert_id": a.alert_id, "by": a.by, "at_s": a.at_s, "note": a.note}
                for a in self._call(self._port.acknowledgements)}
        self._socketio.emit("batch", {"from": join.seq + 1, "to": items[-1]["seq"] if items else join.seq,
                                      "items": items, "acks": acks}, to=join.sid)
        self._socketio.server.enter_room(join.sid, ROOM, namespace="/")
