"""Counting people across an entrance line (vision/lines.py): table-driven paths of one tracked person, then the real
PETS 2009 footage through the detector and ByteTrack against crossings checked by hand."""
from __future__ import annotations

import pytest

from tests.shared import need
from tests.vision.conftest import CACHE, PETS
from vision.lines import CountingLine, LineState, cross
from vision.records import Detection

# a vertical line x = 100 from y = 0 down to y = 200; going down the screen, the right side is x < 100
LINE = CountingLine(100, 0, 100, 200, inside="right", margin_px=3)


def person(x: float, y: float, track_id: int | None = 1) -> Detection:
    """A 20 x 50 px box standing with its feet at (x, y)."""
    return Detection(x - 10, y - 50, x + 10, y, 0.9, track_id)


def walk(line: CountingLine, path: list[tuple[float, float]], track_id: int | None = 1, dt_s: float = 0.1):
    state, found = LineState(), []
    for i, (x, y) in enumerate(path):
        state, crossings = cross(line, state, (person(x, y, track_id),), i * dt_s)
        found += [c.direction for c in crossings]
    return state, found


@pytest.mark.parametrize("name, path, expected", [
    ("walks in across the line", [(150, 100), (120, 100), (101, 100), (99, 100), (80, 100), (50, 100)], ["in"]),
    ("walks out", [(50, 100), (80, 100), (120, 100), (150, 100)], ["out"]),
    ("in, then back out", [(150, 100), (50, 100), (150, 100)], ["in", "out"]),
    ("jitters on the line: the dead band counts nothing", [(101, 100), (99, 100), (102, 100), (98, 100)], []),
    ("stops in the band, goes back: nothing", [(150, 100), (101, 100), (99, 100), (150, 100)], []),
    ("crosses through the band in several frames", [(150, 100), (102, 100), (100, 100), (98, 100), (50, 100)],
     ["in"]),
    ("passes beyond the segment's end: not through the entrance", [(150, 260), (50, 260)], []),
    ("passes just inside the end", [(150, 199), (50, 199)], ["in"]),
    ("crosses diagonally", [(160, 20), (40, 180)], ["in"]),
    ("first seen on the far side, never crosses", [(50, 100), (40, 100)], []),
])
def test_a_tracked_person_crossing_the_line(name, path, expected):
    state, found = walk(LINE, path)
    assert found == expected
    assert (state.entered, state.exited) == (expected.count("in"), expected.count("out"))


def test_inside_left_swaps_the_directions():
    left = CountingLine(100, 0, 100, 200, inside="left", margin_px=3)
    assert walk(left, [(150, 100), (50, 100)])[1] == ["out"]


def test_a_horizontal_line_knows_its_sides():
    """From (0, 100) to (200, 100), left to right on the screen: its right is below (y down)."""
    door = CountingLine(0, 100, 200, 100, inside="right")
    assert walk(door, [(100, 50), (100, 150)])[1] == ["in"]
    assert walk(door, [(100, 150), (100, 50)])[1] == ["out"]


def test_detections_without_a_track_are_not_counted():
    assert walk(LINE, [(150, 100), (50, 100)], track_id=None)[1] == []


def test_a_track_gone_for_long_is_forgotten():
    state, _ = cross(LINE, LineState(), (person(150, 100),), 0.0)
    state, crossings = cross(LINE, state, (person(50, 100, track_id=2),), 20.0, forget_after_s=10.0)
    assert crossings == () and set(state.tracks) == {2}  # track 1 gone; track 2 new on the inside: no crossing


def test_two_people_cross_in_the_same_frame():
    state = LineState()
    state, _ = cross(LINE, state, (person(150, 50, 1), person(40, 150, 2)), 0.0)
    state, crossings = cross(LINE, state, (person(60, 50, 1), person(130, 150, 2)), 0.1)
    assert sorted((c.track_id, c.direction) for c in crossings) == [(1, "in"), (2, "out")]
    assert (state.entered, state.exited) == (1, 1)


@pytest.mark.parametrize("bad", [dict(inside="up"), dict(x2_px=100.5, y2_px=0.5), dict(margin_px=-1.0)])
def test_a_bad_line_is_refused(bad):
    args = dict(x1_px=100, y1_px=0, x2_px=100, y2_px=200, inside="right", margin_px=3.0)
    with pytest.raises(ValueError):
        CountingLine(**{**args, **bad})


# PETS 2009 S2.L1 view 001, frames 0-299 (30 s at 10 fps), a line across the path at x = 200 from y = 110 to 215
# (the path's west part: people walk across it east-west). Checked by hand, frame by frame around each event: going
# down the line the screen's right is the west (x < 200), called inside. The frame where each walker's feet pass it:
PETS_LINE = CountingLine(200, 110, 200, 215, inside="right", margin_px=3)
PETS_TRUTH = [(9, "out"), (68, "in"), (93, "out"), (167, "in"), (188, "in"), (228, "in"), (266, "in"), (289, "in")]


@pytest.mark.slow
def test_people_crossing_a_line_on_real_footage(detector):
    """Detections and ByteTrack ids on the PETS clip; every crossing counted where and when it happened, none more."""
    import cv2

    from vision.detector import prepare_ultralytics
    from vision.tracker import PersonTracker

    prepare_ultralytics(CACHE)
    tracker = PersonTracker(frame_rate_hz=10.0, window_s=60.0)
    cap = cv2.VideoCapture(str(need(PETS)))
    state, found = LineState(), []
    for index in range(300):
        ok, image = cap.read()
        assert ok, f"frame {index} of {PETS} could not be read"
        detections = tracker.update(detector.detect(image, "off").detections, image.shape[:2], index * 0.1)
        state, crossings = cross(PETS_LINE, state, detections, index * 0.1)
        found += [(index, c.direction) for c in crossings]
    cap.release()
    assert [d for _, d in found] == [d for _, d in PETS_TRUTH], found
    assert all(abs(f - t) <= 5 for (f, _), (t, _) in zip(found, PETS_TRUTH)), found
    assert (state.entered, state.exited) == (6, 2)
