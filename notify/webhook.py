"""The webhook channel: the notice as a signed JSON POST to the officer's URL.

    POST <webhook URL>
    Content-Type: application/json
    X-SkyGuard-Notice: <notice id>
    X-SkyGuard-Timestamp: <unix seconds>
    X-SkyGuard-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>   (notify.signature)

    {"notice_id": "...", "subject": "...", "text": "...", "ack_url": "https://.../ack?..." or null,
     "sent_at_s": 1700000000.0, "notice": {the notice's fields: alert, kind, severity, unit, level, officer, position}}

Any 2xx answer means delivered; anything else (another status, no answer within the timeout, no connection) is a
DeliveryFailed with the reason. Redirects are not followed.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable

from notify.errors import BadAddress
from notify.records import Message, Receipt
from notify.signature import NOTICE_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from notify.transport import opener, post_json


def body_of(message: Message, sent_at_s: float) -> bytes:
    """The webhook's JSON body for a message."""
    return json.dumps({"notice_id": message.notice_id, "subject": message.subject, "text": message.text,
                       "ack_url": message.ack_url, "sent_at_s": sent_at_s, "notice": dict(message.payload)},
                      ensure_ascii=False, sort_keys=True, default=str).encode("utf-8")


class WebhookSender:
    """`send(url, message) -> Receipt`, blocking (a worker thread calls it); raises DeliveryFailed."""

    def __init__(self, secret: bytes, timeout_s: float = 10.0, *, clock: Callable[[], float] = time.time,
                 proxy_url: str | None = None) -> None:
        if not secret:
            raise BadAddress("a webhook needs a shared secret to sign with (webhook_secret)")
        self._secret = secret
        self.timeout_s = timeout_s
        self._clock = clock
        self._opener = opener(proxy_url)

    def send(self, url: str, message: Message) -> Receipt:
        if not url.startswith(("http://", "https://")):
            raise BadAddress(f"webhook {url!r} is not an http:// or https:// URL")
        now = self._clock()
        body = body_of(message, now)
        timestamp = int(now)
        headers = {NOTICE_HEADER: message.notice_id, TIMESTAMP_HEADER: str(timestamp),
                   SIGNATURE_HEADER: sign(self._secret, timestamp, body), "User-Agent": "SkyGuard-notify/1"}
        started = time.perf_counter()
        status, _ = post_json(self._opener, "webhook", url, body, headers, self.timeout_s)
        return Receipt("webhook", url, f"HTTP {status}", time.perf_counter() - started)
