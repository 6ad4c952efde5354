"""The daily report: one day's records from the station database, per district, as HTML or PDF.

`write_report(config, day, out, district=None)` reads the day (midnight to midnight in [reports] tz_name, or `tz_name`)
with storage.day_records, summarises it (core/day_report.py), draws for each district a map (grid cells coloured by
their risk level at the end of the day, counting zones, the tracks flown from the flight tlogs and the patrols' planned
routes, crowds seen, venues), the
zone counts over the day and the hours flown per patrol (matplotlib, Agg), and writes one self-contained HTML file
(figures as PNG inside it; Jinja2) or a PDF made from that HTML by WeasyPrint (which needs Debian's pango). A day
with no records raises NoData saying what the database holds; an unknown district, ReportError naming the known ones.
"""
from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Mapping
from datetime import date, datetime, time as dtime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from groundstation.config import StationConfig
from groundstation.core import day_report as dr
from groundstation.shell import storage

log = logging.getLogger(__name__)

RISK_COLOURS = {"green": "#2e9d44", "blue": "#2f6fd6", "yellow": "#f2c80f", "orange": "#f07f1a", "red": "#d62728"}
FONTS = ["DejaVu Sans", "WenQuanYi Micro Hei"]  # Latin first, then Debian's fonts-wqy-microhei for Chinese names


class ReportError(Exception):
    """A report that cannot be made (the message says why)."""


class NoData(ReportError):
    """The day holds no records."""


def day_bounds(day: date, tz_name: str) -> tuple[float, float]:
    """[start, end) of a local day, as epoch seconds."""
    tz = ZoneInfo(tz_name)
    start = datetime.combine(day, dtime(0, 0), tz)
    end = datetime.combine(day + timedelta(days=1), dtime(0, 0), tz)
    return start.timestamp(), end.timestamp()


def _when(t_s: float | None, tz_name: str) -> str:
    return "-" if t_s is None else datetime.fromtimestamp(t_s, ZoneInfo(tz_name)).strftime("%Y-%m-%d %H:%M")


# --- reading ------------------------------------------------------------------------------------------------------


def _schedule_points(schedules: list[dict[str, Any]]) -> dict[str, list[tuple[float, float]]]:
    """Each schedule's waypoints (lat, lon) from its stored plan."""
    out: dict[str, list[tuple[float, float]]] = {}
    for s in schedules:
        plan = json.loads(s["plan_json"]) if isinstance(s.get("plan_json"), str) else s.get("plan") or {}
        items = plan.get("items", []) if isinstance(plan, Mapping) else []
        out[s["schedule_id"]] = [(float(it["lat_deg"]), float(it["lon_deg"])) for it in items
                                 if isinstance(it, Mapping) and it.get("command") in (16, 17, 18, 19)
                                 and (it.get("lat_deg") or it.get("lon_deg"))]
    return out


TRACK_INTERVAL_S = 5.0  # a track flown, as drawn: one point every 5 s


def _tracks(config: StationConfig, start_s: float, end_s: float) -> dict[str, list[tuple[float, float]]]:
    """Each vehicle's track flown that day (lat, lon), from the flight tlogs ([station] tlog_dir; none: {})."""
    from telemetry.tlog import read_tracks

    folder = config.station.tlog_dir
    if folder is None:
        return {}
    try:
        tracks = read_tracks(Path(folder), start_s, end_s, TRACK_INTERVAL_S)
    except OSError as exc:
        log.warning("report: cannot read the tlogs in %s: %s", folder, exc)
        return {}
    return {vid: [(p.lat_deg, p.lon_deg) for p in points] for vid, points in tracks.items()}


def tracks_in(section: dr.Section, extras: Mapping[str, Any]) -> dict[str, list[tuple[float, float]]]:
    """The tracks flown that pass over a section's area (all of them for the whole-area section)."""
    grid, scope = extras["grid"], section.scope
    if grid is None or scope.everything:
        return dict(extras["tracks"])
    out = {}
    for vid, pts in extras["tracks"].items():
        if any((cell := grid.cell_at(lat, lon)) is not None and cell.unit_id in scope.units for lat, lon in pts):
            out[vid] = pts
    return out


def track_km(points: list[tuple[float, float]]) -> float:
    from missions.geo import distance_m

    return sum(distance_m(a[0], a[1], b[0], b[1]) for a, b in zip(points, points[1:])) / 1000.0


def build(config: StationConfig, day: date, district: str | None = None, tz_name: str | None = None
          ) -> tuple[dr.DayReport, dict[str, Any]]:
    """The report of `day` and what its figures draw; NoData or ReportError when there is nothing to report."""
    tz_name = tz_name or config.reports.tz_name
    path = config.station.storage_path
    if not Path(path).exists():
        raise NoData(f"no station database at {path}: nothing was recorded")
    start_s, end_s = day_bounds(day, tz_name)
    conn = storage.open_database(path)
    try:
        rows = storage.day_records(conn, start_s, end_s)
        first_s, last_s = storage.time_span(conn)
        levels_at_end = storage.risk_levels_at(conn, end_s)
    finally:
        conn.close()
    grid = config.grid.grid() if config.grid.file is not None else None
    zones = tuple(config.counting.zones()) + (grid.counting_zones(None) if grid is not None else ())
    points = _schedule_points(rows["schedules"])
    venues = {v.id: (v.position[0], v.position[1]) for v in config.venues}
    try:
        report = dr.summarise(rows, dr.scopes(grid, zones, points, venues), grid, day, tz_name, start_s, end_s,
                              district)
    except KeyError as exc:
        raise ReportError(exc.args[0]) from None
    started = any(g["started_at_s"] >= start_s for g in rows["gatherings"])
    if not rows["events"] and not started and not any(s.has_records for s in report.sections):
        held = (f"the database holds records from {_when(first_s, tz_name)} to {_when(last_s, tz_name)}"
                if first_s is not None else "the database holds no records at all")
        raise NoData(f"no records on {day.isoformat()} ({tz_name}) in {path}: {held}")
    extras = {"grid": grid, "zones": zones, "points": points, "venues": venues, "levels": levels_at_end,
              "tz_name": tz_name, "tracks": _tracks(config, start_s, end_s)}
    return report, extras


# --- figures ------------------------------------------------------------------------------------------------------


def _fonts() -> list[str]:
    """FONTS that matplotlib can use (Debian's CJK font added by path when its font cache predates it)."""
    from matplotlib import font_manager

    known = {f.name for f in font_manager.fontManager.ttflist}
    if FONTS[1] not in known:
        for path in sorted(Path("/usr/share/fonts/truetype/wqy").glob("wqy-microhei.tt[cf]")):
            font_manager.fontManager.addfont(str(path))
        known = {f.name for f in font_manager.fontManager.ttflist}
    return [name for name in FONTS if name in known] or ["sans-serif"]


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _empty(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#666666")
    ax.set_xticks([])
    ax.set_yticks([])


def _map(section: dr.Section, extras: Mapping[str, Any]) -> str:
    import math

    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    fig, ax = plt.subplots(figsize=(7.0, 5.2))
    grid, scope = extras["grid"], section.scope
    drawn = False
    lats: list[float] = []

    def outline(parts: Any, **style: Any) -> None:
        nonlocal drawn
        for part in parts:
            ring = [(p.lon_deg, p.lat_deg) for p in (*part.exterior, part.exterior[0])]
            xs, ys = zip(*ring)
            if style.get("facecolor"):
                ax.fill(xs, ys, facecolor=style["facecolor"], alpha=0.45, edgecolor="none")
            ax.plot(xs, ys, color=style.get("edgecolor", "#444444"), linewidth=style.get("linewidth", 0.8),
                    linestyle=style.get("linestyle", "-"))
            lats.extend(ys)
            drawn = True

    if grid is not None:
        for unit in grid.units:
            if unit.unit_id not in scope.units and not scope.everything:
                continue
            level = extras["levels"].get(unit.unit_id, {}).get("level") if unit.level == "cell" else None
            outline(unit.parts, facecolor=RISK_COLOURS.get(level or ""), edgecolor="#333333",
                    linewidth={"district": 2.0, "street": 1.4, "community": 1.0}.get(unit.level, 0.6))
    for zone in extras["zones"]:
        if zone.zone_id in scope.zones and not zone.zone_id.startswith("grid:"):
            outline(zone.parts, edgecolor="#7b2cbf", linestyle="--", linewidth=1.2)
            level = extras["levels"].get(zone.zone_id, {}).get("level") if grid is None else None
            if level:
                outline(zone.parts, facecolor=RISK_COLOURS[level], edgecolor="#7b2cbf", linestyle="--")
    flown = {r["schedule_id"] for r in section.rows.get("patrol_runs", []) if r.get("launched_at_s") is not None}
    for sid in sorted(flown):
        pts = extras["points"].get(sid, [])
        if pts:
            ax.plot([p[1] for p in pts], [p[0] for p in pts], color="#1f77b4", linewidth=0.8, alpha=0.7,
                    linestyle=":")
            lats.extend(p[0] for p in pts)
            drawn = True
    for vid, pts in sorted(tracks_in(section, extras).items()):
        ax.plot([p[1] for p in pts], [p[0] for p in pts], color="#d95f02", linewidth=1.1, alpha=0.9)
        ax.annotate(vid, (pts[-1][1], pts[-1][0]), textcoords="offset points", xytext=(3, 3), fontsize=6,
                    color="#d95f02")
        lats.extend(p[0] for p in pts)
        drawn = True
    crowds = section.rows.get("crowd_observations", [])
    if crowds:
        ax.scatter([c["lon_deg"] for c in crowds], [c["lat_deg"] for c in crowds],
                   s=[6 + 3 * c["count"] for c in crowds], color="#e377c2", alpha=0.5, edgecolors="none")
        lats.extend(c["lat_deg"] for c in crowds)
        drawn = True
    for vid in sorted(scope.venues):
        lat, lon = extras["venues"][vid]
        ax.plot([lon], [lat], marker="s", color="black", markersize=6)
        ax.annotate(vid, (lon, lat), textcoords="offset points", xytext=(4, 4), fontsize=7)
        lats.append(lat)
        drawn = True
    if not drawn:
        _empty(ax, "no grid, zone, patrol route or crowd to draw")
    else:
        ax.set_aspect(1.0 / max(0.1, math.cos(math.radians(sum(lats) / len(lats)))))
        ax.set_xlabel("longitude (°)")
        ax.set_ylabel("latitude (°)")
        ax.ticklabel_format(useOffset=False)
        ax.tick_params(labelsize=7)
        handles = [Patch(facecolor=c, alpha=0.45, label=lv) for lv, c in RISK_COLOURS.items()]
        ax.legend(handles=handles, title="risk at the end of the day", fontsize=7, title_fontsize=7,
                  loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(f"{scope.name}: grid, zones, tracks flown (orange; planned routes dotted), crowds seen, venues",
                 fontsize=9)
    return _png(fig)


def _counts(section: dr.Section, tz_name: str, start_s: float) -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.0, 2.8))
    series: dict[str, list[tuple[float, int, int]]] = {}
    for r in section.rows.get("zone_counts", []):
        series.setdefault(r["zone_id"], []).append(((r["at_s"] - start_s) / 3600.0, r["count"], r["capacity_persons"]))
    busiest = sorted(series, key=lambda z: -max(c for _, c, _ in series[z]))[:6]
    if not busiest:
        _empty(ax, "no zone counts recorded")
    for zone_id in busiest:
        hours, counts, caps = zip(*series[zone_id])
        line, = ax.step(hours, counts, where="post", linewidth=1.0, label=zone_id)
        ax.step(hours, caps, where="post", linewidth=0.8, linestyle=":", color=line.get_color())
    if busiest:
        from matplotlib.ticker import FuncFormatter

        hours = [h for z in busiest for h, _, _ in series[z]]
        lo, hi = max(0.0, min(hours) - 0.25), min(24.0, max(hours) + 0.25)  # the part of the day with counts
        ax.set_xlim(lo, hi)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda h, _pos: f"{int(h) % 24:02d}:{int(round(h * 60)) % 60:02d}"))
        ax.set_xlabel(f"time of day ({tz_name})")
        ax.set_ylabel("people")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        ax.tick_params(labelsize=7)
    ax.set_title("People counted per zone (dotted: the safe capacity in force)", fontsize=9)
    return _png(fig)


def _patrols(section: dr.Section, start_s: float, end_s: float) -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.0, 2.6))
    names = {s["schedule_id"]: s["name"] for s in section.rows.get("schedules", [])}
    by: dict[str, dict[str, float]] = {}
    for run in section.rows.get("patrol_runs", []):
        p = by.setdefault(names.get(run["schedule_id"], run["schedule_id"]), {"completed": 0, "aborted": 0,
                                                                               "missed": 0, "hours": 0.0})
        if run["status"] in p:
            p[run["status"]] += 1
        p["hours"] += dr._overlap_s(run.get("launched_at_s"), run.get("ended_at_s"), start_s, end_s) / 3600.0
    if not by:
        _empty(ax, "no patrol scheduled or flown")
    else:
        labels = sorted(by)
        bottom = [0.0] * len(labels)
        for status, colour in (("completed", "#2e9d44"), ("aborted", "#f07f1a"), ("missed", "#999999")):
            values = [by[n][status] for n in labels]
            ax.barh(labels, values, left=bottom, color=colour, label=status)
            bottom = [b + v for b, v in zip(bottom, values)]
        for i, n in enumerate(labels):
            ax.annotate(f"{by[n]['hours']:.2f} h flown", (bottom[i], i), textcoords="offset points", xytext=(4, -3),
                        fontsize=7)
        ax.set_xlabel("runs")
        ax.legend(fontsize=7, loc="lower right")
        ax.tick_params(labelsize=7)
    ax.set_title("Patrol runs by outcome, and hours flown", fontsize=9)
    return _png(fig)


# --- writing ------------------------------------------------------------------------------------------------------

_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>SkyGuard daily report {{ day }}</title>
<style>
@page { size: A4; margin: 14mm 12mm; @bottom-right { content: "page " counter(page) " of " counter(pages);
        font-size: 8pt; color: #666; } }
body { font-family: "DejaVu Sans", "WenQuanYi Micro Hei", sans-serif; font-size: 9pt; color: #222; }
h1 { font-size: 16pt; margin: 0 0 2mm 0; } h2 { font-size: 13pt; margin: 6mm 0 2mm 0; page-break-before: always; }
h2.first { page-break-before: avoid; } h3 { font-size: 10pt; margin: 4mm 0 1mm 0; }
table { border-collapse: collapse; width: 100%; margin-bottom: 2mm; }
th, td { border: 0.4pt solid #bbb; padding: 1mm 1.5mm; text-align: left; vertical-align: top; }
th { background: #eef1f5; } td.num { text-align: right; } .note { color: #555; font-size: 8pt; }
div.fig { page-break-inside: avoid; margin: 2mm 0; } img { max-width: 100%; }
.keys td:first-child { width: 55%; }
</style></head><body>
<h1>SkyGuard daily report: {{ day }}</h1>
<p class="note">{{ start }} to {{ end }} ({{ tz }}); station {{ station }}; database {{ db }}; made {{ made }}.</p>
{% for s in sections %}
<h2 class="{{ 'first' if loop.first else '' }}">{{ s.section.scope.name }}
{% if s.section.scope.district_id != 'all' %}(district {{ s.section.scope.district_id }}){% endif %}</h2>
<table class="keys">{% for label, value in s.section.figures %}<tr><td>{{ label }}</td><td>{{ value }}</td></tr>
{% endfor %}</table>
<div class="fig"><img alt="map of {{ s.section.scope.name }}" src="{{ s.map }}"></div>
<p class="note">Tracks flown (from the flight tlogs): {{ s.tracks or "none recorded" }}.</p>
<div class="fig"><img alt="zone counts" src="{{ s.counts }}"></div>
<div class="fig"><img alt="patrols" src="{{ s.patrols }}"></div>
{% for t in s.section.tables %}
<h3>{{ t.title }}</h3>
{% if t.rows %}<table><tr>{% for c in t.columns %}<th>{{ c }}</th>{% endfor %}</tr>
{% for row in t.rows %}<tr>{% for cell in row %}<td>{{ cell }}</td>{% endfor %}</tr>{% endfor %}</table>
{% else %}<p>{{ t.empty }}.</p>{% endif %}
{% if t.note %}<p class="note">{{ t.note }}</p>{% endif %}
{% endfor %}
{% endfor %}
</body></html>
"""


def render_html(config: StationConfig, report: dr.DayReport, extras: Mapping[str, Any], now_s: float) -> str:
    """The report as one self-contained HTML page (figures embedded as PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import jinja2
    import matplotlib.pyplot as plt

    plt.rcParams["font.family"] = _fonts()
    tz = report.tz_name
    sections = [{"section": s, "map": _map(s, extras), "counts": _counts(s, tz, report.start_s),
                 "patrols": _patrols(s, report.start_s, report.end_s),
                 "tracks": ", ".join(f"{vid} {track_km(pts):.2f} km" for vid, pts in sorted(tracks_in(s, extras).items()))}
                for s in report.sections]
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(_TEMPLATE).render(
        day=report.day.isoformat(), start=_when(report.start_s, tz), end=_when(report.end_s, tz), tz=tz,
        station=config.station.name, db=str(config.station.storage_path), made=_when(now_s, tz), sections=sections)


def write_report(config: StationConfig, day: date, out: Path, district: str | None = None,
                 tz_name: str | None = None, now_s: float | None = None) -> Path:
    """Write the report of `day` to `out` (.html or .pdf, by its suffix); NoData, ReportError otherwise."""
    import time

    suffix = out.suffix.lower()
    if suffix not in (".html", ".pdf"):
        raise ReportError(f"{out}: the report is written as .html or .pdf, not {out.suffix or 'no suffix'}")
    report, extras = build(config, day, district, tz_name)
    html = render_html(config, report, extras, time.time() if now_s is None else now_s)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    if suffix == ".html":
        tmp.write_text(html, encoding="utf-8")
    else:
        from weasyprint import HTML

        HTML(string=html, base_url=str(out.parent)).write_pdf(tmp)
    tmp.replace(out)  # a half-written report never has the final name
    return out
