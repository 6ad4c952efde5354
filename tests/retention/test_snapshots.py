"""Alerts' evidence snapshots on the station's side (groundstation/shell/snapshots.py): fetched from the vision worker of
a camera on the alert's vehicle, written beside the database and recorded; never when there is no camera, no worker or
an answer that does not say its people are blurred (the alert and the station go on); purged with their files.

Real database, real loopback HTTP (a worker's video server, or a server that answers like a careless one), and in the
slow test a real station with a real vision worker on real footage."""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest

from groundstation.config import parse_config
from groundstation.core import crowds as cr
from groundstation.core.response_data import AlertRow
from groundstation.shell import storage
from groundstation.shell.housekeeping import Housekeeping
from groundstation.shell.snapshots import Snapshots, file_name, snapshot_folder
from groundstation.shell.station import Station
from tests.groundstation.fakes import FakeFleet
from tests.waiting import wait_for
from vision.mjpeg import AnnotatedVideo
from vision.records import Detection, FrameResult, PersonOnGround

DAY_S = 86_400.0
PLAZA = (23.0475, 112.4650)
PARK = (23.0505, 112.4690)


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def zones_file(tmp_path: Path) -> Path:
    """Two zones of capacity 2: the plaza and the park."""
    def ring(lat, lon, d=0.0008):
        return [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d], [lon - d, lat - d]]
    path = tmp_path / "zones.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": zid, "properties": {"name": zid.title(), "capacity": 2},
         "geometry": {"type": "Polygon", "coordinates": [ring(*at)]}} for zid, at in (("plaza", PLAZA), ("park", PARK))]}))
    return path


def config(tmp_path: Path, cameras=(), **extra):
    return parse_config({
        "station": {"storage_path": str(tmp_path / "db" / "station.sqlite"), "tlog_dir": None},
        "vehicles": [{"id": "d1", "url": "tcp:127.0.0.1:5760"}, {"id": "d2", "url": "tcp:127.0.0.1:5770"}],
        "cameras": list(cameras),
        "counting": {"zones_file": str(zones_file(tmp_path)), "hold_s": 0.0, "clear_s": 5.0, "window_s": 600.0},
        "response": {"mode": "watch-only", "speech_engines": ["espeak-ng"], "speech_cache_dir": str(tmp_path / "speech")},
        **extra})


def crowd(seen_by: str, at: tuple[float, float], now_s: float, stream_id: str = "feed") -> cr.VisionObserved:
    """Five people standing together, as one analysed frame of a camera on `seen_by`."""
    people = tuple(PersonOnGround(at[0] + 0.00002 * i, at[1], 1.0, 0.9, seen_by, now_s, track_id=i + 1)
                   for i in range(5))
    return cr.VisionObserved(stream_id, FrameResult(stream_id, 0, now_s, (), 5, 5, "test", people=people))


def alert(alert_id: str = "resp-plaza-1:crowd:1", vehicle_id: str | None = None, **data) -> AlertRow:
    return AlertRow(alert_id, 1_700_000_000.0, "crowd", "warning", "crowd over capacity", "plaza", vehicle_id,
                    "resp-plaza-1", data)


def detailed_frame() -> tuple[np.ndarray, FrameResult]:
    frame = np.full((720, 1280, 3), 120, np.uint8)
    frame[200:320, 600:640] = ((np.indices((120, 40)).sum(axis=0) % 2) * 255)[..., None]
    return frame, FrameResult("cam-d1", 3, 1_699_999_999.5, (Detection(600, 200, 640, 320, 0.9),), 1, 1, "test")


@pytest.fixture()
def writer(tmp_path):
    (tmp_path / "db").mkdir()
    w = storage.StorageWriter(tmp_path / "db" / "station.sqlite").start()
    yield w
    w.close()


def test_file_names_are_the_alert_ids_made_safe():
    assert file_name("resp-plaza-1:crowd:1700000000000") == "resp-plaza-1:crowd:1700000000000.jpg"
    odd = file_name("../../etc/passwd")
    assert "/" not in odd and not odd.startswith(".") and odd.endswith(".jpg") and odd != file_name("__etc_passwd")


def test_a_snapshot_from_a_workers_video_server_is_written_and_recorded(tmp_path, writer):
    cfg = config(tmp_path, cameras=[{"id": "cam-d1", "vehicle_id": "d1", "source": "device:0"}])
    video = AnnotatedVideo("cam-d1")
    told = []
    snapshots = Snapshots(cfg, writer, lambda: {"cam-d1": video.url}, Clock(1_700_000_001.0), on_stored=told.append)
    try:
        video.offer(*detailed_frame())
        row = snapshots.take(alert(seen_by="d1"))  # a crowd alert: the vehicle that saw it
    finally:
        video.close()
    assert row is not None and writer.flush()
    assert told == [row], "the station's live feed is told"
    (recorded,) = storage.StorageReader(cfg.station.storage_path).snapshots()
    assert recorded == {"alert_id": "resp-plaza-1:crowd:1", "at_s": 1_700_000_001.0, "stream_id": "cam-d1",
                        "path": "snapshots/resp-plaza-1:crowd:1.jpg", "people_blurred": 1, "width_px": 640,
                        "height_px": 360, "captured_at_s": 1_699_999_999.5, "frame_index": 3}
    path = snapshots.path("resp-plaza-1:crowd:1")
    assert path == snapshot_folder(cfg.station.storage_path).resolve() / "resp-plaza-1:crowd:1.jpg"
    assert path.stat().st_mode & 0o077 == 0, "readable by the station's user only"
    image = cv2.imread(str(path))
    assert image.shape == (360, 640, 3)
    person = cv2.cvtColor(image[100:160, 300:320], cv2.COLOR_BGR2GRAY)  # the 1280 x 720 frame's person at 640 x 360
    assert cv2.Laplacian(person, cv2.CV_64F, ksize=1).var() < 5, "blurred: the checkerboard's detail is gone"
    assert snapshots.path("another-alert") is None
    assert [p.name for p in path.parent.iterdir()] == [path.name], "no temporary file left behind"


class CarelessWorker:
    """A server that answers snapshot.jpg with a JPEG that does not say its people are blurred."""

    def __init__(self, headers: dict[str, str]) -> None:
        ok, jpeg = cv2.imencode(".jpg", detailed_frame()[0])
        body = jpeg.tobytes()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/token/stream.mjpeg"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("headers, why", [
    ({}, "does not say that the people in it are blurred"),
    ({"X-Privacy": "people-blurred", "X-People-Blurred": "1"}, "1280 px wide, over the privacy rule's 640 px"),
])
def test_an_answer_that_is_not_a_blurred_snapshot_is_not_kept(tmp_path, writer, caplog, headers, why):
    cfg = config(tmp_path, cameras=[{"id": "cam-d1", "vehicle_id": "d1", "source": "device:0"}])
    worker = CarelessWorker(headers)
    try:
        with caplog.at_level(logging.WARNING, logger="groundstation.snapshots"):
            assert Snapshots(cfg, writer, lambda: {"cam-d1": worker.url}).take(alert("a1", "d1")) is None
    finally:
        worker.close()
    assert why in caplog.text and "alert a1 (crowd): no snapshot" in caplog.text
    assert writer.flush() and storage.StorageReader(cfg.station.storage_path).snapshots() == []
    assert not snapshot_folder(cfg.station.storage_path).exists()


def test_no_worker_serving_or_one_that_is_gone_records_nothing(tmp_path, writer, caplog):
    cfg = config(tmp_path, cameras=[{"id": "cam-d1", "vehicle_id": "d1", "source": "device:0"}])
    video = AnnotatedVideo("cam-d1")
    gone = video.url
    video.close()
    with caplog.at_level(logging.WARNING, logger="groundstation.snapshots"):
        assert Snapshots(cfg, writer, lambda: {}).take(alert("a1", "d1")) is None
        assert Snapshots(cfg, writer, lambda: {"cam-d1": gone}, timeout_s=2.0).take(alert("a2", "d1")) is None
        assert Snapshots(cfg, writer, lambda: {"cam-d1": gone}).take(alert("a3")) is None
    assert "camera cam-d1: its vision worker serves no video now" in caplog.text
    assert "camera cam-d1: cannot reach its vision worker" in caplog.text
    assert "alert a3 (crowd): no snapshot: the alert names no vehicle" in caplog.text
    assert writer.flush() and storage.StorageReader(cfg.station.storage_path).snapshots() == []


def test_an_alert_on_a_vehicle_without_a_camera_records_no_snapshot_and_the_station_goes_on(tmp_path, caplog):
    clock = Clock(time.time())
    station = Station(config(tmp_path), fleet_factory=FakeFleet, clock=clock, auto_tick=False).start()
    try:
        with caplog.at_level(logging.WARNING, logger="groundstation.snapshots"):
            station.observe(crowd("d1", PLAZA, clock.t))
            assert station.flush()
            (crowd_alert,) = storage.StorageReader(station.config.station.storage_path).alerts("crowd")
            assert crowd_alert["data"]["seen_by"] == "d1"
            wait_for(lambda: "no snapshot: vehicle d1 has no camera" in caplog.text, 30.0, "the warning")
        # the station goes on: the next crowd, in the park, is seen and alerted
        clock.t += 1.0
        station.observe(crowd("d2", PARK, clock.t))
        assert station.flush()
        assert {a["zone_id"] for a in storage.StorageReader(station.config.station.storage_path).alerts("crowd")} == {
            "plaza", "park"}
        assert station.snapshot_path(crowd_alert["alert_id"]) is None
    finally:
        station.stop()
    assert storage.StorageReader(station.config.station.storage_path).snapshots() == []


def test_old_snapshots_are_purged_with_their_files_and_the_purge_is_recorded(tmp_path, writer):
    now = 1_700_000_000.0
    cfg = config(tmp_path, retention={"days": {"snapshots": 30}})
    folder = snapshot_folder(cfg.station.storage_path)
    folder.mkdir()
    rows = [storage.SnapshotRow(f"a{i}", now - days * DAY_S, "cam-d1", f"snapshots/a{i}.jpg", 3, 640, 360)
            for i, days in enumerate((45, 31, 29, 1))]
    for row in rows:
        (folder / f"{row.alert_id}.jpg").write_bytes(b"\xff\xd8 blurred")
    orphan_old, orphan_new = folder / "lost-old.jpg", folder / "lost-new.jpg"  # written, then the station died
    for orphan in (orphan_old, orphan_new):
        orphan.write_bytes(b"\xff\xd8")
    os.utime(orphan_old, (now - 40 * DAY_S, now - 40 * DAY_S))
    os.utime(orphan_new, (now - 2 * DAY_S, now - 2 * DAY_S))
    (folder / "a3.jpg").unlink()  # a file already gone: its row goes all the same
    writer.submit(rows)
    housekeeping = Housekeeping(cfg, writer, Clock(now))
    housekeeping.tick()
    housekeeping.close()
    assert writer.flush()
    assert sorted(p.name for p in folder.iterdir()) == ["a2.jpg", "lost-new.jpg"]
    reader = storage.StorageReader(cfg.station.storage_path)
    assert [r["alert_id"] for r in reader.snapshots()] == ["a2", "a3"]
    conn = storage.open_database(cfg.station.storage_path)
    (purge,) = [p for p in storage.purge_rows(conn) if p["rule"] == "snapshots"]
    conn.close()
    assert (purge["table_name"], purge["days"], purge["rows_deleted"]) == ("snapshots", 30.0, 2)
    (event,) = reader.events(kind="retention")
    assert "2 snapshots (older than 30 days)" in event["text"] and "3 snapshot file(s)" in event["text"]
    assert event["data"]["snapshot_files_deleted"] == 3


# --- the real station with a real vision worker ---------------------------------------------------------------------

@pytest.mark.slow
def test_the_station_keeps_a_blurred_snapshot_of_an_alert_from_its_vehicles_worker_and_purges_it(tmp_path):
    from tests.shared import DATA, MODELS, need

    model, pets = need(MODELS / "yolo11n_from_int8.pt"), need(DATA / "pets2009_s2l1_elevated.avi")
    camera = {"id": "cam-d1", "vehicle_id": "d1", "source": str(pets), "detector_preset": "elevated",
              "model_path": str(model), "imgsz": 480, "tiles": "off", "width_px": 480, "height_px": 360,
              "realtime": True, "analyses_per_s": 5.0}
    clock = Clock(time.time())
    station = Station(config(tmp_path, cameras=[camera]), fleet_factory=FakeFleet, clock=clock, auto_tick=False)
    station.start()
    db = station.config.station.storage_path
    conn = storage.open_database(db, check_same_thread=False)
    try:
        # the worker is serving analysed frames with people in them
        wait_for(lambda: (v := station.crowd_snapshot().streams) and any(s.frames > 0 for s in v)
                 and station.video_sources().get("cam-d1"), 120.0, "cam-d1 analysing and serving")
        station.observe(crowd("d1", PLAZA, clock.t, "feed-d1"))  # a crowd seen by d1: its camera has a worker
        station.observe(crowd("d2", PARK, clock.t, "feed-d2"))  # and one seen by d2, which has no camera
        assert station.flush()
        alerts = {a["zone_id"]: a for a in storage.StorageReader(db).alerts("crowd")}
        assert set(alerts) == {"plaza", "park"}
        (row,) = wait_for(lambda: storage.StorageReader(db).snapshots(), 60.0, "the plaza alert's snapshot row")
        assert row["alert_id"] == alerts["plaza"]["alert_id"] and row["stream_id"] == "cam-d1"
        assert (row["width_px"], row["height_px"]) == (480, 360) and row["people_blurred"] >= 1
        path = station.snapshot_path(row["alert_id"])
        assert path is not None and path.parent == snapshot_folder(db).resolve()
        live = [i["data"] for i in station.feed.since(0) if i["kind"] == "snapshot"]
        assert [x["alert_id"] for x in live] == [row["alert_id"]], "the web map is told live"
        image = cv2.imread(str(path))
        assert image.shape == (360, 480, 3)
        assert station.snapshot_path(alerts["park"]["alert_id"]) is None
        # the core thread goes on: the next frame is handled
        clock.t += 1.0
        station.observe(crowd("d1", PLAZA, clock.t, "feed-d1"))
        assert station.flush()
        # 31 days later the purge deletes the snapshot and its file, and says so
        clock.t += 31 * DAY_S
        station.tick()
        wait_for(lambda: any(p["rule"] == "snapshots" for p in storage.purge_rows(conn)), 60.0, "the snapshots' purge")
        assert not path.exists() and station.snapshot_path(row["alert_id"]) is None
    finally:
        conn.close()
        station.stop()
    assert storage.StorageReader(db).snapshots() == []
    events = [e for e in storage.StorageReader(db).events(kind="retention") if "snapshot" in e["text"]]
    assert events and "1 snapshots (older than 30 days), 1 snapshot file(s)" in events[0]["text"]
