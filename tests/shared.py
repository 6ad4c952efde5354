"""Model weights and footage from ../shared, used by path (never committed), and the one rule for a test that needs
them: on a developer's machine without them the test is skipped with one message naming the missing path; in CI
(CI=true), where ../shared must be beside the clone, a missing file fails the test instead."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
MODELS = SHARED / "models"
DATA = SHARED / "data"


def need(path: Path) -> Path:
    """`path` if it exists; otherwise skip (fail in CI) saying which file is missing."""
    if path.exists():
        return path
    message = f"{path} is missing (weights and footage are used by path from {SHARED})"
    if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
        pytest.fail(message + "; CI must have ../shared beside the clone", pytrace=False)
    pytest.skip(message)
