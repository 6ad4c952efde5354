"""Annotated output for `vision count`: boxes, track ids and counts drawn on frames, written as a video or image."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from vision.records import FrameResult

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


def annotate(image: np.ndarray, result: FrameResult) -> np.ndarray:
    out = image.copy()
    for d in result.detections:
        p1, p2 = (int(d.x1_px), int(d.y1_px)), (int(d.x2_px), int(d.y2_px))
        cv2.rectangle(out, p1, p2, (0, 200, 255), 2)
        if d.track_id is not None:
            cv2.putText(out, str(d.track_id), (p1[0], max(12, p1[1] - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 200, 255), 1)
    text = f"in view {result.count_in_view}  unique {result.unique_seen}"
    cv2.putText(out, text, (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (0, 0, 0), 4)
    cv2.putText(out, text, (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (255, 255, 255), 2)
    return out


class AnnotatedWriter:
    """Writes annotated frames to ``path``: an image file (last frame wins) or a video (mp4v for .mp4, MJPG for .avi;
    this OpenCV build cannot write H.264)."""

    def __init__(self, path: Path, fps: float):
        self.path = Path(path)
        self.fps = fps
        self._writer = None

    def write(self, image: np.ndarray, result: FrameResult) -> None:
        frame = annotate(image, result)
        if self.path.suffix.lower() in IMAGE_SUFFIXES:
            if not cv2.imwrite(str(self.path), frame):
                raise ValueError(f"cannot write image {self.path}")
            return
        if self._writer is None:
            fourcc = cv2.VideoWriter_fourcc(*("MJPG" if self.path.suffix.lower() == ".avi" else "mp4v"))
            self._writer = cv2.VideoWriter(str(self.path), fourcc, self.fps, (frame.shape[1], frame.shape[0]))
            if not self._writer.isOpened():
                raise ValueError(f"cannot write video {self.path}")
        self._writer.write(frame)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
