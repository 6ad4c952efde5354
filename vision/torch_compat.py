"""Makes the PyPI torchvision importable under a CPU-only PyTorch.

torchvision 0.28.0 on PyPI is a CUDA build: under the CPU torch wheel its native library fails to
load, and ``import torchvision`` then dies with ``operator torchvision::nms does not exist`` (its
fake-tensor registrations need the ``nms``/``qnms`` schemas). Ultralytics imports torchvision on
every predict, so without this nothing works. :func:`ensure_torchvision_ops` defines the two
schemas and a pure-PyTorch CPU kernel for them with ``torch.library``, and only when torchvision's
own native library cannot be loaded. Call it before anything imports torchvision.

``torchvision.ops.nms`` also refuses to run when the native library is missing (``_assert_has_ops``),
so the fallback replaces that one guard in ``torchvision.ops.boxes`` by a check that the ``nms`` op
exists; every other torchvision op keeps its original guard and error.
"""
from __future__ import annotations

import glob
import importlib.util
import os

NMS_SCHEMA = "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor"


def _native_ops_loadable() -> bool:
    """True when torchvision's own compiled ops are (or can be) registered with torch."""
    import torch

    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return True  # no torchvision at all: nothing to fix
    for folder in spec.submodule_search_locations:
        for lib in glob.glob(os.path.join(folder, "_C*.so")) + glob.glob(os.path.join(folder, "_C*.pyd")):
            try:
                torch.ops.load_library(lib)
            except (OSError, RuntimeError):
                return False
            return _op_exists("nms")
    return False


def _op_exists(name: str) -> bool:
    import torch

    try:
        torch._C._dispatch_find_schema_or_throw(f"torchvision::{name}", "")
    except RuntimeError:
        return False
    return True


def nms_reference(dets, scores, iou_threshold: float):
    """Greedy non-maximum suppression in plain PyTorch: indices of kept boxes, best score first.

    Same contract as ``torchvision.ops.nms``: boxes are (x1, y1, x2, y2); a box is dropped when its
    IoU with an already kept, higher-scoring box is strictly greater than ``iou_threshold``.
    """
    import torch

    if dets.numel() == 0:
        return torch.empty((0,), dtype=torch.long, device=dets.device)
    if dets.is_quantized:
        dets = dets.dequantize()
    if scores.is_quantized:
        scores = scores.dequantize()
    dets = dets.float()
    x1, y1, x2, y2 = dets.unbind(1)
    areas = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    order = scores.float().argsort(descending=True, stable=True)
    # Pairwise IoU once (fine for the few thousand candidates a detector leaves after its score cut).
    xx1 = torch.maximum(x1[:, None], x1[None, :])
    yy1 = torch.maximum(y1[:, None], y1[None, :])
    xx2 = torch.minimum(x2[:, None], x2[None, :])
    yy2 = torch.minimum(y2[:, None], y2[None, :])
    inter = (xx2 - xx1).clamp(min=0) * (yy2 - yy1).clamp(min=0)
    iou = inter / (areas[:, None] + areas[None, :] - inter).clamp(min=1e-12)
    suppressed = torch.zeros(dets.shape[0], dtype=torch.bool)
    keep = []
    over = (iou > iou_threshold).tolist()
    for i in order.tolist():
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= torch.tensor(over[i], dtype=torch.bool)
    return torch.tensor(keep, dtype=torch.long, device=dets.device)


def ensure_torchvision_ops() -> bool:
    """Register ``torchvision::nms``/``qnms`` when torchvision's native ops are missing.

    Returns True if this call (or an earlier one) had to supply the fallback, False when the native
    ops are there. Safe to call more than once.
    """
    if _native_ops_loadable():
        return False
    import torch

    if not _op_exists("nms"):
        # torch.library.define/impl keep their Library objects alive inside torch for the process.
        torch.library.define("torchvision::nms", NMS_SCHEMA)
        torch.library.impl("torchvision::nms", "CPU", nms_reference)
    if not _op_exists("qnms"):
        torch.library.define("torchvision::qnms", NMS_SCHEMA)
        torch.library.impl("torchvision::qnms", "QuantizedCPU", nms_reference)
    import torchvision.ops.boxes

    torchvision.ops.boxes._assert_has_ops = _assert_nms_op
    return True


def _assert_nms_op() -> None:
    if not _op_exists("nms"):
        raise RuntimeError("torchvision::nms is not registered: call vision.torch_compat.ensure_torchvision_ops()")
