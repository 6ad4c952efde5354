"""Notices to grid officers, the shell's half: installs the config's grid in the core's state (its cells watched like
zones, alerts routed to their officers), carries out the core's Deliver actions on its own worker threads (a webhook,
an e-mail or an SMS through notify/, each call with [grid] delivery_timeout_s) and answers each with a
DeliveryFinished event, and makes and checks the officers' acknowledgement links.

Its own small thread pool, apart from the vehicle commands' one: a slow mail server never delays a command. Every
Deliver gets an answer, delivered or failed with the reason (a bug in an adapter included); retries and escalation are
the core's (core/notices.py), with the core's clock.

An acknowledgement link is `<[grid] ack_base_url>/<notice id, URL-quoted>/ack?officer=<officer id>&token=<token>`
(notify.signature.ack_token with the secrets file's ack_secret). The web map serves it (web/app.py, /notices/...:
ack_base_url is the web map's address + "/notices") and passes the three to `Station.acknowledge_notice(notice_id,
officer_id=..., token=...)`; this module checks the token.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from groundstation.config import StationConfig
from groundstation.core import crowds
from groundstation.core.notice_data import Deliver, DeliveryFinished, GridLoaded, NoticeMessage
from groundstation.core.records import CommandRequest, plain
from groundstation.core.state import StationState
from notify import (DeliveryFailed, MailSender, Message, NotifyError, SmsGateway, WebhookSender, ack_token,
                    ack_token_valid)

log = logging.getLogger("groundstation.notifier")

_KINDS = {"crowd": "crowd over capacity", "fever_hint": "fever hint", "escalation": "crowd not dispersing",
          "screening_failed": "thermal screening inconclusive", "response_stopped": "crowd response stopped"}


class Notifier:
    """`install(state)`, `deliver(Deliver)`, `acknowledgement(...)`, `close()`; see the module docstring."""

    def __init__(self, config: StationConfig, put_event: Callable[[object], None],
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = config.grid
        self._config = config
        self._put = put_event
        self._clock = clock
        secrets = self.settings.secrets() if self.settings.file is not None else {}
        self._ack_secret = secrets.get("ack_secret", "").encode("utf-8") or None
        timeout_s = self.settings.delivery_timeout_s
        self._senders: dict[str, Any] = {}
        if secrets.get("webhook_secret"):
            self._senders["webhook"] = WebhookSender(secrets["webhook_secret"].encode("utf-8"), timeout_s, clock=clock)
        smtp = self.settings.smtp
        if smtp is not None:
            self._senders["email"] = MailSender(smtp.host, smtp.port, smtp.sender, security=smtp.security,
                                                username=smtp.username, password=secrets.get("smtp_password"),
                                                timeout_s=timeout_s)
        if self.settings.sms is not None:
            self._senders["sms"] = SmsGateway(self.settings.sms.url, api_key=secrets.get("sms_api_key"),
                                              sender=self.settings.sms.sender, timeout_s=timeout_s)
        self._pool = ThreadPoolExecutor(self.settings.delivery_workers, thread_name_prefix="station-notify")

    def install(self, state: StationState) -> StationState:
        """The state with the grid file's cells watched and the alerts routed (unchanged without a grid file); the
        core records the grid first thing (GridLoaded)."""
        if self.settings.file is None:
            return state
        counting, response, notices = self.settings.policies(self._config.counting, self._config.response)
        self._put(GridLoaded(str(self.settings.file)))
        return replace(state, crowds=crowds.initial(counting), response_policy=response,
                       notices=replace(state.notices, policy=notices))

    def deliver(self, action: Deliver) -> None:
        """Try one delivery on a worker thread; its DeliveryFinished goes to the inbox, always."""
        try:
            self._pool.submit(self._run, action)
        except RuntimeError:  # shut down: the station is stopping
            self._put(DeliveryFinished(action.delivery_id, action.attempt, False, "station stopping: not sent"))

    def close(self) -> None:
        """Let the deliveries in flight finish (each has its timeout); take no more."""
        self._pool.shutdown(wait=True)

    def _run(self, action: Deliver) -> None:
        started = time.monotonic()
        try:
            sender = self._senders.get(action.channel)
            if sender is None:
                raise NotifyError(f"no {action.channel} channel is configured ([grid])")
            receipt = sender.send(action.address, self.message(action.message))
            result = DeliveryFinished(action.delivery_id, action.attempt, True, "", receipt.detail,
                                      receipt.round_trip_s)
        except DeliveryFailed as exc:
            result = DeliveryFinished(action.delivery_id, action.attempt, False, f"{type(exc).__name__}: {exc.reason}",
                                      duration_s=time.monotonic() - started)
        except NotifyError as exc:
            result = DeliveryFinished(action.delivery_id, action.attempt, False, f"{type(exc).__name__}: {exc}",
                                      duration_s=time.monotonic() - started)
        except Exception as exc:  # a bug in an adapter must not lose the answer the core waits for
            log.exception("delivery %s failed unexpectedly", action.delivery_id)
            result = DeliveryFinished(action.delivery_id, action.attempt, False, f"internal error: {exc!r}",
                                      duration_s=time.monotonic() - started)
        self._put(result)

    # --- the words ------------------------------------------------------------------------------------------------

    def message(self, m: NoticeMessage) -> Message:
        """A notice in words for one officer, with their acknowledgement link when ack_base_url is configured."""
        what = _KINDS.get(m.kind, m.kind.replace("_", " "))
        when = datetime.fromtimestamp(m.alert_at_s, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        where = f"{m.unit_name} ({m.level} {m.unit_id})" + (f", zone {m.zone_id}" if m.zone_id else "")
        if m.lat_deg is not None and m.lon_deg is not None:
            where += f", at {m.lat_deg:.6f}, {m.lon_deg:.6f}"
        subject = f"[SkyGuard {m.severity}] {what} in {m.unit_name}" + (" (escalated)" if m.escalated_from else "")
        lines = [m.text, "", f"Where: {where}", f"When: {when}",
                 f"You are the responsible officer of {m.unit_name}, {m.officer_name}."]
        if m.escalated_from:
            lines.append(f"Escalated to you: {m.escalated_from}.")
        lines.append(f"Alert {m.alert_id}; notice {m.notice_id}.")
        link = self.ack_url(m.notice_id, m.officer_id)
        if link is None:
            lines.append("Acknowledge it with the station's operators.")
        short = f"SkyGuard {m.severity}: {what} in {m.unit_name}" + (" (escalated)" if m.escalated_from else "") + \
            f": {m.text}"
        return Message(m.notice_id, subject, "\n".join(lines), short, link, plain(m))

    def ack_url(self, notice_id: str, officer_id: str) -> str | None:
        base = self.settings.ack_base_url
        if base is None or self._ack_secret is None:
            return None
        return (f"{base.rstrip('/')}/{quote(notice_id, safe='')}/ack?officer={quote(officer_id, safe='')}"
                f"&token={ack_token(self._ack_secret, notice_id, officer_id)}")

    def acknowledgement(self, notice_id: str | None = None, *, alert_id: str | None = None, by: str = "operator",
                        officer_id: str | None = None, token: str | None = None, note: str = "") -> CommandRequest:
        """The "acknowledge_notice" request: an officer's link (notice_id, officer_id, token: checked here; the
        request says whether it held, and is made by "officer:<id>") or an operator's (by; a notice or a whole
        alert). The token itself is never passed on or recorded."""
        args: dict[str, Any] = {"notice_id": notice_id} if notice_id is not None else {"alert_id": alert_id}
        if note:
            args["note"] = note
        if token is None:
            args["via"] = "operator"
            return CommandRequest("", "acknowledge_notice", args, requested_by=by)
        valid = (self._ack_secret is not None and notice_id is not None and bool(officer_id)
                 and ack_token_valid(self._ack_secret, notice_id, str(officer_id), token))
        args.update(via="callback", officer_id=officer_id, token_valid=valid)
        return CommandRequest("", "acknowledge_notice", args, requested_by=f"officer:{officer_id}")
