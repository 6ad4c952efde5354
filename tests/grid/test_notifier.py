"""The notifier, the shell's half of notices: an officer's link acknowledges only that officer's notice, the message
says where and when and how to acknowledge, and every delivery gets an answer, failed ones with the reason."""
from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from groundstation.config import parse_config
from groundstation.core.notice_data import Deliver, DeliveryFinished, NoticeMessage
from groundstation.shell.notifier import Notifier
from tests.grid.test_config import VEHICLES, grid_section
from tests.notify.servers import free_port
from tests.waiting import wait_for

MESSAGE = NoticeMessage("a1:crowd@cell-a", "a1:crowd", "crowd", "warning", "12 people in Cell A (safe 5)",
                        1_700_000_000.0, "cell-a", "Cell A", "cell", "cell-a.officer", "Li Na", "plaza", 23.05, 112.46)


@pytest.fixture
def notifier(tmp_path):
    events: list = []
    config = parse_config({"vehicles": VEHICLES, "grid": grid_section(tmp_path)})
    n = Notifier(config, events.append)
    n.events = events
    yield n
    n.close()


def test_an_officers_link_acknowledges_that_notice_for_that_officer_only(notifier):
    link = urlsplit(notifier.message(MESSAGE).ack_url)
    assert link.netloc == "station.example.org" and link.path.endswith("/ack")
    notice_id, query = unquote(link.path.split("/")[-2]), parse_qs(link.query)
    assert notice_id == MESSAGE.notice_id and query["officer"] == ["cell-a.officer"]
    good = notifier.acknowledgement(notice_id, officer_id="cell-a.officer", token=query["token"][0], note="ok")
    assert good.action == "acknowledge_notice" and good.requested_by == "officer:cell-a.officer"
    assert good.args == {"notice_id": notice_id, "note": "ok", "via": "callback", "officer_id": "cell-a.officer",
                         "token_valid": True}
    for notice, officer in ((notice_id, "cell-b.officer"), ("a2:crowd@cell-a", "cell-a.officer")):
        assert notifier.acknowledgement(notice, officer_id=officer, token=query["token"][0]).args["token_valid"] \
            is False
    operator = notifier.acknowledgement(alert_id="a1:crowd", by="alice")
    assert (operator.requested_by, operator.args) == ("alice", {"alert_id": "a1:crowd", "via": "operator"})


def test_the_message_says_what_where_when_and_how_to_acknowledge(tmp_path, notifier):
    m = notifier.message(MESSAGE)
    assert m.subject == "[SkyGuard warning] crowd over capacity in Cell A"
    assert "Where: Cell A (cell cell-a), zone plaza, at 23.050000, 112.460000" in m.text
    assert "When: 2023-11-14 22:13:20 UTC" in m.text and "Li Na" in m.text
    assert m.payload["unit_id"] == "cell-a" and m.short_text.startswith("SkyGuard warning: crowd over capacity")
    escalated = notifier.message(NoticeMessage(**{**MESSAGE.__dict__, "escalated_from": "not acknowledged by X"}))
    assert escalated.subject.endswith("(escalated)") and "Escalated to you: not acknowledged by X." in escalated.text
    no_links = Notifier(parse_config({"vehicles": VEHICLES, "grid": grid_section(tmp_path, ack_base_url=None)}),
                        lambda _e: None)
    try:
        m = no_links.message(MESSAGE)
        assert m.ack_url is None and "Acknowledge it with the station's operators." in m.text
    finally:
        no_links.close()


def test_every_delivery_gets_an_answer_even_a_channel_that_cannot_work(notifier):
    notifier.deliver(Deliver("d1", 1, "fax", "+8613800138000", MESSAGE))
    notifier.deliver(Deliver("d2", 2, "webhook", f"http://127.0.0.1:{free_port()}/unreachable", MESSAGE))
    answers = wait_for(lambda: len(notifier.events) == 2 and notifier.events, 30.0, "two answers")
    by_id = {e.delivery_id: e for e in answers if isinstance(e, DeliveryFinished)}
    assert by_id["d1"].ok is False and "no fax channel is configured" in by_id["d1"].reason
    assert (by_id["d2"].ok, by_id["d2"].attempt) == (False, 2) and by_id["d2"].reason.startswith("Unreachable:")
    notifier.close()
    notifier.deliver(Deliver("d3", 1, "webhook", "http://127.0.0.1:9/x", MESSAGE))
    assert notifier.events[-1] == DeliveryFinished("d3", 1, False, "station stopping: not sent")
