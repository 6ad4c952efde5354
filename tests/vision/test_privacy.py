"""Privacy of evidence snapshots (vision/privacy.py): every person blurred before anything is written.

Unit tests of blur_people on synthetic frames, then the privacy test on real drone footage: the product's own detector
(the drone preset) finds the people, the snapshot is made and written as the station writes it, and the detector and a
detail measure are run on the stored file."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from vision.privacy import (
    MAX_WIDTH_PX,
    blur_people,
    evidence_jpeg,
    grown_box,
    scaled_boxes,
)


def checkerboard(h: int, w: int, cell_px: int = 1) -> np.ndarray:
    """A black-and-white checkerboard, the most high-frequency detail an image can hold at `cell_px`."""
    yy, xx = np.mgrid[0:h, 0:w]
    board = (((yy // cell_px) + (xx // cell_px)) % 2 * 255).astype(np.uint8)
    return cv2.cvtColor(board, cv2.COLOR_GRAY2BGR)


def detail(image: np.ndarray, box=None) -> float:
    """Variance of the 3x3 Laplacian of the grey image, inside `box` (x1, y1, x2, y2) or everywhere."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float64) if image.ndim == 3 else image.astype(np.float64)
    lap = cv2.Laplacian(grey, cv2.CV_64F, ksize=1)
    if box is not None:
        h, w = grey.shape
        x1, y1, x2, y2 = box
        lap = lap[max(0, int(y1)):min(h, int(np.ceil(y2))), max(0, int(x1)):min(w, int(np.ceil(x2)))]
    return float(lap.var()) if lap.size else 0.0


PERSON = (600, 300, 640, 420)


def scene(h: int = 720, w: int = 1280, person=PERSON) -> np.ndarray:
    """A smooth grey gradient with a 'person' of fine detail (a 2 px checkerboard) standing in it."""
    out = np.zeros((h, w, 3), np.uint8)
    out[:] = np.linspace(60, 180, w, dtype=np.uint8)[None, :, None]
    x1, y1, x2, y2 = person
    out[y1:y2, x1:x2] = checkerboard(y2 - y1, x2 - x1, 2)
    return out


# --- unit tests ------------------------------------------------------------------------------------------------------

def test_a_person_is_blurred_and_nothing_far_from_them_changes():
    frame = scene()
    before = frame.copy()
    out = blur_people(frame, [PERSON], max_width_px=None, frame_sigma_px=0)
    assert np.array_equal(frame, before), "the input frame is never modified"
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert detail(frame, PERSON) > 10_000
    assert detail(out, PERSON) < 0.005 * detail(frame, PERSON), (detail(frame, PERSON), detail(out, PERSON))
    # the grown box (30 px margin for a 120 px person) ends the change: the rest of the frame is untouched
    x1, y1, x2, y2 = grown_box(PERSON, 1280, 720)
    assert (x1, y1, x2, y2) == (570, 270, 670, 450)
    mask = np.ones(frame.shape[:2], bool)
    mask[y1:y2, x1:x2] = False
    assert np.array_equal(out[mask], frame[mask])


def test_a_box_a_few_pixels_off_still_hides_the_whole_person():
    frame = scene()
    off = (PERSON[0] + 8, PERSON[1] + 12, PERSON[2] - 6, PERSON[3] - 20)  # the detector's box inside the person
    out = blur_people(frame, [off], max_width_px=None, frame_sigma_px=0)
    assert detail(out, PERSON) < 0.01 * detail(frame, PERSON)


def test_the_safety_net_reduces_the_whole_frame_so_a_missed_person_keeps_no_fine_detail():
    frame = scene(1080, 1920)
    missed = (600, 300, 640, 420)
    out = blur_people(frame, [])  # the detector saw nobody
    assert out.shape == (360, MAX_WIDTH_PX, 3)
    back = cv2.resize(out, (1920, 1080), interpolation=cv2.INTER_CUBIC)
    assert detail(back, missed) < 0.01 * detail(frame, missed), (detail(frame, missed), detail(back, missed))
    narrow = scene(240, 320, (100, 50, 120, 110))
    small = blur_people(narrow, [])
    assert small.shape == narrow.shape, "a frame narrower than the limit keeps its size, and is still blurred"
    assert detail(small) < detail(narrow)


def test_boxes_outside_reversed_or_broken_are_handled_and_bad_input_refused():
    frame = scene(200, 300, (100, 50, 120, 110))
    out = blur_people(frame, [(-50, -50, -10, -10), (400, 10, 500, 50), (float("nan"), 0, 10, 10)],
                      max_width_px=None, frame_sigma_px=0)
    assert np.array_equal(out, frame), "boxes wholly outside the frame (or not numbers) change nothing"
    reversed_box = blur_people(frame, [(40, 120, 10, 60)], max_width_px=None, frame_sigma_px=0)
    assert not np.array_equal(reversed_box[56:124, 6:44], frame[56:124, 6:44])
    grey = cv2.cvtColor(scene(100, 100, (10, 10, 20, 40)), cv2.COLOR_BGR2GRAY)
    assert blur_people(grey, [(10, 10, 20, 40)]).shape == (100, 100)
    with pytest.raises(ValueError):
        blur_people(np.zeros((0, 0, 3), np.uint8), [])
    with pytest.raises(ValueError):
        blur_people(frame, [], frame_sigma_px=-1)
    assert grown_box((10, 10, 20, 20), 5, 5) is None, "a box past the frame's edge, even grown, touches nothing"
    assert grown_box((2, 2, 20, 20), 10, 10) == (0, 0, 10, 10), "clipped to the frame"


def test_an_evidence_jpeg_is_the_blurred_reduced_frame():
    frame = scene(1080, 1920)
    jpeg, width_px, height_px = evidence_jpeg(frame, [scaled_boxes([PERSON], 1280, 1920)[0]])
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert (width_px, height_px) == (640, 360) == (image.shape[1], image.shape[0])
    assert jpeg[:2] == b"\xff\xd8"


# --- the privacy test on real drone footage ----------------------------------------------------------------------------

# "No face-scale detail": the variance of the 3x3 Laplacian of the grey image inside each labelled person box, measured
# on the frame's own pixel grid (the stored snapshot scaled back up to the frame's size: the most any viewer can make of
# it). A face is about an eighth of a person's height, 1-11 px for the 5-90 px people of this footage, so the finest
# detail of the frame's grid is where a face's features live. Measured on the 20 frames (218 labelled people; this test
# prints the figures): in the unblurred frames the least detailed person has a variance of 634 (median about 3,900); a
# snapshot only scaled down to 640 px, without any blur, still keeps 7.5-519 (median 190), and the detector still finds
# 112 of the 184 people it found at full size in it; the product's snapshots keep at most 17.5 (median 2.2), people the
# detector missed included, and it finds 1. The threshold, 32, is a twentieth of the least detailed unblurred person:
# above what the product leaves, below what a plain downscale keeps for most people.
DETAIL_MAX = 32.0
FOUND_AFTER_MAX_FRACTION = 0.03  # "almost none": at most 3 % of the people found before are found in the snapshot


@pytest.fixture(scope="module")
def drone_detector():
    from tests.shared import need
    from tests.vision.conftest import CACHE, DRONE_MODEL
    from vision.detector import PersonDetector, preset_config

    # the product's detector for a drone's camera: the drone preset, as groundstation.config.CameraConfig makes it
    return PersonDetector(preset_config("drone", model_path=need(DRONE_MODEL), cache_dir=CACHE))


def real_drone_frames():
    """(name, BGR frame, labelled person boxes) of every frame of uav_unicamp/ and visdrone/ in the footage's truth."""
    from tests.shared import DATA, need
    from vision.evaluate import load_boxes, load_truth

    items = [i for i in load_truth(need(DATA / "truth.json"))
             if i.boxes is not None and i.file.split("/")[0] in ("uav_unicamp", "visdrone")]
    assert len(items) >= 20
    for item in items:
        frame = cv2.imread(str(need(DATA / item.file)))
        assert frame is not None, item.file
        labels = load_boxes(DATA / item.boxes, item.box_format, frame.shape[1], frame.shape[0])
        yield item.file, frame, labels


def stored(tmp_path, name: str, jpeg: bytes) -> np.ndarray:
    """Written to disk as the station writes a snapshot, and read back from the file."""
    path = tmp_path / name.replace("/", "_")
    path.with_suffix(".jpg").write_bytes(jpeg)
    image = cv2.imread(str(path.with_suffix(".jpg")))
    assert image is not None
    return image


def measure(detector, frame, labels, snapshot) -> tuple[int, list[float]]:
    """People the detector finds in the snapshot, and the detail in each labelled box on the frame's grid."""
    h, w = frame.shape[:2]
    found = len(detector.detect(snapshot, tiles="auto").detections)
    back = cv2.resize(snapshot, (w, h), interpolation=cv2.INTER_CUBIC) if snapshot.shape[1] != w else snapshot
    return found, [detail(back, box) for box in labels]


@pytest.mark.slow
def test_no_stored_snapshot_of_real_drone_footage_holds_an_unblurred_person(drone_detector, tmp_path):
    totals = {"before": 0, "after": 0, "downscaled": 0}
    details: dict[str, list[float]] = {"unblurred": [], "stored": [], "downscaled": []}
    worst = ("", 0.0)
    for name, frame, labels in real_drone_frames():
        boxes = [(d.x1_px, d.y1_px, d.x2_px, d.y2_px) for d in drone_detector.detect(frame, tiles="auto").detections]
        jpeg, width_px, height_px = evidence_jpeg(frame, boxes)
        snapshot = stored(tmp_path, name, jpeg)
        assert (snapshot.shape[1], snapshot.shape[0]) == (width_px, height_px) and width_px <= MAX_WIDTH_PX
        after, stored_detail = measure(drone_detector, frame, labels, snapshot)
        # the control: the same frame only scaled down to the snapshot's size (no blur at all), stored the same way
        ok, plain = cv2.imencode(".jpg", blur_people(frame, [], frame_sigma_px=0.0), [cv2.IMWRITE_JPEG_QUALITY, 85])
        downscaled, plain_detail = measure(drone_detector, frame, labels, stored(tmp_path, name + "-plain", plain.tobytes()))
        totals["before"] += len(boxes)
        totals["after"] += after
        totals["downscaled"] += downscaled
        details["unblurred"] += [detail(frame, box) for box in labels]
        details["stored"] += stored_detail
        details["downscaled"] += plain_detail
        if max(stored_detail) > worst[1]:
            worst = (name, max(stored_detail))
    d = {k: np.array(v) for k, v in details.items()}
    print(f"\nprivacy on {len(d['stored'])} labelled people in real drone frames (uav_unicamp/, visdrone/):")
    print(f"  people found by the drone detector: before {totals['before']}, in the stored snapshots {totals['after']}"
          f" (only scaled down, no blur: {totals['downscaled']})")
    for k in ("unblurred", "downscaled", "stored"):
        print(f"  detail in the person boxes, {k:>10}: min {d[k].min():8.1f}  median {np.median(d[k]):8.1f}"
              f"  max {d[k].max():8.1f}")
    print(f"  threshold {DETAIL_MAX:g}; the most detailed stored person is in {worst[0]}: {worst[1]:.1f}")
    # the measures tell an unblurred person from a blurred one: a snapshot only scaled down would fail both checks
    assert d["unblurred"].min() > 10 * DETAIL_MAX
    assert totals["downscaled"] > FOUND_AFTER_MAX_FRACTION * totals["before"]
    assert np.median(d["downscaled"]) > DETAIL_MAX
    # (a) the detector finds (almost) none of the people it found before
    assert totals["before"] >= 100
    assert totals["after"] <= FOUND_AFTER_MAX_FRACTION * totals["before"], totals
    # (b) no labelled person, found by the detector or not, keeps face-scale detail in a stored snapshot
    assert d["stored"].max() < DETAIL_MAX, worst
