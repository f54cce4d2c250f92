import json
import os
import subprocess
import sys

import pytest
import torch
from huggingface_hub import ModelCard

from hf_pricer import ResidualRegressorConfig, ResidualRegressorForPriceRegression, ResidualRegressorProcessor
from hf_pricer.cli import parse_recipe_args

import train_residual

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPE = os.path.join(ROOT, "recipes", "train_residual.py")


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


def test_seed_config_parses_to_the_seed_architecture():
    config_file = os.path.join(ROOT, "recipes", "configs", "residual_design.yaml")
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


def test_recipe_streams_with_max_steps(tmp_path):
    trainer = train_residual.main(tiny_args(tmp_path, "--streaming", "true", "--max_steps", "3", "--eval_strategy", "no",
                                             "--load_best_model_at_end", "false", "--save_strategy", "no"))
    assert trainer.state.global_step == 3


def test_recipe_streaming_needs_max_steps(tmp_path):
    with pytest.raises(ValueError, match="max_steps"):
        train_residual.main(tiny_args(tmp_path, "--streaming", "true"))


@pytest.mark.slow
def test_accelerate_launch(tmp_path):
    command = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", "--cpu", RECIPE,
               *tiny_args(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=600, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr[-3000:]
    assert os.path.isfile(tmp_path / "model.safetensors")
