"""The station's core thread drains ONE bounded inbox (`Inbox`); link threads, vision streams, command workers and
operators put into it and never block doing so.

Inbox policies (one bounded queue.Queue plus two side structures it controls):
- telemetry state updates (StateUpdated): only the latest per vehicle is kept (coalesced); a link thread
  never blocks and never fills the queue with states;
- events that must not be lost (command results, link changes, status texts, mission progress, link
  errors, vehicle set-up events): never dropped and never blocking: when the queue is full they go to an
  overflow list drained in order once the queue is empty (their rate is bounded by the links and the
  worker pool, so the overflow stays small);
- vision frame results (VisionObserved, from shell/vision_streams.py): only the latest per stream is
  kept, like states (crowd observations of replaced frames are merged into the newer item, not dropped);
  vision stream status changes and worker stats are events that are never dropped;
- operator command requests: refused at once (Future resolved as refused_by_station, and recorded) when
  the queue holds `operator_limit` items or more, which keeps room for the events above.
"""
from __future__ import annotations

import collections
import queue
import threading
from collections.abc import Callable
from typing import Any

from telemetry.records import StateUpdated

WAKE = object()  # queued to wake the core thread: the latest states and items are waiting (take_states)
EMPTY = object()  # get() found nothing within its timeout


class Inbox:
    """The core thread's one bounded inbox, with the policies described in the module docstring."""

    def __init__(self, maxsize: int, operator_limit: int | None = None):
        self._queue: queue.Queue[Any] = queue.Queue(maxsize)
        self._operator_limit = operator_limit if operator_limit is not None else max(1, maxsize // 2)
        self._lock = threading.Lock()
        self._latest: dict[str, StateUpdated] = {}
        self._latest_items: dict[str, Any] = {}
        self.items_coalesced = 0
        self._states_flagged = False
        self._overflow: collections.deque[Any] = collections.deque()
        self.states_received = 0
        self.states_coalesced = 0
        self.overflowed = 0
        self.requests_refused = 0
        self.max_depth = 0

    def put_state(self, event: StateUpdated) -> None:
        """Keep only the latest state per vehicle (the one with the most of its messages in it); never blocks."""
        with self._lock:
            self.states_received += 1
            kept = self._latest.get(event.state.vehicle_id)
            if kept is not None:
                self.states_coalesced += 1
                if kept.state.messages_received > event.state.messages_received:
                    event = kept
            self._latest[event.state.vehicle_id] = event
            if self._states_flagged:
                return
            self._states_flagged = True
        try:
            self._queue.put_nowait(WAKE)
        except queue.Full:
            pass  # the core is busy with a full queue and looks at the states after every item

    def put_latest(self, key: str, item: Any, merge: Callable[[Any, Any], Any] | None = None) -> None:
        """Keep only the latest item per key (`merge(old, new)` combines them when given); never blocks."""
        with self._lock:
            old = self._latest_items.get(key)
            if old is not None:
                self.items_coalesced += 1
                item = merge(old, item) if merge is not None else item
            self._latest_items[key] = item
            if self._states_flagged:
                return
            self._states_flagged = True
        try:
            self._queue.put_nowait(WAKE)
        except queue.Full:
            pass  # the core looks at the latest items after every item

    def put_event(self, item: Any) -> None:
        """Never dropped, never blocks: into the queue, or the overflow when it is full (order kept)."""
        with self._lock:
            if not self._overflow:
                try:
                    self._queue.put_nowait(item)
                    self.max_depth = max(self.max_depth, self._queue.qsize())
                    return
                except queue.Full:
                    pass
            self._overflow.append(item)
            self.overflowed += 1

    def put_request(self, item: Any) -> bool:
        """Admit an operator request unless the inbox is too full; False means refused."""
        with self._lock:
            if self._queue.qsize() >= self._operator_limit:
                self.requests_refused += 1
                return False
            try:
                self._queue.put_nowait(item)
            except queue.Full:
                self.requests_refused += 1
                return False
            self.max_depth = max(self.max_depth, self._queue.qsize())
            return True

    def get(self, timeout_s: float) -> Any:
        """The next queued item (the overflow only once the queue is empty), or EMPTY after timeout_s."""
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            if self._overflow:
                return self._overflow.popleft()
        try:
            return self._queue.get(timeout=timeout_s)
        except queue.Empty:
            return EMPTY

    def take_states(self) -> list[Any]:
        """The latest state per vehicle, then the latest item per key (put_latest)."""
        with self._lock:
            states: list[Any] = list(self._latest.values())
            self._latest.clear()
            states.extend(self._latest_items.values())
            self._latest_items.clear()
            self._states_flagged = False
        return states

    def depth(self) -> int:
        with self._lock:
            return self._queue.qsize() + len(self._overflow)
