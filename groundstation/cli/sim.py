"""Run N simulated ArduCopter vehicles that speak MAVLink 2 on SITL-compatible TCP ports.

Vehicle i (0-based) has system id i+1 and listens on tcp:127.0.0.1:BASE+10*i. Runs until SIGINT/SIGTERM.
"""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from sim.launcher import add_arguments as sim_arguments   # argparse helpers only: no pymavlink import
    sim_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from sim.launcher import run as sim_run
    return sim_run(args)
