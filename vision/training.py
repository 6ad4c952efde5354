"""Fine-tuning a person detector on the user's own labelled footage: Ultralytics training on YOLO-format
labels, offline, the resulting weights written to a path the user gives (then usable anywhere a model is
taken by path: ``--model``, ``[[cameras]] model_path``).

The dataset is either an Ultralytics dataset YAML, or a folder holding ``images/`` and ``labels/`` (one
``.txt`` per image, ``class cx cy w h`` normalised, class 0 = person), optionally split into
``images/train`` + ``images/val``; a folder without a split trains and validates on the same images (say so
in your own figures). Nothing is downloaded: plots (which fetch a font) and the AMP check (which fetches
weights) are off.

What the base model knew is kept: when its class 0 is a person class (COCO's person, VisDrone's pedestrian), the
folder's labels train that class and the model keeps all its classes (its whole head transfers; a one-class
dataset would start the class head afresh), and the batch-norm statistics are frozen (a few small batches would
overwrite those learnt on the original data, and a checkpoint rebuilt from an exported model, such as the drone
preset's, has its batch norms folded into the convolutions: in training mode they would normalise by each batch
and the model would forget everything in one epoch). The steps are plain SGD at a fine-tuning rate (see
train_detector).
"""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from vision.errors import ModelNotFoundError, VisionError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


class TrainingDataError(VisionError):
    """The training data is missing or not in a form Ultralytics can read (the message says what)."""


@dataclass(frozen=True)
class TrainingResult:
    weights_path: Path
    epochs: int
    train_images: int
    val_images: int
    metrics: tuple[tuple[str, float], ...]  # Ultralytics' validation metrics of the final weights


def _count_images(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def dataset_yaml(data: Path, work_dir: Path, class_names: tuple[str, ...] = ("person",)) -> tuple[Path, int, int]:
    """(dataset YAML to train on, training images, validation images) for ``data`` (a YAML or a folder)."""
    data = Path(data)
    if data.is_file() and data.suffix.lower() in (".yaml", ".yml"):
        return data, -1, -1
    images = data / "images"
    if not images.is_dir() or not (data / "labels").is_dir():
        raise TrainingDataError(f"{data}: give a dataset YAML or a folder with images/ and labels/ (YOLO format)")
    if (images / "train").is_dir():
        train, val = images / "train", images / ("val" if (images / "val").is_dir() else "train")
    else:
        train = val = images
    n_train, n_val = _count_images(train), _count_images(val)
    if n_train == 0:
        raise TrainingDataError(f"{train} holds no images")
    labels = list((data / "labels").rglob("*.txt"))
    if not labels:
        raise TrainingDataError(f"{data / 'labels'} holds no label files")
    names = "\n".join(f"  {i}: {n}" for i, n in enumerate(class_names))
    yaml = work_dir / "dataset.yaml"
    yaml.write_text(f"path: {data.resolve()}\ntrain: {train.resolve()}\nval: {val.resolve()}\nnames:\n{names}\n")
    return yaml, n_train, n_val


def train_detector(
    data: Path,
    base_weights: Path,
    out_weights: Path,
    epochs: int = 30,
    imgsz: int = 640,
    batch: int = 8,
    device: str = "cpu",
    cache_dir: Path | None = None,
    workers: int = 0,
) -> TrainingResult:
    """Fine-tune ``base_weights`` (an Ultralytics .pt) on ``data`` and write the best weights to ``out_weights``."""
    from vision.detector import default_cache_dir, prepare_ultralytics

    base_weights, out_weights = Path(base_weights), Path(out_weights)
    if not base_weights.is_file():
        raise ModelNotFoundError(f"base weights not found: {base_weights} (pass --model PATH)")
    if epochs < 1 or imgsz < 32 or batch < 1:
        raise ValueError("training needs epochs >= 1, imgsz >= 32 and batch >= 1")
    ultralytics = prepare_ultralytics(Path(cache_dir or default_cache_dir()))
    with tempfile.TemporaryDirectory(prefix="skyguard-train-") as tmp:
        work = Path(tmp)
        model = ultralytics.YOLO(str(base_weights), task="detect")
        yaml, n_train, n_val = dataset_yaml(Path(data), work, _class_names(model.names))
        model.add_callback("on_train_batch_start", _freeze_batch_norm)
        model.train(
            data=str(yaml), epochs=epochs, imgsz=imgsz, batch=batch, device=device, workers=workers,
            project=str(work / "runs"), name="train", exist_ok=True, plots=False, amp=False, verbose=False,
            val=True, seed=0, deterministic=True,
            # a fine-tune's steps: plain SGD at lr 0.001, biases included from the first batch. Ultralytics' "auto"
            # picks AdamW for small datasets, which moves every weight by about its lr at each step whatever its
            # gradient: one epoch on three frames took the drone preset's model from 14 people found on another
            # frame to 300 boxes (its batch norms are folded, so nothing re-normalises); SGD: 18
            optimizer="SGD", lr0=0.001, momentum=0.9, warmup_bias_lr=0.001,
        )
        run_dir = work / "runs" / "train" / "weights"
        best = run_dir / "best.pt" if (run_dir / "best.pt").is_file() else run_dir / "last.pt"
        if not best.is_file():
            raise VisionError(f"training wrote no weights under {run_dir}")
        out_weights.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(best, out_weights)
        metrics = getattr(getattr(model, "trainer", None), "metrics", None) or {}
        shown = tuple((str(k), float(v)) for k, v in metrics.items() if isinstance(v, (int, float)))
    return TrainingResult(out_weights, epochs, n_train, n_val, shown)


def _class_names(names: dict[int, str]) -> tuple[str, ...]:
    """The class names a folder dataset is trained with: the base model's own when its class 0 is a person class
    (the labels' class 0 trains it and the head transfers whole), else one class, "person"."""
    from vision.detector import DEFAULT_PERSON_CLASSES

    if names and str(names.get(0, "")).lower() in DEFAULT_PERSON_CLASSES:
        return tuple(str(names[i]) for i in range(len(names)))
    return ("person",)


def _freeze_batch_norm(trainer) -> None:
    """Ultralytics callback (each batch, after the trainer put the model in training mode): batch norms use and
    keep their learnt statistics (their scale and shift still train)."""
    import torch

    for module in trainer.model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.eval()
