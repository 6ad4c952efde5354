"""Person detection, tracking, geo-registration and ground counting on drone video."""
