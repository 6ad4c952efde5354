"""Notices to grid officers, their data: the policy, the events the shell answers with, the actions it carries out,
the rows recorded and the state. The decisions themselves (routing, retries, escalation, acknowledgement) are
notices.py.

A notice is one alert (response_data.AlertRow) sent to one officer responsible for the grid cell it happened in; it
climbs the hierarchy (cell -> community -> street -> district) while nobody acknowledges it. Each way to reach an
officer (webhook, e-mail, SMS) is one delivery, tried up to `max_attempts` times with a growing backoff.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from groundstation.core.response_data import AlertRow
from missions.grid import Grid

ESCALATION = ("cell", "community", "street", "district")  # the levels a notice climbs, in order
NOTICE_ALERT_KINDS = frozenset({"notice_failed", "notice_unanswered"})  # the notices' own alerts, for operators only
_EMPTY: Mapping[Any, Any] = MappingProxyType({})


# --- policy (from the config's [grid]) --------------------------------------------------------------------------


@dataclass(frozen=True)
class NoticePolicy:
    """Who gets which alert and how hard the station tries. No grid: alerts go to the operators only."""

    grid: Grid | None = None
    zone_cells: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: _EMPTY)  # counting zone -> its cells
    ack_timeout_s: Mapping[str, float] = field(default_factory=lambda: MappingProxyType(
        {"cell": 300.0, "community": 600.0, "street": 900.0, "district": 1800.0}))
    retry_backoff_s: float = 5.0  # after the first failed attempt; then times retry_backoff_factor, up to the max
    retry_backoff_factor: float = 2.0
    retry_backoff_max_s: float = 300.0
    max_attempts: int = 4  # per delivery (one officer, one channel)
    alert_kinds: frozenset[str] | None = None  # the alert kinds routed to officers; None: every kind
    forget_after_s: float = 86_400.0  # an unanswered notice can still be acknowledged this long

    def backoff_s(self, attempt: int) -> float:
        """The wait before the attempt after `attempt` (1-based) failed."""
        return min(self.retry_backoff_max_s, self.retry_backoff_s * self.retry_backoff_factor ** (attempt - 1))

    def routes(self, kind: str) -> bool:
        return kind not in NOTICE_ALERT_KINDS and (self.alert_kinds is None or kind in self.alert_kinds)


# --- events in (from the shell) ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class GridLoaded:
    """The shell installed the grid of the config's [grid] file (put first into the inbox): record it."""

    source: str


@dataclass(frozen=True)
class DeliveryFinished:
    """The shell tried one delivery once (Deliver): it reached the officer's channel, or failed with the reason."""

    delivery_id: str
    attempt: int
    ok: bool
    reason: str = ""
    detail: str = ""  # what the channel answered (HTTP status, SMTP reply, the gateway's message id)
    duration_s: float = 0.0


# --- actions out (for the shell) --------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoticeMessage:
    """What an officer is told; the shell formats it for each channel and adds the acknowledgement link."""

    notice_id: str
    alert_id: str
    kind: str
    severity: str
    text: str
    alert_at_s: float
    unit_id: str
    unit_name: str
    level: str
    officer_id: str
    officer_name: str
    zone_id: str | None = None
    lat_deg: float | None = None
    lon_deg: float | None = None
    escalated_from: str = ""  # who did not acknowledge it before ("" at the cell's officer)


@dataclass(frozen=True)
class Deliver:
    """Send a message to one officer's address on one channel, once; answer with DeliveryFinished."""

    delivery_id: str
    attempt: int
    channel: str  # webhook | email | sms
    address: str
    message: NoticeMessage


# --- rows out ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GridRow:
    """The grid now in force (replaces the one recorded before): its units and officers."""

    at_s: float
    source: str
    grid: Grid


@dataclass(frozen=True)
class NoticeRow:
    """Insert-or-update of one notice (keyed by notice_id)."""

    notice_id: str
    alert_id: str
    at_s: float
    status: str  # open | acknowledged | unanswered
    unit_id: str  # the unit whose officer has it now
    level: str
    officer_id: str
    deadline_s: float | None  # acknowledge before this, or it climbs a level
    escalations: int
    reason: str = ""


@dataclass(frozen=True)
class DeliveryRow:
    """Insert-or-update of one attempt of one delivery (keyed by delivery_id and attempt)."""

    delivery_id: str
    attempt: int
    notice_id: str
    officer_id: str
    channel: str
    address: str
    at_s: float
    status: str  # sending | delivered | failed | cancelled
    reason: str = ""
    retry_at_s: float | None = None  # failed with a retry due then
    duration_s: float | None = None


@dataclass(frozen=True)
class NoticeAckRow:
    notice_id: str
    alert_id: str
    at_s: float
    by: str
    via: str  # callback (the officer's link) | operator
    officer_id: str | None = None
    note: str = ""


@dataclass(frozen=True)
class EscalationRow:
    notice_id: str
    at_s: float
    from_unit: str
    from_level: str
    from_officer: str
    to_unit: str
    to_level: str
    to_officer: str
    reason: str


# --- state ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """One way to reach one officer: its latest attempt, and the message it carries."""

    delivery_id: str
    officer_id: str
    channel: str
    address: str
    message: NoticeMessage
    attempt: int = 1
    status: str = "sending"  # sending | waiting (a retry due at retry_at_s) | delivered | failed | cancelled
    retry_at_s: float | None = None


@dataclass(frozen=True)
class Notice:
    notice_id: str
    alert: AlertRow
    unit_id: str  # whose officer has it now
    level: str
    officer_id: str
    created_at_s: float
    deadline_s: float | None
    status: str = "open"  # open | acknowledged | unanswered
    escalations: int = 0
    notified: tuple[str, ...] = ()  # officer ids told so far, in order
    deliveries: Mapping[str, Delivery] = field(default_factory=lambda: _EMPTY)
    lat_deg: float | None = None  # where the alert happened, when known
    lon_deg: float | None = None
    closed_at_s: float | None = None  # acknowledged or unanswered since
    acknowledged_by: str = ""


@dataclass(frozen=True)
class NoticeState:
    policy: NoticePolicy = field(default_factory=NoticePolicy)
    notices: Mapping[str, Notice] = field(default_factory=lambda: _EMPTY)  # by notice id
    by_delivery: Mapping[str, str] = field(default_factory=lambda: _EMPTY)  # delivery id -> notice id
    routed: int = 0  # alerts routed so far
