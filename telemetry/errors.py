"""The errors telemetry/ raises: one tree, each carrying the protocol result where there is one.

TelemetryError
├── LinkDown            the link is not up (never connected, or lost)
├── CommandTimeout      no COMMAND_ACK after every retry
├── CommandRefused      the vehicle answered with a MAV_RESULT other than ACCEPTED
├── MissionError        a mission transfer failed (MISSION_ACK with a MAV_MISSION_RESULT, or timeout)
└── ParamError          a parameter could not be read or set
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
