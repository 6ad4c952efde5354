"""The errors notify/ raises: one tree, each saying what is wrong.

NotifyError
├── BadAddress          an address or setting a channel cannot use (also a ValueError), found before any attempt
└── DeliveryFailed      a message did not reach the channel (carries channel, address and reason)
    ├── Unreachable     nothing answers: connection refused, unknown host, no route, TLS failure, disconnected
    ├── Timeout         no answer within the timeout
    ├── Refused         the receiver answered with an error: an HTTP status outside 2xx, an SMTP rejection
    │                   (carries the status or SMTP code)
    └── BadAnswer       the answer is not what the protocol promises (the SMS gateway's JSON)
"""
from __future__ import annotations


class NotifyError(Exception):
    """Base of every error raised by notify/."""


class BadAddress(NotifyError, ValueError):
    pass


class DeliveryFailed(NotifyError):
    def __init__(self, channel: str, address: str, reason: str) -> None:
        super().__init__(f"{channel} to {address}: {reason}")
        self.channel = channel
        self.address = address
        self.reason = reason


class Unreachable(DeliveryFailed):
    pass


class Timeout(DeliveryFailed):
    pass


class Refused(DeliveryFailed):
    def __init__(self, channel: str, address: str, status: int | None, reason: str) -> None:
        super().__init__(channel, address, reason)
        self.status = status


class BadAnswer(DeliveryFailed):
    pass
