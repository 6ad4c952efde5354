"""The station's side of MAVLink: links to vehicles, their state, commands and missions.

Only this package (and sim/) imports pymavlink. What leaves it are the frozen records in
`telemetry.records` and the errors in `telemetry.errors`. Importing `telemetry` itself loads nothing.

Modules:
  vehicle.py           Vehicle: one vehicle's link, state, commands, missions, parameters (the public API)
  fleet.py             Fleet: many Vehicles sharing one event sink
  link.py              the per-link I/O thread: heartbeat, health, reconnect, subscriptions, error reporting,
                       boot text skipping; LinkSettings (ids and timings of a link)
  transport.py         tcp / udpin / udpout / serial byte transports and link-URL parsing
  tracker.py           folds decoded messages into a VehicleState (pure bookkeeping; gimbal v2 and MOUNT_STATUS)
  mission_transfer.py  mission / fence / rally upload, download, clear (the mission protocol); same_item()
  parameters.py        the parameter protocol (read, set, fetch all)
  tlog.py              .tlog files: one per connection session, one per arm->disarm flight
  codec.py             the one place pymavlink is loaded (MAVLink 2, fastcrc), names and conversions
"""
