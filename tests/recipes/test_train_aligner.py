"""recipes/train_aligner.py: the presets, tiny end-to-end runs on .npz files and on the embedded catalog, and a
2-process launch."""

import json
import os

import numpy as np
import pytest
import torch
import train_aligner
from huggingface_hub import ModelCard

from hf_pricer import EmbeddingAlignerConfig, EmbeddingAlignerModel, load_alignment_npz, read_submission
from hf_pricer.cli import parse_recipe_args
from tests.data.test_alignment import tiny_alignment
from tests.utils import CONFIGS_DIR, is_png, launch_recipe


@pytest.fixture
def npz_files(tmp_path):
    data = tiny_alignment(num_images=40, captions_per_image=2, seed=0)
    train, validation = data.split_by_image(10, seed=0)
    test = tiny_alignment(num_images=5, captions_per_image=1, seed=1, prefix="test")
    return {
        "train_file": train.save(tmp_path / "train.npz"),
        "validation_file": validation.save(tmp_path / "valid.npz"),
        "test_file": test.save(tmp_path / "test.clean.npz", with_images=False),
    }


def tiny_args(output_dir, *extra):
    return ["--hidden_size", "32", "--dropout", "0.0", "--num_train_epochs", "2", "--per_device_train_batch_size", "16",
            "--save_every_epochs", "1", "--output_dir", str(output_dir), "--disable_tqdm", "true", *extra]


def test_cpu_preset_is_the_default_and_flags_override_it():
    model_args, _, data_args, training_args = parse_recipe_args(
        train_aligner.ARGUMENT_TYPES, train_aligner.CPU_PRESET, ["--num_train_epochs", "3"]
    )
    assert data_args.train_file == "catalog" and data_args.save_every_epochs == 5
    config = EmbeddingAlignerConfig(**model_args.config_kwargs())
    assert (config.hidden_size, config.dropout, config.loss_type) == (4096, 0.2, "cosine")
    assert training_args.num_train_epochs == 3 and training_args.use_cpu and training_args.save_strategy == "no"


def test_design_config_parses_to_the_design_setup():
    config_file = os.path.join(CONFIGS_DIR, "aligner_design.yaml")
    model_args, _, data_args, training_args = parse_recipe_args(
        train_aligner.ARGUMENT_TYPES, None, [config_file, "--output_dir", "unused"]
    )
    assert data_args.test_file.endswith("test.clean.npz") and data_args.save_every_epochs == 5
    assert (training_args.learning_rate, training_args.weight_decay, training_args.num_train_epochs) == (1e-3, 0.0, 20)
    assert (training_args.per_device_train_batch_size, training_args.per_device_eval_batch_size) == (64, 256)
    assert training_args.lr_scheduler_type == "constant" and training_args.max_grad_norm == 0.0
    config = EmbeddingAlignerConfig(**model_args.config_kwargs())
    assert config == EmbeddingAlignerConfig()  # the design's defaults: 1024 → 4096 → 1536
    with torch.device("meta"):
        assert EmbeddingAlignerModel(config).num_parameters() == 1024 * 4096 + 4096 + 4096 * 1536 + 1536


@pytest.mark.slow
def test_recipe_trains_evaluates_and_writes_a_submission(npz_files, tmp_path):
    out = tmp_path / "out"
    flags = [arg for key, path in npz_files.items() for arg in (f"--{key}", str(path))]
    # the whole training file trains (no test split held out of it): the step counts below depend on it
    trainer = train_aligner.main(tiny_args(out, *flags, "--learning_rate", "0.01", "--test_size", "0"))
    saved = set(os.listdir(out))
    assert {"model.safetensors", "config.json", "README.md", "eval_results.json", "submission.csv", "analysis"} <= saved
    assert sorted(name for name in saved if name.startswith("checkpoint-")) == ["checkpoint-4", "checkpoint-8"]  # 60 rows, batch 16
    metrics = json.loads((out / "eval_results.json").read_text())
    assert metrics["eval_gallery_size"] == 10
    assert 0 <= metrics["eval_recall_at_1"] <= metrics["eval_recall_at_5"] <= metrics["eval_recall_at_10"] == 1.0
    assert metrics["eval_mrr"] > 0.3  # chance is 0.29 for 10 images; the linear relation is learnable
    report = json.loads((out / "analysis" / "alignment_report.json").read_text())
    assert report["retrieval"]["mrr"] == pytest.approx(metrics["eval_mrr"])
    assert set(report["distances"]) == {"euclidean", "manhattan", "cosine"}
    assert os.path.isfile(out / "analysis" / "cosine_similarity_histogram.png")
    ids, predictions = read_submission(out / "submission.csv")
    test = load_alignment_npz(npz_files["test_file"])
    assert ids == test.ids.tolist() and predictions.shape == (5, 6)
    model = EmbeddingAlignerModel.from_pretrained(out).eval()
    expected = model(text_embeds=torch.from_numpy(test.caption_embeds)).predictions.detach().numpy()
    # the Trainer predicts under the run's bf16 autocast (on by default on CPUs with native bf16)
    tolerance = {"rtol": 2e-2, "atol": 1e-2} if trainer.args.bf16 else {"rtol": 1e-5, "atol": 1e-6}
    np.testing.assert_allclose(predictions, expected, **tolerance)
    card = ModelCard.load(out / "README.md")
    assert card.data.model_name == "out"
    reported = {result.metric_type: result.metric_value for result in card.data.eval_results}
    assert reported["mrr"] == pytest.approx(metrics["eval_mrr"])
    assert reported["recall_at_10"] == pytest.approx(metrics["eval_recall_at_10"])
    assert {result.task_type for result in card.data.eval_results} == {"feature-extraction"}
    assert trainer.state.global_step == 8


@pytest.mark.slow
def test_recipe_on_the_embedded_catalog_draws_the_retrieval_figure(tmp_path):
    out = tmp_path / "catalog"
    train_aligner.main(tiny_args(out, "--catalog_size", "10", "--validation_size", "0.3",
                                 "--loss_type", "cosine+contrastive", "--eval_strategy", "no"))
    # 10 images: 2 held out as the test split, then 30 % of the other 8 as the validation split
    metrics = json.loads((out / "eval_results.json").read_text())
    assert metrics["eval_gallery_size"] == 2
    assert json.loads((out / "test_results.json").read_text())["test_gallery_size"] == 2
    config = json.loads((out / "config.json").read_text())
    assert (config["in_dim"], config["out_dim"]) == (384, 1280)  # MiniLM → EfficientNet-Lite0
    assert is_png(out / "analysis" / "retrieval_examples.png")


@pytest.mark.slow
@pytest.mark.multiprocess
def test_two_process_launch_with_the_contrastive_loss(npz_files, tmp_path):
    flags = ["--train_file", str(npz_files["train_file"]), "--validation_size", "0.2", "--loss_type", "contrastive",
             "--use_cpu", "true", "--num_train_epochs", "1", "--save_every_epochs", "0", "--save_strategy", "no"]
    output = launch_recipe("train_aligner", tiny_args(tmp_path, *flags), num_processes=2)
    assert "world size 2" in output
    assert os.path.isfile(tmp_path / "model.safetensors") and os.path.isfile(tmp_path / "eval_results.json")
