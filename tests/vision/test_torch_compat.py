"""The torchvision::nms fallback for CPU torch with the CUDA torchvision wheel (run in a fresh process)."""
import subprocess
import sys
import textwrap

import pytest

from tests.vision.conftest import ROOT


def run_fresh(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.slow
def test_fallback_makes_torchvision_nms_work_and_matches_reference():
    proc = run_fresh("""
        from vision.torch_compat import ensure_torchvision_ops, nms_reference
        applied = ensure_torchvision_ops()
        assert ensure_torchvision_ops() == applied  # idempotent
        import torch, torchvision
        g = torch.Generator().manual_seed(0)
        xy = torch.rand(300, 2, generator=g) * 500
        wh = torch.rand(300, 2, generator=g) * 80 + 5
        boxes = torch.cat([xy, xy + wh], 1)
        scores = torch.rand(300, generator=g)
        keep = torchvision.ops.nms(boxes, scores, 0.5)
        # independent check: no two kept boxes overlap above the threshold, every dropped box
        # overlaps a higher-scoring kept one
        iou = torchvision.ops.box_iou(boxes, boxes)
        kept = set(keep.tolist())
        assert all(iou[i, j] <= 0.5 for i in kept for j in kept if i != j)
        for d in set(range(300)) - kept:
            assert any(iou[d, k] > 0.5 and scores[k] >= scores[d] for k in kept)
        assert keep.tolist() == sorted(keep.tolist(), key=lambda i: -scores[i].item())
        assert torchvision.ops.batched_nms(boxes[:2], scores[:2], torch.tensor([0, 1]), 0.5).numel() == 2
        print("applied", applied)
    """)
    assert proc.returncode == 0, proc.stderr
    assert "applied" in proc.stdout


@pytest.mark.slow
def test_without_the_fallback_torchvision_fails_here_or_is_native():
    proc = run_fresh("""
        from vision.torch_compat import _native_ops_loadable
        native = _native_ops_loadable()
        try:
            import torchvision  # noqa
            print("imported", native)
        except RuntimeError as exc:
            assert not native and "torchvision::nms" in str(exc)
            print("failed-as-expected")
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() in ("failed-as-expected", "imported True")


@pytest.mark.slow
def test_ultralytics_predict_works_through_the_fallback():
    from tests.shared import need
    from tests.vision.conftest import MODEL, PETS

    need(MODEL), need(PETS)
    proc = run_fresh(f"""
        import tempfile, cv2
        from pathlib import Path
        from vision.detector import prepare_ultralytics
        prepare_ultralytics(Path(tempfile.mkdtemp()))
        from ultralytics import YOLO
        cap = cv2.VideoCapture({str(PETS)!r}); ok, frame = cap.read()
        r = YOLO({str(MODEL)!r}).predict(frame, imgsz=480, classes=[0], verbose=False)[0]
        print("people", len(r.boxes))
    """)
    assert proc.returncode == 0, proc.stderr
    n = int(proc.stdout.split()[-1])
    assert 2 <= n <= 4  # three people walk in frame 0 (truth.json)
