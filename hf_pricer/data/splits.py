"""How the recipes split their data: a train split, a validation split that chooses the checkpoint (early stopping,
`load_best_model_at_end`, hyperparameter search) and a held-out test split evaluated once at the end.

Where a source brings its own `validation` and `test` splits they are used as they are. A missing validation split
is carved out of the training split, never out of the test split; a missing test split is carved out of the
training data first (before the validation split), by the recipe's `test_size`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from datasets import Dataset, IterableDataset

logger = logging.getLogger(__name__)


def hold_out(dataset: Dataset | IterableDataset, size: float, seed: int, name: str = "validation"):
    """`(rest, held_out)`: `size` of `dataset` held out, a fraction (< 1) or a number of examples. A map-style
    dataset is split at random with `seed`; a streamed one holds out its first `size` examples (a number)."""
    if isinstance(dataset, IterableDataset):
        if size < 1:
            raise ValueError(f"a streamed dataset has no length: give the {name} size as a number of examples, got {size}")
        return dataset.skip(int(size)), dataset.take(int(size))
    count = round(size * len(dataset)) if size < 1 else int(size)
    if not 0 < count < len(dataset):
        raise ValueError(
            f"cannot hold out a {name} split of {size} from {len(dataset)} examples: it would leave no example on one "
            "side"
        )
    parts = dataset.train_test_split(test_size=count, seed=seed)
    return parts["train"], parts["test"]


def train_validation_test(
    splits: Mapping,
    validation_size: float = 0.1,
    seed: int = 42,
    max_train_samples: int | None = None,
    max_eval_samples: int | None = None,
):
    """`(train, validation, test)` of a loaded dataset dict (see the module docstring); `test` is None when the
    source has no test split. `max_train_samples` / `max_eval_samples` keep the first examples of the training and
    of each evaluation split."""
    if "train" not in splits:
        raise KeyError(f"no 'train' split; available: {sorted(splits)}")
    train, validation, test = splits["train"], splits.get("validation"), splits.get("test")
    if validation is None and validation_size:
        if isinstance(train, IterableDataset) and validation_size < 1:
            logger.warning("a streamed dataset without a validation split has none: pass the validation size as a "
                           "number of examples (e.g. --validation_size 1000) to hold out that many training examples")
        else:
            train, validation = hold_out(train, validation_size, seed)
            logger.info("validation split: %s of the training split", validation_size)
    if max_train_samples is not None:
        train = train.take(max_train_samples)
    if max_eval_samples is not None:
        validation = validation.take(max_eval_samples) if validation is not None else None
        test = test.take(max_eval_samples) if test is not None else None
    return train, validation, test
