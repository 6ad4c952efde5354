"""The person detector on real footage with the real model (OpenVINO export of the shared weights)."""
import shutil

import cv2
import numpy as np
import pytest

from tests.shared import need
from tests.vision.conftest import CACHE, MODEL, visdrone
from vision.detector import DetectorConfig, PersonDetector
from vision.errors import ModelError, ModelNotFoundError, NoPersonClassError


def test_missing_weights_error_names_the_path(tmp_path):
    missing = tmp_path / "nowhere" / "yolo.pt"
    with pytest.raises(ModelNotFoundError, match=str(missing)):
        PersonDetector(DetectorConfig(model_path=missing, cache_dir=tmp_path))


def test_not_a_model_is_refused(tmp_path):
    bogus = tmp_path / "weights.onnx"
    bogus.write_bytes(b"nope")
    with pytest.raises(ModelError, match="weights.onnx"):
        PersonDetector(DetectorConfig(model_path=bogus, cache_dir=tmp_path))


def test_model_without_person_class_is_refused(tmp_path, detector):
    from vision.detector import prepare_ultralytics

    prepare_ultralytics(CACHE)
    from ultralytics import YOLO

    yolo = YOLO(str(need(MODEL)))
    yolo.model.names = {i: f"thing{i}" for i in range(80)}
    renamed = tmp_path / "no_person.pt"
    yolo.save(str(renamed))
    with pytest.raises(NoPersonClassError, match="no 'person' class"):
        PersonDetector(DetectorConfig(model_path=renamed, cache_dir=tmp_path))
    # the same for an already exported OpenVINO folder (the COCO model's export: the fixture made it)
    from vision.detector import file_sha256

    exported = next((CACHE / "openvino").glob(f"{file_sha256(MODEL)[:16]}*/metadata.yaml")).parent
    copy = tmp_path / "x_openvino_model"
    shutil.copytree(exported, copy)
    meta = (copy / "metadata.yaml").read_text().replace("0: person", "0: pedestrian_statue")
    (copy / "metadata.yaml").write_text(meta)
    with pytest.raises(NoPersonClassError):
        PersonDetector(DetectorConfig(model_path=copy))


def test_export_is_cached_by_weights_hash(detector):
    from vision.detector import file_sha256

    sha = file_sha256(MODEL)
    entries = [p for p in (CACHE / "openvino").iterdir() if p.name.startswith(sha[:16])]
    assert len(entries) == 1 and (entries[0] / "metadata.yaml").is_file()
    again = PersonDetector(DetectorConfig(model_path=MODEL, imgsz=640, cache_dir=CACHE))
    assert again.version == detector.version and sha[:12] in again.version
    assert again.threads >= 1


def test_counts_people_in_pets_frame(detector, pets_frames):
    found = detector.detect(pets_frames[0], "off")
    assert 2 <= len(found.detections) <= 4  # truth.json: 3 people in frame 0
    for d in found.detections:
        assert 0 <= d.x1_px < d.x2_px <= 480 and 0 <= d.y1_px < d.y2_px <= 360
        assert 0.25 < d.confidence <= 1.0
        assert d.height_px > 20  # upright walkers, not specks
    assert found.grid == (1, 1)
    # a small frame is never tiled in auto mode: tiles would add no pixels
    assert detector.detect(pets_frames[0], "auto").grid == (1, 1)


def test_bad_frames_are_refused(detector):
    with pytest.raises(ValueError):
        detector.detect(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError):
        detector.detect(np.zeros((100, 100, 3), np.uint8), tiles="sometimes")
    assert detector.detect(np.full((360, 480, 3), 127, np.uint8)).detections == ()


@pytest.mark.slow
def test_tiles_find_small_people_in_a_drone_view():
    image = cv2.imread(str(visdrone(0)))
    det = PersonDetector(DetectorConfig(model_path=need(MODEL), imgsz=640, cache_dir=CACHE))
    plain = det.detect(image, "off")
    tiled = det.detect(image, "auto")
    assert tiled.grid != (1, 1)  # no telemetry: decided from the frame itself
    assert len(tiled.detections) >= len(plain.detections) + 5


@pytest.mark.slow
def test_person_on_a_tile_seam_is_counted_once(detector, pets_frames):
    frame = pets_frames[0]
    people = detector.detect(frame, "off").detections
    target = max(people, key=lambda d: d.height_px)
    cfg = DetectorConfig(model_path=MODEL, imgsz=640, cache_dir=CACHE, tile_conf=0.25, tile_overlap=0.25)
    det = PersonDetector(cfg)
    from vision.tiling import tile_grid

    seam_x = tile_grid(480, 360, 1, 2, 0.25)[1].x0  # tile 1 starts here: it cuts whoever stands on it
    shift = seam_x - (target.x1_px + target.x2_px) / 2
    moved = cv2.warpAffine(frame, np.float32([[1, 0, shift], [0, 1, 0]]), (480, 360), borderValue=(114, 114, 114))
    cx = (target.x1_px + target.x2_px) / 2 + shift
    assert target.x1_px + shift < seam_x < target.x2_px + shift
    found = det.detect(moved, (1, 2)).detections
    on_target = [d for d in found if d.x1_px < cx < d.x2_px and d.y1_px < (target.y1_px + target.y2_px) / 2 < d.y2_px]
    assert len(on_target) == 1


def test_tiling_decided_from_altitude_pitch_and_camera(detector):
    from vision.camera import CameraModel, CameraPose, expected_person_height_px

    cam = CameraModel.from_hfov(1920, 1080, 84.0)
    low = expected_person_height_px(cam, CameraPose(22.0, 112.0, 5.0, 0.0, -30.0))
    high = expected_person_height_px(cam, CameraPose(22.0, 112.0, 120.0, 0.0, -60.0))
    assert detector.grid_for(1920, 1080, low) == (1, 1)  # people ~160 px (53 at the input): no tiles
    rows, cols = detector.grid_for(1920, 1080, high)
    assert cols >= 3 and rows >= 2  # people ~7 px: tile


def test_pipelined_stream_detection_matches_frame_by_frame(pets_frames):
    cfg = DetectorConfig(model_path=need(MODEL), imgsz=640, cache_dir=CACHE, precision="f32")
    one = PersonDetector(cfg)
    many = PersonDetector(DetectorConfig(**{**cfg.__dict__, "mode": "throughput"}))
    frames = pets_frames[:7]
    expected = [one.detect(f, "off").detections for f in frames]
    got = list(many.detect_stream(range(len(frames)), lambda i: frames[i], "off"))
    assert [i for i, _ in got] == list(range(7))
    for (_, found), want in zip(got, expected):
        assert len(found.detections) == len(want)
        for a, b in zip(sorted(found.detections, key=lambda d: d.x1_px), sorted(want, key=lambda d: d.x1_px)):
            assert abs(a.x1_px - b.x1_px) < 1.0 and abs(a.y2_px - b.y2_px) < 1.0


@pytest.mark.slow
def test_pipelined_tiles_match_frame_by_frame(pets_frames):
    """Tiles in throughput mode run on their own requests (never the next frame's, which is in flight)."""
    cfg = DetectorConfig(model_path=need(MODEL), imgsz=640, cache_dir=CACHE, precision="f32")
    one = PersonDetector(cfg)
    many = PersonDetector(DetectorConfig(**{**cfg.__dict__, "mode": "throughput"}))
    frames = pets_frames[:5]
    expected = [len(one.detect(f, (1, 2)).detections) for f in frames]
    got = list(many.detect_stream(range(len(frames)), lambda i: frames[i], (1, 2)))
    assert [i for i, _ in got] == list(range(5)) and all(found.grid == (1, 2) for _, found in got)
    assert [len(found.detections) for _, found in got] == expected
    assert many.stage_means_ms()["tiles"] > 0.0 and many.frames_done == 5


# --- person classes: a setting of the model ------------------------------------------------------------

VISDRONE_NAMES = {0: "pedestrian", 1: "people", 2: "bicycle", 3: "car", 9: "motor"}
COCO_NAMES = {0: "person", 1: "bicycle", 2: "car"}


@pytest.mark.parametrize("names,wanted,expected", [
    (COCO_NAMES, None, (0,)),                       # COCO: 'person'
    (VISDRONE_NAMES, None, (0, 1)),                 # VisDrone: 'pedestrian' and 'people' count as one
    (VISDRONE_NAMES, ("pedestrian",), (0,)),        # by name
    (VISDRONE_NAMES, ("People", "0"), (0, 1)),      # names are case-insensitive; ids as numbers or text
    (VISDRONE_NAMES, (9, 1), (1, 9)),               # any class can be counted (riders: 'motor')
])
def test_person_classes_by_name_or_id(names, wanted, expected):
    from vision.detector import person_class_indices

    assert person_class_indices(names, "m.pt", wanted) == expected


@pytest.mark.parametrize("names,wanted,message", [
    ({0: "car", 1: "bus"}, None, "no 'person' class"),
    (VISDRONE_NAMES, ("pedestrians",), "no class 'pedestrians'"),
    (VISDRONE_NAMES, (12,), "no class 12"),
    (VISDRONE_NAMES, (), "empty"),
])
def test_unknown_person_classes_are_refused(names, wanted, message):
    from vision.detector import person_class_indices

    with pytest.raises(NoPersonClassError, match=message):
        person_class_indices(names, "m.pt", wanted)


def test_several_person_classes_make_one_box_per_person():
    from vision.detector import decode_people
    from vision.tiling import merge_planned, uniform_plan

    # 3 anchors x (4 box rows + 3 classes): one person scored both pedestrian (0.6) and people (0.5) at two
    # neighbouring anchors, a car elsewhere
    pred = np.array([
        [100.0, 101.0, 300.0],   # cx
        [50.0, 50.0, 80.0],      # cy
        [10.0, 10.0, 40.0],      # w
        [30.0, 30.0, 20.0],      # h
        [0.6, 0.1, 0.0],         # pedestrian
        [0.1, 0.5, 0.0],         # people
        [0.0, 0.0, 0.9],         # car
    ], np.float32)
    boxes, scores = decode_people(pred, (0, 1), 2.0, 0.25)
    assert scores.tolist() == pytest.approx([0.6, 0.5]) and boxes[0].tolist() == [47.5, 17.5, 52.5, 32.5]
    keep = merge_planned(boxes, scores, np.full(2, -1), uniform_plan(400, 200))
    assert len(keep) == 1  # class-agnostic: the two classes' boxes of one person merge
    only_people, _ = decode_people(pred, (1,), 2.0, 0.25)
    assert len(only_people) == 1


@pytest.mark.slow
def test_visdrone_model_is_usable_and_counts_its_two_person_classes():
    from tests.vision.conftest import DRONE_MODEL
    from vision.detector import preset_config

    det = PersonDetector(preset_config("drone", model_path=need(DRONE_MODEL), cache_dir=CACHE))
    assert det.person_classes == (0, 1) and det.names[0] == "pedestrian"
    found = det.detect(cv2.imread(str(visdrone(1))), "auto")
    assert found.full_frame and found.plan is not None and found.plan.tiles[0].scale == 1.0  # no pose: full resolution
    assert 18 <= len(found.detections) <= 40  # 29 labelled people; the COCO model at imgsz 1280 finds 7


@pytest.mark.slow
def test_bands_from_the_pose_find_people_in_a_real_drone_frame():
    from tests.shared import DATA
    from tests.vision.conftest import DRONE_MODEL
    from vision.camera import CameraModel, CameraPose, person_size_by_row
    from vision.detector import preset_config
    from vision.evaluate import load_boxes, match_boxes

    det = PersonDetector(preset_config("drone", model_path=need(DRONE_MODEL), cache_dir=CACHE))
    frame = cv2.imread(str(need(DATA / "uav_unicamp" / "DJI_0084_7481.jpg")))
    sizes = person_size_by_row(CameraModel.from_hfov(1920, 1080, 84.0), CameraPose(22.0, 112.0, 10.0, 0.0, -14.0))
    found = det.detect(frame, "auto", person_px_by_row=sizes)
    assert not found.full_frame and found.plan.skipped_rows > 250  # sky and far band never looked at
    truth = load_boxes(DATA / "uav_unicamp" / "DJI_0084_7481.txt", "yolo", 1920, 1080)
    boxes = np.array([(d.x1_px, d.y1_px, d.x2_px, d.y2_px) for d in found.detections])
    tp, fp, fn = match_boxes(boxes, [d.confidence for d in found.detections], truth)
    assert tp >= 9 and fp <= 6  # 16 labelled people, 5 of them under 20 px far up the street
