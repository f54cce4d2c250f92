import numpy as np
import pytest
from transformers import AutoTokenizer

from hf_pricer import ResformerTokenizer
from hf_pricer.data.entities import ALLOWED_UNITS, ENTITY_NAMES, ENTITY_UNIT_MAP, format_prediction


def random_values(rng, n):
    """Floats of every magnitude and precision, including ones whose shortest form is long."""
    exponents = rng.integers(-7, 9, size=n)
    mantissas = rng.random(n) * 10
    digits = rng.integers(0, 6, size=n)
    return [round(float(m * 10.0**e), int(d)) for m, e, d in zip(mantissas, exponents, digits)] + [0.0, 1.0, 0.5]


def test_round_trips_every_unit_and_many_values():
    tokenizer = ResformerTokenizer()
    rng = np.random.default_rng(0)
    for unit in sorted(ALLOWED_UNITS):
        for value in random_values(rng, 40):
            text = format_prediction(value, unit)
            ids = tokenizer(text)["input_ids"]
            assert ids[-1] == tokenizer.eos_token_id
            assert tokenizer.unk_token_id not in ids, text
            assert tokenizer.decode(ids, skip_special_tokens=True) == text
            assert tokenizer.convert_ids_to_tokens(ids)[-2] == unit  # the unit is one whole token


def test_empty_prediction_is_end_of_sequence_only():
    tokenizer = ResformerTokenizer()
    assert tokenizer("")["input_ids"] == [tokenizer.eos_token_id]
    assert tokenizer.decode([tokenizer.bos_token_id, tokenizer.eos_token_id, 0, 0], skip_special_tokens=True) == ""


def test_multi_word_units_win_over_their_suffixes():
    tokenizer = ResformerTokenizer()
    assert tokenizer.tokenize("16.0 fluid ounce") == ["1", "6", ".", "0", "fluid ounce"]
    assert tokenizer.tokenize("2.0 imperial gallon") == ["2", ".", "0", "imperial gallon"]
    # not a unit of the output language: one unknown token
    assert tokenizer("2.0 ounces")["input_ids"][-2:] == [tokenizer.unk_token_id, tokenizer.eos_token_id]


def test_entity_tokens_and_ids():
    tokenizer = ResformerTokenizer()
    assert tokenizer.entity_names == sorted(ENTITY_NAMES)
    assert tokenizer.entity_id("voltage") == sorted(ENTITY_NAMES).index("voltage")
    assert tokenizer.tokenize("<item_weight>") == ["<item_weight>"]
    with pytest.raises(ValueError, match="unknown entity_name 'colour'"):
        tokenizer.entity_id("colour")


def test_grammar_ids_match_the_vocabulary():
    tokenizer = ResformerTokenizer()
    grammar = tokenizer.grammar_token_ids()
    assert grammar["vocab_size"] == len(tokenizer)
    assert tokenizer.convert_ids_to_tokens(grammar["digit_token_ids"]) == list("0123456789")
    for name, ids in grammar["unit_token_ids"].items():
        assert tokenizer.convert_ids_to_tokens(ids) == list(ENTITY_UNIT_MAP[name])


def test_save_and_load_with_custom_units(tmp_path):
    import hf_pricer  # noqa: F401  (AutoTokenizer registration)

    # ids do not depend on the order of the mapping (JSON files sort their keys)
    tokenizer = ResformerTokenizer(entity_units={"wattage": ["watt"], "voltage": ["volt", "kilovolt"]})
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert type(loaded) is ResformerTokenizer
    assert loaded.get_vocab() == tokenizer.get_vocab()
    assert loaded.entity_units == {"voltage": ["kilovolt", "volt"], "wattage": ["watt"]}
    assert loaded.entity_names == ["voltage", "wattage"]
    assert loaded("12.0 kilovolt")["input_ids"] == tokenizer("12.0 kilovolt")["input_ids"]
