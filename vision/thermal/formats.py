"""Radiometric frames from files and URLs: 16-bit centi-kelvin TIFF (read and write) and FLIR radiometric JPEG.

Sources are local paths or http(s) URLs (fetched with a timeout and a size limit, so a dead camera
never hangs the caller), e.g. the simulator's thermal camera at ``http://127.0.0.1:PORT/thermal/<sysid>/<n>.tiff``.

TIFF: one 16-bit grey channel in centi-kelvin (°C = value / 100 - 273.15), the common export of
radiometric drone cameras. A plain TIFF carries no camera intrinsics: the caller names the camera.
Its values are taken as apparent temperatures unless the caller says otherwise (``radiometry``).

FLIR radiometric JPEG (FLIR cameras, DJI Zenmuse XT/XT2/XTR): one run of Debian's ``exiftool`` reads
the metadata and the embedded raw sensor counts (the bytes go in on stdin, so URLs need no temporary
file); the counts become °C with flirimageextractor 1.3.0's ``FlirImageExtractor.raw2temp`` (Planck
curve plus FLIR's atmosphere model) and the file's own Planck constants R1, B, F, O, R2. Two choices:

- ``corrections="apparent"`` (the default, what screening wants): emissivity 1, distance 0 and window
  transmission 1, so the atmosphere and reflection terms vanish and each pixel is the blackbody
  temperature of the radiance that reached the sensor;
- ``corrections="file"``: exactly what flirimageextractor's ``process_image`` returns, i.e. with the
  file's Emissivity, ReflectedApparentTemperature, AtmosphericTemperature, IRWindowTemperature,
  IRWindowTransmission and RelativeHumidity, and as distance the EXIF SubjectDistance (1 m when absent;
  note the library ignores FLIR's own ObjectDistance tag). PNG raw data is byte-swapped first, TIFF raw
  data is not, as the library does.

DJI R-JPEGs of the H20T/M30T generation carry no FLIR raw record (they need DJI's Thermal SDK) and
are refused with a clear error.
"""
from __future__ import annotations

import http.client
import io
import json
import math
import socket
import subprocess
import time
import urllib.error
import urllib.request
import warnings
from base64 import b64decode
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import numpy as np

from vision.camera import CameraModel, CameraPose
from vision.thermal.errors import (
    ThermalFetchError,
    ThermalFileNotFoundError,
    ThermalFormatError,
    ThermalFrameError,
    ThermalSourceError,
)
from vision.thermal.frame import Radiometry, ThermalFrame

KELVIN_OFFSET_C = 273.15
DEFAULT_TIMEOUT_S = 5.0
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*")
_JPEG_MAGIC = b"\xff\xd8"
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B")
_EXIFTOOL_TIMEOUT_S = 30.0
# FocalPlaneResolutionUnit -> millimetres per unit (EXIF: 2 inch, 3 cm, 4 mm, 5 um)
_FOCAL_PLANE_UNIT_MM = {2: 25.4, 3: 10.0, 4: 1.0, 5: 0.001}

Corrections = Literal["apparent", "file"]


@dataclass(frozen=True)
class FlirMetadata:
    """What a FLIR radiometric JPEG says about its camera, its radiometric settings and (drone files) its pose.

    ``camera`` is derived from the FLIR FieldOfView tag, else from the EXIF focal length and focal-plane
    resolution; None when neither is there. ``pose`` comes from DJI's XMP record (GPS, RelativeAltitude
    above the take-off point, earth-frame gimbal yaw/pitch/roll); None without it (AMSL altitude alone
    does not say how high above the ground the camera was). ``capture_time_s`` is Unix time, None when
    no capture time with a UTC offset is recorded.
    """

    make: str
    model: str
    raw_width_px: int
    raw_height_px: int
    raw_format: str
    focal_length_mm: float | None
    hfov_deg: float | None
    camera: CameraModel | None
    planck_r1: float
    planck_b: float
    planck_f: float
    planck_o: float
    planck_r2: float
    emissivity: float
    subject_distance_m: float  # EXIF SubjectDistance, 1 m when absent: the distance flirimageextractor uses
    object_distance_m: float | None  # FLIR's own ObjectDistance setting
    reflected_c: float
    atmospheric_c: float
    ir_window_c: float
    ir_window_transmission: float
    relative_humidity_pct: float
    gps_lat_deg: float | None
    gps_lon_deg: float | None
    gps_alt_amsl_m: float | None
    relative_alt_m: float | None
    gimbal_yaw_deg: float | None
    gimbal_pitch_deg: float | None
    gimbal_roll_deg: float | None
    pose: CameraPose | None
    capture_time_s: float | None
    central_temp_c: float | None  # DJI's own reading at the image centre, as set in the file


# ---------------------------------------------------------------------------------------------- sources


def is_url(source: str | Path) -> bool:
    return isinstance(source, str) and source.lower().startswith(("http://", "https://"))


def read_source_bytes(
    source: str | Path, *, timeout_s: float = DEFAULT_TIMEOUT_S, max_bytes: int = DEFAULT_MAX_BYTES
) -> bytes:
    """The bytes of a local file or of an http(s) URL (whole transfer bounded by ``timeout_s``)."""
    if is_url(source):
        return _fetch(str(source), timeout_s, max_bytes)
    if isinstance(source, str) and "://" in source:
        raise ThermalSourceError(f"{source}: unsupported URL scheme (only http and https)")
    path = Path(source)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise ThermalSourceError(f"{path}: {size} bytes, more than the {max_bytes}-byte limit")
        return path.read_bytes()
    except FileNotFoundError:
        raise ThermalFileNotFoundError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ThermalSourceError(f"{path}: is a directory, not a radiometric file") from None
    except OSError as exc:
        raise ThermalSourceError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _fetch(url: str, timeout_s: float, max_bytes: int) -> bytes:
    deadline = time.monotonic() + timeout_s
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            declared = response.headers.get("Content-Length")
            if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                raise ThermalFetchError(f"{url}: {declared} bytes, more than the {max_bytes}-byte limit")
            chunks, total = [], 0
            while True:
                if time.monotonic() > deadline:
                    raise ThermalFetchError(f"{url}: transfer not finished within {timeout_s:g} s")
                chunk = response.read(65536)
                if not chunk:
                    break
                total += len(chunk)
                if total > max_bytes:
                    raise ThermalFetchError(f"{url}: more than the {max_bytes}-byte limit")
                chunks.append(chunk)
            return b"".join(chunks)
    except urllib.error.HTTPError as exc:
        raise ThermalFetchError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, (TimeoutError, socket.timeout)):
            raise ThermalFetchError(f"{url}: no answer within {timeout_s:g} s") from None
        raise ThermalFetchError(f"{url}: unreachable ({reason})") from None
    except (TimeoutError, socket.timeout):
        raise ThermalFetchError(f"{url}: no answer within {timeout_s:g} s") from None
    except (http.client.HTTPException, ConnectionError, OSError) as exc:
        raise ThermalFetchError(f"{url}: transfer failed ({type(exc).__name__}: {exc})") from None


# ----------------------------------------------------------------------------------------- radiometric TIFF


def decode_centikelvin_tiff(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """A 16-bit grey centi-kelvin TIFF -> float32 °C array (height x width).

    Read with Pillow's TIFF reader itself, not Image.open: Ultralytics patches Image.open in any process that
    imported it, and on an unreadable image that patch tries to install an HEIF plugin instead of failing."""
    from PIL import TiffImagePlugin, UnidentifiedImageError

    if not data.startswith(_TIFF_MAGIC):
        raise ThermalFormatError(f"{source}: not a TIFF file (starts with {data[:4]!r})")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns on corrupt tags; the error below says what failed
            with TiffImagePlugin.TiffImageFile(io.BytesIO(data)) as image:
                _check_complete(image, len(data), source)
                mode = image.mode
                if mode not in _SIXTEEN_BIT_MODES:
                    raise ThermalFormatError(
                        f"{source}: TIFF pixels are {mode!r}, expected one 16-bit grey channel of centi-kelvin"
                    )
                counts = np.array(image)
    except ThermalFormatError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ThermalFormatError(f"{source}: unreadable TIFF ({exc})") from None
    return (counts.astype(np.float32) / np.float32(100.0)) - np.float32(KELVIN_OFFSET_C)


def _check_complete(image, size_bytes: int, source: str) -> None:
    """The file holds every strip (or tile) its header promises. (Pillow would pad a truncated image with zeros
    when another library has set its LOAD_TRUNCATED_IMAGES switch, as WeasyPrint does on import.)"""
    tags = image.tag_v2
    offsets, counts = tags.get(273) or tags.get(324), tags.get(279) or tags.get(325)  # strips, or tiles
    if offsets is None or counts is None:
        raise ThermalFormatError(f"{source}: unreadable TIFF (no strip or tile offsets)")
    offsets = offsets if isinstance(offsets, tuple) else (offsets,)
    counts = counts if isinstance(counts, tuple) else (counts,)
    end = max(int(o) + int(c) for o, c in zip(offsets, counts))
    if end > size_bytes:
        raise ThermalFormatError(f"{source}: unreadable TIFF (truncated: the header promises {end} bytes, the file "
                                 f"has {size_bytes})")


def encode_centikelvin_tiff(temps_c: np.ndarray) -> bytes:
    """°C array -> 16-bit grey centi-kelvin TIFF bytes (0.01 K steps; -273.15..382.2 °C representable)."""
    from PIL import Image

    temps = np.asarray(temps_c, dtype=np.float64)
    if temps.ndim != 2 or not np.isfinite(temps).all():
        raise ThermalFrameError(f"a TIFF frame needs a 2-D array of finite °C, got shape {temps.shape}")
    counts = np.rint((temps + KELVIN_OFFSET_C) * 100.0)
    if counts.min() < 0 or counts.max() > 65535:
        raise ThermalFrameError(
            f"temperatures {temps.min():.2f}..{temps.max():.2f} °C do not fit 16-bit centi-kelvin "
            f"({-KELVIN_OFFSET_C:g}..{65535 / 100 - KELVIN_OFFSET_C:.2f} °C)"
        )
    out = io.BytesIO()
    Image.fromarray(counts.astype(np.uint16)).save(out, format="TIFF")
    return out.getvalue()


def read_tiff(
    source: str | Path,
    *,
    camera: CameraModel,
    pose: CameraPose | None = None,
    capture_time_s: float | None = None,
    radiometry: Radiometry = Radiometry(),
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> ThermalFrame:
    """A centi-kelvin TIFF from a path or URL as a frame of ``camera`` (its size must match the TIFF's)."""
    data = read_source_bytes(source, timeout_s=timeout_s)
    temps = decode_centikelvin_tiff(data, str(source))
    return ThermalFrame(temps, camera, pose, capture_time_s, str(source), radiometry)


# ------------------------------------------------------------------------------------------- FLIR R-JPEG


def _run_exiftool(data: bytes, source: str, exiftool: str) -> dict:
    """All tags (numeric values, group-qualified, binary ones base64) of the bytes, large previews left out."""
    args = [exiftool, "-j", "-n", "-G", "-b", "-x", "EmbeddedImage", "-x", "ThumbnailImage", "-x", "PreviewImage", "-"]
    try:
        done = subprocess.run(args, input=data, capture_output=True, timeout=_EXIFTOOL_TIMEOUT_S, check=False)
    except FileNotFoundError:
        raise ThermalSourceError(
            f"{source}: {exiftool!r} not found: FLIR JPEGs need ExifTool (Debian libimage-exiftool-perl)"
        ) from None
    except subprocess.TimeoutExpired:
        raise ThermalFormatError(f"{source}: exiftool did not finish within {_EXIFTOOL_TIMEOUT_S:g} s") from None
    try:
        return json.loads(done.stdout.decode("utf-8", "replace"))[0]
    except (ValueError, IndexError, KeyError):
        message = done.stderr.decode("utf-8", "replace").strip() or f"exit status {done.returncode}"
        raise ThermalFormatError(f"{source}: exiftool cannot read it ({message})") from None


def _number(tags: dict, *keys: str) -> float | None:
    for key in keys:
        value = tags.get(key)
        if value is None or value == "":
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):
            return number
    return None


def _time_s(tags: dict) -> float | None:
    for key in ("APP1:DateTimeOriginal", "Composite:SubSecDateTimeOriginal", "Composite:DateTimeOriginal"):
        text = tags.get(key)
        if not isinstance(text, str):
            continue
        for fmt in ("%Y:%m:%d %H:%M:%S.%f%z", "%Y:%m:%d %H:%M:%S%z"):
            try:
                return datetime.strptime(text.strip(), fmt).timestamp()
            except ValueError:
                continue
    return None


def _subject_distance_m(tags: dict) -> float:
    """EXIF SubjectDistance as flirimageextractor takes it: 1 m when absent (or not a number, e.g. 'inf')."""
    distance = _number(tags, "EXIF:SubjectDistance")
    return 1.0 if distance is None else distance


def _metadata(tags: dict, source: str) -> FlirMetadata:
    if "APP1:RawThermalImageType" not in tags and "APP1:RawThermalImage" not in tags:
        warning = tags.get("ExifTool:Warning") or tags.get("ExifTool:Error")
        raise ThermalFormatError(
            f"{source}: no FLIR raw thermal data (not a FLIR radiometric JPEG, a DJI R-JPEG that needs DJI's "
            f"Thermal SDK, or a truncated file)" + (f"; exiftool: {warning}" if warning else "")
        )
    needed = {
        "planck_r1": "APP1:PlanckR1",
        "planck_b": "APP1:PlanckB",
        "planck_f": "APP1:PlanckF",
        "planck_o": "APP1:PlanckO",
        "planck_r2": "APP1:PlanckR2",
        "emissivity": "APP1:Emissivity",
        "reflected_c": "APP1:ReflectedApparentTemperature",
        "atmospheric_c": "APP1:AtmosphericTemperature",
        "ir_window_c": "APP1:IRWindowTemperature",
        "ir_window_transmission": "APP1:IRWindowTransmission",
        "relative_humidity": "APP1:RelativeHumidity",
        "raw_width_px": "APP1:RawThermalImageWidth",
        "raw_height_px": "APP1:RawThermalImageHeight",
    }
    values = {name: _number(tags, key) for name, key in needed.items()}
    missing = [needed[name] for name, value in values.items() if value is None]
    if missing:
        raise ThermalFormatError(f"{source}: FLIR record lacks {', '.join(missing)}")
    width, height = int(values.pop("raw_width_px")), int(values.pop("raw_height_px"))
    humidity = values.pop("relative_humidity")

    focal_mm = _number(tags, "EXIF:FocalLength")
    hfov = _number(tags, "APP1:FieldOfView")
    hfov = hfov if hfov is not None and 0.0 < hfov < 180.0 else None
    camera = None
    if hfov is not None:
        camera = CameraModel.from_hfov(width, height, hfov)
    else:
        plane_res = _number(tags, "EXIF:FocalPlaneXResolution")
        unit_mm = _FOCAL_PLANE_UNIT_MM.get(int(_number(tags, "EXIF:FocalPlaneResolutionUnit") or 0))
        image_width = _number(tags, "File:ImageWidth") or width
        if focal_mm and plane_res and unit_mm:
            fx = focal_mm * plane_res / unit_mm * (width / image_width)
            camera = CameraModel(width, height, fx, fx, width / 2.0, height / 2.0)
            hfov = math.degrees(2.0 * math.atan(width / 2.0 / fx))

    lat = _number(tags, "Composite:GPSLatitude")
    lon = _number(tags, "Composite:GPSLongitude")
    rel_alt = _number(tags, "XMP:RelativeAltitude")
    g_yaw = _number(tags, "XMP:GimbalYawDegree")
    g_pitch = _number(tags, "XMP:GimbalPitchDegree")
    g_roll = _number(tags, "XMP:GimbalRollDegree")
    pose = None
    if None not in (lat, lon, rel_alt, g_yaw, g_pitch):
        pose = CameraPose(lat, lon, rel_alt, g_yaw % 360.0, g_pitch, g_roll or 0.0)

    return FlirMetadata(
        make=str(tags.get("EXIF:Make", "")),
        model=str(tags.get("EXIF:Model", "")),
        raw_width_px=width,
        raw_height_px=height,
        raw_format=str(tags.get("APP1:RawThermalImageType", "")).strip().upper(),
        focal_length_mm=focal_mm,
        hfov_deg=hfov,
        camera=camera,
        subject_distance_m=_subject_distance_m(tags),
        object_distance_m=_number(tags, "APP1:ObjectDistance"),
        relative_humidity_pct=humidity * 100.0,  # exiftool's numeric value is a fraction
        gps_lat_deg=lat,
        gps_lon_deg=lon,
        gps_alt_amsl_m=_number(tags, "XMP:AbsoluteAltitude", "Composite:GPSAltitude"),
        relative_alt_m=rel_alt,
        gimbal_yaw_deg=g_yaw,
        gimbal_pitch_deg=g_pitch,
        gimbal_roll_deg=g_roll,
        pose=pose,
        capture_time_s=_time_s(tags),
        central_temp_c=_number(tags, "XMP:CentralTemperature"),
        **values,
    )


def _raw_counts(tags: dict, meta: FlirMetadata, source: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    blob = tags.get("APP1:RawThermalImage")
    if not isinstance(blob, str) or not blob.startswith("base64:"):
        raise ThermalFormatError(f"{source}: the raw thermal image could not be extracted (truncated file?)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(b64decode(blob[len("base64:"):]))) as image:
                raw = np.array(image)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ThermalFormatError(f"{source}: embedded raw thermal image is unreadable ({exc})") from None
    if raw.ndim != 2 or not np.issubdtype(raw.dtype, np.integer):
        raise ThermalFormatError(f"{source}: embedded raw thermal image is {raw.dtype} {raw.shape}, not 16-bit grey")
    if raw.shape != (meta.raw_height_px, meta.raw_width_px):
        raise ThermalFormatError(
            f"{source}: raw image is {raw.shape[1]}x{raw.shape[0]} px, the FLIR record says "
            f"{meta.raw_width_px}x{meta.raw_height_px}"
        )
    raw = raw.astype(np.uint16)
    if meta.raw_format != "TIFF":
        raw = raw.byteswap()  # FLIR stores PNG raw data big-endian-swapped, as flirimageextractor corrects it
    return raw


def _to_celsius(raw: np.ndarray, meta: FlirMetadata, corrections: Corrections) -> tuple[np.ndarray, Radiometry]:
    from flirimageextractor import FlirImageExtractor

    planck = dict(PR1=meta.planck_r1, PB=meta.planck_b, PF=meta.planck_f, PO=meta.planck_o, PR2=meta.planck_r2)
    if corrections == "apparent":
        settings = dict(E=1.0, OD=0.0, IRT=1.0, RTemp=meta.reflected_c, ATemp=meta.atmospheric_c,
                        IRWTemp=meta.ir_window_c, RH=meta.relative_humidity_pct)
        radiometry = Radiometry()
    elif corrections == "file":
        settings = dict(E=meta.emissivity, OD=meta.subject_distance_m, IRT=meta.ir_window_transmission,
                        RTemp=meta.reflected_c, ATemp=meta.atmospheric_c, IRWTemp=meta.ir_window_c,
                        RH=meta.relative_humidity_pct)
        radiometry = Radiometry(meta.emissivity, meta.subject_distance_m, meta.reflected_c, meta.atmospheric_c)
    else:
        raise ValueError(f"corrections must be 'apparent' or 'file', got {corrections!r}")
    with np.errstate(invalid="ignore", divide="ignore"):
        temps = FlirImageExtractor.raw2temp(raw.astype(np.float64), **settings, **planck)
    return np.asarray(temps, dtype=np.float32), radiometry


def flir_metadata_from_bytes(data: bytes, source: str = "<bytes>", *, exiftool: str = "exiftool") -> FlirMetadata:
    if not data.startswith(_JPEG_MAGIC):
        raise ThermalFormatError(f"{source}: not a JPEG file (starts with {data[:4]!r})")
    return _metadata(_run_exiftool(data, source, exiftool), source)


def read_flir_metadata(
    source: str | Path, *, timeout_s: float = DEFAULT_TIMEOUT_S, exiftool: str = "exiftool"
) -> FlirMetadata:
    """The camera, radiometric settings and (drone files) pose recorded in a FLIR radiometric JPEG."""
    return flir_metadata_from_bytes(read_source_bytes(source, timeout_s=timeout_s), str(source), exiftool=exiftool)


def decode_flir_jpeg(
    data: bytes,
    source: str = "<bytes>",
    *,
    camera: CameraModel | None = None,
    pose: CameraPose | None = None,
    capture_time_s: float | None = None,
    corrections: Corrections = "apparent",
    exiftool: str = "exiftool",
) -> ThermalFrame:
    """FLIR radiometric JPEG bytes -> frame; ``camera``/``pose``/``capture_time_s`` override the file's own."""
    if not data.startswith(_JPEG_MAGIC):
        raise ThermalFormatError(f"{source}: not a JPEG file (starts with {data[:4]!r})")
    tags = _run_exiftool(data, source, exiftool)
    meta = _metadata(tags, source)
    temps, radiometry = _to_celsius(_raw_counts(tags, meta, source), meta, corrections)
    camera = camera or meta.camera
    if camera is None:
        raise ThermalFrameError(
            f"{source}: no field of view or focal-plane resolution in its metadata "
            f"(focal length {meta.focal_length_mm} mm): pass the thermal camera's model"
        )
    return ThermalFrame(
        temps,
        camera,
        pose if pose is not None else meta.pose,
        capture_time_s if capture_time_s is not None else meta.capture_time_s,
        source,
        radiometry,
    )


def read_flir_jpeg(
    source: str | Path,
    *,
    camera: CameraModel | None = None,
    pose: CameraPose | None = None,
    capture_time_s: float | None = None,
    corrections: Corrections = "apparent",
    timeout_s: float = DEFAULT_TIMEOUT_S,
    exiftool: str = "exiftool",
) -> ThermalFrame:
    """A FLIR radiometric JPEG from a path or URL as a frame (see the module docstring for ``corrections``)."""
    data = read_source_bytes(source, timeout_s=timeout_s)
    return decode_flir_jpeg(
        data, str(source), camera=camera, pose=pose, capture_time_s=capture_time_s,
        corrections=corrections, exiftool=exiftool,
    )


# ------------------------------------------------------------------------------------------------ any


def read_thermal(
    source: str | Path,
    *,
    camera: CameraModel | None = None,
    pose: CameraPose | None = None,
    capture_time_s: float | None = None,
    corrections: Corrections = "apparent",
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> ThermalFrame:
    """A radiometric frame from a path or http(s) URL, TIFF or FLIR JPEG told apart by their first bytes.

    A TIFF needs ``camera``; a FLIR JPEG takes its camera, pose and time from its metadata unless given.
    """
    data = read_source_bytes(source, timeout_s=timeout_s)
    name = str(source)
    if data.startswith(_TIFF_MAGIC):
        if camera is None:
            raise ThermalFrameError(f"{name}: a TIFF carries no camera model: pass the thermal camera's model")
        return ThermalFrame(decode_centikelvin_tiff(data, name), camera, pose, capture_time_s, name)
    if data.startswith(_JPEG_MAGIC):
        return decode_flir_jpeg(
            data, name, camera=camera, pose=pose, capture_time_s=capture_time_s, corrections=corrections
        )
    kind = "empty" if not data else f"starts with {data[:4]!r}"
    raise ThermalFormatError(f"{name}: neither a radiometric TIFF nor a FLIR JPEG ({kind})")
