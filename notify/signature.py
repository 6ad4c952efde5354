"""Signatures: the webhook's HMAC-SHA256 over its body, and the tokens of acknowledgement links.

A webhook POST carries two headers (a receiver checks them with `verify`):

    X-SkyGuard-Timestamp: 1700000000                      (unix seconds when it was sent)
    X-SkyGuard-Signature: sha256=<hex of HMAC-SHA256(secret, "<timestamp>." + body)>

The receiver recomputes the HMAC over the raw body bytes as received, compares in constant time, and refuses a
timestamp more than a few minutes away from its clock (a replayed request). The secret is shared with each receiver
out of band ([grid] secrets_file, webhook_secret).

An acknowledgement link carries `token = hex of HMAC-SHA256(ack_secret, "ack\\n<notice id>\\n<officer id>")`: only the
station (which holds ack_secret) can make one, and it is good for that notice and that officer only.
"""
from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-SkyGuard-Signature"
TIMESTAMP_HEADER = "X-SkyGuard-Timestamp"
NOTICE_HEADER = "X-SkyGuard-Notice"


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The X-SkyGuard-Signature value for a body sent at `timestamp`."""
    digest = hmac.new(secret, str(int(timestamp)).encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: bytes, timestamp: str, body: bytes, signature: str, now_s: float, tolerance_s: float = 300.0
           ) -> bool:
    """Whether a received webhook is genuine and fresh: the signature matches the body and the timestamp, and the
    timestamp is within tolerance_s of now_s."""
    try:
        sent_s = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs(now_s - sent_s) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, sent_s, body), signature or "")


def ack_token(secret: bytes, notice_id: str, officer_id: str) -> str:
    """The token of the acknowledgement link of one notice for one officer."""
    return hmac.new(secret, f"ack\n{notice_id}\n{officer_id}".encode("utf-8"), hashlib.sha256).hexdigest()


def ack_token_valid(secret: bytes, notice_id: str, officer_id: str, token: str) -> bool:
    return hmac.compare_digest(ack_token(secret, notice_id, officer_id), token or "")
