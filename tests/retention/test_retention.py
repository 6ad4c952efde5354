"""Privacy: retention limits per kind of record with an automatic purge, recorded (what, when, by which rule); the
daily report written by the station's housekeeping; the audit export (JSON Lines and CSV). Injected clocks, a real
database; the housekeeping's thread is waited for with close()."""
from __future__ import annotations

import csv
import json
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from groundstation.cli import main
from groundstation.config import ConfigError, parse_config
from groundstation.core.records import CommandResultRow, CommandRow, EventRow
from groundstation.core.response_data import ThermalReadingRow
from groundstation.core.crowds import CrowdObservationRow
from groundstation.core.notice_data import NoticeAckRow
from groundstation.core.risk_data import RiskInputRow
from groundstation.shell import storage
from groundstation.shell.housekeeping import Housekeeping, purge_due, report_due
from tests.report.day import config as day_config
from tests.report.day import record_day

DAY_S = 86_400.0
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=ZoneInfo("UTC")).timestamp()


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _config(tmp_path, **extra):
    return parse_config({"station": {"storage_path": str(tmp_path / "station.sqlite"), "tlog_dir": None},
                         "vehicles": [{"id": "d1", "url": "tcp:127.0.0.1:5760"}], **extra})


def _write(path, rows) -> None:
    conn = storage.open_database(path)
    conn.execute("BEGIN IMMEDIATE")
    for row in rows:
        storage.write_row(conn, row)
    conn.execute("COMMIT")
    conn.close()


def _aged(days: float) -> float:
    return NOW - days * DAY_S


@pytest.mark.parametrize("last, now, every, due", [(None, 0.0, 3600.0, True), (0.0, 3599.0, 3600.0, False),
                                                   (0.0, 3600.0, 3600.0, True)])
def test_a_purge_is_due_at_the_first_tick_and_then_every_period(last, now, every, due):
    assert purge_due(last, now, every) is due


SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize("local, at, done, expected", [
    ((2024, 5, 2, 0, 29), "00:30", set(), None),  # not yet
    ((2024, 5, 2, 0, 30), "00:30", set(), date(2024, 5, 1)),
    ((2024, 5, 2, 23, 59), "00:30", set(), date(2024, 5, 1)),
    ((2024, 5, 2, 1, 0), "00:30", {date(2024, 5, 1)}, None),  # written already
    ((2024, 5, 3, 0, 0), "00:00", {date(2024, 5, 1)}, date(2024, 5, 2)),
])
def test_the_previous_days_report_is_due_once_its_hour_has_passed(local, at, done, expected):
    now_s = datetime(*local, tzinfo=SHANGHAI).timestamp()
    assert report_due(now_s, "Asia/Shanghai", at, done) == expected


def test_old_records_are_purged_by_their_rule_and_each_purge_is_recorded(tmp_path):
    config = _config(tmp_path, retention={"days": {"thermal_readings": 7, "events": 0}})
    _write(config.station.storage_path, [
        ThermalReadingRow("r1", _aged(8), 1, 1, 23.0, 112.0, "measured", 36.5, 1.5, False, ""),
        ThermalReadingRow("r1", _aged(6), 1, 2, 23.0, 112.0, "measured", 38.0, 1.5, True, ""),
        CrowdObservationRow("cam", "d1", _aged(31), _aged(31), 23.0, 112.0, 5, 2.0, 0.4, 0.8, None),
        CrowdObservationRow("cam", "d1", _aged(29), _aged(29), 23.0, 112.0, 5, 2.0, 0.4, 0.8, None),
        EventRow(None, _aged(4000), "patrol", "info", "an old event: events are kept for ever here"),
        CommandRow("c1", "d1", "arm", {}, "operator", _aged(2000), "sent", "ok"),
    ])
    writer = storage.StorageWriter(config.station.storage_path).start()
    housekeeping = Housekeeping(config, writer, Clock(NOW))
    try:
        housekeeping.tick()
        housekeeping.close()
        housekeeping.tick()  # not due again for 24 h: nothing
        housekeeping.close()
        assert writer.flush()
    finally:
        writer.close()
    conn = storage.open_database(config.station.storage_path)
    counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
              for t in ("thermal_readings", "crowd_observations", "events", "commands")}
    assert counts == {"thermal_readings": 1, "crowd_observations": 1, "events": 2, "commands": 0}
    purges = storage.purge_rows(conn)
    assert sorted((p["rule"], p["table_name"], p["days"], p["rows_deleted"]) for p in purges) == [
        ("commands", "commands", 1825.0, 1), ("crowd_observations", "crowd_observations", 30.0, 1),
        ("thermal_readings", "thermal_readings", 7.0, 1)]
    assert all(p["at_s"] == NOW and p["cutoff_s"] == NOW - p["days"] * DAY_S for p in purges)
    (event,) = [e for e in storage.StorageReader(config.station.storage_path).events(kind="retention")]
    assert event["text"].startswith("retention purge: ") and "1 thermal_readings (older than 7 days)" in event["text"]
    conn.close()


def test_an_unknown_kind_of_record_is_a_config_problem(tmp_path):
    with pytest.raises(ConfigError) as err:
        _config(tmp_path, retention={"days": {"faces": 1, "events": -1}})
    text = "\n".join(err.value.problems)
    assert "unknown kind(s) of record faces" in text


@pytest.mark.slow
def test_the_station_writes_yesterdays_report_by_itself_once(tmp_path):
    raw_config = day_config(tmp_path)
    record_day(raw_config)
    config = raw_config.model_copy(update={"reports": raw_config.reports.model_copy(
        update={"dir": tmp_path / "reports", "at": "00:30"})})
    clock = Clock(datetime(2024, 5, 2, 0, 20, tzinfo=SHANGHAI).timestamp())
    writer = storage.StorageWriter(config.station.storage_path).start()
    housekeeping = Housekeeping(config, writer, clock)
    try:
        housekeeping.tick()  # the first tick purges
        housekeeping.close()
        housekeeping.tick()  # 00:20: the report is not due yet
        housekeeping.close()
        assert not (tmp_path / "reports").exists()
        clock.t += 15 * 60
        housekeeping.tick()
        housekeeping.close()
        out = tmp_path / "reports" / "report-2024-05-01.pdf"
        assert out.stat().st_size > 10_000
        written = out.stat().st_mtime_ns
        clock.t += 3600
        housekeeping.tick()
        housekeeping.close()
        assert out.stat().st_mtime_ns == written  # once a day
        clock.t += 2 * DAY_S  # 2024-05-04 01:35: the 3rd holds no records
        housekeeping.tick()  # one job at a time: the purge (due again after 24 h) first
        housekeeping.close()
        housekeeping.tick()  # then the report
        housekeeping.close()
        assert not (tmp_path / "reports" / "report-2024-05-03.pdf").exists()
        assert writer.flush()
    finally:
        writer.close()
    events = [e["text"] for e in storage.StorageReader(config.station.storage_path).events(kind="report")]
    assert events[0] == f"daily report of 2024-05-01 written to {out}"
    assert events[1].startswith("daily report of 2024-05-03: no records on 2024-05-03 (Asia/Shanghai)")


def _audited(path) -> None:
    _write(path, [
        CommandRow("c1", "d1", "arm", {"force": False}, "operator:amy", NOW - 50, "sent", "checks passed"),
        CommandResultRow("c1", NOW - 49, "accepted", 400, 0, "ACCEPTED", 1, 0.2, None),
        CommandRow("c2", "d1", "takeoff", {"alt_m": 500}, "operator:amy", NOW - 40, "refused",
                   "altitude 500 m above the limit"),
        NoticeAckRow("n1", "a1", NOW - 30, "officer:li", "callback", "li"),
        RiskInputRow("i1", NOW - 20, "cell-a", "health:dr-wu", cases=1),
        CommandRow("c3", "d1", "rtl", {}, "operator:amy", NOW + 10, "sent", "later: outside the period"),
    ])
    conn = storage.open_database(path)
    storage.insert_alert_ack(conn, "a9", "operator:bo", NOW - 10, "seen")
    storage.purge(conn, {"commands": 0.0001}, NOW - 5)  # a purge is itself audited (rows older than ~9 s)
    conn.close()


def _config_file(tmp_path):
    path = tmp_path / "station.toml"
    path.write_text(f'[station]\nstorage_path = "{tmp_path / "station.sqlite"}"\n'
                    '[[vehicles]]\nid = "d1"\nurl = "tcp:127.0.0.1:5760"\n')
    return path


def test_the_audit_export_as_json_lines(tmp_path, capsys):
    config_file = _config_file(tmp_path)
    _audited(tmp_path / "station.sqlite")
    out = tmp_path / "audit.jsonl"
    start = datetime.fromtimestamp(NOW - 3600, ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%S")
    end = datetime.fromtimestamp(NOW, ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%S")
    assert main(["audit", "export", "--config", str(config_file), "--from", start, "--to", end,
                 "--out", str(out)]) == 0
    assert "4 audit record(s)" in capsys.readouterr().out
    records = [json.loads(line) for line in out.read_text().splitlines()]
    # the purge deleted commands c1 and c2 (older than its cutoff) and says so; c3 lies after the period
    assert [(r["record"], r["who"]) for r in records] == [
        ("notice_ack", "officer:li"), ("risk_input", "health:dr-wu"), ("alert_ack", "operator:bo"),
        ("purge", "station (retention)")]
    assert records[-1]["what"] == "purged 2 commands row(s) older than 0.0001 days"
    assert records[-1]["decision"] == "commands" and records[1]["detail"]["cases"] == 1
    assert all(r["at_utc"].startswith("2024-06-01T11:59") for r in records)


def test_the_audit_export_as_csv_and_its_bad_input(tmp_path, capsys):
    config_file = _config_file(tmp_path)
    conn = storage.open_database(tmp_path / "station.sqlite")
    conn.close()
    _write(tmp_path / "station.sqlite", [
        CommandRow("c1", "d1", "arm", {"force": False}, "operator:amy", NOW - 50, "sent", "checks passed"),
        CommandRow("c2", "d1", "takeoff", {"alt_m": 500}, "operator:amy", NOW - 40, "refused", "too high")])
    out = tmp_path / "audit.csv"
    day = datetime.fromtimestamp(NOW, ZoneInfo("UTC")).date()
    assert main(["audit", "export", "--config", str(config_file), "--from", day.isoformat(), "--to",
                 date.fromordinal(day.toordinal() + 1).isoformat(), "--out", str(out)]) == 0
    with out.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [(r["record"], r["what"], r["decision"]) for r in rows] == [("command", "arm d1", "sent"),
                                                                       ("command", "takeoff d1", "refused")]
    assert json.loads(rows[1]["detail"])["reason"] == "too high"
    assert rows[0]["at_utc"].startswith(day.isoformat())
    for args, why in [(["--from", "2024-06-02", "--to", "2024-06-01"], "--to must be after --from"),
                      (["--from", "yesterday", "--to", "2024-06-01"], "must be YYYY-MM-DD"),
                      (["--from", "2024-06-01", "--to", "2024-06-02", "--out", str(tmp_path / "a.xlsx")],
                       "export to .jsonl or .csv")]:
        argv = ["audit", "export", "--config", str(config_file), "--out", str(out), *args]
        assert main(argv) == 2
        assert why in capsys.readouterr().err
