"""Frame sources and bad input: corrupt, truncated and non-video files, non-images, dying streams."""
import threading
import time

import numpy as np
import pytest

from tests.shared import need
from tests.vision.conftest import PETS, visdrone
from tests.vision.httpclip import ClipServer
from vision.errors import NotAnImageError, SourceOpenError
from vision.sources import FileSource, LatestFrameSlot, LiveSource, PushSource, is_live_target, open_mjpeg


def test_video_file_frames_in_order():
    src = FileSource(need(PETS))
    assert src.fps == pytest.approx(10.0) and src.declared_frames == 795
    frames = []
    for f in src.frames():
        frames.append(f)
        if len(frames) == 5:
            break
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]
    assert [f.capture_time_s for f in frames] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    assert frames[0].image.shape == (360, 480, 3)
    src.close()


def test_image_file_is_one_frame():
    src = FileSource(visdrone(0))
    frames = list(src.frames())
    assert len(frames) == 1 and frames[0].image.shape == (1080, 1920, 3)


def test_missing_file(tmp_path):
    with pytest.raises(SourceOpenError, match="no such file"):
        FileSource(tmp_path / "none.mp4")


@pytest.mark.parametrize("content", [b"", b"this is not a png", bytes(range(256)) * 40])
def test_an_image_that_is_not_an_image(tmp_path, content):
    bad = tmp_path / "photo.png"
    bad.write_bytes(content)
    with pytest.raises(NotAnImageError, match="photo.png"):
        FileSource(bad)


def test_corrupt_video(tmp_path):
    bad = tmp_path / "clip.mp4"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 200_000, dtype=np.uint8).tobytes())
    with pytest.raises(SourceOpenError, match="clip.mp4"):
        src = FileSource(bad)
        list(src.frames())


def test_truncated_video_ends_early_and_says_so(tmp_path):
    data = need(PETS).read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 4])
    src = FileSource(cut)
    n = sum(1 for _ in src.frames())
    assert 0 < n < 795
    assert src.ended_early and src.frames_read == n


def test_latest_frame_slot_keeps_only_the_newest():
    slot = LatestFrameSlot()
    push = PushSource()
    for i in range(5):
        push.push(np.zeros((2, 2, 3), np.uint8), float(i))
    frame = push.latest(0.1)
    assert frame.index == 4 and frame.capture_time_s == 4.0
    assert push.latest(0.05) is None  # nothing newer
    assert slot.take(0.01) is None


def test_push_source_wakes_a_waiting_reader():
    push = PushSource()
    got = []
    reader = threading.Thread(target=lambda: got.append(push.latest(5.0)))
    reader.start()
    push.push(np.ones((2, 2, 3), np.uint8), 12.5)
    reader.join(5.0)
    assert got and got[0].capture_time_s == 12.5


def test_live_targets():
    assert is_live_target("rtsp://127.0.0.1/x") and is_live_target("device:0") and is_live_target("http://127.0.0.1/a")
    assert not is_live_target("clips/a.mp4")


def _collect(src, until, timeout_s=30.0):
    frames = 0
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not until(frames):
        if src.latest(0.2) is not None:
            frames += 1
        if src.finished:
            break
    return frames


def test_stream_that_dies_mid_run_is_reported_and_reconnected():
    clip = need(PETS)
    statuses = []
    # each (re)connection asks twice: once to see whether the URL serves MJPEG parts, then OpenCV reads the AVI
    with ClipServer(clip, cut_bytes=clip.stat().st_size // 5, cut_requests=2) as server:
        src = LiveSource(server.url, "cam1", on_status=statuses.append, backoff_initial_s=0.1, stale_after_s=3.0)
        src.start()
        try:
            frames = _collect(src, lambda n: src.reconnects >= 1 and n >= 30 and src.state == "live")
        finally:
            src.stop()
    states = [s.state for s in statuses]
    assert states[:2] == ["opening", "live"]
    assert "dead" in states and "reconnecting" in states
    assert states.index("dead") < states.index("reconnecting") < len(states) - 1 - states[::-1].index("live")
    assert frames >= 30 and server.state["requests"] >= 4
    assert all(s.stream_id == "cam1" for s in statuses)


def test_stream_that_never_answers_fails_after_backoff():
    import socket

    with socket.socket() as s:  # a free loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    statuses = []
    src = LiveSource(f"http://127.0.0.1:{port}/none", "cam2", on_status=statuses.append,
                     backoff_initial_s=0.05, backoff_max_s=0.1, max_failures=3, stale_after_s=1.0).start()
    deadline = time.monotonic() + 30
    while not src.finished and time.monotonic() < deadline:
        time.sleep(0.05)
    src.stop()
    assert src.state == "failed"
    assert [s.state for s in statuses].count("reconnecting") == 2
    assert statuses[-1].state == "failed" and "gave up" in statuses[-1].message


def test_realtime_file_replay_ends():
    statuses = []
    src = LiveSource(str(need(PETS)), "replay", on_status=statuses.append, realtime_file=True).start()
    try:
        frames = _collect(src, lambda n: n >= 5)
    finally:
        src.stop()
    assert frames >= 5
    assert statuses[1].state == "live"


# --- MJPEG over HTTP: the simulator's cameras and IP cameras (one JPEG per part, X-Timestamp per part) -----------


def _jpeg(value: int) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (value, 255 - value, 40)).save(out, format="JPEG", quality=95)
    return out.getvalue()


@pytest.fixture
def camera():
    """A simulated camera's stream server, fed frames by a thread: frame n carries capture time 1000 + n."""
    from sim.video_server import VideoFrame, VideoServer

    server = VideoServer()
    stop = threading.Event()

    def feed():
        n = 0
        while not stop.wait(0.02):
            server.publish(VideoFrame(_jpeg(n % 200), n, 1000.0 + n, n / 10))
            n += 1

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    yield server
    stop.set()
    thread.join()
    server.close()


def test_mjpeg_frames_carry_their_parts_capture_time(camera):
    stream = open_mjpeg(camera.url, timeout_s=5.0)
    assert stream is not None
    try:
        got = [stream.read() for _ in range(5)]
    finally:
        stream.close()
    times = [t for _, t in got]
    assert all(image.shape == (48, 64, 3) for image, _ in got)
    assert times == sorted(times) and len(set(times)) == 5            # in order, each its own part
    assert all(t >= 1000.0 and t == int(t) for t in times)            # the X-Timestamp of each part, not arrival


def test_a_live_mjpeg_source_stamps_frames_with_the_capture_time(camera):
    src = LiveSource(camera.url, "cam", stale_after_s=3.0).start()
    try:
        frames = []
        deadline = time.monotonic() + 30
        while len(frames) < 3 and time.monotonic() < deadline:
            f = src.latest(0.5)
            if f is not None:
                frames.append(f)
    finally:
        src.stop()
    assert len(frames) == 3 and all(1000.0 <= f.capture_time_s < 1e6 for f in frames)
    assert [f.index for f in frames] == sorted(f.index for f in frames)


def _live_until(src, predicate, timeout_s=60.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not predicate():
        src.latest(0.1)
    return predicate()


def test_an_mjpeg_stream_cut_mid_run_is_reported_dead_and_reconnected(camera):
    statuses = []
    src = LiveSource(camera.url, "cam", on_status=statuses.append, backoff_initial_s=0.1, stale_after_s=3.0).start()
    try:
        assert _live_until(src, lambda: src.state == "live")
        assert camera.drop_viewers() == 1                               # the link drops mid-run
        assert _live_until(src, lambda: src.reconnects >= 1 and src.state == "live")
        frame = None
        deadline = time.monotonic() + 30
        while frame is None and time.monotonic() < deadline:
            frame = src.latest(0.5)
    finally:
        src.stop()
    states = [s.state for s in statuses]
    assert states[:2] == ["opening", "live"]
    assert "dead" in states and states.index("dead") < states.index("reconnecting") < len(states) - 1 - \
        states[::-1].index("live")
    dead = next(s for s in statuses if s.state == "dead")
    assert "stream stopped" in dead.message
    assert frame is not None, "frames flow again after the reconnection"


def test_an_mjpeg_stream_that_stalls_is_seen_dead_after_the_stale_limit_and_reconnected(camera):
    statuses = []
    src = LiveSource(camera.url, "cam", on_status=statuses.append, backoff_initial_s=0.1, stale_after_s=1.0).start()
    try:
        assert _live_until(src, lambda: src.state == "live")
        camera.paused = True                                            # connected, but no frame comes any more
        assert _live_until(src, lambda: "dead" in [s.state for s in statuses])
        camera.paused = False
        assert _live_until(src, lambda: src.state == "live" and src.reconnects >= 1)
    finally:
        src.stop()
    assert [s.state for s in statuses].count("live") >= 2


def _multipart_server(body: bytes, boundary: str = "b0undary"):
    import http.server

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", f"multipart/x-mixed-replace;boundary={boundary}")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/stream"


def test_mjpeg_parts_without_length_or_timestamp_and_broken_parts():
    good = _jpeg(10)
    body = (b"preamble\r\n--b0undary\r\nContent-Type: image/jpeg\r\n\r\n" + good + b"\r\n"      # no length
            + b"--b0undary\r\nContent-Type: image/jpeg\r\nContent-Length: 9\r\n\r\nnot a jpg\r\n"  # broken
            + b"--b0undary\r\nContent-Type: image/jpeg\r\nX-Timestamp: 1234.5\r\n\r\n" + good + b"\r\n"
            + b"--b0undary--\r\n")
    httpd, url = _multipart_server(body)
    try:
        stream = open_mjpeg(url, timeout_s=5.0)
        first, second, end = stream.read(), stream.read(), stream.read()
        stream.close()
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert first[0].shape == (48, 64, 3) and first[1] is None             # no X-Timestamp: stamped on arrival
    assert second[1] == 1234.5 and end is None
    assert stream.bad_parts == 1 and stream.parts == 2


def test_an_http_url_that_is_not_mjpeg_is_left_to_opencv():
    with ClipServer(need(PETS)) as server:
        assert open_mjpeg(server.url, timeout_s=5.0) is None


def test_an_unreachable_mjpeg_url_fails_after_backoff():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    statuses = []
    src = LiveSource(f"http://127.0.0.1:{port}/video", "cam", on_status=statuses.append, backoff_initial_s=0.05,
                     backoff_max_s=0.1, max_failures=2, stale_after_s=1.0).start()
    deadline = time.monotonic() + 30
    while not src.finished and time.monotonic() < deadline:
        time.sleep(0.05)
    src.stop()
    assert src.state == "failed" and "open failed" in next(s for s in statuses if s.state == "dead").message
