"""The SMS channel: a generic SMS gateway's HTTP JSON API (most gateways offer this shape, or a small relay gives it).

    POST <gateway URL>
    Content-Type: application/json
    Authorization: Bearer <api key>           (when one is configured: [grid] secrets_file, sms_api_key)
    {"to": "+8613800138000", "from": "SkyGuard", "text": "...", "reference": "<notice id>"}

    -> 2xx {"id": "<the gateway's message id>", "status": "queued" | "sent" | "delivered"}   delivered (accepted)
    -> 2xx with another status (e.g. "rejected", with "error": "...")                      Refused
    -> another HTTP status                                                                   Refused (the status)
    -> an answer that is not that JSON                                                       BadAnswer

The text is the notice's short text, then the acknowledgement link; numbers are E.164 (+8613800138000).
"""
from __future__ import annotations

import json
import re
import time

from notify.errors import BadAddress, BadAnswer, Refused
from notify.records import Message, Receipt
from notify.transport import opener, post_json

ACCEPTED = ("queued", "sent", "delivered")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


def text_of(message: Message, max_chars: int = 320) -> str:
    """The SMS text: the short text (cut to fit) and the acknowledgement link."""
    link = f" Ack: {message.ack_url}" if message.ack_url else ""
    room = max(40, max_chars - len(link))
    short = message.short_text if len(message.short_text) <= room else message.short_text[:room - 1] + "…"
    return short + link


class SmsGateway:
    """`send(number, message) -> Receipt`, blocking (a worker thread calls it); raises DeliveryFailed."""

    def __init__(self, url: str, *, api_key: str | None = None, sender: str = "SkyGuard", timeout_s: float = 10.0,
                 proxy_url: str | None = None) -> None:
        if not url.startswith(("http://", "https://")):
            raise BadAddress(f"SMS gateway {url!r} is not an http:// or https:// URL")
        self.url = url
        self.sender = sender
        self._api_key = api_key
        self.timeout_s = timeout_s
        self._opener = opener(proxy_url)

    def send(self, number: str, message: Message) -> Receipt:
        if not _E164.match(number):
            raise BadAddress(f"sms {number!r} is not a mobile number in E.164 form")
        body = json.dumps({"to": number, "from": self.sender, "text": text_of(message),
                           "reference": message.notice_id}, ensure_ascii=False).encode("utf-8")
        headers = {"Accept": "application/json", "User-Agent": "SkyGuard-notify/1"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        started = time.perf_counter()
        _, raw = post_json(self._opener, "sms", self.url, body, headers, self.timeout_s, address=number)
        took = time.perf_counter() - started
        try:
            answer = json.loads(raw)
        except ValueError:
            raise BadAnswer("sms", number, f"the gateway's answer is not JSON: {raw[:100]!r}") from None
        if not isinstance(answer, dict) or not isinstance(answer.get("status"), str):
            raise BadAnswer("sms", number, f"the gateway's answer has no status: {raw[:100]!r}")
        status = answer["status"]
        if status not in ACCEPTED:
            raise Refused("sms", number, None, f"the gateway answered {status}"
                          + (f": {answer['error']}" if answer.get("error") else ""))
        return Receipt("sms", number, f"gateway id {answer.get('id', '?')} ({status})", took)
