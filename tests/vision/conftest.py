"""Shared fixtures for the vision tests: real weights and footage from ../shared by path, one detector per session."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
MODEL = SHARED / "models" / "yolo11n_from_int8.pt"
DATA = SHARED / "data"
PETS = DATA / "pets2009_s2l1_elevated.avi"
STREET = DATA / "street_1080p.mp4"
VISDRONE = sorted((DATA / "visdrone").glob("*_masked.png"))
CACHE = Path(os.environ.get("SKYGUARD_CACHE_DIR") or ROOT / ".cache")  # as vision.detector.default_cache_dir


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is not on this machine")
    return path


@pytest.fixture(scope="session")
def detector():
    from vision.detector import DetectorConfig, PersonDetector

    return PersonDetector(DetectorConfig(model_path=need(MODEL), imgsz=640, cache_dir=CACHE))


@pytest.fixture(scope="session")
def pets_frames():
    """The first 12 frames of the PETS clip (BGR)."""
    import cv2

    cap = cv2.VideoCapture(str(need(PETS)))
    frames = []
    while len(frames) < 12:
        ok, image = cap.read()
        assert ok
        frames.append(image)
    cap.release()
    return frames
