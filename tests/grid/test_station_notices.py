"""Grid officers end to end in the running station (the fleet is tests/groundstation/fakes.py's double, the clock is
injected, the database, the webhook receiver and the SMTP server are real): a crowd seen in a grid cell reaches the
cell's officer by webhook and e-mail, the officer's link acknowledges it (on the web map's page, through the
station); another, not acknowledged, climbs to the community's officer, whose unreachable webhook is retried and then
reported to the operators, never dropped, until an operator acknowledges the alert on the map."""
from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from groundstation.config import parse_config
from groundstation.core import crowds as cr
from groundstation.shell import storage
from groundstation.shell.station import Station
from groundstation.shell.web_bridge import DatabaseUsers, StationBridge
from notify import verify
from tests.grid.city import at, geojson, units
from tests.groundstation.fakes import FakeFleet
from tests.notify.servers import Answer, HttpReceiver, SmtpServer, free_port
from tests.waiting import wait_for
from vision.records import FrameResult, PersonOnGround
from web.app import create_app
from web.port import Acknowledgement
from web.settings import ServerSettings

T0 = 1_700_000_000.0
WEBHOOK_SECRET = "0123456789abcdef-webhook"


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _features(webhook_url: str, dead_url: str) -> list[dict]:
    features = units(webhook=webhook_url)
    for f in features:
        if f["id"] == "plaza-c":  # the community's officer: an unreachable webhook, and e-mail
            f["properties"]["webhook"] = dead_url
    return features


def _config(tmp_path: Path, receiver: HttpReceiver, smtp: SmtpServer, gateway: HttpReceiver):
    grid = tmp_path / "grid.geojson"
    grid.write_text(geojson(_features(receiver.url + "/hooks/li-na", f"http://127.0.0.1:{free_port()}/hooks/zhou")))
    secrets = tmp_path / "notify-secrets.toml"
    secrets.write_text(f'webhook_secret = "{WEBHOOK_SECRET}"\nack_secret = "0123456789abcdef-ack-links"\n')
    return parse_config({
        "station": {"storage_path": str(tmp_path / "station.sqlite"), "tlog_dir": None},
        "vehicles": [{"id": "d1", "url": "tcp:127.0.0.1:5760"}],
        "counting": {"hold_s": 0.0, "clear_s": 5.0, "window_s": 600.0},
        "response": {"mode": "watch-only", "speech_engines": ["espeak-ng"],
                     "speech_cache_dir": str(tmp_path / "speech")},
        "grid": {"file": str(grid), "secrets_file": str(secrets), "ack_base_url": "https://station.example.org/notices",
                 "ack_timeout_s": {"cell": 60, "community": 600}, "retry_backoff_s": 1.0, "max_attempts": 3,
                 "delivery_timeout_s": 5.0,
                 "smtp": {"host": "127.0.0.1", "port": smtp.port, "sender": "skyguard@example.org",
                          "security": "none"},
                 "sms": {"url": gateway.url + "/sms"}},
    })


def _crowd(now_s: float) -> cr.VisionObserved:
    """8 people in cell-a (capacity 5) and 10 in cell-b (capacity 8, dwell 20 s), as one analysed frame."""
    spots = [(10 + 4 * i, 50) for i in range(8)] + [(110 + 4 * i, 50) for i in range(10)]
    people = tuple(PersonOnGround(*at(e, n), 1.0, 0.9, "d1", now_s, track_id=i + 1) for i, (e, n) in enumerate(spots))
    return cr.VisionObserved("cam-d1", FrameResult("cam-d1", 0, now_s, (), len(people), len(people), "test",
                                                   people=people))


def test_a_crowd_alert_reaches_its_officer_is_acknowledged_and_an_unacknowledged_one_escalates(tmp_path):
    clock = Clock(T0)
    sms_answer = Answer(200, b'{"id": "sm-1", "status": "queued"}')
    with HttpReceiver() as receiver, SmtpServer() as smtp, HttpReceiver(lambda _r: sms_answer) as gateway:
        config = _config(tmp_path, receiver, smtp, gateway)
        station = Station(config, fleet_factory=FakeFleet, clock=clock, auto_tick=False).start()
        db = storage.open_database(config.station.storage_path, check_same_thread=False)
        try:
            station.observe(_crowd(clock.t))
            station.flush()
            clock.t += 21.0  # cell-b's dwell time is 20 s
            station.observe(_crowd(clock.t))
            station.flush()

            # the crowd in cell-a reaches Li Na by webhook (signed) and by e-mail; cell-b's reaches Wang Fang by e-mail
            (hook,) = wait_for(lambda: receiver.received, 30.0, "the webhook POST to cell-a's officer")
            assert hook.path == "/hooks/li-na"
            assert verify(WEBHOOK_SECRET.encode(), hook.headers["X-SkyGuard-Timestamp"], hook.body,
                          hook.headers["X-SkyGuard-Signature"], now_s=clock.t)
            body = hook.json()
            assert body["notice"]["kind"] == "crowd" and body["notice"]["unit_id"] == "cell-a"
            assert "crowd over capacity in Cell A" in body["subject"]
            mails = wait_for(lambda: len(smtp.mailbox.mails) >= 2 and smtp.mailbox.mails, 30.0, "two e-mails")
            assert sorted(to[0] for _, to, _ in mails) == ["li.na@example.org", "wang.fang@example.org"]
            li_na_mail = next(m for _, to, m in mails if to == ["li.na@example.org"])
            assert body["ack_url"] in li_na_mail.get_payload(decode=True).decode()

            # Li Na follows her link to the web map's page (no login: the token is her proof), which asks the station
            link = urlsplit(body["ack_url"])
            notice_id = unquote(link.path.split("/")[-2])
            query = parse_qs(link.query)
            bridge = StationBridge(station, config)
            web = create_app(bridge, DatabaseUsers(config.station.storage_path),
                             ServerSettings(secret_key=b"k" * 32, async_mode="threading")).flask.test_client()
            page = web.get(f"{link.path}?{link.query}")
            assert page.status_code == 200 and b'id="acknowledge"' in page.data
            assert not storage.notice_ack_rows(db), "opening the link (a mail scanner, a preview) acknowledges nothing"
            forged = web.post(link.path, data={"officer": query["officer"][0], "token": "0" * 64})
            assert forged.status_code == 409 and b"bad token" in forged.data
            answer = web.post(link.path, data={"officer": query["officer"][0], "token": query["token"][0],
                                               "note": "on my way"})
            assert answer.status_code == 200 and b"Acknowledged" in answer.data, answer.data
            station.flush()
            (ack,) = storage.notice_ack_rows(db)
            assert (ack["notice_id"], ack["via"], ack["by"], ack["note"]) == (
                notice_id, "callback", "officer:cell-a.officer", "on my way")

            # nobody acknowledges cell-b's notice: after its 60 s it climbs to the community's officer, Zhou Jie
            for _ in range(65):
                clock.t += 1.0
                station.tick()
            station.flush()
            (esc,) = wait_for(lambda: storage.escalation_rows(db), 30.0, "the escalation")
            assert (esc["from_unit"], esc["to_unit"], esc["to_officer"]) == ("cell-b", "plaza-c", "plaza-c.officer")
            wait_for(lambda: any(to == ["zhou.jie@example.org"] for _, to, _ in smtp.mailbox.mails), 30.0,
                     "the escalated e-mail to the community's officer")

            # Zhou Jie's webhook is unreachable: tried 3 times with backoff, then reported, never dropped
            def webhook_failed() -> list:
                clock.t += 1.0
                station.tick()
                station.flush()
                return [a for a in storage.StorageReader(config.station.storage_path).alerts("notice_failed")]
            (failed,) = wait_for(webhook_failed, 60.0, "the notice_failed alert")
            assert "plaza-c.officer by webhook" in failed["text"] and "after 3 attempt(s)" in failed["text"]
            attempts = [d for d in storage.delivery_rows(db) if d["officer_id"] == "plaza-c.officer"
                        and d["channel"] == "webhook"]
            assert [(d["attempt"], d["status"]) for d in attempts] == [(1, "failed"), (2, "failed"), (3, "failed")]
            assert all("Unreachable" in d["reason"] for d in attempts)
            assert attempts[1]["requested_at_s"] - attempts[0]["requested_at_s"] >= 1.0  # backoff, then doubled
            assert attempts[2]["requested_at_s"] - attempts[1]["requested_at_s"] >= 2.0

            notices = {n["unit_id"]: n for n in storage.notice_rows(db)}
            assert notices["cell-a"]["status"] == "acknowledged"
            assert (notices["plaza-c"]["status"], notices["plaza-c"]["escalations"]) == ("open", 1)
            assert {u["unit_id"] for u in storage.grid_unit_rows(db)} >= {"duanzhou", "cell-a", "cell-b", "cell-e"}
            audit = [c for c in storage.StorageReader(config.station.storage_path).commands(limit=10)
                     if c["action"] == "acknowledge_notice"]
            assert sorted(c["decision"] for c in audit) == ["refused", "sent"]
            assert all("token" not in json.dumps(c["params"]).replace("token_valid", "") for c in audit)

            # an operator acknowledges cell-b's alert on the map: its notices stop climbing, through the station
            (alert_b,) = [a for a in storage.StorageReader(config.station.storage_path).alerts("crowd")
                          if a["zone_id"] == "grid:cell-b"]
            bridge.acknowledge(Acknowledgement(alert_b["alert_id"], "ops1", clock.t, "drone on its way"))
            station.flush()
            wait_for(lambda: {n["unit_id"]: n["status"] for n in storage.notice_rows(db)}.get("plaza-c")
                     == "acknowledged", 30.0, "the escalated notice acknowledged by the operator")
            by_op = [c for c in storage.StorageReader(config.station.storage_path).commands(limit=10)
                     if c["action"] == "acknowledge_notice" and c["requested_by"] == "web:ops1"]
            assert [c["decision"] for c in by_op] == ["sent"]
            bridge.close()
        finally:
            db.close()
            station.stop()
