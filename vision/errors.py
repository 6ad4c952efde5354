"""The vision package's errors: one tree, each naming what failed (a path, a URL, a class list)."""
from __future__ import annotations


class VisionError(Exception):
    """Base of every error raised on purpose by vision/."""


class ModelError(VisionError):
    """The detection model cannot be used."""


class ModelNotFoundError(ModelError):
    """The weights file or model folder does not exist (the message names the path)."""


class NoPersonClassError(ModelError):
    """The model has no 'person' class, so it cannot count people."""


class SourceError(VisionError):
    """A frame source cannot be opened or read."""


class SourceOpenError(SourceError):
    """The file, stream or device could not be opened, or holds no decodable frame."""


class NotAnImageError(SourceOpenError):
    """A still image file that does not decode as an image."""
