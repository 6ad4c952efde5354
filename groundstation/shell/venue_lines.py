"""Venue entrances, the shell's half: runs each entrance's counting line (vision/lines.py) over every analysed frame of
its camera's stream, before the inbox keeps only the latest frame per stream (so that no frame's crossings are lost
to coalescing), and sends the core one VenueCrossed per frame that crossed a line (never dropped).

`tap(put_latest)` wraps the inbox's keep-latest entry for vision results (shell/station.py passes the wrapped one to
the vision streams, and Station.observe uses it): each result is counted here, then queued as before. Called from
the vision streams' reader threads: a lock keeps each line's state consistent.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from groundstation.config import StationConfig
from groundstation.core.crowds import VisionObserved
from groundstation.core.venue_data import VenueCrossed
from vision.lines import CountingLine, LineState, cross


@dataclass
class _Entrance:
    venue_id: str
    entrance_id: str
    stream_id: str
    line: CountingLine
    state: LineState


class VenueLines:
    """The counting lines of every configured entrance, by camera; see the module docstring."""

    def __init__(self, config: StationConfig, put_event: Callable[[object], None]) -> None:
        self._put = put_event
        self._lock = threading.Lock()
        self._by_stream: dict[str, list[_Entrance]] = {}
        for venue in config.venues:
            for e in venue.entrances:
                (x1, y1), (x2, y2) = e.line
                self._by_stream.setdefault(e.camera, []).append(
                    _Entrance(venue.id, e.id, e.camera, CountingLine(x1, y1, x2, y2, e.inside, e.margin_px),
                              LineState()))

    def observe(self, event: Any) -> None:
        """Count one vision result's tracked people across the lines of its stream's entrances."""
        if not isinstance(event, VisionObserved) or event.frame is None or event.stream_id not in self._by_stream:
            return
        frame = event.frame
        batches = []
        with self._lock:
            for entrance in self._by_stream[event.stream_id]:
                entrance.state, crossings = cross(entrance.line, entrance.state, frame.detections,
                                                  frame.capture_time_s)
                if crossings:
                    entered = sum(1 for c in crossings if c.direction == "in")
                    batches.append(VenueCrossed(entrance.venue_id, entrance.entrance_id, entered,
                                                len(crossings) - entered, crossings[0].time_s, crossings[-1].time_s,
                                                event.stream_id))
        for batch in batches:
            self._put(batch)

    def tap(self, put_latest: Callable[..., None]) -> Callable[..., None]:
        """put_latest(key, item, merge) that counts each item first."""
        if not self._by_stream:
            return put_latest

        def counted(key: str, item: Any, merge: Any = None) -> None:
            self.observe(item)
            put_latest(key, item, merge)
        return counted
