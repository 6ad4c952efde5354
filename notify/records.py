"""What notify/ takes and gives: the message for an officer, neutral to the channel, and a delivery's receipt."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Message:
    """One notice for one officer. subject/text: the e-mail (and webhook) wording; short_text: an SMS's;
    ack_url: the officer's signed acknowledgement link (None: operators acknowledge); payload: the notice's fields
    (JSON-able), carried in the webhook's body."""

    notice_id: str
    subject: str
    text: str
    short_text: str
    ack_url: str | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Receipt:
    """A message the channel accepted: what it answered and how long the call took."""

    channel: str  # webhook | email | sms
    address: str
    detail: str  # e.g. "HTTP 200", "accepted by smtp.example.org:587", "gateway id 8f3a (queued)"
    round_trip_s: float
