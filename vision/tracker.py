"""Multi-person tracking: Ultralytics' ByteTrack over our detections, so each person keeps an id across
frames, plus the count of unique people seen over a sliding time window.
"""
from __future__ import annotations

from argparse import Namespace
from dataclasses import replace
from types import MappingProxyType

import numpy as np

from vision.detector import default_cache_dir, prepare_ultralytics
from vision.records import Detection

BYTETRACK_DEFAULTS = MappingProxyType(dict(
    tracker_type="bytetrack",
    track_high_thresh=0.25,
    track_low_thresh=0.1,
    new_track_thresh=0.25,
    track_buffer=30,
    match_thresh=0.8,
    fuse_score=True,
))


class PersonTracker:
    """Gives detections track ids (ByteTrack) and remembers when each id was last seen.

    Needs Ultralytics importable (vision.detector.prepare_ultralytics has run in this process).
    """

    def __init__(
        self,
        frame_rate_hz: float = 30.0,
        window_s: float = 60.0,
        lost_track_s: float = 1.0,
        min_confidence: float = 0.25,
        **bytetrack,
    ):
        """``min_confidence``: the lowest score the detector reports (its tile threshold when tiling), so
        every reported person can start a track; ByteTrack's defaults assume 0.25."""
        prepare_ultralytics(default_cache_dir())
        from ultralytics.trackers.byte_tracker import BYTETracker

        derived = {
            # a lost track is kept ``lost_track_s`` whatever the analysis rate (ByteTrack counts frames)
            "track_buffer": max(1, round(frame_rate_hz * lost_track_s)),
            "track_high_thresh": min_confidence,
            "new_track_thresh": min_confidence,
            "track_low_thresh": min(BYTETRACK_DEFAULTS["track_low_thresh"], min_confidence / 2),
        }
        args = Namespace(**{**BYTETRACK_DEFAULTS, **derived, **bytetrack})
        self._tracker = BYTETracker(args)
        self._last_seen_s: dict[int, float] = {}
        self._window_s = window_s

    def update(self, detections: tuple[Detection, ...], frame_shape: tuple[int, int], time_s: float):
        """Detections with ``track_id`` filled where a confirmed track matched (others keep None)."""
        from ultralytics.engine.results import Boxes

        rows = np.array(
            [[d.x1_px, d.y1_px, d.x2_px, d.y2_px, d.confidence, 0.0] for d in detections], dtype=np.float32
        ).reshape(-1, 6)
        tracks = self._tracker.update(Boxes(rows, frame_shape))
        ids: dict[int, int] = {}
        for row in np.asarray(tracks).reshape(-1, 8):
            ids[int(row[7])] = int(row[4])
        out = tuple(replace(d, track_id=ids.get(i)) for i, d in enumerate(detections))
        for track_id in ids.values():
            self._last_seen_s[track_id] = time_s
        horizon = time_s - self._window_s
        for track_id in [t for t, seen in self._last_seen_s.items() if seen < horizon]:
            del self._last_seen_s[track_id]
        return out

    def unique_seen(self) -> int:
        """Distinct track ids seen within the window ending at the last update."""
        return len(self._last_seen_s)
