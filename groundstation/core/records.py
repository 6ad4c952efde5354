"""The core's vocabulary shared by every concern: events in (from the shell), rows to record, actions out.

Concern-specific events and rows live with their concern (patrols.py, crowds.py, response.py); this module has
the ones about vehicles and commands, and the three actions the shell carries out:
- `Record(row)`: a row for storage (the audit trail and the event log),
- `SendCommand(...)`: a typed vehicle command that PASSED the safety checks, for the shell to send,
- `Reply(outcome)`: the answer to whoever asked (operator, web, automatic rule).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, is_dataclass
from enum import Enum
from typing import Any

from groundstation.core.commands import VehicleCommand

@dataclass(frozen=True)
class VehicleConfigured:
    """The shell added a vehicle from the config to the fleet."""

    vehicle_id: str
    url: str
    system_id: int | None = None


@dataclass(frozen=True)
class VehicleUnavailable:
    """The shell could not set up a configured vehicle (e.g. its link could not be opened)."""

    vehicle_id: str
    url: str
    reason: str


@dataclass(frozen=True)
class CommandRequest:
    """An operator's (or an automatic rule's) request to command a vehicle.

    action/args: a vehicle command (commands.COMMANDS: the field names of its type are the arguments) or a
    station action (abort_patrol; the crowd response's approve/deny/abort).
    """

    vehicle_id: str
    action: str
    args: Mapping[str, Any] = field(default_factory=dict)
    requested_by: str = "operator"
    request_id: str = ""
    # what the shell read for a station action and hands to the core with it (load_zones: the zone policies); args
    # say what it is for the record, the attachment itself is never recorded
    attachment: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class CommandFinished:
    """What happened to a command the shell sent (success, vehicle refusal, timeout, link down...)."""

    request_id: str
    vehicle_id: str
    action: str
    ok: bool
    command: int | None = None  # MAV_CMD
    result: int | None = None  # MAV_RESULT (or MAV_MISSION_RESULT for missions)
    result_name: str | None = None
    attempts: int | None = None
    round_trip_s: float | None = None
    error_kind: str | None = None  # refused | timeout | link_down | mission | param | internal | not_sent
    error: str | None = None
    detail: str | None = None
    value: Any = None  # what the vehicle returned, when it is a record (e.g. a captured image)



# --- rows to record -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class VehicleRow:
    vehicle_id: str
    url: str
    at_s: float
    system_id: int | None = None
    is_simulator: bool | None = None


@dataclass(frozen=True)
class LinkRow:
    vehicle_id: str
    at_s: float
    up: bool
    reason: str


@dataclass(frozen=True)
class CommandRow:
    """The decision on a command request: 'sent' (checks passed) or 'refused' (with why)."""

    request_id: str
    vehicle_id: str
    action: str
    params: Mapping[str, Any]  # JSON-able
    requested_by: str
    requested_at_s: float
    decision: str  # sent | refused
    reason: str


@dataclass(frozen=True)
class CommandResultRow:
    request_id: str
    finished_at_s: float
    status: str  # accepted | refused_by_vehicle | failed
    command: int | None
    result: int | None
    result_name: str | None
    attempts: int | None
    round_trip_s: float | None
    error: str | None


@dataclass(frozen=True)
class EventRow:
    vehicle_id: str | None
    at_s: float
    kind: str  # link | mode | armed | ready | home | battery | statustext | link_error | decision | command | mission | vehicle
    severity: str  # info | warning | error | critical
    text: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MissionRunRow:
    """Insert-or-update of one mission run (keyed by run_id = the upload's request id)."""

    run_id: str
    vehicle_id: str
    at_s: float
    status: str  # uploaded | running | interrupted | completed | ended
    item_count: int
    mission_type: str
    last_reached_seq: int | None = None



# --- actions out --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CommandOutcome:
    """The answer to a CommandRequest."""

    request_id: str
    vehicle_id: str
    action: str
    status: str  # accepted | refused_by_station | refused_by_vehicle | failed
    reason: str
    result: int | None = None
    result_name: str | None = None
    round_trip_s: float | None = None

    @property
    def ok(self) -> bool:
        return self.status == "accepted"


@dataclass(frozen=True)
class Record:
    """A row to store: one of the *Row dataclasses of any concern (shell/storage/rows.py writes each kind)."""

    row: Any


@dataclass(frozen=True)
class SendCommand:
    """A checked command for the shell to send: `command.send(vehicle)` on the vehicle's link."""

    request_id: str
    vehicle_id: str
    command: VehicleCommand

    @property
    def action(self) -> str:
        return self.command.action


@dataclass(frozen=True)
class Reply:
    outcome: CommandOutcome


Action = Record | SendCommand | Reply


def plain(value: Any) -> Any:
    """A JSON-able copy of command arguments and row data (dataclasses -> dicts, enums -> names)."""
    if isinstance(value, Enum):
        return value.name
    if is_dataclass(value) and not isinstance(value, type):
        return {k: plain(v) for k, v in asdict(value).items()}
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)
