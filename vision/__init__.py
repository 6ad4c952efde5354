"""Person detection, tracking, geo-registration and crowd clusters on drone video.

Modules: records (frozen records that leave the package), sources (file / stream / device / push
frame sources), detector (YOLO -> cached OpenVINO export, tiled inference), tiling, tracker
(ByteTrack), camera (pixel -> ground, with missions.geo), pose (pose at capture time), counting (crowd
clusters in one frame; counts per zone and grid cell are the station core's), pipeline (one
stream's chain), worker (one spawned process per stream), evaluate (truth-file accuracy), speed
(benchmarks), annotation (drawn output), torch_compat (torchvision::nms under CPU torch), thermal (radiometric
frames and people's skin temperatures for fever screening), errors.
Only this package imports ultralytics, cv2, torch and openvino; of the project's packages it imports only
missions (pure geometry).
"""
