"""Thermal screening: radiometric frames (°C on the thermal camera's pixel grid) and people's skin temperatures.

Modules: frame (the checked ThermalFrame record and what its values are corrected for), formats (16-bit
centi-kelvin TIFF and FLIR radiometric JPEG from paths or http(s) URLs: the I/O edge), screening (pure:
each person's head projected into the frame, distance and emissivity corrected, a fever hint, no fever,
or unmeasured with the reason), errors (the ThermalError branch of the vision error tree).
A reading is a screening hint to be confirmed on the ground, never a diagnosis.
"""
from vision.thermal.errors import (
    ThermalError,
    ThermalFetchError,
    ThermalFileNotFoundError,
    ThermalFormatError,
    ThermalFrameError,
    ThermalSourceError,
)
from vision.thermal.formats import (
    FlirMetadata,
    decode_centikelvin_tiff,
    decode_flir_jpeg,
    encode_centikelvin_tiff,
    read_flir_jpeg,
    read_flir_metadata,
    read_thermal,
    read_tiff,
)
from vision.thermal.frame import Radiometry, ThermalFrame
from vision.thermal.screening import (
    THERMAL_ONLY,
    SCREENING_NOTICE,
    PersonReading,
    PersonToScreen,
    PlacedPeople,
    ScreeningConfig,
    ScreeningResult,
    UnmeasuredReason,
    Verdict,
    people_from_detections,
    screen_detections,
    screen_people,
    skin_temperature_c,
)

__all__ = [
    "THERMAL_ONLY",
    "SCREENING_NOTICE",
    "FlirMetadata",
    "PersonReading",
    "PersonToScreen",
    "PlacedPeople",
    "Radiometry",
    "ScreeningConfig",
    "ScreeningResult",
    "ThermalError",
    "ThermalFetchError",
    "ThermalFileNotFoundError",
    "ThermalFormatError",
    "ThermalFrame",
    "ThermalFrameError",
    "ThermalSourceError",
    "UnmeasuredReason",
    "Verdict",
    "decode_centikelvin_tiff",
    "decode_flir_jpeg",
    "encode_centikelvin_tiff",
    "people_from_detections",
    "read_flir_jpeg",
    "read_flir_metadata",
    "read_thermal",
    "read_tiff",
    "screen_detections",
    "screen_people",
    "skin_temperature_c",
]
