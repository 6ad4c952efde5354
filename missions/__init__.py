"""Patrol planning and the geometry the station shares: zone files, counting areas (zones with a safe capacity,
the city grid), geofences, coverage patterns, mission items, estimates, assignment and schedules. Pure: no I/O."""
