"""Simulated ArduCopter vehicles that speak real MAVLink 2 on TCP, like ArduPilot SITL instances, and the simulated
city they fly over (scenario.py, world.py): people who walk and gather, seen by each vehicle's rendered RGB video
(rgb_camera.py, video_server.py: MJPEG over HTTP) and radiometric thermal frames (thermal.py), and who react to what
its loudspeaker plays (speaker.py).

Never imports telemetry/: a fake that shares code with what it tests proves nothing.

The reference is ArduCopter master SITL ("4.7.0-dev") as `sim_vehicle.py -f quad --no-mavproxy` starts it:
default parameters, no pilot (SITL's RC input holds the throttle at minimum), a servo gimbal and cameras
fitted. Where the modules match it, their docstrings say how (copter.py: auto_armed and the throttle; server.py:
components, gimbal protocol v2, boot banner, upload pace; mission.py: how items are stored and read back).
Known, deliberate differences from SITL:
- Several clients per TCP port, each its own MAVLink channel; SITL serves one at a time (server.py).
- Start-up: position after ~20 s and arming after ~40 s by default, but no EKF/GPS physics behind it, and the
  simulation runs from the start instead of waiting for the first connection as SITL does.
- Point-mass kinematics with ArduPilot's speed/acceleration parameters, flat ground, no wind; modes STABILIZE,
  AUTO, GUIDED, LOITER, RTL, LAND and BRAKE only.
- SET_MESSAGE_INTERVAL is DENIED ("No ap_message for mavlink id (N)") for every message this simulator does not
  produce; ArduPilot accepts (and sends) many more (RAW_IMU, AHRS, ...).
- REQUEST_MESSAGE for a known message that cannot be built yet (HOME_POSITION before home) is FAILED here;
  ArduPilot accepts it and sends nothing. (The gimbal messages without a mount follow ArduPilot: accepted.)
- MISSION_ACK carries no opaque_id (the installed pymavlink has no such field).
"""
