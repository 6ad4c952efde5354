"""Fine-tuning's dataset: which classes a folder of person labels trains (the base model's own when its class 0 is
a person class, so its whole head transfers), and the dataset YAML written for Ultralytics."""
from __future__ import annotations

import pytest

from vision.training import TrainingDataError, _class_names, dataset_yaml


@pytest.mark.parametrize("names, expected", [
    ({0: "pedestrian", 1: "people", 2: "bicycle"}, ("pedestrian", "people", "bicycle")),  # VisDrone
    ({0: "person", 1: "bicycle"}, ("person", "bicycle")),  # COCO
    ({0: "car", 1: "person"}, ("person",)),  # person not class 0: the labels' class 0 cannot train it
    ({}, ("person",)),
])
def test_a_folder_of_person_labels_trains_the_base_models_person_class(names, expected):
    assert _class_names(names) == expected


def test_the_dataset_yaml_names_the_classes_and_the_folders(tmp_path):
    data = tmp_path / "footage"
    (data / "images").mkdir(parents=True)
    (data / "labels").mkdir()
    (data / "images" / "a.jpg").write_bytes(b"x")
    (data / "labels" / "a.txt").write_text("0 0.5 0.5 0.1 0.2\n")
    yaml, n_train, n_val = dataset_yaml(data, tmp_path, ("pedestrian", "people"))
    text = yaml.read_text()
    assert (n_train, n_val) == (1, 1) and "  0: pedestrian\n  1: people\n" in text
    assert f"train: {(data / 'images').resolve()}" in text
    with pytest.raises(TrainingDataError, match="labels/"):
        dataset_yaml(tmp_path / "nothing", tmp_path)
