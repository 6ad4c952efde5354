"""`groundstation vision count|eval` end to end on real footage, and their errors."""
import json

import cv2
import pytest

from groundstation.cli import main
from tests.shared import DATA, need
from tests.vision.conftest import CACHE, MODEL, PETS, visdrone
from vision.evaluate import load_boxes, match_boxes

COMMON = ["--preset", "elevated", "--model", str(MODEL), "--cache-dir", str(CACHE)]


@pytest.mark.slow
def test_eval_json_format_and_groups(tmp_path, capsys):
    need(MODEL), need(PETS)
    frame = visdrone(1)
    truth = tmp_path / "truth.json"
    truth.write_text(json.dumps([
        {"file": PETS.name, "frame": 3, "count": 3},
        {"file": PETS.name, "frame": 0, "count": 3},
        {"file": f"visdrone/{frame.name}", "frame": None, "count": 29, "source": "annotation"},
    ]))
    rc = main(["vision", "eval", "--truth", str(truth), "--root", str(DATA), "--json", *COMMON])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"items", "groups", "detector"} and "yolo11n_from_int8.pt" in out["detector"]
    assert [(i["file"], i["frame"], i["true"]) for i in out["items"]] == [
        (PETS.name, 3, 3), (PETS.name, 0, 3), (f"visdrone/{frame.name}", None, 29)]
    assert all(set(i) == {"file", "frame", "true", "pred", "estimate"} and isinstance(i["pred"], int) for i in out["items"])
    assert set(out["groups"]) == {PETS.name, "visdrone"}
    pets = out["groups"][PETS.name]
    assert set(pets) == {"n", "mae", "mean_rel_err", "estimate_mean_rel_err"} and pets["n"] == 2
    preds = [i["pred"] for i in out["items"][:2]]
    assert pets["mae"] == pytest.approx(sum(abs(p - 3) for p in preds) / 2)
    assert pets["mae"] <= 1.0
    vis = out["groups"]["visdrone"]
    assert vis["mean_rel_err"] == pytest.approx(abs(out["items"][2]["pred"] - 29) / 29)
    assert out["items"][2]["pred"] >= 15  # tiling finds the small people (plain YOLO11n finds < 8)


@pytest.mark.slow
def test_eval_text_output_and_bad_truth(tmp_path, capsys):
    need(MODEL), need(PETS)
    truth = tmp_path / "t.json"
    truth.write_text(json.dumps([{"file": PETS.name, "frame": 900, "count": 1}]))
    assert main(["vision", "eval", "--truth", str(truth), "--root", str(DATA), *COMMON]) == 2
    assert "past the end" in capsys.readouterr().err
    truth.write_text(json.dumps({"file": "x"}))
    assert main(["vision", "eval", "--truth", str(truth), *COMMON]) == 2


@pytest.mark.slow
def test_count_video_json_lines_and_annotated_output(tmp_path, capsys):
    need(MODEL), need(PETS)
    out_video = tmp_path / "annotated.avi"
    rc = main(["vision", "count", str(PETS), "--json", "--max-frames", "4", "--imgsz", "480", "--out", str(out_video), *COMMON])
    assert rc == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["frame"] for line in lines] == [0, 1, 2, 3]
    assert all(2 <= line["count"] <= 5 and len(line["boxes"]) == line["count"] for line in lines)
    cap = cv2.VideoCapture(str(out_video))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == 4


@pytest.mark.slow
def test_count_image_text(capsys):
    need(MODEL)
    assert main(["vision", "count", str(visdrone(0)), "--tiles", "2x3", *COMMON]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("frame 0: ")


@pytest.mark.parametrize("make,args,message", [
    (lambda d: d / "missing.pt", ["--model"], "missing.pt"),
    (lambda d: (d / "x.png").write_bytes(b"text") and None, [], "is not a readable image"),
])
def test_count_errors_are_clear(tmp_path, capsys, make, args, message):
    target = make(tmp_path)
    source = str(tmp_path / "x.png") if target is None else str(need(PETS))
    argv = ["vision", "count", source, "--preset", "elevated", "--cache-dir", str(CACHE)]
    argv += [*args, str(target)] if args else ["--model", str(MODEL)]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_count_truncated_video_warns(tmp_path, capsys):
    need(MODEL)
    cut = tmp_path / "cut.avi"
    data = need(PETS).read_bytes()
    cut.write_bytes(data[: len(data) // 20])
    assert main(["vision", "count", str(cut), "--imgsz", "320", *COMMON]) == 0
    assert "truncated" in capsys.readouterr().err


def test_bad_tiles_argument(capsys):
    assert main(["vision", "count", str(PETS), "--tiles", "lots", *COMMON]) == 2
    assert "--tiles" in capsys.readouterr().err


@pytest.mark.slow
def test_eval_reports_precision_and_recall_where_the_truth_has_boxes(tmp_path, capsys):
    from tests.vision.conftest import DRONE_MODEL

    need(DRONE_MODEL)
    names = ["DJI_0084_1534", "DJI_0084_7481"]
    for n in names:
        need(DATA / "uav_unicamp" / f"{n}.jpg")
    truth = tmp_path / "truth.json"
    truth.write_text(json.dumps([{"file": f"uav_unicamp/{n}.jpg", "frame": None, "count": c, "boxes": f"uav_unicamp/{n}.txt",
                                  "box_format": "yolo"} for n, c in zip(names, (3, 16))]))
    argv = ["vision", "eval", "--truth", str(truth), "--root", str(DATA), "--model", str(DRONE_MODEL), "--cache-dir", str(CACHE)]
    assert main([*argv, "--json"]) == 0  # the drone preset is the default
    out = json.loads(capsys.readouterr().out)
    group = out["groups"]["uav_unicamp"]
    assert group["items_with_boxes"] == 2 and 0.5 <= group["precision"] <= 1.0 and 0.4 <= group["recall"] <= 1.0
    for item in out["items"]:
        assert item["tp"] + item["fp"] == item["pred"] and item["tp"] + item["fn"] == item["true"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "uav_unicamp: n=2" in text and "precision=" in text and "recall=" in text and "matched" in text


@pytest.mark.slow
def test_train_writes_weights_that_count_people(tmp_path, capsys):
    """One epoch on three small frames, offline; the weights come out where asked, load as a detector with the base
    model's classes, and still find the people the base model found on a frame they were not trained on (the drone
    preset's checkpoint has its batch norms folded: trained in batch-norm training mode it forgot everything)."""
    from tests.vision.conftest import DRONE_MODEL

    need(DRONE_MODEL)
    data = tmp_path / "footage"
    (data / "images").mkdir(parents=True)
    (data / "labels").mkdir()
    for n in ("DJI_0084_1666", "DJI_0084_2076", "DJI_0084_1348"):
        image = cv2.imread(str(need(DATA / "uav_unicamp" / f"{n}.jpg")))
        cv2.imwrite(str(data / "images" / f"{n}.jpg"), cv2.resize(image, (640, 360)))
        (data / "labels" / f"{n}.txt").write_text((DATA / "uav_unicamp" / f"{n}.txt").read_text())
    out = tmp_path / "weights" / "mine.pt"
    rc = main(["vision", "train", "--data", str(data), "--model", str(DRONE_MODEL), "--out", str(out), "--epochs", "1",
               "--imgsz", "320", "--batch", "2", "--cache-dir", str(CACHE), "--json"])
    assert rc == 0 and out.is_file()
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["weights"] == str(out) and report["train_images"] == 3 and report["epochs"] == 1
    from vision.detector import DetectorConfig, PersonDetector

    def detector(weights):
        return PersonDetector(DetectorConfig(model_path=weights, imgsz=1280, precision="f32",
                                             cache_dir=tmp_path / "cache"))

    det = detector(out)
    assert det.names[0] == "pedestrian" and len(det.names) == 10 and det.person_classes == (0, 1)
    frame = cv2.imread(str(need(DATA / "uav_unicamp" / "DJI_0084_1122.jpg")))  # not one of the three
    truth = load_boxes(DATA / "uav_unicamp" / "DJI_0084_1122.txt", "yolo", frame.shape[1], frame.shape[0])

    def matched(weights):  # (true positives, false positives) at IoU >= 0.3
        found = detector(weights).detect(frame, "off").detections
        boxes = [(d.x1_px, d.y1_px, d.x2_px, d.y2_px) for d in found]
        return match_boxes(boxes, [d.confidence for d in found], truth)[:2]

    (tp0, fp0), (tp1, fp1) = matched(DRONE_MODEL), matched(out)
    print(f"on a frame not trained on: base model {tp0} people found and {fp0} false boxes; after one epoch {tp1} "
          f"and {fp1}")
    assert tp0 >= 3 and tp1 >= 0.6 * tp0 and fp1 <= 2 * fp0 + 3, ((tp0, fp0), (tp1, fp1))


def test_train_refuses_a_folder_without_labels(tmp_path, capsys):
    (tmp_path / "images").mkdir()
    assert main(["vision", "train", "--data", str(tmp_path), "--model", str(need(MODEL)), "--out", str(tmp_path / "x.pt")]) == 2
    assert "labels/" in capsys.readouterr().err


@pytest.mark.slow
def test_bench_on_drone_footage_loops_the_short_clip(capsys):
    from tests.vision.conftest import DRONE_MODEL

    video = need(DATA / "uav_unicamp_seq.mp4")
    need(DRONE_MODEL), need(MODEL)
    rc = main(["vision", "bench", "--video", str(video), "--frames", "24", "--alt-m", "10", "--pitch-deg", "-14", "--json"])
    assert rc == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["frames"] == 24  # 18 frames in the clip: looped
    assert report["pipeline_fps"] > 0 and report["baseline_fps"] > 0 and report["preset"] == "drone"
    assert report["assumed_pose"] == {"alt_m": 10.0, "pitch_deg": -14.0, "hfov_deg": 84.0}


def test_bad_classes_argument(capsys):
    assert main(["vision", "count", str(PETS), "--classes", " , ", *COMMON]) == 2
    assert "--classes" in capsys.readouterr().err
