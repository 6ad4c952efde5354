"""The station core: every decision the station takes, as pure functions of (state, event, now_s).

Read dispatch.py first (the one entry point, `handle`). By concern:
- records.py   the shared vocabulary: events in, rows to record, actions out (Record, SendCommand, Reply)
- state.py     the station's immutable domain state
- commands.py  the typed vehicle commands and the port (VehiclePort) that carries them out
- safety.py    the checks every command passes before it is sent (link, fence, altitude, battery, state)
- requests.py  the command lifecycle: parse, check, record, send, record the vehicle's answer
- policy.py    limits and geofence
- vehicles.py  what the vehicles say: links, state, battery, mission progress
- patrols.py / patrol_runs.py   automatic patrols: the decisions / flying them
- crowds.py    ground counting: people on the map, zone and cell counts, gatherings
- response_data.py / response.py   the crowd response: its data / the state machine (approach, thermal
               screening, fever alert or loudspeaker broadcast, verify dispersal, resume the patrol)
- notice_data.py / notices.py   alerts to grid officers: their data / routing, retries, escalation, acknowledgement
- risk_data.py / risk.py   the five-colour risk map: its rule table and data / evidence, levels and what they change
- venue_data.py / venues.py   venues with a headcount limit: their data / occupancy from entrance counts, alerts
- day_report.py   a day's records summarised for the daily report (pure)
Nothing here does I/O or reads a clock: import-linter enforces it.
"""
