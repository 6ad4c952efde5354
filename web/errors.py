"""The web map's errors: one tree, each with the HTTP status it answers with and a short machine-readable code.

The station side of the port (groundstation/shell/web_bridge.py) raises `InvalidInput`, `NotFound` and `Conflict`
too, so a refusal keeps its reason all the way to the browser as ``{"error": code, "message": text}``.
"""
from __future__ import annotations


class WebError(Exception):
    """Base of every error the web map answers with; `status` is the HTTP status, `code` the JSON error code."""

    status = 500
    code = "internal"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidInput(WebError):
    """A malformed or unusable request body or parameter (nothing was changed)."""

    status = 400
    code = "invalid_input"


class Unauthorized(WebError):
    """No valid login (or a wrong name or password)."""

    status = 401
    code = "unauthorized"


class Forbidden(WebError):
    """Logged in, but the user's role may not do this (checked on the server, whatever the page shows)."""

    status = 403
    code = "forbidden"


class CsrfFailed(Forbidden):
    """A state-changing request without the session's CSRF token (header X-CSRFToken)."""

    code = "csrf_failed"


class NotFound(WebError):
    status = 404
    code = "not_found"


class Conflict(WebError):
    """The change clashes with what exists (a user or schedule name taken)."""

    status = 409
    code = "conflict"


class UnsupportedMediaType(WebError):
    """A request body that is not JSON (state-changing requests take application/json only)."""

    status = 415
    code = "unsupported_media_type"


class TooManyAttempts(WebError):
    """Too many failed logins for this name or address; try again after `retry_after_s`."""

    status = 429
    code = "too_many_attempts"

    def __init__(self, message: str, retry_after_s: float):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class StationUnavailable(WebError):
    """The station did not answer in time (the command may still be carried out: see the audit trail)."""

    status = 504
    code = "station_timeout"


class VideoUnavailable(WebError):
    """A camera's video cannot be reached now (its vision worker is not running or not serving it)."""

    status = 502
    code = "video_unavailable"
