import numpy as np
import pytest

from hf_pricer.data.entities import parse_entity_value
from hf_pricer.data.label_images import generate_photographed_labels
from hf_pricer.data.ocr import simulate_ocr
from hf_pricer.data.ocr_rules import extract_entity_value, ocr_candidates
from hf_pricer.metrics.entity import entity_f1


def _lines(*texts, height=40):
    return [
        {"text": text, "quad": [[0, 60 * k], [500, 60 * k], [500, 60 * k + height], [0, 60 * k + height]]}
        for k, text in enumerate(texts)
    ]


def test_unit_rules_take_the_first_span_the_entity_allows():
    lines = _lines("ACME Oat Flakes", "INPUT 100-240V 2A", "Serving size 30g", "NETWT500g")
    assert extract_entity_value(lines, "item_weight") == "30.0 gram"
    assert extract_entity_value(lines, "voltage") == "240.0 volt"
    assert extract_entity_value(lines, "wattage") == ""  # no watt on the label
    # the entity's unit map: an ounce of a volume is a fluid ounce
    assert extract_entity_value(_lines("12 oz"), "item_volume") == "12.0 fluid ounce"


def test_keyword_rules_follow_cues_and_skip_distractors():
    lines = _lines("Serving size 30g", "NETWT500g", "Standby 0.5W", "POWER 1200 W", "W45 x H30 x D20 cm")
    assert extract_entity_value(lines, "item_weight", rules="keywords") == "500.0 gram"
    assert extract_entity_value(lines, "wattage", rules="keywords") == "1200.0 watt"
    assert extract_entity_value(_lines("Serving size 30g"), "item_weight", rules="keywords") == ""  # abstains
    with pytest.raises(ValueError, match="rules must be"):
        extract_entity_value(lines, "item_weight", rules="regex")


def test_ocr_confusions_inside_units_are_read_as_printed():
    assert [str(c.value) for c in ocr_candidates(_lines("NET WT 9 Ibs", "4140z"), "item_weight")] == [
        "9.0 pound", "414.0 ounce",
    ]


def test_rules_on_simulated_ocr_of_photographed_labels_are_scored_with_entity_f1():
    rows = generate_photographed_labels(40, seed=3, split="test", image_size=224)
    rng = np.random.default_rng(0)
    lines = [simulate_ocr(row["layout"], (224, 224), rng, substitute=0, delete=0, drop_box=0, junk=0) for row in rows]
    truths, entities = rows["entity_value"], list(rows["entity_name"])
    units = [extract_entity_value(x, e) for x, e in zip(lines, entities)]
    keywords = [extract_entity_value(x, e, rules="keywords") for x, e in zip(lines, entities)]
    for prediction, entity in zip(units + keywords, entities * 2):
        if prediction:  # every answer is canonical and allowed for its entity
            assert str(parse_entity_value(prediction, entity)) == prediction
    # distractors of the same unit family fool the unit rules more often than the cue-aware ones
    assert entity_f1(keywords, truths)["f1"] > entity_f1(units, truths)["f1"] > 0.2
