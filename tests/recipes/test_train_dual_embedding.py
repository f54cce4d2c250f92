"""recipes/train_dual_embedding.py (stage 2) end to end from the stage-1 classifiers on a tiny catalog, and the
design config on the meta device."""

import json
import os

import pytest
import torch
import train_dual_embedding
from huggingface_hub import ModelCard
from transformers import AutoModel, ViTConfig

from hf_pricer import DualEmbeddingConfig, DualEmbeddingForRegression, EmbeddingClassifierConfig
from hf_pricer.cli import parse_recipe_args
from tests.utils import CONFIGS_DIR

from .test_train_classifier import QUIET, catalog_args, parse_design_config


@pytest.mark.slow
def test_stage_two_from_the_cpu_preset(stage_one, tmp_path):
    folder, _ = stage_one
    trainer = train_dual_embedding.main([
        *catalog_args(folder), *QUIET, "--company_classifier", str(folder / "company"), "--model_classifier",
        str(folder / "model"), "--attention_type", "hierarchical", "--embedding_dim", "8", "--output_dir",
        str(tmp_path), "--unfreeze_epochs", "1", "1",
    ])
    # The embedding models stay frozen for the single epoch (E1 = 1) and train at 0.1x the learning rate.
    assert trainer.args.module_learning_rates == {"company_encoder": pytest.approx(1e-4),
                                                  "model_encoder": pytest.approx(1e-4)}
    model = AutoModel.from_pretrained(tmp_path)
    assert type(model) is DualEmbeddingForRegression
    assert model.config.attention_type == "hierarchical" and model.config.target_names == ["size", "log_quantity"]
    assert model.config.company_config.vision_config.hidden_size == 32
    assert model.config.target_std[0] > 0 and model.config.target_mean[0] != 0.0
    results = json.loads((tmp_path / "results.json").read_text())
    assert set(results["metrics"]) >= {"eval_mae_size", "eval_mae_log_quantity", "eval_mean_mae"}
    # a softmax under the run's bf16 autocast (on by default on CPUs with native bf16) sums to 1 within bf16's precision
    assert sum(results["mean_attention_weights"]) == pytest.approx(1.0, abs=1e-2 if trainer.args.bf16 else 1e-5)
    assert "image-regression" in (tmp_path / "README.md").read_text()
    card = ModelCard.load(tmp_path / "README.md")
    assert {"mean_mae": results["metrics"]["eval_mean_mae"]} == {
        result.metric_type: result.metric_value for result in card.data.eval_results if result.dataset_split == "validation"
    }
    test = json.loads((tmp_path / "test_results.json").read_text())
    assert [result.metric_value for result in card.data.eval_results if result.dataset_split == "test"] == [
        pytest.approx(test["test_mean_mae"])
    ]


def test_stage_two_needs_the_stage_one_checkpoints(tmp_path):
    with pytest.raises(FileNotFoundError, match="train_classifier.py"):
        train_dual_embedding.main(["--company_classifier", str(tmp_path / "missing"), "--output_dir", str(tmp_path)])


def test_design_configs_parse_and_build_on_meta():
    company = EmbeddingClassifierConfig(vision_config=ViTConfig(), id2label={0: "a", 1: "b"},
                                        **parse_design_config()[0].config_kwargs())
    model_args, _, data_args, strategy, training_args = parse_recipe_args(
        train_dual_embedding.ARGUMENT_TYPES,
        args=[os.path.join(CONFIGS_DIR, "dual_embedding_design.yaml"), "--bf16", "false"],  # bf16 needs a GPU
    )
    assert (model_args.unfreeze_epochs, model_args.unfreeze_fraction, strategy.lr_multiplier) == ([20, 40], 0.5, 0.1)
    assert training_args.lr_scheduler_type == "cosine" and training_args.num_train_epochs == 50
    config = DualEmbeddingConfig(
        company_config=company, model_config=company, target_names=data_args.target_names,
        **model_args.config_kwargs(),
    )
    with torch.device("meta"):
        model = DualEmbeddingForRegression(config)
    assert model.visual_projection[0].in_features == 768 and model.config.attention_type == "triple"
    schedule = model.freeze_schedule()
    assert sum(epoch == 20 for epoch in schedule.values()) == 2 * (6 + 2)  # top 6 of 12 layers, norm, projection
    cpu_file = os.path.join(CONFIGS_DIR, "dual_embedding_cpu.yaml")
    cpu = parse_recipe_args(train_dual_embedding.ARGUMENT_TYPES, cpu_file, [])
    assert cpu[0].attention_type == "triple" and cpu[4].use_cpu
