"""recipes/train_classifier.py (stage 1 of the dual-embedding regressor): both classifiers from the CPU preset
on a tiny catalog, and the design config on the meta device."""

import os

import pytest
import torch
import train_classifier
from huggingface_hub import ModelCard
from transformers import AutoModel, ViTConfig

from hf_pricer import EmbeddingClassifierConfig, EmbeddingClassifierForImageClassification
from hf_pricer.cli import parse_recipe_args
from tests.utils import CONFIGS_DIR

TINY_VIT = ["--image_size", "32", "--patch_size", "8", "--hidden_size", "32", "--num_hidden_layers", "2",
            "--num_attention_heads", "2", "--intermediate_size", "64", "--embedding_dim", "16"]
QUIET = ["--disable_tqdm", "true", "--save_strategy", "no", "--num_train_epochs", "1"]


def catalog_args(folder):
    return ["--catalog_dir", str(folder / "catalog"), "--catalog_size", "40"]


def train_classifiers(folder):
    """The company and the model classifier, trained in `folder/company` and `folder/model`; returns their
    trainers by label field."""
    trainers = {}
    for field in ("company", "model"):
        output = ["--label_field", field, "--output_dir", str(folder / field)]
        trainers[field] = train_classifier.main([*catalog_args(folder), *TINY_VIT, *QUIET, *output])
    return trainers


@pytest.mark.slow
def test_both_classifiers_from_the_cpu_preset(stage_one):
    folder, trainers = stage_one
    for field, trainer in trainers.items():
        # the final evaluations: validation, then the held-out test split
        assert "eval_accuracy" in trainer.state.log_history[-2] and "test_accuracy" in trainer.state.log_history[-1]
        card = ModelCard.load(folder / field / "README.md")
        assert {(r.dataset_split, r.metric_type) for r in card.data.eval_results} == {
            ("validation", "accuracy"), ("test", "accuracy")
        }
    model_labels = AutoModel.from_pretrained(folder / "model").config.id2label
    assert len(model_labels) > len(AutoModel.from_pretrained(folder / "company").config.id2label)


def parse_design_config():
    config_file = os.path.join(CONFIGS_DIR, "classifier_design.yaml")
    # bf16 needs a GPU at parse time
    return parse_recipe_args(train_classifier.ARGUMENT_TYPES, args=[config_file, "--bf16", "false"])


def test_design_config_parses_and_builds_on_meta():
    model_args, _, backbone, data_args, _ = parse_design_config()
    assert backbone.vit_model_name_or_path == "google/vit-base-patch16-224-in21k"
    assert data_args.target_names == ["length", "diameter"]
    config = EmbeddingClassifierConfig(
        vision_config=ViTConfig(), id2label={0: "a", 1: "b"}, **model_args.config_kwargs()
    )
    with torch.device("meta"):
        model = EmbeddingClassifierForImageClassification(config)
    assert model.config.vision_config.hidden_size == 768 and model.classifier.out_features == 2
