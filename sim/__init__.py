"""Simulated ArduCopter vehicles that speak real MAVLink 2 on TCP, like ArduPilot SITL instances.

Never imports telemetry/: a fake that shares code with what it tests proves nothing.
"""
