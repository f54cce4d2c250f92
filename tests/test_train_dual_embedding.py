"""The dual-embedding recipes end to end on a tiny catalog: stage 1 twice, stage 2, the seed configs on meta."""

import json
import os

import pytest
from huggingface_hub import ModelCard
import torch
from transformers import AutoModel, ViTConfig

import train_classifier
import train_dual_embedding
from hf_pricer import DualEmbeddingConfig, DualEmbeddingForRegression, EmbeddingClassifierConfig
from hf_pricer.cli import parse_recipe_args

CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "recipes", "configs")
TINY_VIT = ["--image_size", "32", "--patch_size", "8", "--hidden_size", "32", "--num_hidden_layers", "2",
            "--num_attention_heads", "2", "--intermediate_size", "64", "--embedding_dim", "16"]
QUIET = ["--disable_tqdm", "true", "--save_strategy", "no", "--num_train_epochs", "1"]


@pytest.mark.slow
def test_both_stages_from_the_cpu_presets(tmp_path):
    data = ["--catalog_dir", str(tmp_path / "catalog"), "--catalog_size", "40"]
    for field in ("company", "model"):
        trainer = train_classifier.main(
            [*data, *TINY_VIT, *QUIET, "--label_field", field, "--output_dir", str(tmp_path / field)]
        )
        assert "eval_accuracy" in trainer.state.log_history[-1]
        card = ModelCard.load(tmp_path / field / "README.md")
        assert card.data.eval_results[0].metric_type == "accuracy"
    model_labels = AutoModel.from_pretrained(tmp_path / "model").config.id2label
    assert len(model_labels) > len(AutoModel.from_pretrained(tmp_path / "company").config.id2label)

    output_dir = tmp_path / "stage2"
    trainer = train_dual_embedding.main([
        *data, *QUIET, "--company_classifier", str(tmp_path / "company"), "--model_classifier",
        str(tmp_path / "model"), "--attention_type", "hierarchical", "--embedding_dim", "8", "--output_dir",
        str(output_dir), "--unfreeze_epochs", "1", "1",
    ])
    # The embedding models stay frozen for the single epoch (E1 = 1) and train at 0.1x the learning rate.
    assert trainer.args.module_learning_rates == {"company_encoder": pytest.approx(1e-4),
                                                  "model_encoder": pytest.approx(1e-4)}
    model = AutoModel.from_pretrained(output_dir)
    assert type(model) is DualEmbeddingForRegression
    assert model.config.attention_type == "hierarchical" and model.config.target_names == ["size", "log_quantity"]
    assert model.config.company_config.vision_config.hidden_size == 32
    assert model.config.target_std[0] > 0 and model.config.target_mean[0] != 0.0
    results = json.loads((output_dir / "results.json").read_text())
    assert set(results["metrics"]) >= {"eval_mae_size", "eval_mae_log_quantity", "eval_mean_mae"}
    assert sum(results["mean_attention_weights"]) == pytest.approx(1.0, abs=1e-5)
    assert "image-regression" in (output_dir / "README.md").read_text()
    card = ModelCard.load(output_dir / "README.md")
    assert {"mean_mae": results["metrics"]["eval_mean_mae"]} == {
        result.metric_type: result.metric_value for result in card.data.eval_results
    }


def test_stage_two_needs_the_stage_one_checkpoints(tmp_path):
    with pytest.raises(FileNotFoundError, match="train_classifier.py"):
        train_dual_embedding.main(["--company_classifier", str(tmp_path / "missing"), "--output_dir", str(tmp_path)])


def test_seed_configs_parse_and_build_on_meta():
    model_args, _, backbone, data_args, _ = parse_recipe_args(
        train_classifier.ARGUMENT_TYPES, args=[os.path.join(CONFIGS, "classifier_design.yaml"), "--bf16", "false"]
    )
    assert backbone.vit_model_name_or_path == "google/vit-base-patch16-224-in21k"
    assert data_args.target_names == ["length", "diameter"]
    company = EmbeddingClassifierConfig(vision_config=ViTConfig(), id2label={0: "a", 1: "b"},
                                        **model_args.config_kwargs())
    model_args, _, data_args, strategy, training_args = parse_recipe_args(
        train_dual_embedding.ARGUMENT_TYPES,
        args=[os.path.join(CONFIGS, "dual_embedding_design.yaml"), "--bf16", "false"],  # bf16 needs a GPU
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
    cpu = parse_recipe_args(train_dual_embedding.ARGUMENT_TYPES, os.path.join(CONFIGS, "dual_embedding_cpu.yaml"), [])
    assert cpu[0].attention_type == "triple" and cpu[4].use_cpu
