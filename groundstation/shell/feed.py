"""Live updates for the station's clients (the web map): every row the station records and every change of a
vehicle's state, as numbered JSON-able items, in the order the core produced them.

The core thread publishes; a client loads a snapshot (`Station.view()`, which carries the feed's sequence number
at that instant) and then applies the items with a larger number: no gap, no duplicate. After a disconnect it asks
`since(seq)`; when its number has fallen out of the kept window (`capacity` items) it gets None and reloads the
snapshot. Subscribers' callbacks run on the core thread: they must only hand the item over (put it in a queue).
"""
from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("groundstation.feed")

FeedItem = dict[str, Any]  # {"seq": int, "kind": str, "at_s": float, "data": {...}}


class Feed:
    def __init__(self, capacity: int = 20_000):
        self._items: collections.deque[FeedItem] = collections.deque(maxlen=capacity)
        self._seq = 0
        self._lock = threading.Lock()
        self._subscribers: list[Callable[[FeedItem], None]] = []

    @property
    def seq(self) -> int:
        """The number of the last item published (0: none yet)."""
        with self._lock:
            return self._seq

    def publish(self, kind: str, at_s: float, data: dict[str, Any]) -> FeedItem:
        with self._lock:
            self._seq += 1
            item = {"seq": self._seq, "kind": kind, "at_s": at_s, "data": data}
            self._items.append(item)
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(item)
            except Exception:  # a client's bug must not stop the core
                log.exception("feed subscriber failed on item %d", item["seq"])
        return item

    def since(self, seq: int) -> list[FeedItem] | None:
        """The items after `seq`, or None when some of them are no longer kept, or `seq` is from another run of
        the station (larger than any number given out): reload the snapshot."""
        with self._lock:
            if seq > self._seq:
                return None
            if seq == self._seq:
                return []
            if not self._items or self._items[0]["seq"] > seq + 1:
                return None
            return [item for item in self._items if item["seq"] > seq]

    def subscribe(self, callback: Callable[[FeedItem], None]) -> Callable[[], None]:
        """Call `callback(item)` for every new item (on the core thread); returns the unsubscribe function."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)
        return unsubscribe
