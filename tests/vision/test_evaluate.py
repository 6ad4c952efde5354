"""Accuracy against a truth file: label files in both formats, box matching at IoU >= 0.3, precision and recall
per group beside the count errors."""
import json

import cv2
import numpy as np
import pytest

from vision.evaluate import evaluate, load_boxes, load_truth, match_boxes, score, ItemResult
from vision.records import Detection


def test_visdrone_labels_keep_pedestrians_and_people_only(tmp_path):
    labels = tmp_path / "v.txt"
    labels.write_text("10,20,5,15,1,1,0,0\n30,40,6,12,1,2,0,1\n50,60,40,20,1,4,0,0\n0,0,100,100,0,0,0,0\n")
    boxes = load_boxes(labels, "visdrone", 1920, 1080)
    assert boxes.tolist() == [[10, 20, 15, 35], [30, 40, 36, 52]]


def test_yolo_labels_are_denormalised_and_class_zero_kept(tmp_path):
    labels = tmp_path / "y.txt"
    labels.write_text("0 0.5 0.5 0.1 0.2\n2 0.1 0.1 0.05 0.05\n\n")
    assert load_boxes(labels, "yolo", 1000, 500).tolist() == [[450, 200, 550, 300]]
    labels.write_text("0 0.5 zero 0.1 0.2\n")
    with pytest.raises(ValueError, match="y.txt:1"):
        load_boxes(labels, "yolo", 1000, 500)


def test_matching_takes_each_label_once_at_iou_0_3():
    truth = np.array([[0, 0, 10, 30], [100, 0, 110, 30]], float)
    pred = np.array([
        [1, 1, 11, 31],      # the first person
        [0, 2, 10, 31],      # the first person again: a duplicate is a false positive
        [100, 12, 110, 40],  # the second person, shifted: IoU 0.39 still matches
        [300, 0, 310, 30],   # nothing there
    ], float)
    assert match_boxes(pred, [0.9, 0.8, 0.7, 0.6], truth) == (2, 2, 0)
    assert match_boxes(pred[3:], [0.9], truth) == (0, 1, 2)
    assert match_boxes(np.zeros((0, 4)), [], truth) == (0, 0, 2)


def test_precision_and_recall_are_pooled_per_group_beside_count_errors():
    results = [
        ItemResult("drone/a.png", None, 10, 9, 8, 1, 2),
        ItemResult("drone/b.png", None, 5, 7, 5, 2, 0),
        ItemResult("clip.avi", 3, 4, 4),
    ]
    groups = score(results)
    d = groups["drone"]
    assert d.precision == pytest.approx(13 / 16) and d.recall == pytest.approx(13 / 15) and d.items_with_boxes == 2
    assert d.mean_rel_err == pytest.approx((1 / 10 + 2 / 5) / 2)
    assert groups["clip.avi"].precision is None and groups["clip.avi"].mae == 0


def test_evaluate_matches_detections_to_the_truth_boxes(tmp_path):
    image = np.zeros((100, 200, 3), np.uint8)
    (tmp_path / "set").mkdir()
    cv2.imwrite(str(tmp_path / "set" / "f.png"), image)
    (tmp_path / "set" / "f.txt").write_text("0 0.25 0.5 0.1 0.4\n0 0.75 0.5 0.1 0.4\n")
    truth = tmp_path / "truth.json"
    truth.write_text(json.dumps([{"file": "set/f.png", "frame": None, "count": 2, "boxes": "set/f.txt", "box_format": "yolo"}]))
    found = (Detection(40, 30, 60, 70, 0.9), Detection(0, 0, 5, 5, 0.3))
    results, groups = evaluate(truth, None, lambda im: found)
    assert (results[0].pred, results[0].true_positives, results[0].false_positives, results[0].false_negatives) == (2, 1, 1, 1)
    assert groups["set"].precision == 0.5 and groups["set"].recall == 0.5
    counted, _ = evaluate(truth, None, lambda im: 2)  # a plain count: no box scores
    assert counted[0].pred == 2 and counted[0].true_positives is None
    estimated, groups = evaluate(truth, None, lambda im: found, lambda dets: 1.5 * len(dets))
    assert estimated[0].estimate == 3.0 and groups["set"].estimate_mean_rel_err == pytest.approx(0.5)


def test_truth_items_need_both_box_fields(tmp_path):
    truth = tmp_path / "t.json"
    truth.write_text(json.dumps([{"file": "a.png", "frame": None, "count": 1, "boxes": "a.txt"}]))
    with pytest.raises(ValueError, match="box_format"):
        load_truth(truth)
    truth.write_text(json.dumps([{"file": "a.png", "frame": None, "count": 1, "boxes": "a.txt", "box_format": "coco"}]))
    with pytest.raises(ValueError, match="visdrone, yolo"):
        load_truth(truth)
