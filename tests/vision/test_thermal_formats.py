"""Radiometric frames from files and URLs: centi-kelvin TIFF round trips, real FLIR JPEGs against
flirimageextractor and their own metadata, and every kind of bad input failing with a clear error, never a hang."""
from __future__ import annotations

import http.server
import io
import socket
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vision.camera import CameraModel, CameraPose
from vision.thermal import (
    Radiometry,
    ThermalFetchError,
    ThermalFileNotFoundError,
    ThermalFormatError,
    ThermalFrame,
    ThermalFrameError,
    ThermalSourceError,
    decode_centikelvin_tiff,
    encode_centikelvin_tiff,
    read_flir_jpeg,
    read_flir_metadata,
    read_thermal,
    read_tiff,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "thermal"
AX8 = DATA / "ax8.jpg"
XTR = DATA / "zenmuse_xtr.jpg"
XTR_CAMERA = CameraModel.from_hfov(640, 512, 32.0)  # Zenmuse XTR 640, 19 mm lens: 32° x 26°
CAMERA = CameraModel.from_hfov(64, 48, 40.0)


def scene_c(shape=(48, 64), seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.uniform(-20.0, 60.0, shape)).astype(np.float32)


class Server:
    """Loopback HTTP server: ``routes`` maps a path to (status, body); ``stall`` accepts and never answers."""

    def __init__(self, routes: dict[str, tuple[int, bytes]]):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                status, body = routes.get(self.path, (404, b"not here"))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


# ------------------------------------------------------------------------------------------------- TIFF


@pytest.mark.parametrize(
    "temps",
    [
        scene_c(),
        np.full((48, 64), 36.6, np.float32),
        np.linspace(-40.0, 150.0, 48 * 64, dtype=np.float32).reshape(48, 64),
    ],
    ids=["random", "uniform", "ramp"],
)
def test_tiff_round_trip_keeps_temperatures_to_a_hundredth_of_a_kelvin(tmp_path, temps):
    path = tmp_path / "frame.tiff"
    path.write_bytes(encode_centikelvin_tiff(temps))
    pose = CameraPose(22.05, 112.46, 30.0, 0.0, -90.0)
    frame = read_tiff(path, camera=CAMERA, pose=pose, capture_time_s=12.5)
    assert frame.temps_c.dtype == np.float32 and frame.shape == (48, 64)
    assert np.abs(frame.temps_c - temps).max() <= 0.0051
    assert (frame.pose, frame.capture_time_s, frame.source) == (pose, 12.5, str(path))
    assert frame.radiometry.apparent


def test_tiff_values_are_centikelvin():
    counts = np.array([[27315, 31015], [37315, 0 + 30000]], dtype=np.uint16)
    out = io.BytesIO()
    Image.fromarray(counts).save(out, format="TIFF")
    assert decode_centikelvin_tiff(out.getvalue()) == pytest.approx(np.array([[0.0, 37.0], [100.0, 26.85]]), abs=1e-4)


def test_big_endian_tiff_reads_the_same():
    temps = scene_c(seed=3)
    counts = np.rint((temps.astype(np.float64) + 273.15) * 100).astype(">u2")
    out = io.BytesIO()
    Image.fromarray(counts).save(out, format="TIFF")
    assert np.abs(decode_centikelvin_tiff(out.getvalue()) - temps).max() <= 0.0051


def test_tiff_from_the_simulator_style_url():
    temps = scene_c(seed=1)
    with Server({"/thermal/1/0.tiff": (200, encode_centikelvin_tiff(temps))}) as server:
        url = f"{server.base}/thermal/1/0.tiff"
        frame = read_thermal(url, camera=CAMERA)
    assert frame.source == url and np.abs(frame.temps_c - temps).max() <= 0.0051


def test_frame_array_is_read_only_float32():
    frame = ThermalFrame(np.full((48, 64), 30, np.int64), CAMERA, None, None, "test")
    assert frame.temps_c.dtype == np.float32
    with pytest.raises(ValueError):
        frame.temps_c[0, 0] = 99.0


# ---------------------------------------------------------------------------------------------- bad TIFF


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _tiff_of(array) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, format="TIFF")
    return out.getvalue()


BAD_FILES = {
    "missing": (lambda tmp: tmp / "none.tiff", ThermalFileNotFoundError, "none.tiff: no such file"),
    "directory": (lambda tmp: tmp, ThermalSourceError, "is a directory"),
    "empty": (lambda tmp: _write(tmp, "empty.tiff", b""), ThermalFormatError, "neither a radiometric TIFF"),
    "not an image": (lambda tmp: _write(tmp, "x.tiff", b"hello " * 50), ThermalFormatError, "neither a radiometric"),
    "truncated": (
        lambda tmp: _write(tmp, "cut.tiff", encode_centikelvin_tiff(scene_c((512, 640)))[:300_000]),
        ThermalFormatError,
        "cut.tiff: unreadable TIFF",
    ),
    "header only": (
        lambda tmp: _write(tmp, "head.tiff", encode_centikelvin_tiff(scene_c())[:8]),
        ThermalFormatError,
        "unreadable TIFF",
    ),
    "8-bit colour": (
        lambda tmp: _write(tmp, "rgb.tiff", _tiff_of(np.zeros((48, 64, 3), np.uint8))),
        ThermalFormatError,
        "expected one 16-bit grey channel",
    ),
    "wrong size": (
        lambda tmp: _write(tmp, "big.tiff", encode_centikelvin_tiff(scene_c((512, 640)))),
        ThermalFrameError,
        "640x512 px but the camera model is 64x48 px: misaligned",
    ),
    "deci-kelvin": (
        lambda tmp: _write(tmp, "dk.tiff", _tiff_of(np.full((48, 64), 3000, np.uint16))),
        ThermalFrameError,
        "outside the plausible",
    ),
}


@pytest.mark.parametrize("case", BAD_FILES, ids=list(BAD_FILES))
def test_bad_thermal_file_fails_with_a_clear_error(tmp_path, case):
    make, error, message = BAD_FILES[case]
    with pytest.raises(error, match=message):
        read_thermal(make(tmp_path), camera=CAMERA)


def test_tiff_without_a_camera_model_is_refused(tmp_path):
    path = _write(tmp_path, "f.tiff", encode_centikelvin_tiff(scene_c()))
    with pytest.raises(ThermalFrameError, match="pass the thermal camera's model"):
        read_thermal(path)


@pytest.mark.parametrize(
    "temps, message",
    [
        (np.zeros((48, 64, 1)), "2-D array"),
        (np.where(np.eye(48, 64) > 0, np.nan, 20.0), "48 of 3072 temperatures are not finite"),
        (np.full((48, 64), 900.0), "outside the plausible"),
    ],
    ids=["3-D", "nan", "too hot"],
)
def test_frame_record_checks_its_values(temps, message):
    with pytest.raises(ThermalFrameError, match=message):
        ThermalFrame(temps, CAMERA, None, None, "test")


# ------------------------------------------------------------------------------------------------ URLs


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_url_fails_at_once():
    url = f"http://127.0.0.1:{_closed_port()}/thermal/1/0.tiff"
    with pytest.raises(ThermalFetchError, match="unreachable"):
        read_thermal(url, camera=CAMERA, timeout_s=2.0)


def test_url_that_never_answers_times_out_instead_of_hanging():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # the connection is queued by the kernel and never served
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/thermal/1/0.tiff"
        with pytest.raises(ThermalFetchError, match="no answer within 0.5 s"):
            read_thermal(url, camera=CAMERA, timeout_s=0.5)
    finally:
        listener.close()


def test_http_error_status_is_reported():
    with Server({}) as server:
        with pytest.raises(ThermalFetchError, match="HTTP 404"):
            read_thermal(f"{server.base}/thermal/1/9.tiff", camera=CAMERA)


def test_unsupported_url_scheme():
    with pytest.raises(ThermalSourceError, match="unsupported URL scheme"):
        read_thermal("ftp://127.0.0.1/frame.tiff", camera=CAMERA)


# ------------------------------------------------------------------------------------------ FLIR JPEG


@pytest.mark.parametrize("path", [AX8, XTR], ids=["ax8", "zenmuse_xtr"])
def test_flir_file_corrections_match_flirimageextractor(path):
    from flirimageextractor import FlirImageExtractor

    library = FlirImageExtractor()
    library.process_image(str(path))
    expected = library.get_thermal_np()
    frame = read_flir_jpeg(path, camera=None if path == AX8 else XTR_CAMERA, corrections="file")
    assert frame.shape == expected.shape
    assert np.abs(frame.temps_c - expected).max() < 1e-3
    assert not frame.radiometry.apparent


def test_ax8_decodes_to_the_cameras_own_range():
    frame = read_flir_jpeg(AX8, corrections="file")
    # the file's ImageTemperatureMin/Max are 298 K and 299 K, in whole kelvins
    assert 298 - 273.15 - 1.0 <= frame.temps_c.min() <= frame.temps_c.max() <= 299 - 273.15 + 1.0
    assert frame.radiometry == Radiometry(
        emissivity=pytest.approx(0.95),
        distance_m=0.0,
        reflected_c=pytest.approx(20.0),
        atmospheric_c=pytest.approx(20.0),
    )


def test_zenmuse_centre_matches_the_files_central_temperature():
    meta = read_flir_metadata(XTR)
    frame = read_flir_jpeg(XTR, camera=XTR_CAMERA, corrections="file")
    centre = float(np.median(frame.temps_c[250:262, 314:326]))
    assert meta.central_temp_c == 26.0
    assert centre == pytest.approx(meta.central_temp_c, abs=1.0)


def test_apparent_temperatures_of_a_real_frame_are_plausible():
    apparent = read_flir_jpeg(XTR, camera=XTR_CAMERA)
    corrected = read_flir_jpeg(XTR, camera=XTR_CAMERA, corrections="file")
    assert apparent.radiometry.apparent
    assert 10.0 < apparent.temps_c.min() < np.median(apparent.temps_c) < apparent.temps_c.max() < 60.0
    # emissivity 0.70 with a 22 °C reflected background: warm objects are warmer than they look
    warm = apparent.temps_c > 35.0
    assert warm.any() and (corrected.temps_c[warm] > apparent.temps_c[warm]).all()


def test_flir_metadata_gives_camera_pose_and_time():
    ax8 = read_flir_metadata(AX8)
    assert (ax8.make, ax8.model, ax8.raw_format) == ("FLIR Systems AB", "FLIR AX8", "PNG")
    assert ax8.hfov_deg == pytest.approx(47.92, abs=0.01)
    assert ax8.camera == CameraModel.from_hfov(80, 60, ax8.hfov_deg)
    assert ax8.pose is None
    xtr = read_flir_metadata(XTR)
    assert (xtr.make, xtr.raw_width_px, xtr.raw_height_px, xtr.raw_format) == ("DJI", 640, 512, "TIFF")
    assert xtr.focal_length_mm == 19.0 and xtr.hfov_deg is None and xtr.camera is None
    assert xtr.pose == CameraPose(
        pytest.approx(-20.2327963), pytest.approx(-43.4913761), 1.5, pytest.approx(153.6), pytest.approx(-8.3), 0.0
    )
    assert xtr.capture_time_s == pytest.approx(1526466177.045)  # 2018-05-16 10:22:57.045 UTC
    assert (xtr.emissivity, xtr.object_distance_m, xtr.subject_distance_m) == (pytest.approx(0.7), 20.0, 1.0)


def test_flir_frame_takes_the_files_pose_unless_given():
    frame = read_flir_jpeg(XTR, camera=XTR_CAMERA)
    assert frame.pose.alt_m == 1.5 and frame.capture_time_s == pytest.approx(1526466177.045)
    mine = CameraPose(22.05, 112.46, 20.0, 0.0, -45.0)
    assert read_flir_jpeg(XTR, camera=XTR_CAMERA, pose=mine, capture_time_s=5.0).pose == mine


def test_flir_jpeg_without_a_field_of_view_needs_a_camera():
    with pytest.raises(ThermalFrameError, match="no field of view.*pass the thermal camera's model"):
        read_flir_jpeg(XTR)


def test_flir_jpeg_over_http():
    with Server({"/ir/ax8.jpg": (200, AX8.read_bytes())}) as server:
        frame = read_thermal(f"{server.base}/ir/ax8.jpg")
    assert frame.shape == (60, 80) and frame.camera == read_flir_metadata(AX8).camera


def _plain_jpeg() -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.full((32, 32, 3), 128, np.uint8)).save(out, format="JPEG")
    return out.getvalue()


BAD_JPEGS = {
    "ordinary JPEG": (lambda: _plain_jpeg(), "no FLIR raw thermal data"),
    "cut in the raw data": (lambda: XTR.read_bytes()[:400_000], "no FLIR raw thermal data.*truncated"),
    "cut in the header": (lambda: XTR.read_bytes()[:2_000], "no FLIR raw thermal data"),
}


@pytest.mark.parametrize("case", BAD_JPEGS, ids=list(BAD_JPEGS))
def test_bad_flir_jpeg_fails_with_a_clear_error(tmp_path, case):
    make, message = BAD_JPEGS[case]
    path = _write(tmp_path, "ir.jpg", make())
    with pytest.raises(ThermalFormatError, match=message):
        read_flir_jpeg(path, camera=XTR_CAMERA)


def test_missing_exiftool_is_named():
    with pytest.raises(ThermalSourceError, match="not found: FLIR JPEGs need ExifTool"):
        read_flir_jpeg(AX8, exiftool="/nonexistent/exiftool")
