"""recipes/train_residual.py: the presets, a tiny end-to-end run, streaming (from a file and from the Hub) and an
`accelerate launch`."""

import json
import os

import numpy as np
import pytest
import torch
import train_residual
from datasets import Dataset, DatasetDict
from huggingface_hub import ModelCard

from hf_pricer import ResidualRegressorConfig, ResidualRegressorForPriceRegression, ResidualRegressorProcessor
from hf_pricer.cli import parse_recipe_args
from tests.test_hub import items_full_like_rows
from tests.utils import CONFIGS_DIR, launch_recipe


def tiny_args(output_dir, *extra):
    return [
        "--catalog_size", "160", "--num_features", "256", "--num_layers", "3", "--hidden_size", "16",
        "--num_train_epochs", "2", "--per_device_train_batch_size", "16", "--output_dir", str(output_dir),
        "--disable_tqdm", "true", *extra,
    ]


def test_cpu_preset_is_the_default_and_flags_override_it():
    model_args, _, data_args, training_args = parse_recipe_args(
        train_residual.ARGUMENT_TYPES,
        train_residual.CPU_PRESET,
        ["--num_train_epochs", "1"],
    )
    assert data_args.dataset == "catalog" and model_args.hidden_size == 512
    assert training_args.num_train_epochs == 1 and training_args.use_cpu
    assert training_args.remove_unused_columns is False


def test_design_config_parses_to_the_design_architecture():
    config_file = os.path.join(CONFIGS_DIR, "residual_design.yaml")
    model_args, _, data_args, training_args = parse_recipe_args(
        train_residual.ARGUMENT_TYPES,
        None,
        [config_file, "--output_dir", "unused"],
    )
    assert data_args.dataset == "ed-donner/items_full" and data_args.text_fields == ["text"]
    config = ResidualRegressorConfig(**model_args.config_kwargs())
    assert (config.num_layers, config.hidden_size, config.dropout, config.loss_type) == (10, 4096, 0.2, "l1")
    assert training_args.learning_rate == 1e-3 and training_args.weight_decay == 0.01
    assert training_args.per_device_train_batch_size == 64 and training_args.max_grad_norm == 1.0
    with torch.device("meta"):
        model = ResidualRegressorForPriceRegression(config)
    assert len(model.blocks) == 8
    assert model.num_parameters() == 5000 * 4096 + 4096 + 2 * 4096 + 8 * (2 * (4096 * 4096 + 4096) + 4 * 4096) + 4097


@pytest.mark.slow
def test_recipe_trains_evaluates_and_saves(tmp_path):
    trainer = train_residual.main(tiny_args(tmp_path))
    saved = set(os.listdir(tmp_path))
    assert {"model.safetensors", "config.json", "preprocessor_config.json", "README.md", "price_predictions.png"} <= saved
    metrics = json.load(open(tmp_path / "eval_results.json"))
    assert 0 <= metrics["eval_smape"] <= 200 and metrics["eval_mae"] > 0
    card = ModelCard.load(tmp_path / "README.md")
    assert {r.metric_type for r in card.data.eval_results} >= {"smape", "mae"}
    model = ResidualRegressorForPriceRegression.from_pretrained(tmp_path).eval()
    processor = ResidualRegressorProcessor.from_pretrained(tmp_path)
    assert model.config.log_price_std != 1.0  # standardisation fitted on the training split
    assert model(**processor(["a steel kettle"])).predictions.shape == (1,)
    assert trainer.state.global_step > 0


@pytest.mark.slow
def test_recipe_streams_with_max_steps(tmp_path):
    trainer = train_residual.main(tiny_args(tmp_path, "--streaming", "true", "--max_steps", "3", "--eval_strategy", "no",
                                             "--load_best_model_at_end", "false", "--save_strategy", "no"))
    assert trainer.state.global_step == 3


def test_recipe_streaming_needs_max_steps(tmp_path):
    with pytest.raises(ValueError, match="max_steps"):
        train_residual.main(tiny_args(tmp_path, "--streaming", "true"))


@pytest.mark.slow
def test_recipe_streams_a_hub_dataset_into_the_trainer(hub_server, tmp_path):
    DatasetDict(
        train=Dataset.from_list(items_full_like_rows(40)),
        test=Dataset.from_list(items_full_like_rows(8, offset=500)),
    ).push_to_hub("tester/items_stream")
    trainer = train_residual.main([
        "--dataset", "tester/items_stream", "--streaming", "true", "--max_steps", "3",
        "--num_features", "128", "--num_layers", "3", "--hidden_size", "16", "--per_device_train_batch_size", "8",
        "--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false",
        "--output_dir", str(tmp_path), "--disable_tqdm", "true",
    ])
    assert trainer.state.global_step == 3
    assert ModelCard.load(tmp_path / "README.md").data.eval_results  # evaluated on the streamed test split




@pytest.mark.slow
def test_accelerate_launch(tmp_path):
    launch_recipe("train_residual", tiny_args(tmp_path))
    assert os.path.isfile(tmp_path / "model.safetensors")


@pytest.mark.slow
def test_cpu_preset_on_60_rows_of_random_prices_does_not_collapse(tmp_path):
    """The preset (with its warmup) on a tiny file: predictions must still differ between items."""
    rng = np.random.default_rng(0)
    words = "steel kettle oak frame plastic box lamp chair table cable phone case glass mug knife pan".split()
    rows = [{"title": " ".join(rng.choice(words, 3)), "text": " ".join(rng.choice(words, 6)),
             "price": float(rng.uniform(1, 500))} for _ in range(60)]
    (tmp_path / "items.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    trainer = train_residual.main(["--dataset", str(tmp_path / "items.jsonl"), "--output_dir", str(tmp_path / "out"),
                                   "--disable_tqdm", "true"])
    predictions = trainer.predict(Dataset.from_list(rows)).predictions[0]
    assert np.std(predictions) > 1.0 and len(np.unique(np.round(predictions, 2))) > 30
    test = json.loads((tmp_path / "out" / "test_results.json").read_text())
    assert test["test_smape"] < 150
