"""How recipes split their data: the validation split comes out of train, never out of test."""

import pytest
from datasets import Dataset, DatasetDict

from hf_pricer.data.splits import hold_out, train_validation_test


def numbered(n, offset=0):
    return Dataset.from_dict({"id": list(range(offset, offset + n))})


def test_validation_is_carved_from_train_and_test_is_kept():
    splits = DatasetDict(train=numbered(50), test=numbered(10, offset=1000))
    train, validation, test = train_validation_test(splits, validation_size=0.2, seed=0)
    assert (len(train), len(validation), len(test)) == (40, 10, 10)
    assert test["id"] == list(range(1000, 1010))  # untouched
    assert set(train["id"]) | set(validation["id"]) == set(range(50)) and not set(train["id"]) & set(validation["id"])


def test_an_existing_validation_split_is_used_as_it_is():
    splits = DatasetDict(train=numbered(20), validation=numbered(5, offset=100), test=numbered(5, offset=200))
    train, validation, test = train_validation_test(splits, validation_size=0.5, max_eval_samples=3)
    assert len(train) == 20 and validation["id"] == [100, 101, 102] and test["id"] == [200, 201, 202]


def test_streamed_splits_hold_out_a_number_of_examples():
    stream = numbered(10).to_iterable_dataset()
    rest, held = hold_out(stream, 3, seed=0)
    assert [row["id"] for row in held] == [0, 1, 2] and [row["id"] for row in rest] == list(range(3, 10))
    with pytest.raises(ValueError, match="give the validation size as a number of examples"):
        hold_out(stream, 0.1, seed=0)
    train, validation, _ = train_validation_test({"train": stream}, validation_size=0.1)
    assert validation is None and len(list(train)) == 10  # a fraction of a stream: no validation split, said so


def test_holding_out_everything_or_nothing_is_an_error():
    with pytest.raises(ValueError, match="cannot hold out a test split of 0.01 from 10 examples"):
        hold_out(numbered(10), 0.01, seed=0, name="test")
