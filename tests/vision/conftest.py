"""Shared fixtures for the vision tests: real weights and footage from ../shared by path (missing ones: the rule of
tests/shared.need), one detector per session."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.shared import DATA, MODELS, ROOT, need

MODEL = MODELS / "yolo11n_from_int8.pt"
DRONE_MODEL = MODELS / "yolo11n_visdrone" / "yolo11n_visdrone_from_tflite_int8.pt"
PETS = DATA / "pets2009_s2l1_elevated.avi"
STREET = DATA / "street_1080p.mp4"
VISDRONE_DIR = DATA / "visdrone"
CACHE = Path(os.environ.get("SKYGUARD_CACHE_DIR") or ROOT / ".cache")  # as vision.detector.default_cache_dir


def visdrone(index: int) -> Path:
    """The index-th masked VisDrone frame (sorted by name), or the missing-data rule naming what is missing."""
    frames = sorted(need(VISDRONE_DIR).glob("*_masked.png"))
    return frames[index] if index < len(frames) else need(VISDRONE_DIR / f"*_masked.png (frame {index + 1} of them)")


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
