"""Each notification channel against a real local server: the signed webhook against an HTTP receiver, e-mail against
an SMTP server (aiosmtpd), the SMS gateway's JSON API against an HTTP server; and each way a delivery fails (nothing
listening, no answer in time, an error answer, a malformed answer) comes back as a DeliveryFailed with the reason."""
from __future__ import annotations

import json

import pytest

from notify import (BadAddress, BadAnswer, MailSender, Message, Refused, SmsGateway, Timeout, Unreachable,
                    WebhookSender, ack_token, ack_token_valid, sign, verify)
from notify.sms import text_of
from tests.notify.servers import Answer, HttpReceiver, Mailbox, Silent, SmtpServer, free_port

SECRET = b"shared-secret-of-the-grid"
MESSAGE = Message("a1:crowd@cell-a", "[SkyGuard warning] crowd in Cell A",
                  "12 people in Cell A over its safe capacity of 5.", "Crowd in Cell A: 12 people (5 safe).",
                  "https://station.example.org/notices/a1%3Acrowd%40cell-a/ack?officer=li-na&token=abc",
                  {"kind": "crowd", "unit_id": "cell-a", "lat_deg": 23.0469, "lon_deg": 112.4651, "人": "广场"})


# --- webhook ------------------------------------------------------------------------------------------------------


def test_a_webhook_is_a_json_post_signed_over_its_body_and_time():
    with HttpReceiver() as receiver:
        receipt = WebhookSender(SECRET, clock=lambda: 1_700_000_000.5).send(receiver.url + "/hooks/li-na", MESSAGE)
    assert (receipt.channel, receipt.detail) == ("webhook", "HTTP 200")
    (got,) = receiver.received
    assert got.path == "/hooks/li-na" and got.headers["Content-Type"] == "application/json"
    body = got.json()
    assert body["notice_id"] == MESSAGE.notice_id and body["ack_url"] == MESSAGE.ack_url
    assert body["notice"] == dict(MESSAGE.payload) and body["sent_at_s"] == 1_700_000_000.5
    assert got.headers["X-SkyGuard-Notice"] == MESSAGE.notice_id
    assert got.headers["X-SkyGuard-Timestamp"] == "1700000000"
    assert got.headers["X-SkyGuard-Signature"] == sign(SECRET, 1_700_000_000, got.body)
    assert verify(SECRET, "1700000000", got.body, got.headers["X-SkyGuard-Signature"], now_s=1_700_000_060)


@pytest.mark.parametrize("secret, timestamp, body, now_s, ok", [
    (SECRET, "1700000000", b'{"a": 1}', 1_700_000_000, True),
    (b"another secret", "1700000000", b'{"a": 1}', 1_700_000_000, False),  # not signed with ours
    (SECRET, "1700000000", b'{"a": 2}', 1_700_000_000, False),  # body changed on the way
    (SECRET, "1700000001", b'{"a": 1}', 1_700_000_000, False),  # time changed on the way
    (SECRET, "1700000000", b'{"a": 1}', 1_700_000_400, False),  # replayed later than the tolerance
    (SECRET, "soon", b'{"a": 1}', 1_700_000_000, False),
])
def test_a_receiver_tells_a_genuine_webhook_from_a_forged_or_replayed_one(secret, timestamp, body, now_s, ok):
    signature = sign(SECRET, 1_700_000_000, b'{"a": 1}')
    assert verify(secret, timestamp, body, signature, now_s) is ok


@pytest.mark.parametrize("answer, error, reason", [
    (Answer(500, b'{"error": "database down"}'), Refused, 'HTTP 500 Internal Server Error: {"error": "database down"}'),
    (Answer(404, b""), Refused, "HTTP 404"),
    (Answer(302, b""), Refused, "HTTP 302"),  # a redirect is not followed: not delivered
])
def test_a_webhook_answered_with_an_error_is_refused_with_the_status(answer, error, reason):
    with HttpReceiver(lambda _r: answer) as receiver:
        with pytest.raises(error) as caught:
            WebhookSender(SECRET).send(receiver.url + "/hook", MESSAGE)
    assert reason in caught.value.reason and caught.value.status == answer.status


def test_an_unreachable_webhook_fails_saying_so():
    with pytest.raises(Unreachable, match="cannot connect"):
        WebhookSender(SECRET, timeout_s=2.0).send(f"http://127.0.0.1:{free_port()}/hook", MESSAGE)


def test_a_webhook_that_does_not_answer_times_out():
    with Silent() as silent:
        with pytest.raises(Timeout, match="no answer within 0.3 s"):
            WebhookSender(SECRET, timeout_s=0.3).send(f"http://127.0.0.1:{silent.port}/hook", MESSAGE)


def test_a_webhook_needs_a_secret_and_an_http_url():
    with pytest.raises(BadAddress):
        WebhookSender(b"")
    with pytest.raises(BadAddress):
        WebhookSender(SECRET).send("ftp://example.org/x", MESSAGE)


def test_an_acknowledgement_token_is_good_for_one_notice_and_one_officer():
    token = ack_token(SECRET, "n1", "li-na")
    assert ack_token_valid(SECRET, "n1", "li-na", token)
    assert not ack_token_valid(SECRET, "n2", "li-na", token)
    assert not ack_token_valid(SECRET, "n1", "wang-fang", token)
    assert not ack_token_valid(b"other", "n1", "li-na", token)
    assert not ack_token_valid(SECRET, "n1", "li-na", "")


# --- e-mail -------------------------------------------------------------------------------------------------------


def test_an_email_reaches_the_smtp_server_with_the_notice_and_its_link():
    with SmtpServer() as server:
        sender = MailSender("127.0.0.1", server.port, "skyguard@station.example.org", security="none", timeout_s=5.0)
        receipt = sender.send("li.na@example.org", MESSAGE)
    assert receipt.detail == f"accepted by 127.0.0.1:{server.port}"
    ((mail_from, to, mail),) = server.mailbox.mails
    assert mail_from == "skyguard@station.example.org" and to == ["li.na@example.org"]
    assert mail["Subject"] == MESSAGE.subject and mail["X-SkyGuard-Notice"] == MESSAGE.notice_id
    body = mail.get_payload(decode=True).decode()
    assert MESSAGE.text in body and MESSAGE.ack_url in body


def test_a_refused_recipient_is_refused_with_the_smtp_code():
    with SmtpServer(Mailbox(refuse={"gone@example.org"})) as server:
        with pytest.raises(Refused) as caught:
            MailSender("127.0.0.1", server.port, "skyguard@example.org", security="none").send("gone@example.org",
                                                                                               MESSAGE)
    assert caught.value.status == 550 and "no such mailbox" in caught.value.reason
    assert server.mailbox.mails == []


def test_starttls_with_a_server_that_has_none_is_refused():
    with SmtpServer() as server:
        with pytest.raises(Refused, match="STARTTLS"):
            MailSender("127.0.0.1", server.port, "skyguard@example.org").send("li.na@example.org", MESSAGE)


def test_an_unreachable_or_silent_smtp_server_fails_saying_so():
    with pytest.raises(Unreachable, match="cannot reach 127.0.0.1"):
        MailSender("127.0.0.1", free_port(), "s@example.org", security="none", timeout_s=2.0).send("x@example.org",
                                                                                                  MESSAGE)
    with Silent() as silent:
        with pytest.raises(Timeout, match="did not answer within 0.3 s"):
            MailSender("127.0.0.1", silent.port, "s@example.org", security="none", timeout_s=0.3).send(
                "x@example.org", MESSAGE)


# --- SMS gateway --------------------------------------------------------------------------------------------------


def test_an_sms_goes_to_the_gateway_as_json_with_the_key():
    with HttpReceiver(lambda _r: Answer(202, b'{"id": "sm-81", "status": "queued"}')) as gateway:
        receipt = SmsGateway(gateway.url + "/v1/sms", api_key="k-123", sender="SkyGuard").send("+8613800138000",
                                                                                                MESSAGE)
    assert receipt.detail == "gateway id sm-81 (queued)"
    (got,) = gateway.received
    assert got.path == "/v1/sms" and got.headers["Authorization"] == "Bearer k-123"
    assert got.json() == {"to": "+8613800138000", "from": "SkyGuard", "text": text_of(MESSAGE),
                          "reference": MESSAGE.notice_id}
    assert got.json()["text"].endswith(" Ack: " + MESSAGE.ack_url)


@pytest.mark.parametrize("answer, error, reason", [
    (Answer(200, b'{"id": "x", "status": "rejected", "error": "number barred"}'), Refused,
     "the gateway answered rejected: number barred"),
    (Answer(401, b'{"error": "bad key"}'), Refused, "HTTP 401"),
    (Answer(200, b"OK"), BadAnswer, "not JSON"),
    (Answer(200, b'{"id": "x"}'), BadAnswer, "has no status"),
])
def test_a_gateway_that_does_not_take_the_sms_fails_with_the_reason(answer, error, reason):
    with HttpReceiver(lambda _r: answer) as gateway:
        with pytest.raises(error) as caught:
            SmsGateway(gateway.url).send("+8613800138000", MESSAGE)
    assert reason in caught.value.reason and caught.value.address == "+8613800138000"


def test_an_unreachable_gateway_and_a_bad_number_fail_saying_so():
    with pytest.raises(Unreachable):
        SmsGateway(f"http://127.0.0.1:{free_port()}/sms", timeout_s=2.0).send("+8613800138000", MESSAGE)
    with pytest.raises(BadAddress):
        SmsGateway("http://127.0.0.1:9/sms").send("13800138000", MESSAGE)


def test_a_long_sms_is_cut_but_keeps_its_link():
    long = Message("n", "s", "t", "x" * 1000, "https://station.example.org/ack?t=1")
    text = text_of(long)
    assert len(text) == 320 and text.endswith(" Ack: https://station.example.org/ack?t=1") and "…" in text
    assert json.dumps(text)  # JSON-able
