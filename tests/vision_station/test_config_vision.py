"""[[cameras]] and [counting] in the station config: defaults, every problem listed, missing files named."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from groundstation.config import ConfigError, parse_config
from groundstation.core.crowds import CountingPolicy
from groundstation.shell.vision_streams import merge_observed, stream_spec
from groundstation.core.crowds import VisionObserved
from tests.shared import MODELS, need
from vision.records import CrowdObservation, FrameResult

MODEL = MODELS / "yolo11n_from_int8.pt"


def zones(tmp_path: Path) -> Path:
    path = tmp_path / "zones.geojson"
    ring = [[112.46, 23.04], [112.47, 23.04], [112.47, 23.05], [112.46, 23.04]]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": "z1", "properties": {"capacity": 20}, "geometry": {"type": "Polygon", "coordinates": [ring]}}]}))
    return path


def base(**extra):
    return {"vehicles": [{"id": "v1", "url": "tcp:127.0.0.1:5760"}], **extra}


def test_cameras_and_counting_are_optional():
    config = parse_config(base())
    assert config.cameras == [] and config.counting.zones_file is None
    assert config.counting.policy() == CountingPolicy(hold_s=10.0, clear_s=5.0, window_s=30.0, merge_radius_m=2.0,
                                                      record_interval_s=10.0)


def test_a_camera_and_counting_section(tmp_path):
    need(MODEL)
    config = parse_config(base(
        cameras=[{"id": "cam1", "vehicle_id": "v1", "source": "rtsp://10.0.0.5/live", "model_path": str(MODEL),
                  "hfov_deg": 70.0, "mount_pitch_deg": -60.0, "analyses_per_s": 10}],
        counting={"zones_file": str(zones(tmp_path)), "grid_origin": [23.0, 112.4], "grid_cell_m": 50, "hold_s": 20}))
    cam = config.cameras[0]
    assert cam.realtime and cam.width_px == 1920 and cam.tiles == "auto"
    policy = config.counting.policy()
    assert [z.capacity_persons for z in policy.zones] == [20] and policy.grid.cell_size_m == 50 and policy.hold_s == 20
    spec = stream_spec(cam, config)
    assert spec.stream_id == "cam1" and spec.drone_id == "v1" and spec.analyses_per_s == 10
    assert spec.geo.camera.width_px == 1920 and spec.max_failures == 5  # a live URL keeps reconnecting
    assert spec.detector.model_path == MODEL


def test_every_problem_is_listed_and_missing_files_named(tmp_path):
    no_capacity = tmp_path / "no-capacity.geojson"
    ring = [[112.46, 23.04], [112.47, 23.04], [112.47, 23.05], [112.46, 23.04]]
    no_capacity.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": "z1", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [ring]}}]}))
    not_features = tmp_path / "bad.geojson"
    not_features.write_text('{"type": "FeatureCollection", "features": [{"geometry": {"type": "Point"}}]}')
    with pytest.raises(ConfigError) as err:
        parse_config(base(
            cameras=[{"id": "cam1", "vehicle_id": "v9", "source": "a.mp4", "model_path": str(tmp_path / "nope.pt"),
                      "hfov_deg": 200},
                     {"id": "cam1", "vehicle_id": "v1", "source": "", "model_path": str(tmp_path / "nope.pt"),
                      "analyses_per_s": 0, "tiles": "sometimes"}],
            counting={"zones_file": str(tmp_path / "missing.geojson"), "grid_cell_m": -1, "hold_s": -5,
                      "grid_origin": [95, 0]}))
    text = "\n".join(err.value.problems)
    for expected in ("cameras.0.hfov_deg", "cameras.1.source", "cameras.1.analyses_per_s", "cameras.1.tiles",
                     "cameras.1.id: duplicate id 'cam1'", "cameras.0.vehicle_id: no vehicle 'v9'",
                     f"cameras.0.model_path: model file not found: {tmp_path / 'nope.pt'}",
                     f"counting.zones_file: zones file not found: {tmp_path / 'missing.geojson'}",
                     "counting.grid_cell_m", "counting.hold_s", "counting.grid_origin.0"):
        assert expected in text, expected
    for bad, why in ((no_capacity, "zone 'z1' has no 'capacity' property (its safe number of people)"),
                     (not_features, "feature 0: not a GeoJSON Feature")):
        with pytest.raises(ConfigError) as err:
            parse_config(base(counting={"zones_file": str(bad)}))
        assert err.value.problems == [f"counting.zones_file: {bad} is not a usable zones file: {why}"]


def test_frames_keep_the_latest_and_crowds_are_merged():
    f1 = FrameResult("c", 1, 1.0, (), 3, 3, "m")
    f2 = FrameResult("c", 2, 1.1, (), 4, 4, "m")
    crowd = CrowdObservation(23.0, 112.0, 3, 2.0, 0.2, 0.8, "v1", 1.0)
    merged = merge_observed(VisionObserved("c", f1), VisionObserved("c", None, (crowd,)))
    assert merged.frame is f1 and merged.crowds == (crowd,) and merged.frames_coalesced == 0
    merged = merge_observed(merged, VisionObserved("c", f2))
    assert merged.frame is f2 and merged.crowds == (crowd,) and merged.frames_coalesced == 1


def test_the_inbox_keeps_the_latest_frame_per_stream_and_never_blocks():
    from groundstation.shell.inbox import Inbox

    inbox = Inbox(maxsize=10)
    for i in range(10):
        inbox.put_event(("status", i))  # the queue is now full
    frames = [FrameResult("c", i, float(i), (), i, i, "m") for i in range(3)]
    for f in frames:
        inbox.put_latest("c", VisionObserved("c", f), merge_observed)  # never blocks on a full queue
    inbox.put_latest("d", VisionObserved("d", frames[0]), merge_observed)
    pending = inbox.take_states()
    assert [(p.stream_id, p.frame.frame_index, p.frames_coalesced) for p in pending] == [("c", 2, 2), ("d", 0, 0)]
    assert inbox.take_states() == [] and inbox.depth() == 10  # the events that must not be lost are all there


def test_the_station_knows_each_worker_video_address_while_it_serves(tmp_path):
    """A worker's VideoServing record gives the stream's MJPEG address (for the web map's video panel); a failed or
    stopped worker no longer has one."""
    import threading

    from groundstation.shell.vision_streams import VisionStreams
    from vision.mjpeg import VideoServing
    from vision.records import StreamStatus
    from tests.waiting import wait_for

    class Workers:
        def __init__(self):
            self.records, self.lock = [], threading.Lock()

        def start(self, spec):
            with self.lock:
                self.records.append(VideoServing(spec.stream_id, "http://127.0.0.1:9/v.mjpeg?t=x", 0.0))

        def poll(self, timeout_s):
            with self.lock:
                out, self.records = self.records, []
            return out

        def send_pose(self, *args):
            return True

        def stop(self, timeout_s=2.0):
            pass

        def alive(self):
            return {}

    made = []
    config = parse_config({"vehicles": [{"id": "v1", "url": "tcp:127.0.0.1:5760"}],
                           "cameras": [{"id": "cam1", "vehicle_id": "v1", "source": "rtsp://x/1",
                                        "model_path": __file__, "max_restarts": 0}]})
    events = []
    streams = VisionStreams(config, events.append, lambda *a: None,
                            workers_factory=lambda: made.append(Workers()) or made[-1]).start()
    try:
        wait_for(lambda: streams.video_urls() == {"cam1": "http://127.0.0.1:9/v.mjpeg?t=x"}, 10, "the address")
        with made[0].lock:
            made[0].records.append(StreamStatus("cam1", "failed", "decoder crashed", 1.0))
        wait_for(lambda: streams.video_urls() == {}, 10, "the address dropped with the failed worker")
    finally:
        streams.stop(2.0)
