import pytest

from hf_pricer.data.catalog import generate_catalog
from hf_pricer.data.entities import ALLOWED_UNITS, check_prediction, format_prediction, normalize_entity_value
from hf_pricer.data.label_images import PRINTED_UNITS, generate_label_images, label_split


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
