"""The MAVLink camera protocol on a camera component of the vehicle, against a scripted peer over loopback TCP."""
from __future__ import annotations

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

from telemetry.errors import CaptureFailed, CommandRefused, CommandTimeout, InvalidRequest, ReplyTimeout

CAMERA = mavlink.MAV_COMP_ID_CAMERA


def test_camera_information_is_asked_of_the_camera_component(peer, make_vehicle):
    v = make_vehicle(peer.url)
    v.wait_ready(10)
    # the peer's gimbal (154) and camera (100) send heartbeats of their own
    v.wait_until(lambda s: s.components == {1, CAMERA, 154}, 10, "every component's heartbeat")
    info = v.camera_information(CAMERA)
    assert (info.component_id, info.vendor, info.model) == (CAMERA, "Scripted", "Cam 100")
    assert (info.focal_length_mm, info.sensor_width_mm, info.sensor_height_mm) == pytest.approx((4.5, 6.17, 4.55))
    assert (info.width_px, info.height_px) == (4000, 3000)
    assert info.flags == mavlink.CAMERA_CAP_FLAGS_CAPTURE_IMAGE and info.firmware_version == 0x01020304
    assert info.definition_uri == "http://cam/def.xml"
    req = peer.wait_for(lambda m: m.get_type() == "COMMAND_LONG" and m.command == mavlink.MAV_CMD_REQUEST_MESSAGE
                        and m.param1 == mavlink.MAVLINK_MSG_ID_CAMERA_INFORMATION)
    assert (req.target_system, req.target_component) == (1, CAMERA)


def test_a_second_camera_component_is_addressed_on_its_own(peer, make_vehicle):
    peer.cameras.add(mavlink.MAV_COMP_ID_CAMERA2)
    v = make_vehicle(peer.url)
    v.wait_ready(10)
    assert v.camera_information(mavlink.MAV_COMP_ID_CAMERA2).model == "Cam 101"
    image = v.capture_image(mavlink.MAV_COMP_ID_CAMERA2)
    assert image.component_id == mavlink.MAV_COMP_ID_CAMERA2 and image.file_url == "http://cam/101/IMG_0000.jpg"


def test_capture_image_returns_where_and_how_the_picture_was_taken(peer, make_vehicle):
    v = make_vehicle(peer.url)
    v.wait_ready(10)
    first = v.capture_image(CAMERA)
    second = v.capture_image(CAMERA)
    assert first.ok and (first.image_index, second.image_index) == (0, 1)
    assert first.file_url == "http://cam/100/IMG_0000.jpg"
    assert first.time_utc_s == pytest.approx(1_700_000_000.0)
    assert first.lat_deg == pytest.approx(-35.3632621) and first.lon_deg == pytest.approx(149.1652374)
    assert first.alt_amsl_m == pytest.approx(584.0) and first.alt_rel_m == 0.0
    # the peer's camera looks north-east, 30 degrees below the horizon
    assert (first.yaw_deg, first.pitch_deg, first.roll_deg) == pytest.approx((45.0, -30.0, 0.0), abs=1e-3)
    sent = [m for m in peer.messages("COMMAND_LONG") if m.command == mavlink.MAV_CMD_IMAGE_START_CAPTURE]
    assert [(m.target_component, m.param2, m.param3) for m in sent] == [(CAMERA, 0.0, 1.0)] * 2
    assert [m.param4 for m in sent] == [1.0, 2.0]  # a new capture sequence number each time


def test_capture_reported_failed_raises_with_the_record(peer, make_vehicle):
    peer.capture_result = 0
    v = make_vehicle(peer.url)
    v.wait_ready(10)
    with pytest.raises(CaptureFailed, match="camera 100 failed to capture") as err:
        v.capture_image(CAMERA)
    assert err.value.image is not None and not err.value.image.ok


def test_no_capture_report_is_a_timeout(peer, make_vehicle):
    peer.capture_result = None  # accepts the command, never says it took a picture
    v = make_vehicle(peer.url)
    v.wait_ready(10)
    with pytest.raises(ReplyTimeout, match="CAMERA_IMAGE_CAPTURED from component 100") as err:
        v.capture_image(CAMERA, timeout_s=0.3)
    assert isinstance(err.value, TimeoutError)


def test_refused_capture_and_a_missing_camera(peer, make_vehicle):
    peer.command_results[mavlink.MAV_CMD_IMAGE_START_CAPTURE] = mavlink.MAV_RESULT_DENIED
    v = make_vehicle(peer.url)
    v.wait_ready(10)
    with pytest.raises(CommandRefused) as err:
        v.capture_image(CAMERA)
    assert err.value.result == mavlink.MAV_RESULT_DENIED
    with pytest.raises(CommandTimeout):  # nobody at component 102
        v.camera_information(102, timeout_s=0.2, retries=1)
    with pytest.raises(InvalidRequest, match="component id"):
        v.capture_image(0)


def test_an_ack_from_another_component_does_not_answer_a_camera_command(peer, make_vehicle):
    def autopilot_answers_instead(msg):
        peer._ack(msg, msg.command, mavlink.MAV_RESULT_ACCEPTED, src_component=1)
        return None  # and the camera never does

    peer.command_results[mavlink.MAV_CMD_IMAGE_START_CAPTURE] = autopilot_answers_instead
    v = make_vehicle(peer.url)
    v.wait_ready(10)
    with pytest.raises(CommandTimeout):
        v.capture_image(CAMERA, command_timeout_s=0.2, retries=1)
