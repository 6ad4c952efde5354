"""Person detection, tracking, geo-registration and ground counting on drone video.

Modules: records (frozen records that leave the package), sources (file / stream / device / push
frame sources), detector (YOLO -> cached OpenVINO export, tiled inference), tiling, tracker
(ByteTrack), camera + geodesy (pixel -> ground), pose (pose at capture time), counting (zones,
city grid, no double counting, crowd clusters), pipeline (one stream's chain), worker (one spawned
process per stream), evaluate (truth-file accuracy), speed (benchmarks), annotation (drawn output),
torch_compat (torchvision::nms under CPU torch), errors.
Only this package imports ultralytics, cv2, torch and openvino; it imports no other project package.
"""
