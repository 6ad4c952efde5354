"""The station's side of MAVLink: links to vehicles, their state, commands and missions.

Only this package (and sim/) imports pymavlink. What leaves it are the frozen records in
`telemetry.records` and the errors in `telemetry.errors`.
"""
