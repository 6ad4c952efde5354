"""Worker processes: one per stream (spawn), small records only, a failing stream never stops the others,
frames without a pose are flagged, frames with one are placed on the ground and their crowds reported."""
import math
import pickle
import time

import pytest
import shapely

from tests.shared import need
from tests.vision.conftest import CACHE, MODEL, PETS
from vision.camera import CameraModel
from vision.detector import DetectorConfig
from vision.pipeline import GeoConfig
from vision.pose import VehiclePose
from vision.records import CrowdObservation, FrameResult, StreamStatus, WorkerStats
from vision.worker import StreamSpec, VisionWorkers

pytestmark = pytest.mark.slow


def collect(workers, until, timeout_s=150.0):
    records = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not until(records):
        records.extend(workers.poll(0.5))
    return records


def done(stream_ids):
    def check(records):
        finished = {r.stream_id for r in records if isinstance(r, WorkerStats)}
        finished |= {r.stream_id for r in records if isinstance(r, StreamStatus) and r.state == "failed"}
        return set(stream_ids) <= finished
    return check


def test_workers_serve_streams_independently(tmp_path):
    need(MODEL), need(PETS)
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x01garbage" * 5000)
    detector = DetectorConfig(model_path=MODEL, imgsz=480, cache_dir=CACHE)
    camera = CameraModel.from_hfov(480, 360, 60.0)
    workers = VisionWorkers()
    # people linked by gaps up to 100 m: everyone this camera places on the plaza is one crowd of 2 or more
    # (a 480x360 frame, people 14-34 px tall: the seen area is where they are at least 16 px)
    geo = GeoConfig(camera, crowd_radius_m=100.0, crowd_min_people=2, seen_min_person_px=16.0)
    workers.start(StreamSpec("good", str(PETS), "drone-1", detector, geo, tiles="off", max_frames=10))
    workers.start(StreamSpec("bad", str(corrupt), "drone-2", detector, tiles="off"))
    workers.start(StreamSpec("nomodel", str(PETS), "drone-3", DetectorConfig(model_path=tmp_path / "missing.pt")))
    # media times 0.0 .. 0.9 s; poses only at 0.0 and 0.1 s (+0.5 s extrapolation), so later frames have none
    for t in (0.0, 0.1):
        workers.send_pose("good", VehiclePose(t, 22.05, 112.46, 12.0, 90.0, gimbal_pitch_deg=-35.0))
    try:
        records = collect(workers, done(["good", "bad", "nomodel"]))
    finally:
        workers.stop()
    by_type = {}
    for r in records:
        by_type.setdefault(type(r), []).append(r)
        assert len(pickle.dumps(r)) < 20_000  # small records, never frames
    failed = {r.stream_id: r.message for r in by_type[StreamStatus] if r.state == "failed"}
    assert "corrupt.mp4" in failed["bad"]
    assert "missing.pt" in failed["nomodel"]
    assert "good" not in failed
    frames = [r for r in by_type[FrameResult] if r.stream_id == "good"]
    assert [f.frame_index for f in frames] == list(range(10))
    assert all(2 <= f.count_in_view <= 5 for f in frames)
    assert frames[-1].unique_seen >= 2
    assert any(d.track_id is not None for d in frames[-1].detections)
    with_pose = [f for f in frames if f.capture_time_s <= 0.1]
    without = [f for f in frames if f.capture_time_s > 0.65]  # past the last pose + extrapolation
    assert with_pose and all(not f.pose_missing and len(f.people) == f.count_in_view for f in with_pose)
    assert all(f.pose_missing and f.people == () for f in without) and without
    # each placed frame says where it would have seen a person, and that is where it placed the people it saw
    assert all(len(f.seen_area) == 4 for f in with_pose)
    assert all(f.seen_area == () for f in without)
    area = shapely.Polygon([(lon, lat) for lat, lon in with_pose[0].seen_area])
    assert all(area.buffer(1e-5).contains(shapely.Point(p.lon_deg, p.lat_deg)) for p in with_pose[0].people)
    person = with_pose[0].people[0]
    assert abs(person.lat_deg - 22.05) < 0.001 and person.lon_deg > 112.46  # ahead of a drone heading east
    assert person.drone_id == "drone-1" and person.uncertainty_m > 0
    stats = [r for r in by_type[WorkerStats] if r.stream_id == "good"][0]
    assert stats.frames_analysed == 10 and stats.peak_rss_mb > 0
    # one crowd observation per frame with two or more people placed, made of exactly those people
    placed = {f.capture_time_s: f for f in frames if len(f.people) >= 2}
    crowds = by_type.get(CrowdObservation, [])
    assert placed and sorted(c.time_s for c in crowds) == sorted(placed)
    for crowd in crowds:
        people = placed[crowd.time_s].people
        assert crowd.drone_id == "drone-1" and crowd.count == len(people)
        assert crowd.centroid_lat_deg == pytest.approx(sum(p.lat_deg for p in people) / len(people), abs=1e-9)
        assert crowd.centroid_lon_deg == pytest.approx(sum(p.lon_deg for p in people) / len(people), abs=1e-9)
        assert crowd.radius_m >= 50.0  # at least half the linking distance
        assert crowd.density_per_m2 == pytest.approx(crowd.count / (math.pi * crowd.radius_m ** 2))
        assert 0 < crowd.confidence <= 1


def test_a_killed_worker_is_reported_and_others_continue():
    need(MODEL), need(PETS)
    detector = DetectorConfig(model_path=MODEL, imgsz=320, cache_dir=CACHE)
    workers = VisionWorkers()
    workers.start(StreamSpec("victim", str(PETS), "d1", detector, tiles="off", realtime=True))
    workers.start(StreamSpec("survivor", str(PETS), "d2", detector, tiles="off", realtime=True, analyses_per_s=5))
    try:
        first = collect(workers, lambda rs: {"victim", "survivor"} <= {r.stream_id for r in rs if isinstance(r, FrameResult)})
        assert {"victim", "survivor"} <= {r.stream_id for r in first if isinstance(r, FrameResult)}
        workers._procs["victim"].kill()
        later = collect(workers, lambda rs: any(isinstance(r, StreamStatus) and r.stream_id == "victim" and r.state == "failed" for r in rs)
                        and sum(isinstance(r, FrameResult) and r.stream_id == "survivor" for r in rs) >= 3, timeout_s=60)
    finally:
        workers.stop()
    assert any(isinstance(r, StreamStatus) and r.stream_id == "victim" and r.state == "failed" for r in later)
    assert sum(isinstance(r, FrameResult) and r.stream_id == "survivor" for r in later) >= 3
    assert workers.alive() == {"victim": False, "survivor": False}


@pytest.mark.slow
def test_drone_worker_plans_bands_from_the_pose_loops_a_short_clip_and_counts_with_uncertainty():
    from tests.shared import DATA
    from tests.vision.conftest import DRONE_MODEL
    from vision.detector import preset_config

    video = need(DATA / "uav_unicamp_seq.mp4")
    detector = preset_config("drone", model_path=need(DRONE_MODEL), cache_dir=CACHE)
    geo = GeoConfig(CameraModel.from_hfov(1920, 1080, 84.0))
    workers = VisionWorkers()
    workers.start(StreamSpec("drone", str(video), "d1", detector, geo, tiles="auto", track=False, max_frames=22, loop=True))
    for t in range(0, 6):  # media times 0 .. 2.2 s: the 18-frame clip twice
        workers.send_pose("drone", VehiclePose(t * 0.5, 22.05, 112.46, 10.0, 0.0, gimbal_pitch_deg=-14.0))
    try:
        records = collect(workers, done(["drone"]))
    finally:
        workers.stop()
    assert not [r for r in records if isinstance(r, StreamStatus) and r.state == "failed"]
    frames = [r for r in records if isinstance(r, FrameResult)]
    assert [f.frame_index for f in frames] == list(range(22))  # past the clip's 18 frames
    assert all(b > a for a, b in zip([f.capture_time_s for f in frames], [f.capture_time_s for f in frames[1:]]))
    assert all(f.tiles[0] >= 1 and f.tiles[1] == 1 for f in frames if not f.pose_missing)  # bands, not a grid
    assert all(f.count_method == "detections" and f.count_estimate is not None for f in frames)
    busy = [f for f in frames if f.count_in_view >= 5]
    assert busy and all(f.count_sigma > 0 for f in busy)


def test_a_worker_serves_its_analysed_frames_with_the_boxes_drawn_as_mjpeg_until_it_dies():
    import cv2
    import numpy as np
    import requests

    from vision.mjpeg import VideoServing, read_parts

    need(MODEL), need(PETS)
    detector = DetectorConfig(model_path=MODEL, imgsz=480, cache_dir=CACHE)
    workers = VisionWorkers()
    workers.start(StreamSpec("cam", str(PETS), "d1", detector, tiles="off", realtime=True, analyses_per_s=4))  # waits in stop.wait()
    try:
        records = collect(workers, lambda rs: any(isinstance(r, VideoServing) for r in rs)
                          and any(isinstance(r, FrameResult) and r.detections for r in rs))
        (serving,) = [r for r in records if isinstance(r, VideoServing)]
        assert serving.stream_id == "cam" and serving.url.startswith("http://127.0.0.1:")
        assert len(pickle.dumps(serving)) < 1000, "an address, never a frame"
        assert requests.get(serving.url.rsplit("/", 2)[0] + "/stream.mjpeg", timeout=10).status_code == 404, \
            "the address's token is needed"
        response = requests.get(serving.url, stream=True, timeout=30)
        assert response.status_code == 200
        parts = read_parts(response.raw)
        seen = [next(parts) for _ in range(3)]
        records += workers.poll(0.5)
        results = {r.frame_index: r for r in records if isinstance(r, FrameResult)}
        matched = [(h, jpeg, results[int(h["x-frame-index"])]) for h, jpeg in seen
                   if int(h["x-frame-index"]) in results and results[int(h["x-frame-index"])].detections]
        assert matched, "a served frame whose result has detections"
        headers, jpeg, result = matched[0]
        assert float(headers["x-timestamp"]) == pytest.approx(result.capture_time_s, abs=1e-5)
        assert abs(result.capture_time_s - time.time()) < 60, "a real-time replay is stamped with wall-clock time"
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        d = max(result.detections, key=lambda d: d.x2_px - d.x1_px)
        edge = image[int(d.y1_px), int(d.x1_px) + 3:int(d.x2_px) - 2].astype(float).mean(axis=0)
        assert np.abs(edge - (0, 200, 255)).max() < 60, f"the box's top edge is drawn: {edge}"
        workers._procs["cam"].kill()
        rest = list(parts)  # the stream ends with the process, without an error
        assert len(rest) < 1000
    finally:
        workers.stop(timeout_s=5)
