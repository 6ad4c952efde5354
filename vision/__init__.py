"""Person detection, tracking, geo-registration and crowd clusters on drone video.

Modules: records (frozen records that leave the package), sources (file / stream / device / push
frame sources), detector (YOLO -> cached OpenVINO export, person classes as a setting, the drone and
elevated presets, tiled inference), tiling (tile grids, bands planned from the pose, merging), tracker
(ByteTrack), camera (pixel -> ground, person size per row, with missions.geo), pose (pose at capture
time), counting (crowd clusters in one frame and count estimates with an uncertainty; counts per zone and
grid cell are the station core's), density (density-map model for packed views, given by path), pipeline
(one stream's chain), worker (one spawned process per stream), evaluate (truth-file accuracy: count
errors, precision and recall), training (fine-tuning a detector on labelled footage), speed (benchmarks),
annotation (drawn output), torch_compat (torchvision::nms under CPU torch), thermal (radiometric
frames and people's skin temperatures for fever screening), errors.
Only this package imports ultralytics, cv2, torch and openvino; of the project's packages it imports only
missions (pure geometry).
"""
