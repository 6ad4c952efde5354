"""The e-mail channel: the notice as a plain-text e-mail through an SMTP server (stdlib smtplib).

security: "starttls" (default; port 587), "ssl" (SMTPS, port 465) or "none" (plain SMTP: only for a relay on the
same host or a trusted network). A login is made when a username is given. Every step has the timeout. Delivered
means the server accepted the message for the address; a rejection (the recipient, the sender, the message, the
login) is Refused with the SMTP code, a server that cannot be reached or hangs up is Unreachable, one that does not
answer in time is Timeout.
"""
from __future__ import annotations

import smtplib
import socket
import ssl
import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from notify.errors import BadAddress, Refused, Timeout, Unreachable
from notify.records import Message, Receipt
from notify.signature import NOTICE_HEADER

SECURITY = ("starttls", "ssl", "none")


def email_of(message: Message, sender: str, address: str) -> EmailMessage:
    """The e-mail for a message: its text, then the acknowledgement link."""
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = address
    mail["Subject"] = message.subject
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    mail[NOTICE_HEADER] = message.notice_id
    body = message.text
    if message.ack_url:
        body += f"\n\nAcknowledge this notice (you are on it): {message.ack_url}\n"
    mail.set_content(body)
    return mail


class MailSender:
    """`send(address, message) -> Receipt`, blocking (a worker thread calls it); raises DeliveryFailed."""

    def __init__(self, host: str, port: int = 587, sender: str = "skyguard@localhost", *, security: str = "starttls",
                 username: str | None = None, password: str | None = None, timeout_s: float = 10.0) -> None:
        if security not in SECURITY:
            raise BadAddress(f"SMTP security must be one of {', '.join(SECURITY)}, got {security!r}")
        if username is not None and password is None:
            raise BadAddress(f"SMTP user {username!r} needs a password (smtp_password)")
        self.host, self.port, self.sender = host, port, sender
        self.security = security
        self._login = None if username is None else (username, password or "")
        self.timeout_s = timeout_s

    def send(self, address: str, message: Message) -> Receipt:
        if "@" not in address:
            raise BadAddress(f"email {address!r} is not an e-mail address")
        mail = email_of(message, self.sender, address)
        server = f"{self.host}:{self.port}"
        started = time.perf_counter()
        try:
            if self.security == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout_s,
                                                      context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
            with smtp:
                if self.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if self._login is not None:
                    smtp.login(*self._login)
                refused = smtp.send_message(mail, from_addr=self.sender, to_addrs=[address])
        except smtplib.SMTPRecipientsRefused as e:
            code, text = next(iter(e.recipients.values()), (None, b""))
            raise Refused("email", address, code, f"{server} refused the recipient: {code} {_text(text)}") from None
        except smtplib.SMTPResponseException as e:
            raise Refused("email", address, e.smtp_code, f"{server} answered {e.smtp_code} {_text(e.smtp_error)}") \
                from None
        except smtplib.SMTPNotSupportedError as e:
            raise Refused("email", address, None, f"{server}: {e}") from None
        except (TimeoutError, socket.timeout):
            raise Timeout("email", address, f"{server} did not answer within {self.timeout_s:g} s") from None
        except smtplib.SMTPServerDisconnected as e:
            if isinstance(e.__context__, (TimeoutError, socket.timeout)):  # smtplib reports a timeout this way
                raise Timeout("email", address, f"{server} did not answer within {self.timeout_s:g} s") from None
            raise Unreachable("email", address, f"{server} hung up: {e}") from None
        except ssl.SSLError as e:
            raise Unreachable("email", address, f"TLS with {server} failed: {e}") from None
        except (smtplib.SMTPException, OSError) as e:
            raise Unreachable("email", address, f"cannot reach {server}: {e}") from None
        if address in refused:
            code, text = refused[address]
            raise Refused("email", address, code, f"{server} refused the recipient: {code} {_text(text)}")
        return Receipt("email", address, f"accepted by {server}", time.perf_counter() - started)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
