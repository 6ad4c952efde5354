"""telemetry/tlog.py reading back the tracks flown from flight tlogs written by its own TlogRecorder."""
from __future__ import annotations

import os

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from telemetry.tlog import TlogRecorder, flight_tlogs, read_track, read_tracks

T0 = 1_700_000_000.0


def fly(directory, vehicle_id: str, start_s: float, seconds: float, rate_hz: float = 10.0, lat0: float = 23.0469,
        lon0: float = 112.4651):
    """A flight tlog as the station writes it: heartbeats and positions moving north, 1 m per second."""
    mav = mavlink.MAVLink(None, srcSystem=1, srcComponent=1)
    rec = TlogRecorder(directory, vehicle_id)
    rec.start_flight(start_s)
    n = int(seconds * rate_hz)
    for i in range(n):
        t = start_s + i / rate_hz
        if i % int(rate_hz) == 0:
            rec.record(mav.heartbeat_encode(2, 3, 0, 4, 4).pack(mav), t)
        lat = lat0 + (i / rate_hz) * 1.0 / 111_000
        rec.record(mav.global_position_int_encode(int(i * 100), int(lat * 1e7), int(lon0 * 1e7), 50_000, 20_000,
                                                  0, 0, 0, 9000).pack(mav), t)
    rec.end_flight()
    rec.close()
    (path,) = rec.flight_paths
    os.utime(path, (start_s + seconds, start_s + seconds))  # last written when the flight ended
    return path


def test_a_flights_positions_are_read_back_at_the_interval_asked_within_the_period(tmp_path):
    path = fly(tmp_path, "patrol-1", T0, 30.0)
    track = read_track(path, T0 + 5.0, T0 + 25.0, min_interval_s=1.0)
    assert 19 <= len(track) <= 20
    assert all(T0 + 5.0 <= p.t_s < T0 + 25.0 for p in track)
    assert all(b.t_s - a.t_s >= 1.0 - 1e-6 for a, b in zip(track, track[1:]))
    first = track[0]
    assert abs(first.lon_deg - 112.4651) < 1e-6 and first.alt_rel_m == 20.0 and first.heading_deg == 90.0
    assert track[-1].lat_deg > first.lat_deg, "flying north"


def test_tracks_by_vehicle_only_from_the_flights_that_overlap_the_period(tmp_path):
    fly(tmp_path, "patrol-1", T0, 20.0)
    fly(tmp_path, "patrol-2", T0 + 10.0, 20.0)
    fly(tmp_path, "patrol-1", T0 + 3600.0, 20.0)  # an hour later: not in the period
    assert {k: len(v) for k, v in flight_tlogs(tmp_path, T0, T0 + 60.0).items()} == {"patrol-1": 1, "patrol-2": 1}
    tracks = read_tracks(tmp_path, T0, T0 + 60.0, min_interval_s=2.0)
    assert set(tracks) == {"patrol-1", "patrol-2"}
    assert tracks["patrol-2"][0].t_s == T0 + 10.0 and len(tracks["patrol-1"]) == 10
    assert read_tracks(tmp_path / "nowhere", T0, T0 + 60.0) == {}


def test_a_truncated_tlog_gives_the_positions_before_the_damage(tmp_path):
    path = fly(tmp_path, "patrol-1", T0, 10.0)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] + b"\x00\xfd\x13garbage")
    track = read_track(path, T0, T0 + 60.0, min_interval_s=0.5)
    assert 8 <= len(track) <= 11 and track[-1].t_s < T0 + 6.0
