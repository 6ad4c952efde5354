"""The errors telemetry/ raises: one tree, each carrying the protocol result where there is one.

TelemetryError
├── LinkDown            the link is not up (never connected, or lost)
├── CommandTimeout      no COMMAND_ACK after every retry
├── CommandRefused      the vehicle answered with a MAV_RESULT other than ACCEPTED
├── MissionError        a mission transfer failed (MISSION_ACK with a MAV_MISSION_RESULT, or timeout)
├── ParamError          a parameter could not be read or set
├── NotConfirmed        the vehicle accepted a command but its HEARTBEAT never showed the change (mode, armed)
├── ReplyTimeout        a request was accepted but the message that answers it never came (CAMERA_INFORMATION,
│                       CAMERA_IMAGE_CAPTURED); also a builtin TimeoutError
├── CaptureFailed       a camera reported that an image capture failed (capture_result 0)
├── WaitTimeout         wait_until()/wait_ready() ran out of time (also a builtin TimeoutError)
└── InvalidRequest      the caller asked for something that cannot be sent (unknown mode, bad URL...);
                        also a ValueError
"""
from __future__ import annotations


class TelemetryError(Exception):
    """Base of every error raised by telemetry/."""


class LinkDown(TelemetryError):
    pass


class CommandTimeout(TelemetryError):
    def __init__(self, command: int, command_name: str, attempts: int, timeout_s: float):
        super().__init__(f"{command_name} ({command}): no COMMAND_ACK after {attempts} attempts of {timeout_s:g} s")
        self.command = command
        self.command_name = command_name
        self.attempts = attempts


class CommandRefused(TelemetryError):
    def __init__(self, command: int, command_name: str, result: int, result_name: str, reason: str = ""):
        msg = f"{command_name} ({command}) refused: {result_name} ({result})"
        if reason:
            msg += f": {reason}"
        super().__init__(msg)
        self.command = command
        self.command_name = command_name
        self.result = result
        self.result_name = result_name
        self.reason = reason


class MissionError(TelemetryError):
    def __init__(self, message: str, result: int | None = None, result_name: str | None = None):
        super().__init__(message if result is None else f"{message}: {result_name} ({result})")
        self.result = result
        self.result_name = result_name


class ParamError(TelemetryError):
    pass


class NotConfirmed(TelemetryError):
    """The vehicle acknowledged the command, but its state never showed the change in time."""

    def __init__(self, what: str, timeout_s: float, last_seen: str = ""):
        msg = f"{what}: accepted but not confirmed by HEARTBEAT within {timeout_s:g} s"
        if last_seen:
            msg += f" (vehicle shows {last_seen})"
        super().__init__(msg)
        self.what = what


class ReplyTimeout(TelemetryError, TimeoutError):
    """The vehicle (or one of its components) accepted a request, but the message it owed never came."""

    def __init__(self, what: str, timeout_s: float):
        super().__init__(f"{what}: accepted, but no answer within {timeout_s:g} s")
        self.what = what
        self.timeout_s = timeout_s


class CaptureFailed(TelemetryError):
    """The camera took the capture command but reported the capture failed; carries its CapturedImage record."""

    def __init__(self, message: str, image=None):
        super().__init__(message)
        self.image = image


class WaitTimeout(TelemetryError, TimeoutError):
    """A wait for a vehicle state ran out of time; carries the last state seen."""

    def __init__(self, message: str, last_state=None):
        super().__init__(message)
        self.last_state = last_state


class InvalidRequest(TelemetryError, ValueError):
    """The request itself is wrong (unknown mode name, too many params, bad URL, bad mission item)."""
