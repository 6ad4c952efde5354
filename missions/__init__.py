"""Patrol planning: zones, coverage patterns, mission items, estimates and schedules. Pure: no I/O."""
