import json

import numpy as np
import pytest

from hf_pricer.data.catalog import generate_catalog
from hf_pricer.data.entities import ALLOWED_UNITS, check_prediction, format_prediction, normalize_entity_value
from hf_pricer.data.label_images import (
    PHOTO_ARCHETYPES,
    PRINTED_UNITS,
    generate_label_images,
    generate_photographed_labels,
    label_split,
    load_attribute_values,
)


def test_rows_are_deterministic_and_prefix_stable():
    a = generate_label_images(12, seed=3, image_size=64)
    b = generate_label_images(20, seed=3, image_size=64)
    assert a["entity_value"] == b.select(range(12))["entity_value"]
    assert [row["image"].tobytes() for row in a] == [row["image"].tobytes() for row in b.select(range(12))]
    other = generate_label_images(12, seed=4, image_size=64)
    assert other["entity_value"] != a["entity_value"]
    assert all(x["image"].tobytes() != y["image"].tobytes() for x, y in zip(other, a))


def test_rows_show_the_catalog_scene_of_the_same_index():
    rows = generate_label_images(30, seed=5, image_size=64, split="test")
    assert rows["category"] == generate_catalog(30, seed=5, with_images=False)["category"]


def test_answers_are_canonical_and_match_the_printed_label():
    rows = generate_label_images(200, seed=0, image_size=64, empty_fraction=0.1)
    empty = [row for row in rows if row["entity_value"] == ""]
    assert 5 <= len(empty) <= 40 and all(row["printed"] == "" for row in empty)
    for row in rows:
        if not row["entity_value"]:
            continue
        assert check_prediction(row["entity_value"], row["entity_name"]) is None
        assert normalize_entity_value(row["entity_value"], row["entity_name"]) == row["entity_value"]
        value, printed_unit = row["printed"].split(" ", 1)
        unit = row["entity_value"].split(" ", 1)[1]
        assert PRINTED_UNITS[unit] == printed_unit
        assert format_prediction(float(value), unit) == row["entity_value"]
        assert len(value.replace(".", "")) <= 5
        assert "." not in value or not value.endswith("0")  # printed as the shortest form
    assert len({row["entity_value"] for row in rows}) > 150  # values are diverse, not a few classes


def test_test_pairs_never_occur_in_training():
    train = generate_label_images(300, seed=0, image_size=64, split="train")
    test = generate_label_images(100, seed=0, image_size=64, split="test")
    pairs = lambda rows: {(r["printed"].split(" ")[0], r["entity_value"].split(" ", 1)[1]) for r in rows if r["printed"]}  # noqa: E731
    train_pairs, test_pairs = pairs(train), pairs(test)
    assert not train_pairs & test_pairs
    assert all(label_split(*pair) == "test" for pair in test_pairs)
    assert all(label_split(*pair) == "train" for pair in train_pairs)


def test_every_unit_has_a_printed_form_and_bad_arguments_fail():
    assert set(PRINTED_UNITS) == set(ALLOWED_UNITS)
    with pytest.raises(ValueError, match="split"):
        generate_label_images(1, split="validation")
    with pytest.raises(ValueError, match="image_size"):
        generate_label_images(1, image_size=32)


# ---------------------------------------------------------------------------------------------------------
# Photographed labels
# ---------------------------------------------------------------------------------------------------------


def _printed_value(canonical: str) -> tuple[str, str]:
    value, unit = canonical.split(" ", 1)
    return np.format_float_positional(float(value), unique=True, trim="-"), unit


def test_photographs_are_deterministic_jpegs_in_the_size_range():
    a = generate_photographed_labels(6, seed=2, split="test", image_size=(224, 400))
    b = generate_photographed_labels(8, seed=2, split="test", image_size=(224, 400), num_proc=2)
    assert a["entity_value"] == b.select(range(6))["entity_value"]
    assert [row["image"].tobytes() for row in a] == [row["image"].tobytes() for row in b.select(range(6))]
    sizes = {row["image"].size for row in b}
    assert len(sizes) > 1 and all(w == h and 224 <= w <= 400 for w, h in sizes)
    assert {row["image"].format for row in b} == {"JPEG"}
    assert set(b["category"]) <= set(PHOTO_ARCHETYPES)


def test_photographed_answers_are_printed_canonical_and_held_out_by_split():
    for split in ("train", "test"):
        rows = generate_photographed_labels(60, seed=1, split=split, image_size=224, empty_fraction=0.1)
        assert 1 <= sum(value == "" for value in rows["entity_value"]) <= 20
        for row in rows:
            texts = [piece["text"] for piece in row["layout"]]
            if not row["entity_value"]:
                assert row["printed"] == ""
                continue
            assert check_prediction(row["entity_value"], row["entity_name"]) is None
            assert label_split(*_printed_value(row["entity_value"])) == split
            number = _printed_value(row["entity_value"])[0]
            assert any(number in text for text in texts)  # the answer is among the printed pieces
            assert all(0 <= c <= 1000 for piece in row["layout"] for point in piece["quad"] for c in point)


def test_rows_all_asks_every_entity_a_label_shows():
    rows = generate_photographed_labels(10, seed=4, split="train", image_size=256, rows="all", empty_fraction=0.0)
    by_label = {}
    for row in rows:
        by_label.setdefault(row["label_id"], []).append(row["entity_name"])
    assert len(by_label) == 10 and len(rows) > 10
    assert all(len(set(entities)) == len(entities) for entities in by_label.values())


def test_the_legibility_floor_drops_distractor_lines_never_answers():
    small = generate_photographed_labels(20, seed=5, split="test", image_size=224, min_text_px=6, empty_fraction=0)
    large = generate_photographed_labels(20, seed=5, split="test", image_size=224, min_text_px=16, empty_fraction=0)
    assert sum(map(len, large["layout"])) < sum(map(len, small["layout"]))
    for row in large:
        number = _printed_value(row["entity_value"])[0]
        assert any(number in piece["text"] for piece in row["layout"])


def test_backgrounds_from_a_folder_and_real_attribute_values(tmp_path):
    from PIL import Image

    for k in range(2):
        Image.new("RGB", (300, 200), (40 * k, 200, 90)).save(tmp_path / f"shelf{k}.jpg")
    items = tmp_path / "items.jsonl"
    lines = [{"details": json.dumps({"Item Weight": f"{w} Pounds"})} for w in range(1, 200)]
    items.write_text("\n".join(json.dumps(line) for line in lines) + "\n" + json.dumps({"details": "{bad"}) + "\n")
    values = load_attribute_values(items)
    assert values["item_weight"]["train"] and values["item_weight"]["test"]
    assert all(label_split(number, unit) == split for split, pairs in values["item_weight"].items()
               for number, unit, _ in pairs)
    rows = generate_photographed_labels(12, seed=0, split="train", image_size=224, backgrounds=tmp_path,
                                        attribute_values=items)
    assert len(rows) == 12
    with pytest.raises(ValueError, match="no image files"):
        generate_photographed_labels(2, backgrounds=tmp_path / "missing")
    with pytest.raises(ValueError, match="rows must be"):
        generate_photographed_labels(2, rows="some")
