"""`groundstation vision count|eval` end to end on real footage, and their errors."""
import json

import cv2
import pytest

from groundstation.cli import main
from tests.shared import DATA, need
from tests.vision.conftest import CACHE, MODEL, PETS, visdrone

COMMON = ["--model", str(MODEL), "--cache-dir", str(CACHE)]


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
    assert set(out) == {"items", "groups"}
    assert [(i["file"], i["frame"], i["true"]) for i in out["items"]] == [
        (PETS.name, 3, 3), (PETS.name, 0, 3), (f"visdrone/{frame.name}", None, 29)]
    assert all(set(i) == {"file", "frame", "true", "pred"} and isinstance(i["pred"], int) for i in out["items"])
    assert set(out["groups"]) == {PETS.name, "visdrone"}
    pets = out["groups"][PETS.name]
    assert set(pets) == {"n", "mae", "mean_rel_err"} and pets["n"] == 2
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
    argv = ["vision", "count", source, "--cache-dir", str(CACHE)]
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
