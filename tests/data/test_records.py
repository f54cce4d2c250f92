"""Labelled image records (`hf_pricer.data.records`): the JSON files of the dual-embedding models, their
checks, label vocabularies, the results JSON, and the catalog and Grocery Store converters."""

import json
import logging
import os

import numpy as np
import pytest
import torch
from PIL import Image

from hf_pricer.data.records import (
    EMPTY_STRING,
    IMAGE_NOT_FOUND,
    MALFORMED_RECORD,
    MISSING_FIELD,
    NON_FINITE_TARGET,
    NON_NUMERIC_TARGET,
    UNKNOWN_LABEL,
    grocery_records,
    keep_known_labels,
    label_vocabulary,
    load_records,
    save_json,
    write_catalog_json,
)
from tests.utils import GROCERY

TARGETS = ["length", "diameter"]


def good_record(image="ok.png", **overrides):
    return {"image_path": image, "company": "Acme", "model": "A1", "length": "10.5", "diameter": 4, **overrides}


def write_image_folder(folder):
    """`ok.png`, a readable image, and `broken.png`, which is not one."""
    Image.new("RGB", (40, 30), (200, 30, 30)).save(folder / "ok.png")
    (folder / "broken.png").write_bytes(b"not an image")
    return folder


@pytest.fixture
def image_folder(tmp_path):
    return write_image_folder(tmp_path)


def test_every_bad_record_is_skipped_and_counted_by_reason(image_folder, caplog):
    records = [
        good_record(),
        # an absolute path and a padded label
        good_record(image=str(image_folder / "ok.png"), company=" Zenith ", length=11.0),
        ["not", "a", "record"],
        good_record(company=None),
        {key: value for key, value in good_record().items() if key != "diameter"},
        good_record(model="  "),
        good_record(length=""),
        good_record(length="ten"),
        good_record(diameter=True),
        good_record(length="nan"),
        good_record(diameter=float("inf")),
        good_record(image="missing.png"),
        good_record(image=""),
        good_record(image="broken.png"),
        {key: value for key, value in good_record().items() if key != "image_path"},
    ]
    path = image_folder / "train.json"
    path.write_text(json.dumps(records, allow_nan=True))
    with caplog.at_level(logging.WARNING):
        dataset, report = load_records(str(path), TARGETS)
    assert report.kept == 2 and len(dataset) == 2
    assert dict(report.counts) == {
        MALFORMED_RECORD: 1,
        MISSING_FIELD: 3,
        EMPTY_STRING: 3,
        NON_NUMERIC_TARGET: 2,
        NON_FINITE_TARGET: 2,
        IMAGE_NOT_FOUND: 1,
        "unreadable image": 1,
    }
    assert dataset[0] == {
        "id": "0", "company": "Acme", "model": "A1", "length": 10.5, "diameter": 4.0,
        "image": str((image_folder / "ok.png").resolve()),
    }
    assert dataset[1]["company"] == "Zenith"
    assert "non-numeric target" in caplog.text and "length='ten'" in caplog.text
    assert "kept 2 rows, skipped 13" in caplog.text


def test_nothing_usable_is_an_error_naming_the_reasons(image_folder):
    with pytest.raises(ValueError, match="every row was rejected.*image file not found"):
        load_records([good_record(image="missing.png")], TARGETS, base_dir=image_folder)
    (image_folder / "object.json").write_text(json.dumps({"records": []}))
    with pytest.raises(ValueError, match="expected a JSON list"):
        load_records(str(image_folder / "object.json"), TARGETS)


def test_label_vocabulary_and_unknown_labels_are_counted(image_folder):
    dataset, _ = load_records([good_record(), good_record(model="B2", length=12.0), good_record(company="Other")],
                              TARGETS, base_dir=image_folder)
    id2label = label_vocabulary(dataset.select([0, 1]), "model")
    assert id2label == {0: "A1", 1: "B2"}
    known, report = keep_known_labels(dataset, "company", {"Acme": 0})
    assert len(known) == 2 and dict(report.counts) == {UNKNOWN_LABEL: 1}


def test_results_json_converts_numpy_and_torch(tmp_path):
    results = {
        "mean_mae": np.float32(0.25),
        "count": np.int64(7),
        "per_target": np.array([0.5, 0.125]),
        "weights": torch.tensor([[0.25, 0.75]]),
        "flag": np.bool_(True),
        ("nested",): {"values": (np.float64(1.5), np.int32(2))},
        "path": tmp_path / "x",
    }
    path = save_json({str(key): value for key, value in results.items()}, tmp_path / "out" / "results.json")
    loaded = json.loads(open(path).read())
    assert loaded["mean_mae"] == 0.25 and loaded["count"] == 7 and loaded["flag"] is True
    assert loaded["per_target"] == [0.5, 0.125]
    assert loaded["weights"] == [[0.25, 0.75]]
    assert loaded["('nested',)"] == {"values": [1.5, 2]}
    assert loaded["path"] == str(tmp_path / "x")
    with pytest.raises(TypeError):  # what the conversion is for
        json.dumps({"value": np.float32(0.25)})


def test_catalog_default_is_valid_records_json(tmp_path):
    train_json, val_json = write_catalog_json(tmp_path / "catalog", 10, image_size=32, val_fraction=0.2)
    train, report = load_records(train_json, ["size", "log_quantity"])
    val, _ = load_records(val_json, ["size", "log_quantity"])
    assert (len(train), len(val), report.skipped) == (8, 2, 0)
    record = json.loads(open(train_json).read())[0]
    assert set(record) == {"id", "image_path", "company", "model", "size", "log_quantity"}
    assert not os.path.isabs(record["image_path"])
    assert 0.4 < train[0]["size"] < 0.9


@pytest.mark.skipif(not os.path.isdir(GROCERY), reason="../shared/data/grocery is not on this machine")
def test_grocery_converter_on_the_real_data():
    records = grocery_records(GROCERY, "val")
    assert records and all(record["image_path"].endswith(".jpg") for record in records)
    dataset, report = load_records(records[:40], ["package_size", "energy_kcal"])
    assert report.kept + report.skipped == 40
    assert set(report.counts) <= {MISSING_FIELD}
    assert all(size in (300.0, 750.0, 1000.0, 2000.0) for size in dataset["package_size"])
