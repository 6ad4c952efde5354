"""Counting people across a line (a venue's entrance seen by a camera), pure: each tracked person's feet are followed
from frame to frame, and a track that passes from one side of the line to the other, across the drawn segment, is
one crossing, "in" or "out" by the side it ends on.

The line is drawn in the frame's pixels (x right, y down). `inside` is the side the venue is on, as seen on the screen
going from the line's first point to its second: "right" or "left". A person counts by the bottom centre of their box
(where they stand). Against a box that jitters on the line, a track must be more than `margin_px` from it to be on a
side at all, and it changes sides only from one such position to one on the other side; positions in the band between
change nothing. A crossing counts only where the track passes the segment itself (its projection within the two
points, with `margin_px` slack at the ends), not the line's extension. A track not seen for `forget_after_s` is
forgotten (a person leaving the view keeps no state). Detections without a track id are not counted.

    state = LineState()
    for frame in frames:
        state, crossings = cross(line, state, frame.detections, frame.capture_time_s)
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from vision.records import Detection


@dataclass(frozen=True)
class CountingLine:
    x1_px: float
    y1_px: float
    x2_px: float
    y2_px: float
    inside: str = "right"  # the venue's side, going from (x1, y1) to (x2, y2) on the screen: right | left
    margin_px: float = 3.0

    def __post_init__(self) -> None:
        if self.inside not in ("left", "right"):
            raise ValueError(f"inside must be 'left' or 'right', got {self.inside!r}")
        if math.hypot(self.x2_px - self.x1_px, self.y2_px - self.y1_px) < 2.0:
            raise ValueError("a counting line needs two points at least 2 px apart")
        if not self.margin_px >= 0.0:
            raise ValueError(f"margin_px must be 0 or more, got {self.margin_px!r}")

    @property
    def length_px(self) -> float:
        return math.hypot(self.x2_px - self.x1_px, self.y2_px - self.y1_px)

    def side(self, x_px: float, y_px: float) -> tuple[float, float]:
        """(signed distance from the line in px, positive on the screen's right of first -> second point; position
        along the segment, 0 at the first point, 1 at the second)."""
        dx, dy = self.x2_px - self.x1_px, self.y2_px - self.y1_px
        length = self.length_px
        cross_ = dx * (y_px - self.y1_px) - dy * (x_px - self.x1_px)  # y down: positive is the screen's right
        along = (dx * (x_px - self.x1_px) + dy * (y_px - self.y1_px)) / (length * length)
        return cross_ / length, along


@dataclass(frozen=True)
class Crossing:
    track_id: int
    direction: str  # in | out
    time_s: float


@dataclass(frozen=True)
class TrackSide:
    side: int  # +1 right of the line, -1 left; 0 not yet on a side
    distance_px: float  # its signed distance from the line when last on that side
    along: float  # where along the segment it was then
    last_seen_s: float


@dataclass(frozen=True)
class LineState:
    tracks: Mapping[int, TrackSide] = field(default_factory=lambda: MappingProxyType({}))
    entered: int = 0
    exited: int = 0


def cross(line: CountingLine, state: LineState, detections: Iterable[Detection], time_s: float,
          forget_after_s: float = 10.0) -> tuple[LineState, tuple[Crossing, ...]]:
    """One frame's tracked detections: the new state and the crossings they made (see the module docstring)."""
    tracks = dict(state.tracks)
    inside = 1 if line.inside == "right" else -1
    slack = line.margin_px / line.length_px
    crossings: list[Crossing] = []
    for d in detections:
        if d.track_id is None:
            continue
        x, y = d.foot_px
        distance, along = line.side(x, y)
        side = 0 if abs(distance) <= line.margin_px else (1 if distance > 0 else -1)
        before = tracks.get(d.track_id)
        if side == 0:
            if before is not None:
                tracks[d.track_id] = replace(before, last_seen_s=time_s)
            else:
                tracks[d.track_id] = TrackSide(0, distance, along, time_s)
            continue
        if before is not None and before.side != 0 and before.side != side:
            # where the straight path between the two positions meets the line
            t = before.distance_px / (before.distance_px - distance)
            if -slack <= before.along + t * (along - before.along) <= 1.0 + slack:
                crossings.append(Crossing(d.track_id, "in" if side == inside else "out", time_s))
        tracks[d.track_id] = TrackSide(side, distance, along, time_s)
    tracks = {tid: t for tid, t in tracks.items() if time_s - t.last_seen_s <= forget_after_s}
    entered = sum(1 for c in crossings if c.direction == "in")
    return (LineState(MappingProxyType(tracks), state.entered + entered, state.exited + len(crossings) - entered),
            tuple(crossings))
