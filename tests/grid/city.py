"""A small grid for the tests, drawn in metres about a Zhaoqing origin: one district, one street, two communities,
three cells, each unit with its officer; helpers to write it as GeoJSON or KML and to place points in it.

    district "duanzhou" (0..400 x 0..200 m)
      street "chengdong" (0..400 x 0..200)
        community "plaza-c" (0..200 x 0..200): cells "cell-a" (0..100), "cell-b" (100..200)
        community "market-c" (200..400 x 0..200): cell "cell-e" (200..400), the same officer as its community
"""
from __future__ import annotations

import json
from typing import Any
from xml.sax.saxutils import escape

from missions.geo import GeoPoint, LocalFrame

ORIGIN = GeoPoint(23.0469, 112.4651)
FRAME = LocalFrame(ORIGIN)


def at(east_m: float, north_m: float) -> tuple[float, float]:
    p = FRAME.to_geo(east_m, north_m)
    return p.lat_deg, p.lon_deg


def ring(e0: float, n0: float, e1: float, n1: float) -> list[list[float]]:
    corners = [(e0, n0), (e1, n0), (e1, n1), (e0, n1), (e0, n0)]
    return [[at(e, n)[1], at(e, n)[0]] for e, n in corners]


def unit(uid: str, level: str, box: tuple[float, float, float, float], parent: str | None = None, **props: Any
         ) -> dict[str, Any]:
    properties = {"level": level, "name": uid.replace("-", " ").title(), **props}
    if parent is not None:
        properties["parent"] = parent
    return {"type": "Feature", "id": uid, "properties": properties,
            "geometry": {"type": "Polygon", "coordinates": [ring(*box)]}}


def officer(name: str, **channels: str) -> dict[str, str]:
    return {"officer": name, **channels}


def units(webhook: str = "https://hooks.example.org/li-na", email_a: str = "li.na@example.org") -> list[dict]:
    """The grid's features (cell-a's officer reached by `webhook` and `email_a`)."""
    return [
        unit("duanzhou", "district", (0, 0, 400, 200), **officer("Chen Hua", email="chen.hua@example.org",
                                                                  sms="+8613800138001")),
        unit("chengdong", "street", (0, 0, 400, 200), "duanzhou",
             **officer("Huang Min", email="huang.min@example.org")),
        unit("plaza-c", "community", (0, 0, 200, 200), "chengdong",
             **officer("Zhou Jie", webhook="https://hooks.example.org/zhou", email="zhou.jie@example.org")),
        unit("market-c", "community", (200, 0, 400, 200), "chengdong",
             **officer("Sun Li", officer_id="sun-li", email="sun.li@example.org")),
        unit("cell-a", "cell", (0, 0, 100, 200), "plaza-c", capacity=5,
             **officer("Li Na", webhook=webhook, email=email_a)),
        unit("cell-b", "cell", (100, 0, 200, 200), "plaza-c", capacity=8, dwell_s=20,
             **officer("Wang Fang", email="wang.fang@example.org")),
        unit("cell-e", "cell", (200, 0, 400, 200), "market-c",
             **officer("Sun Li", officer_id="sun-li", email="sun.li@example.org")),
    ]


def geojson(features: list[dict]) -> str:
    return json.dumps({"type": "FeatureCollection", "features": features})


def kml(features: list[dict]) -> str:
    """The same features as KML Placemarks (fields as ExtendedData)."""
    marks = []
    for f in features:
        props = dict(f["properties"])
        name = props.pop("name", None)
        data = "".join(f'<Data name="{escape(k)}"><value>{escape(str(v))}</value></Data>' for k, v in props.items())
        coords = " ".join(f"{lon},{lat}" for lon, lat in f["geometry"]["coordinates"][0])
        marks.append(f'<Placemark id="{escape(f["id"])}"><name>{escape(name or "")}</name>'
                     f'<ExtendedData>{data}</ExtendedData><Polygon><outerBoundaryIs><LinearRing>'
                     f'<coordinates>{coords}</coordinates></LinearRing></outerBoundaryIs></Polygon></Placemark>')
    return ('<?xml version="1.0" encoding="UTF-8"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document>'
            + "".join(marks) + "</Document></kml>")
