"""INT8 (NNCF post-training quantisation): cache key, calibration sources, fallback, and that the quantised
model still finds people. Calibration never uses footage from the truth file (PETS, VisDrone)."""
from importlib.metadata import version

import cv2
import numpy as np
import pytest

from tests.shared import need
from tests.vision.conftest import CACHE, MODEL, STREET, visdrone
from vision.detector import DetectorConfig, PersonDetector, file_sha256
from vision.quantize import CalibrationUnavailable, calibration_digest, calibration_frames

# a small calibration (8 street frames): quick to build in a fresh cache, cached afterwards
SMALL = dict(calibration_frames=8, imgsz=640)


@pytest.fixture(scope="module")
def int8_detector():
    return PersonDetector(DetectorConfig(model_path=need(MODEL), cache_dir=CACHE, precision="int8",
                                         calibration=need(STREET), **SMALL))


def test_calibration_digest_follows_source_sampling_and_size(tmp_path):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    cv2.imwrite(str(a), np.zeros((40, 60, 3), np.uint8))
    cv2.imwrite(str(b), np.full((40, 60, 3), 200, np.uint8))
    base = calibration_digest(a, 8, 640)
    assert calibration_digest(a, 8, 640) == base
    assert calibration_digest(b, 8, 640) != base  # other content
    assert calibration_digest(a, 9, 640) != base  # other sample
    assert calibration_digest(a, 8, 1280) != base  # other input size
    assert calibration_digest(tmp_path, 8, 640) not in (base, calibration_digest(b, 8, 640))  # the folder of both


def test_calibration_frames_from_a_video_and_a_folder(tmp_path):
    frames = calibration_frames(need(STREET), 6)
    assert len(frames) == 6 and frames[0].shape == (1080, 1920, 3)
    assert not np.array_equal(frames[0], frames[-1])  # spread over the video, not the first six
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.jpg"), np.full((30, 40, 3), 50 * i, np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    assert len(calibration_frames(tmp_path, 2)) == 2
    with pytest.raises(CalibrationUnavailable, match="does not exist"):
        calibration_frames(tmp_path / "missing.mp4", 4)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CalibrationUnavailable, match="no images"):
        calibration_frames(empty, 4)


def test_int8_model_is_cached_by_weights_calibration_and_nncf_version(int8_detector):
    sha = file_sha256(MODEL)
    cal = calibration_digest(STREET, SMALL["calibration_frames"], SMALL["imgsz"])
    entries = [p for p in (CACHE / "openvino-int8").iterdir() if p.name.startswith(sha[:16]) and f"-cal{cal[:12]}-" in p.name]
    assert len(entries) == 1
    assert f"nncf{version('nncf')}" in entries[0].name and f"ov{version('openvino')}" in entries[0].name
    assert {"model.xml", "model.bin", "metadata.yaml", "calibration.txt"} <= {p.name for p in entries[0].iterdir()}
    assert int8_detector.precision.startswith("int8") and "openvino-int8" in int8_detector.version
    assert int8_detector.fallback_reason is None and int8_detector.calibration_digest == cal[:12]
    # a second detector reuses the entry (no second quantisation, same model version)
    again = PersonDetector(DetectorConfig(model_path=MODEL, cache_dir=CACHE, precision="int8", calibration=STREET, **SMALL))
    assert again.version == int8_detector.version
    assert len([p for p in (CACHE / "openvino-int8").iterdir() if f"-cal{cal[:12]}-" in p.name]) == 1


def test_missing_calibration_falls_back_to_f32_and_says_why(tmp_path, caplog):
    missing = tmp_path / "no_such_calibration.mp4"
    with caplog.at_level("WARNING"):
        det = PersonDetector(DetectorConfig(model_path=need(MODEL), cache_dir=CACHE, precision="int8",
                                            calibration=missing, imgsz=640))
    assert det.precision == "f32" and det.version.endswith("openvino-f32")
    assert "INT8 unavailable" in det.fallback_reason and str(missing) in det.fallback_reason
    assert any("INT8 unavailable" in r.getMessage() for r in caplog.records)
    assert not (CACHE / "openvino-int8").exists() or not any(str(missing.name) in p.name for p in (CACHE / "openvino-int8").iterdir())


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="precision"):
        PersonDetector(DetectorConfig(model_path=need(MODEL), cache_dir=CACHE, precision="int4"))


@pytest.mark.slow
def test_quantised_model_finds_the_people_in_a_pets_frame(int8_detector, pets_frames):
    found = int8_detector.detect(pets_frames[0], "off")
    assert 2 <= len(found.detections) <= 4  # truth.json: 3 people in frame 0
    for d in found.detections:
        assert d.height_px > 20 and 0.25 < d.confidence <= 1.0
    # the pipelined (throughput) path with the INT8 model gives the same people
    stream = PersonDetector(DetectorConfig(model_path=MODEL, cache_dir=CACHE, precision="int8", calibration=STREET,
                                           mode="throughput", **SMALL))
    got = [found for _, found in stream.detect_stream(range(3), lambda i: pets_frames[i], "off")]
    assert [len(g.detections) for g in got] == [len(int8_detector.detect(f, "off").detections) for f in pets_frames[:3]]


@pytest.mark.slow
def test_tiles_can_run_at_another_precision(pets_frames):
    det = PersonDetector(DetectorConfig(model_path=need(MODEL), cache_dir=CACHE, precision="int8", tile_precision="f32",
                                        calibration=need(STREET), **SMALL))
    assert det.tile_precision == "f32" and det.precision.startswith("int8") and "tiles-f32" in det.version
    image = cv2.imread(str(visdrone(0)))
    tiled = det.detect(image, "auto")
    assert tiled.grid != (1, 1) and len(tiled.detections) >= len(det.detect(image, "off").detections) + 5


@pytest.mark.slow
def test_undecodable_calibration_falls_back_with_the_reason(tmp_path):
    broken = tmp_path / "calibration.mp4"
    broken.write_bytes(b"\x00" * 4096)  # exists, so the build is tried (in its child process), and fails
    det = PersonDetector(DetectorConfig(model_path=need(MODEL), cache_dir=CACHE, precision="int8", calibration=broken,
                                        imgsz=640, calibration_frames=4))
    assert det.precision == "f32"
    assert "INT8 quantisation failed" in det.fallback_reason and "calibration" in det.fallback_reason
