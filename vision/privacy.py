"""Privacy of evidence frames: what a frame must go through before any copy of it is written anywhere.

The station stores counts, positions, anonymous track ids and temperature screening hints, never faces or any
identity. The one image it keeps is an alert's evidence snapshot, and that image is made by `blur_people` from the
analysed frame and that frame's person detections. The rule, in two layers:

1. Every detected person is hidden. Each box is grown by `margin_frac` of its larger side on every side (at least
   `margin_px`; a box a few pixels off still covers the head) and everything inside is replaced by a Gaussian blur
   of sigma `person_sigma_frac` x the box's larger side (at least `min_person_sigma_px`). A face is about an
   eighth of a standing person's height, so the blur is about twice a face's size: the person remains a coloured
   smudge (a crowd still reads as a crowd) with no feature at face scale left, and no pixel edge either (unlike
   pixelation, a Gaussian leaves no block pattern).

2. A safety net for the people the detector missed: the whole frame is then reduced to at most `max_width_px`
   wide (area averaging) and blurred again with sigma `frame_sigma_px` at that size. A 1920 x 1080 drone frame
   becomes 640 x 360: a person 90 px tall in the original (the largest in the project's drone footage) is 30 px
   tall, their face 3-4 px wide and softened below that; people at patrol height (8-60 px) are 3-20 px tall.
   Nothing anywhere in the stored image can hold face-scale detail of a person of drone-view size, detected or not.

   What the net does not cover: a person far larger than drone-view size (a face filling 50 px or more of a
   640 px-wide image, someone right under a landed camera) whom the detector also missed. The detector finds
   people of that size reliably (tests/vision/test_privacy.py measures both layers on real drone footage).

The input frame is never modified; the result is a new, smaller array. Pure: numpy and OpenCV, no I/O.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import cv2
import numpy as np

MAX_WIDTH_PX = 640
FRAME_SIGMA_PX = 1.0
MARGIN_FRAC = 0.25
MARGIN_PX = 4
PERSON_SIGMA_FRAC = 0.25
MIN_PERSON_SIGMA_PX = 3.0


def grown_box(box_xyxy: Sequence[float], width_px: int, height_px: int, margin_frac: float = MARGIN_FRAC,
              margin_px: int = MARGIN_PX) -> tuple[int, int, int, int] | None:
    """A person box (x1, y1, x2, y2, pixels) grown by the margin on every side and clipped to the frame, as whole
    pixels (x2, y2 exclusive); None when nothing of it is inside the frame."""
    x1, y1, x2, y2 = (float(v) for v in box_xyxy[:4])
    if not all(np.isfinite((x1, y1, x2, y2))):
        return None
    x1, x2 = min(x1, x2), max(x1, x2)
    y1, y2 = min(y1, y2), max(y1, y2)
    margin = max(float(margin_px), margin_frac * max(x2 - x1, y2 - y1))
    gx1, gy1 = max(0, int(np.floor(x1 - margin))), max(0, int(np.floor(y1 - margin)))
    gx2, gy2 = min(width_px, int(np.ceil(x2 + margin))), min(height_px, int(np.ceil(y2 + margin)))
    if gx2 <= gx1 or gy2 <= gy1:
        return None
    return gx1, gy1, gx2, gy2


def blur_people(frame_bgr: np.ndarray, boxes_xyxy: Iterable[Sequence[float]], *,
                margin_frac: float = MARGIN_FRAC, margin_px: int = MARGIN_PX,
                person_sigma_frac: float = PERSON_SIGMA_FRAC, min_person_sigma_px: float = MIN_PERSON_SIGMA_PX,
                max_width_px: int | None = MAX_WIDTH_PX, frame_sigma_px: float = FRAME_SIGMA_PX) -> np.ndarray:
    """`frame_bgr` with every person in `boxes_xyxy` (x1, y1, x2, y2 in the frame's pixels) hidden, then reduced to
    at most `max_width_px` wide and blurred with `frame_sigma_px` (the rule in the module docstring). Returns a new
    uint8 array; the input is left as it was. `max_width_px=None` or `frame_sigma_px=0` turn a part of the safety
    net off (tests only: the product always uses both)."""
    if not isinstance(frame_bgr, np.ndarray) or frame_bgr.ndim not in (2, 3) or frame_bgr.size == 0:
        raise ValueError(f"expected an image array, got {getattr(frame_bgr, 'shape', type(frame_bgr))}")
    if margin_frac < 0 or margin_px < 0 or person_sigma_frac <= 0 or min_person_sigma_px <= 0 or frame_sigma_px < 0:
        raise ValueError("margins must be >= 0 and sigmas > 0 (frame_sigma_px >= 0)")
    out = np.ascontiguousarray(frame_bgr, dtype=np.uint8).copy()
    h, w = out.shape[:2]
    for box in boxes_xyxy:
        grown = grown_box(box, w, h, margin_frac, margin_px)
        if grown is None:
            continue
        gx1, gy1, gx2, gy2 = grown
        x1, y1, x2, y2 = (float(v) for v in box[:4])
        sigma = max(min_person_sigma_px, person_sigma_frac * max(abs(x2 - x1), abs(y2 - y1)))
        # blur a region three sigmas wider than the grown box, then keep only the grown box: the person's pixels
        # are averaged with their surroundings, never only with themselves (a tight crop's reflected border would
        # mirror the person back into the blur)
        pad = int(np.ceil(3 * sigma))
        px1, py1, px2, py2 = max(0, gx1 - pad), max(0, gy1 - pad), min(w, gx2 + pad), min(h, gy2 + pad)
        region = cv2.GaussianBlur(out[py1:py2, px1:px2], (0, 0), sigmaX=sigma, sigmaY=sigma,
                                  borderType=cv2.BORDER_REPLICATE)
        out[gy1:gy2, gx1:gx2] = region[gy1 - py1:gy2 - py1, gx1 - px1:gx2 - px1]
    if max_width_px is not None and w > max_width_px:
        out = cv2.resize(out, (max_width_px, max(1, round(h * max_width_px / w))), interpolation=cv2.INTER_AREA)
    if frame_sigma_px > 0:
        out = cv2.GaussianBlur(out, (0, 0), sigmaX=frame_sigma_px, sigmaY=frame_sigma_px)
    return out


def scaled_boxes(boxes_xyxy: Iterable[Sequence[float]], from_width_px: int, to_width_px: int
                 ) -> list[tuple[float, float, float, float]]:
    """Boxes in a frame `from_width_px` wide moved to the same frame scaled to `to_width_px` wide."""
    k = to_width_px / from_width_px
    return [(float(b[0]) * k, float(b[1]) * k, float(b[2]) * k, float(b[3]) * k) for b in boxes_xyxy]


EVIDENCE_JPEG_QUALITY = 85


def evidence_jpeg(frame_bgr: np.ndarray, boxes_xyxy: Iterable[Sequence[float]],
                  quality: int = EVIDENCE_JPEG_QUALITY) -> tuple[bytes, int, int]:
    """An evidence snapshot as JPEG bytes, with its width and height in pixels: `blur_people` with the product's
    settings, then encoded. The only way a frame leaves vision to be kept."""
    image = blur_people(frame_bgr, boxes_xyxy)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"cannot encode a {image.shape[1]}x{image.shape[0]} snapshot as JPEG")
    return buf.tobytes(), int(image.shape[1]), int(image.shape[0])
