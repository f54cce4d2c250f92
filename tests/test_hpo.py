"""Hyperparameter search (`hf_pricer.hpo`): the results table, and two-trial searches of the dual-embedding
regressor and of a price model that reach each trial's config and learning rates."""

import csv

import numpy as np
import pytest
from PIL import Image
from transformers import TrainerCallback

from hf_pricer import DualEmbeddingCollator, FreezeWarmupCallback, PricerTrainer, PricerTrainingArguments
from hf_pricer.data.records import load_records, target_statistics
from hf_pricer.hpo import (
    DualEmbeddingSearchSpace,
    dual_embedding_model_init,
    search_hyperparameters,
    write_results_table,
)
from hf_pricer.image_processing_utils import vit_image_processor
from hf_pricer.metrics import regression_metrics
from tests.models.embedding_classifier.test_modeling_embedding_classifier import IMAGE_SIZE, tiny_classifier


def test_results_table_is_sorted_with_failed_trials_last(tmp_path):
    rows = [
        {"trial": 0, "mean_mae": np.float64(0.4), "attention_type": "dual"},
        {"trial": 1, "mean_mae": None, "attention_type": "triple"},
        {"trial": 2, "mean_mae": 0.2, "attention_type": "hierarchical", "embedding_dim": np.int64(128)},
    ]
    csv_path, md_path = write_results_table(rows, str(tmp_path), sort_by="mean_mae")
    with open(csv_path) as handle:
        table = list(csv.DictReader(handle))
    assert [row["trial"] for row in table] == ["2", "0", "1"]
    assert table[0]["embedding_dim"] == "128"
    lines = open(md_path).read().splitlines()
    assert lines[0] == "| trial | mean_mae | attention_type | embedding_dim |"
    assert lines[2].startswith("| 2 | 0.2 | hierarchical | 128 |")


class _RecordTrial(TrainerCallback):
    """What each trial actually trains: the model's config and the optimizer's learning rate groups."""

    def __init__(self):
        self.trials = []

    def on_train_begin(self, args, state, control, model=None, optimizer=None, **kwargs):
        rates = {group["module"]: group["initial_lr"] for group in optimizer.param_groups}  # before warmup
        trainable = {name.split(".")[0] for name, param in model.named_parameters() if param.requires_grad}
        self.trials.append((model.config, rates, trainable, args.learning_rate))


@pytest.mark.slow
def test_two_trial_search_reaches_the_config_and_writes_the_table(tmp_path):
    for index, color in enumerate([(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30)]):
        Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), color).save(tmp_path / f"{index}.png")
    records = [
        {"image_path": f"{index % 4}.png", "company": "c", "model": "m", "length": index, "diameter": 2 * index}
        for index in range(8)
    ]
    train, _ = load_records(records, ["length", "diameter"], base_dir=tmp_path)
    mean, std = target_statistics(train, ["length", "diameter"])
    assert mean == pytest.approx([3.5, 7.0]) and std[1] == pytest.approx(2 * std[0])

    space = DualEmbeddingSearchSpace(
        embedding_dims=(8, 16), unfreeze_schedules=((0, 1), (1, 2)), lr_multipliers=(0.1, 0.5),
        learning_rate=(1e-4, 1e-3),
    )
    model_init = dual_embedding_model_init(
        tiny_classifier(3), tiny_classifier(5, "model", embedding_dim=24, seed=1), space,
        target_names=["length", "diameter"], target_mean=mean, target_std=std, attention_hidden_size=8,
        head_hidden_size=8,
    )
    recorder = _RecordTrial()
    args = PricerTrainingArguments(
        output_dir=str(tmp_path / "hpo"), num_train_epochs=1, per_device_train_batch_size=4, use_cpu=True,
        eval_strategy="epoch", save_strategy="no", report_to="none", lr_scheduler_type="cosine",
        warmup_steps=0.1, disable_tqdm=True,
    )
    trainer = model_init.bind(
        PricerTrainer(
            model_init=model_init, args=args, train_dataset=train, eval_dataset=train,
            data_collator=DualEmbeddingCollator(vit_image_processor(IMAGE_SIZE), ["length", "diameter"]),
            compute_metrics=regression_metrics(["length", "diameter"]),
            callbacks=[FreezeWarmupCallback(), recorder],
        )
    )
    best_run, rows = search_hyperparameters(trainer, 2, str(tmp_path / "hpo"), space, objective="mean_mae")

    assert len(rows) == len(recorder.trials) == 2
    for row, (config, rates, trainable, learning_rate) in zip(rows, recorder.trials, strict=True):
        assert row["state"] == "complete" and row["mean_mae"] > 0
        assert config.embedding_dim == row["embedding_dim"]
        assert config.attention_type == row["attention_type"]
        assert config.unfreeze_epochs == [float(value) for value in row["unfreeze_epochs"].split(",")]
        assert learning_rate == pytest.approx(row["learning_rate"])
        for prefix in ("company_encoder", "model_encoder"):
            assert rates[prefix] == pytest.approx(row["learning_rate"] * row["lr_multiplier"])
            # E1 = 0 trains the top layers from the start; E1 = 1 keeps the embedding models frozen.
            assert (prefix in trainable) == (config.unfreeze_epochs[0] == 0)
    assert best_run.objective == min(row["mean_mae"] for row in rows)
    with open(tmp_path / "hpo" / "hpo_results.csv") as handle:
        table = list(csv.DictReader(handle))
    assert [float(row["mean_mae"]) for row in table] == sorted(row["mean_mae"] for row in rows)
    assert {"embedding_dim", "attention_type", "unfreeze_epochs", "lr_multiplier", "learning_rate"} <= set(table[0])
    assert (tmp_path / "hpo" / "hpo_results.md").read_text().count("\n") == 4
    assert (tmp_path / "hpo" / "hpo_best_run.json").is_file()


@pytest.mark.slow
def test_price_model_search_trains_each_trial_with_its_config_and_returns_the_best(tmp_path):
    from datasets import Dataset

    from hf_pricer import ResidualRegressorCollator, ResidualRegressorConfig, ResidualRegressorForPriceRegression
    from hf_pricer import ResidualRegressorProcessor
    from hf_pricer.hpo import PriceModelSearchSpace, search_price_model

    items = Dataset.from_list([
        {"title": f"{word} item {i}", "text": "steel" if i % 2 else "plastic", "price": 10.0 + 5 * (i % 2)}
        for i, word in enumerate(["kettle", "frame", "box", "lamp"] * 5)
    ])
    space = PriceModelSearchSpace(learning_rate=(1e-3, 1e-2), epochs=(1,),
                                  config_choices={"hidden_size": (8, 16), "num_layers": (3,)})
    recorder = _RecordTrial()
    config = ResidualRegressorConfig(num_features=32, num_layers=3, hidden_size=4)
    args = PricerTrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=8, use_cpu=True,
                                   report_to="none", seed=0)
    searched_config, searched_args = search_price_model(
        ResidualRegressorForPriceRegression, config, ResidualRegressorProcessor(n_features=32),
        ResidualRegressorCollator, args, items, n_trials=2, output_dir=str(tmp_path), search_space=space,
        callbacks=[recorder],
    )
    rows = list(csv.DictReader(open(tmp_path / "hpo_results.csv")))
    assert len(rows) == 2 and all(row["state"] == "complete" for row in rows)
    best = rows[0]  # sorted, lowest validation SMAPE first
    assert searched_config.hidden_size == int(best["hidden_size"]) and searched_config.num_layers == 3
    assert searched_args.learning_rate == pytest.approx(float(best["learning_rate"]))
    assert searched_args.num_train_epochs == 1 and config.hidden_size == 4  # the inputs are left as they were
    assert [trial[0].hidden_size for trial in recorder.trials] == [int(row["hidden_size"]) for row in
                                                                   sorted(rows, key=lambda r: int(r["trial"]))]
