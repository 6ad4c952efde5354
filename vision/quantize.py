"""INT8 post-training quantisation (NNCF) of the exported OpenVINO detector, cached next to the f32 export.

The cache key is (weights SHA-256, calibration source digest, calibration frame count and input size,
NNCF version, OpenVINO version, recipe). Calibration frames come from a configurable video, image or
folder of images; the default is a fixed, evenly spaced sample of ../shared/data/street_1080p.mp4,
footage that carries no counts and is not in the accuracy truth file (never calibrate on evaluation
data). When the calibration source is missing or NNCF is not installed, ``CalibrationUnavailable`` is
raised and the detector falls back to a float precision, saying why.
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from vision.errors import VisionError

log = logging.getLogger(__name__)

DEFAULT_CALIBRATION = Path("../shared/data/street_1080p.mp4")
DEFAULT_CALIBRATION_FRAMES = 60
# What the quantisation does; change the tag when the recipe changes so old cache entries are not reused.
# MIXED preset (symmetric weights, asymmetric activations); the box-decoding tail (Multiply, Subtract,
# Sigmoid) stays in float: quantising it moves box coordinates and scores.
RECIPE = "ptq-mixed-nomulsubsig-v1"
IGNORED_TYPES = ("Multiply", "Subtract", "Sigmoid")
_FULL_HASH_MAX_BYTES = 64 << 20
_PART_HASH_BYTES = 8 << 20
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


class CalibrationUnavailable(VisionError):
    """INT8 cannot be built here (no calibration frames, or NNCF missing); the reason is the message."""


def _calibration_files(source: Path) -> list[Path]:
    if source.is_dir():
        files = sorted(p for p in source.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
        if not files:
            raise CalibrationUnavailable(f"calibration folder {source} holds no images")
        return files
    if source.is_file():
        return [source]
    raise CalibrationUnavailable(f"calibration source {source} does not exist")


def calibration_digest(source: Path, frames: int, imgsz: int) -> str:
    """SHA-256 over the calibration files' names and contents plus how they are sampled."""
    digest = hashlib.sha256(f"{RECIPE}|frames={frames}|imgsz={imgsz}".encode())
    for path in _calibration_files(Path(source)):
        size = path.stat().st_size
        digest.update(f"{path.name}|{size}".encode())
        with open(path, "rb") as f:
            if size <= _FULL_HASH_MAX_BYTES:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
            else:  # a long video: its size plus head and tail identify it well enough, and quickly
                digest.update(f.read(_PART_HASH_BYTES))
                f.seek(size - _PART_HASH_BYTES)
                digest.update(f.read(_PART_HASH_BYTES))
    return digest.hexdigest()


def calibration_frames(source: Path, count: int) -> list[np.ndarray]:
    """Up to ``count`` BGR frames: evenly spaced over a video, or the first ``count`` images of a folder."""
    import cv2

    files = _calibration_files(Path(source))
    images: list[np.ndarray] = []
    if len(files) == 1 and files[0].suffix.lower() not in _IMAGE_SUFFIXES:  # a video
        cap = cv2.VideoCapture(str(files[0]), cv2.CAP_FFMPEG)
        try:
            if not cap.isOpened():
                raise CalibrationUnavailable(f"calibration video {files[0]} cannot be opened")
            total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
            step = max(1, total // count) if total > 0 else 1
            index = 0
            while len(images) < count:  # sequential read: the same frames on every machine
                ok, image = cap.read()
                if not ok:
                    break
                if index % step == 0:
                    images.append(image)
                index += 1
        finally:
            cap.release()
    else:
        for path in files[:count]:
            image = cv2.imdecode(np.fromfile(str(path), dtype=np.uint8), cv2.IMREAD_COLOR)
            if image is not None:
                images.append(image)
    if not images:
        raise CalibrationUnavailable(f"no decodable calibration frame in {source}")
    return images


def _to_model_input(boxed: np.ndarray) -> np.ndarray:
    """The raw exported model's input for one letterboxed BGR frame: RGB, NCHW float32 in [0, 1] (what the
    detector's in-graph preprocessing makes of uint8 BGR)."""
    return np.ascontiguousarray(boxed[:, :, ::-1].transpose(2, 0, 1)[None], dtype=np.float32) / 255.0


def nncf_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nncf")
    except PackageNotFoundError:
        raise CalibrationUnavailable("nncf is not installed (pip install nncf==3.4.0)") from None


def int8_cache_dir(weights_sha256: str, source: Path, frames: int, imgsz: int, cache_dir: Path) -> Path:
    """Where the INT8 model for these weights and this calibration lives (whether built yet or not)."""
    from importlib.metadata import version

    cal = calibration_digest(Path(source), frames, imgsz)
    key = f"{weights_sha256[:16]}-cal{cal[:12]}-nncf{nncf_version()}-ov{version('openvino')}"
    return Path(cache_dir) / "openvino-int8" / key


def _is_built(target: Path) -> bool:
    return (target / "model.xml").is_file() and (target / "metadata.yaml").is_file()


def quantized_openvino_dir(
    export_dir: Path, weights_sha256: str, source: Path, frames: int, imgsz: int, cache_dir: Path,
    timeout_s: float = 900.0,
) -> Path:
    """The INT8 model of ``export_dir`` (an f32 OpenVINO export of weights ``weights_sha256``), built once.

    The build runs in a child process (``python -m vision.quantize``): calibration tensors and NNCF's
    statistics need about a gigabyte, which then leaves with the child instead of staying in a
    worker's peak memory. Raises ``CalibrationUnavailable`` when it cannot be built.
    """
    import subprocess
    import sys

    target = int8_cache_dir(weights_sha256, source, frames, imgsz, cache_dir)  # raises when no source / no nncf
    if _is_built(target):
        return target
    cmd = [sys.executable, "-m", "vision.quantize", str(export_dir), weights_sha256, str(source), str(frames),
           str(imgsz), str(cache_dir)]
    root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = root + (":" + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    try:
        done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired:
        raise CalibrationUnavailable(f"INT8 quantisation took longer than {timeout_s:.0f} s") from None
    except OSError as exc:
        raise CalibrationUnavailable(f"INT8 quantisation could not start: {exc}") from None
    # the child's log goes to our stderr (its tail): our stdout stays clean (`vision eval --json`)
    sys.stderr.write(done.stdout[-4000:])
    if done.returncode != 0 or not _is_built(target):
        last = (done.stdout.strip().splitlines() or ["no output"])[-1]
        raise CalibrationUnavailable(f"INT8 quantisation failed (exit {done.returncode}): {last}")
    return target


def build_quantized(export_dir: Path, weights_sha256: str, source: Path, frames: int, imgsz: int, cache_dir: Path) -> Path:
    """Quantise in this process (``quantized_openvino_dir`` runs this in a child). Built in a temporary
    folder and renamed into place, so concurrent builders both end with a complete model."""
    import contextlib
    import sys

    target = int8_cache_dir(weights_sha256, source, frames, imgsz, cache_dir)
    if _is_built(target):
        return target
    import openvino as ov

    with contextlib.redirect_stdout(sys.stderr):  # keep stdout for our own output (`vision eval --json`)
        import nncf

    from vision.tiling import letterbox, letterbox_shape

    boxed = []  # letterboxed uint8 frames (2.8 MB each at 1280x736); float tensors are made one at a time
    for image in calibration_frames(Path(source), frames):
        w, h, _ = letterbox_shape(image.shape[1], image.shape[0], imgsz)
        boxed.append(letterbox(image, w, h)[0])
    xml = next(iter(sorted(Path(export_dir).glob("*.xml"))))
    model = ov.Core().read_model(str(xml))
    log.warning("quantising %s to INT8 with %d calibration frames from %s (once; cached in %s)",
                xml, len(boxed), source, target)
    with contextlib.redirect_stdout(sys.stderr):
        quantized = nncf.quantize(
            model,
            nncf.Dataset(boxed, _to_model_input),
            preset=nncf.QuantizationPreset.MIXED,
            subset_size=len(boxed),
            ignored_scope=nncf.IgnoredScope(types=list(IGNORED_TYPES)),
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        ov.save_model(quantized, str(work / "model.xml"))
        shutil.copy2(Path(export_dir) / "metadata.yaml", work / "metadata.yaml")
        (work / "calibration.txt").write_text(
            f"source: {source}\nframes: {len(boxed)}\nimgsz: {imgsz}\nrecipe: {RECIPE}\nnncf: {nncf_version()}\n"
            f"calibration: {target.name.split('-cal', 1)[1][:12]}\nweights sha256: {weights_sha256}\n"
        )
        try:
            work.rename(target)
        except OSError:
            if not _is_built(target):
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def _main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.WARNING)
    export_dir, sha, source, frames, imgsz, cache_dir = argv
    build_quantized(Path(export_dir), sha, Path(source), int(frames), int(imgsz), Path(cache_dir))
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(_main(sys.argv[1:]))
