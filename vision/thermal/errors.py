"""Errors of thermal screening, a branch of the vision error tree (each names the path, URL or what is wrong).

    VisionError
     └─ ThermalError                  anything thermal screening refuses on purpose
         ├─ ThermalSourceError        a radiometric frame cannot be had from its source
         │   ├─ ThermalFileNotFoundError   no such local file
         │   ├─ ThermalFetchError          an http(s) URL is unreachable, timed out, answered an error or too much
         │   └─ ThermalFormatError         the bytes are not a readable radiometric frame (not TIFF / FLIR JPEG,
         │                                 truncated, wrong pixel type, no raw thermal data in the JPEG)
         └─ ThermalFrameError         the values do not make a valid frame: size not that of the camera model
                                      (misaligned), non-finite or physically implausible temperatures, no camera
                                      model to be had, or a frame unfit for screening
"""
from __future__ import annotations

from vision.errors import VisionError


class ThermalError(VisionError):
    """Base of every error raised on purpose by vision.thermal."""


class ThermalSourceError(ThermalError):
    """A radiometric frame cannot be had from its source (the message names the path or URL)."""


class ThermalFileNotFoundError(ThermalSourceError):
    """The local file does not exist."""


class ThermalFetchError(ThermalSourceError):
    """An http(s) URL could not be fetched: unreachable, timed out, an HTTP error status, or over the size limit."""


class ThermalFormatError(ThermalSourceError):
    """The bytes are not a readable radiometric frame: unknown format, truncated, wrong pixel type, no raw data."""


class ThermalFrameError(ThermalError):
    """The data do not make a valid thermal frame, or the frame cannot be used as asked."""
