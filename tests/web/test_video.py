"""The video panel end to end but for the model: a vision worker's video server (vision/mjpeg.py, in a process of its
own like a worker) serves its analysed frames with the detections drawn; the web map (gevent server, web/video.py)
proxies the stream to logged-in users only, part by part with each frame's capture time, and ends it cleanly when
the worker's process dies. The real worker with a model: tests/vision/test_worker.py."""
from __future__ import annotations

import multiprocessing as mp
import time

import cv2
import numpy as np
import pytest
import requests

from tests.waiting import wait_for
from tests.web.conftest import PASSWORD, ROLES
from vision.mjpeg import read_parts
from web.fakes import FakeStation, MemoryUsers
from web.server import WebServer
from web.settings import ServerSettings

BOX = (60, 50, 200, 180)  # x1, y1, x2, y2 of the one person in every frame
GREY = 128
BOX_BGR = (0, 200, 255)  # vision/annotation.py's box colour


def serve_frames(urls, stop) -> None:
    """A worker's video side without the model: 20 frames a second, each with one detection, until stopped."""
    from vision.mjpeg import AnnotatedVideo
    from vision.records import Detection, FrameResult

    video = AnnotatedVideo("cam-v1")
    urls.put(video.url)
    index = 0
    while not stop.wait(0.05):
        image = np.full((240, 320, 3), GREY, np.uint8)
        result = FrameResult("cam-v1", index, time.time(), (Detection(*BOX, 0.9, track_id=3),), 1, 1, "test")
        video.offer(image, result)
        index += 1
    video.close()


class Worker:
    """The stand-in worker's process; `kill()` as a crash would."""

    def __init__(self) -> None:
        ctx = mp.get_context("spawn")
        self._urls, self._stop = ctx.Queue(), ctx.Event()
        self.proc = ctx.Process(target=serve_frames, args=(self._urls, self._stop), daemon=True)
        self.proc.start()
        self.url = self._urls.get(timeout=60)
        self.killed = False

    def kill(self) -> None:
        self.killed = True
        self.proc.kill()

    def stop(self) -> None:
        if not self.killed:  # a killed process may have left the Event's lock held: set() would wait forever
            self._stop.set()
            self.proc.join(10)
        self.proc.kill()


@pytest.fixture
def worker():
    w = Worker()
    try:
        yield w
    finally:
        w.stop()


@pytest.fixture
def served(passwords, worker):
    station, users = FakeStation(), MemoryUsers()
    station.video = [{"stream_id": "cam-v1", "vehicle_id": "v1", "url": worker.url}]
    for role in ROLES:
        users.add(role, role, passwords.hash(PASSWORD), 0.0)
    server = WebServer(station, users, ServerSettings(secret_key=b"s" * 32, port=0), passwords=passwords).start()
    yield server, station, worker
    server.stop()


def login(url: str, role: str) -> requests.Session:
    session = requests.Session()
    session.post(url + "api/session", json={"name": role, "password": PASSWORD}, timeout=10).raise_for_status()
    return session


def open_video(server, session: requests.Session):
    r = session.get(server.url + "video/cam-v1.mjpeg", stream=True, timeout=10)
    assert r.status_code == 200, r.text
    content_type = r.headers["Content-Type"]
    assert content_type.startswith("multipart/x-mixed-replace; boundary=")
    return r, read_parts(r.raw, content_type.split("boundary=", 1)[1])


def test_a_viewer_watches_jpeg_parts_with_the_detections_boxes_drawn(served):
    server, _, _ = served
    listed = login(server.url, "viewer").get(server.url + "api/video", timeout=10).json()
    assert listed == [{"stream_id": "cam-v1", "vehicle_id": "v1", "url": "/video/cam-v1.mjpeg"}]
    r, parts = open_video(server, login(server.url, "viewer"))
    try:
        got = [next(parts) for _ in range(3)]
    finally:
        r.close()
    indices = [int(h["x-frame-index"]) for h, _ in got]
    assert indices == sorted(set(indices)), "each part a newer frame"
    for headers, jpeg in got:
        assert headers["content-type"] == "image/jpeg" and int(headers["content-length"]) == len(jpeg)
        assert abs(float(headers["x-timestamp"]) - time.time()) < 60, "the frame's capture time, wall clock"
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert image.shape == (240, 320, 3)
        x1, y1, x2, y2 = BOX
        top_edge = image[y1, x1 + 10:x2 - 10].astype(float).mean(axis=0)
        left_edge = image[y1 + 10:y2 - 10, x1].astype(float).mean(axis=0)
        inside = image[y1 + 20:y2 - 20, x1 + 20:x2 - 20].astype(float).mean(axis=(0, 1))
        assert np.abs(top_edge - BOX_BGR).max() < 40 and np.abs(left_edge - BOX_BGR).max() < 40, (top_edge, left_edge)
        assert np.abs(inside - GREY).max() < 10, "nothing drawn inside the box"


def test_an_anonymous_request_gets_401_and_no_stream(served):
    server, _, _ = served
    r = requests.get(server.url + "video/cam-v1.mjpeg", stream=True, timeout=10)
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    assert requests.get(server.url + "api/video", timeout=10).status_code == 401


def test_a_dead_worker_ends_the_stream_cleanly_and_the_map_says_the_video_is_unavailable(served):
    server, _, worker = served
    session = login(server.url, "viewer")
    r, parts = open_video(server, session)
    next(parts)
    worker.kill()
    rest = list(parts)  # reads to the end: a cleanly finished response, no error
    r.close()
    assert len(rest) < 100
    answers = []
    wait_for(lambda: answers.append(session.get(server.url + "video/cam-v1.mjpeg", stream=True, timeout=10))
             or answers[-1].status_code != 200, 10, "the video gone")
    assert answers[-1].status_code == 502 and answers[-1].json()["error"] == "video_unavailable"


def test_the_other_pages_stay_live_while_a_stream_is_watched(served):
    server, _, _ = served
    session = login(server.url, "viewer")
    r, parts = open_video(server, session)
    try:
        next(parts)
        for _ in range(5):
            assert session.get(server.url + "api/vehicles", timeout=10).status_code == 200
        next(parts)
    finally:
        r.close()
