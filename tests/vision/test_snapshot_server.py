"""A vision worker's evidence snapshot (GET <token>/snapshot.jpg, vision/mjpeg.py): its latest analysed frame with that
frame's people blurred and the frame reduced (vision/privacy.py), never the frame as analysed; 503 before a frame."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import requests

from tests.vision.test_privacy import DETAIL_MAX, detail
from tests.waiting import wait_for
from vision.mjpeg import AnnotatedVideo, VideoServing, jpeg_size_px, snapshot_url
from vision.privacy import evidence_jpeg
from vision.records import Detection, FrameResult


def test_snapshot_before_and_after_the_first_frame_and_only_with_the_token():
    video = AnnotatedVideo("cam")
    try:
        url = snapshot_url(video.url)
        assert url.endswith("/snapshot.jpg") and url.rsplit("/", 2)[1] in video.url
        answer = requests.get(url, timeout=10)
        assert answer.status_code == 503 and "cam: no frame analysed yet" in answer.text
        assert requests.get(f"http://{video.host}:{video.port}/snapshot.jpg", timeout=10).status_code == 404
        frame = np.full((720, 1280, 3), 128, np.uint8)
        frame[200:320, 600:640] = ((np.indices((120, 40)).sum(axis=0) % 2) * 255)[..., None]  # fine detail
        person = Detection(600, 200, 640, 320, 0.9)
        video.offer(frame, FrameResult("cam", 7, 123.5, (person,), 1, 1, "test"))
        answer = requests.get(url, timeout=10)
        assert answer.status_code == 200 and answer.headers["Content-Type"] == "image/jpeg"
        assert answer.headers["X-People-Blurred"] == "1" and answer.headers["X-Privacy"] == "people-blurred"
        assert answer.headers["X-Frame-Index"] == "7" and float(answer.headers["X-Timestamp"]) == 123.5
        assert jpeg_size_px(answer.content) == (640, 360)
        snapshot = cv2.resize(cv2.imdecode(np.frombuffer(answer.content, np.uint8), cv2.IMREAD_COLOR), (1280, 720))
        box = (600, 200, 640, 320)
        assert detail(snapshot, box) < 0.001 * detail(frame, box), (detail(frame, box), detail(snapshot, box))
    finally:
        video.close()
    with pytest.raises(ValueError):
        snapshot_url("http://127.0.0.1:1/abc/latest.jpg")


@pytest.mark.slow
def test_a_worker_on_real_drone_footage_serves_its_latest_frame_with_its_people_blurred():
    from tests.shared import DATA, need
    from tests.vision.conftest import CACHE, DRONE_MODEL
    from tests.vision.test_worker import collect
    from vision.detector import preset_config
    from vision.worker import StreamSpec, VisionWorkers

    clip = need(DATA / "uav_unicamp_seq.mp4")
    capture = cv2.VideoCapture(str(clip))
    originals = []
    while (got := capture.read())[0]:
        originals.append(got[1])
    capture.release()
    assert len(originals) == 18
    detector = preset_config("drone", model_path=need(DRONE_MODEL), cache_dir=CACHE)
    workers = VisionWorkers()
    # the 18-frame clip over and over (as fast as it can be analysed), so that there is always a latest frame
    workers.start(StreamSpec("drone", str(clip), "d1", detector, track=False, loop=True))
    try:
        records = collect(workers, lambda rs: any(isinstance(r, VideoServing) for r in rs)
                          and sum(isinstance(r, FrameResult) and len(r.detections) >= 5 for r in rs) >= 2)
        (serving,) = [r for r in records if isinstance(r, VideoServing)]

        def snapshot_of_a_busy_frame():
            answer = requests.get(snapshot_url(serving.url), timeout=30)
            assert answer.status_code == 200, answer.text
            records.extend(workers.poll(0.2))  # the frame's own record follows it
            result = {r.frame_index: r for r in records if isinstance(r, FrameResult)}.get(
                int(answer.headers["X-Frame-Index"]))
            return (answer, result) if result is not None and len(result.detections) >= 5 else None

        answer, result = wait_for(snapshot_of_a_busy_frame, 120.0, "a snapshot of a frame with 5 people or more")
        original = originals[result.frame_index % 18]
        boxes = [(d.x1_px, d.y1_px, d.x2_px, d.y2_px) for d in result.detections]
        assert int(answer.headers["X-People-Blurred"]) == len(boxes)
        snapshot = cv2.imdecode(np.frombuffer(answer.content, np.uint8), cv2.IMREAD_COLOR)
        assert snapshot.shape == (360, 640, 3)
        # exactly the privacy rule applied to that frame and its detections: not the analysed frame, no boxes drawn
        expected = cv2.imdecode(np.frombuffer(evidence_jpeg(original, boxes)[0], np.uint8), cv2.IMREAD_COLOR)
        assert np.abs(snapshot.astype(int) - expected.astype(int)).mean() < 1.0
        back = cv2.resize(snapshot, (1920, 1080), interpolation=cv2.INTER_CUBIC)
        print(f"\nframe {result.frame_index}: {len(boxes)} people blurred; detail in their boxes "
              f"{max(detail(original, b) for b in boxes):.0f} at most before, "
              f"{max(detail(back, b) for b in boxes):.1f} at most in the snapshot")
        assert np.median([detail(original, box) for box in boxes]) > 10 * DETAIL_MAX, "people in sharp detail before"
        assert all(detail(back, box) < DETAIL_MAX for box in boxes)
    finally:
        workers.stop(timeout_s=5)
