"""Notifications to people: a signed webhook, e-mail over SMTP and an SMS gateway over HTTP, each with a timeout on
every call, each delivery either a Receipt or a DeliveryFailed saying why.

A sibling adapter: never imports groundstation, telemetry, sim, vision, web or speech. Blocking calls, meant for a
worker thread of the station (groundstation/shell/notifier.py carries the core's Deliver actions out with them).

    message = Message(notice_id, subject, text, short_text, ack_url, payload)
    WebhookSender(secret).send("https://ops.example.org/hook", message)        # signed JSON POST (webhook.py)
    MailSender("smtp.example.org", 587, "skyguard@example.org").send("li.na@example.org", message)
    SmsGateway("https://sms.example.org/send", api_key=key).send("+8613800138000", message)
"""
from notify.errors import BadAddress, BadAnswer, DeliveryFailed, NotifyError, Refused, Timeout, Unreachable
from notify.mail import MailSender
from notify.records import Message, Receipt
from notify.signature import ack_token, ack_token_valid, sign, verify
from notify.sms import SmsGateway
from notify.webhook import WebhookSender

__all__ = [
    "BadAddress", "BadAnswer", "DeliveryFailed", "MailSender", "Message", "NotifyError", "Receipt", "Refused",
    "SmsGateway", "Timeout", "Unreachable", "WebhookSender", "ack_token", "ack_token_valid", "sign", "verify",
]
