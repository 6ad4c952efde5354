"""The daily report: a recorded day (tests/report/day.py) through `groundstation report` as PDF and HTML; the PDF
opened again (pypdf), its pages rendered (poppler's pdftoppm) and checked to hold the figures and the day's facts; a
date with no data; each district on its own; the summary's numbers."""
from __future__ import annotations

import subprocess
from datetime import date
from pathlib import Path

import pytest
from pypdf import PdfReader

from groundstation.cli import main
from groundstation.core import day_report as dr
from groundstation.shell.report import build, tracks_in, write_report
from tests.report.day import DAY, config, record_day


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("day")
    cfg = config(tmp)
    record_day(cfg)
    config_file = tmp / "station.toml"  # the CLI reads a file: the same settings as TOML
    config_file.write_text(_toml(cfg, tmp))
    return cfg, config_file, tmp


def _toml(cfg, tmp: Path) -> str:
    venue = cfg.venues[0]
    return f"""
[station]
name = "report-test"
storage_path = "{cfg.station.storage_path}"
[[vehicles]]
id = "d1"
url = "tcp:127.0.0.1:5760"
[[cameras]]
id = "hall-cam"
vehicle_id = "d1"
source = "rtsp://127.0.0.1/hall"
model_path = "{tmp / 'model.pt'}"
[grid]
file = "{cfg.grid.file}"
secrets_file = "{cfg.grid.secrets_file}"
smtp = {{ host = "127.0.0.1", sender = "s@example.org", security = "none" }}
sms = {{ url = "http://127.0.0.1:9/sms" }}
[[venues]]
id = "hall"
name = "Gaoyao hall"
limit_persons = 50
position = [{venue.position[0]}, {venue.position[1]}]
entrances = [{{ id = "hall-door", camera = "hall-cam", line = [[0, 100], [200, 100]] }}]
[reports]
tz_name = "Asia/Shanghai"
"""


@pytest.mark.slow
def test_the_pdf_report_renders_every_page_and_holds_each_districts_figures_and_facts(recorded, capsys):
    _, config_file, tmp = recorded
    out = tmp / "report.pdf"
    assert main(["report", "--config", str(config_file), "--date", DAY, "--out", str(out)]) == 0
    assert f"daily report of {DAY} written to {out}" in capsys.readouterr().out
    reader = PdfReader(out)
    text = "\n".join(page.extract_text() for page in reader.pages)
    images = {img.data: img for page in reader.pages for img in page.images}.values()  # pages may share resources
    assert len(images) == 6  # a map, the zone counts and the patrols, for each of the two districts
    assert all(img.image.size[0] > 300 and img.image.size[1] > 150 for img in images)
    for fact in ("SkyGuard daily report: 2024-05-01", "Duanzhou", "Gaoyao", "Patrol coverage and hours flown",
                 "plaza patrol", "Gatherings and how they ended", "Crowd responses with timings", "Fever hints",
                 "38.2 ± 1.5 °C", "never a diagnosis", "Risk changes", "Alert handling", "hall 55 12 53 50 1",
                 "still gathering at the end of the day", "two confirmed cases"):
        assert fact in text, fact
    pages = subprocess.run(["pdftoppm", "-r", "40", "-png", str(out), str(tmp / "page")], capture_output=True,
                           text=True, timeout=120)
    assert pages.returncode == 0, pages.stderr
    rendered = sorted(tmp.glob("page-*.png"))
    assert len(rendered) == len(reader.pages) >= 2
    from PIL import Image

    for png in rendered:
        with Image.open(png) as im:
            lo, hi = im.convert("L").getextrema()
            assert hi - lo > 100, f"{png.name} is blank"


def test_the_html_report_is_one_page_with_the_figures_inside(recorded):
    cfg, _, tmp = recorded
    out = write_report(cfg, date(2024, 5, 1), tmp / "report.html")
    html = out.read_text(encoding="utf-8")
    assert html.count('src="data:image/png;base64,') == 6
    assert html.count("<h3>Venues</h3>") == 2 and "<td>hall</td><td>55</td><td>12</td><td>53</td>" in html
    assert "http://" not in html and "https://" not in html  # self-contained: nothing fetched when it is opened


def test_one_district_only(recorded):
    cfg, _, tmp = recorded
    report, _ = build(cfg, date(2024, 5, 1), "gaoyao")
    (only,) = report.sections
    assert only.scope.district_id == "gaoyao"
    assert {g["gathering_id"] for g in only.rows["gatherings"]} == {"g2"}
    assert {a["alert_id"] for a in only.rows["alerts"]} == {"a3"}
    assert {r["run_id"] for r in only.rows["patrol_runs"]} == {"s-gaoyao@1"}
    assert [v["venue_id"] for v in only.rows["venue_counts"]] == ["hall"] * 3
    out = tmp / "gaoyao.pdf"
    write_report(cfg, date(2024, 5, 1), out, "Gaoyao")
    assert len({i.data for p in PdfReader(out).pages for i in p.images}) == 3


def test_an_unknown_district_and_a_bad_date_are_refused(recorded, capsys):
    _, config_file, tmp = recorded
    assert main(["report", "--config", str(config_file), "--date", DAY, "--district", "atlantis",
                 "--out", str(tmp / "x.pdf")]) == 2
    assert "no district 'atlantis' (known: duanzhou, gaoyao)" in capsys.readouterr().err
    assert main(["report", "--config", str(config_file), "--date", "2024-13-01", "--out", str(tmp / "x.pdf")]) == 2
    assert "is not a date" in capsys.readouterr().err
    assert main(["report", "--config", str(config_file), "--date", DAY, "--out", str(tmp / "x.docx")]) == 2
    assert not (tmp / "x.pdf").exists()


def test_a_date_with_no_data_says_so_and_writes_nothing(recorded, capsys):
    _, config_file, tmp = recorded
    out = tmp / "empty.pdf"
    assert main(["report", "--config", str(config_file), "--date", "2024-04-20", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "no records on 2024-04-20 (Asia/Shanghai)" in err
    assert "the database holds records from 2024-05-01 00:05 to 2024-05-01" in err
    assert not out.exists()


def test_the_summary_of_the_first_district(recorded):
    cfg, _, _ = recorded
    report, _ = build(cfg, date(2024, 5, 1), "duanzhou")
    (s,) = report.sections
    figures = dict(s.figures)
    assert figures["patrol runs completed / fire times"] == "1 / 3"
    assert figures["hours flown on patrol"] == "0.67"  # 30 min + 10 min
    assert figures["fever hints (to confirm on the ground)"] == "1"
    assert figures["alerts / acknowledged"] == "2 / 1"
    assert figures["median time to acknowledge"] == "240 s" or figures["median time to acknowledge"] == "4 min"
    tables = {t.title: t for t in s.tables}
    (patrol,) = tables["Patrol coverage and hours flown"].rows
    assert patrol == ("plaza patrol", "3", "2", "1", "1", "1", "33 %", "0.67")
    (gathering,) = tables["Gatherings and how they ended"].rows
    assert gathering[1:] == ("grid:cell-a", "09:25:00", "15 min", "12 / 5", "dispersed after a response (fever_found)")
    (response,) = tables["Crowd responses with timings"].rows
    assert response == ("09:11:00", "grid:cell-a", "d1", "+5 s", "+60 s", "-", "14 min", "fever_found")
    handling = tables["Alert handling"].rows
    assert handling[0][3:] == ("09:15:00", "officer:cell-a.officer", "4 min", "0")
    assert handling[1][3:] == ("not acknowledged", "-", "-", "1")
    assert [r[1:4] for r in tables["Risk changes and health officials' inputs"].rows] == [("cell-a", "green",
                                                                                           "yellow")]


@pytest.mark.parametrize("seconds, text", [(None, "-"), (45, "45 s"), (89.6, "90 s"), (600, "10 min"),
                                           (5400, "1 h 30 min"), (7265, "2 h 01 min")])
def test_durations_read_as_people_say_them(seconds, text):
    assert dr.duration(seconds) == text


def test_the_tracks_flown_come_from_the_flight_tlogs_in_the_districts_they_crossed(recorded, tmp_path):
    from tests.grid.city import at
    from tests.report.day import t
    from tests.telemetry.test_tlog_tracks import fly

    cfg, _, tmp = recorded
    lat, lon = at(600, 50)  # over cell-g, in Gaoyao; 1 m/s north for 2 minutes stays in it
    tlogs = tmp_path / "tlogs"
    fly(tlogs, "d1", t(10), 120.0, lat0=lat, lon0=lon)
    fly(tlogs, "d1", t(10) - 86_400.0, 60.0, lat0=lat, lon0=lon)  # the day before: not in this report
    with_tlogs = cfg.model_copy(update={"station": cfg.station.model_copy(update={"tlog_dir": tlogs})})
    report, extras = build(with_tlogs, date(2024, 5, 1))
    sections = {s.scope.district_id: s for s in report.sections}
    assert set(tracks_in(sections["gaoyao"], extras)) == {"d1"} and tracks_in(sections["duanzhou"], extras) == {}
    assert 23 <= len(extras["tracks"]["d1"]) <= 24  # a point every 5 s
    html = write_report(with_tlogs, date(2024, 5, 1), tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Tracks flown (from the flight tlogs): d1 0.12 km." in html
    assert "Tracks flown (from the flight tlogs): none recorded." in html  # Duanzhou
