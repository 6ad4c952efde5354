"""ByteTrack over real detections: ids persist across frames, unique count over a time window."""
from dataclasses import replace

from vision.detector import prepare_ultralytics
from vision.tracker import PersonTracker

from tests.vision.conftest import CACHE


def iou(a, b):
    ix = max(0.0, min(a.x2_px, b.x2_px) - max(a.x1_px, b.x1_px))
    iy = max(0.0, min(a.y2_px, b.y2_px) - max(a.y1_px, b.y1_px))
    inter = ix * iy
    area = lambda d: (d.x2_px - d.x1_px) * (d.y2_px - d.y1_px)  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def test_ids_persist_across_frames(detector, pets_frames):
    prepare_ultralytics(CACHE)
    tracker = PersonTracker(frame_rate_hz=10.0, window_s=60.0)
    history = []
    for i, frame in enumerate(pets_frames):
        dets = detector.detect(frame, "off").detections
        history.append(tracker.update(dets, frame.shape[:2], i * 0.1))
    last = [d for d in history[-1] if d.track_id is not None]
    assert len(last) >= 2
    # walkers move little in 0.1 s: each tracked box overlaps the box with the same id in the previous frame
    prev = {d.track_id: d for d in history[-2] if d.track_id is not None}
    continuing = [d for d in last if d.track_id in prev]  # someone may just have walked in
    assert len(continuing) >= 2
    for d in continuing:
        assert iou(d, prev[d.track_id]) > 0.3
        assert abs(d.foot_px[0] - prev[d.track_id].foot_px[0]) < 0.5 * d.height_px
    ids = {d.track_id for frame in history for d in frame if d.track_id is not None}
    assert tracker.unique_seen() == len(ids)
    assert len(ids) <= 6  # 3-4 people in view: ids are not re-issued every frame


def test_unique_count_forgets_after_the_window(detector, pets_frames):
    prepare_ultralytics(CACHE)
    tracker = PersonTracker(frame_rate_hz=10.0, window_s=5.0)
    dets = detector.detect(pets_frames[0], "off").detections
    tracker.update(dets, (360, 480), 0.0)
    tracker.update(dets, (360, 480), 0.1)
    assert tracker.unique_seen() >= 2
    for k in range(3):
        tracker.update((), (360, 480), 10.0 + k)
    assert tracker.unique_seen() == 0


def test_low_confidence_people_still_start_tracks(detector, pets_frames):
    prepare_ultralytics(CACHE)
    tracker = PersonTracker(frame_rate_hz=10.0, min_confidence=0.15)
    dets = tuple(replace(d, confidence=0.2) for d in detector.detect(pets_frames[0], "off").detections)
    out = tracker.update(dets, (360, 480), 0.0)
    assert all(d.track_id is not None for d in out) and out
