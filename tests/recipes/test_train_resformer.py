"""recipes/train_resformer.py: tiny end-to-end runs (on rendered labels and on challenge CSVs), and the design config
on the meta device."""

import csv
import json
import os

import pytest
import torch
import train_resformer
from huggingface_hub import ModelCard

import hf_pricer
from hf_pricer.cli import parse_recipe_args
from hf_pricer.data.entities import sanity_check
from hf_pricer.data.label_images import generate_label_images
from tests.utils import CONFIGS_DIR

TINY = [
    "--train_size", "48", "--eval_size", "12", "--per_device_train_batch_size", "16", "--per_device_eval_batch_size", "12",
    "--image_size", "64", "--resnet_hidden_sizes", "8", "16", "16", "--resnet_attention_heads", "2", "--d_model", "16",
    "--num_attention_heads", "2", "--ffn_dim", "32", "--encoder_layers", "1", "--decoder_layers", "1",
    "--disable_tqdm", "true", "--logging_steps", "1", "--warmup_steps", "0", "--learning_rate", "0.003",
]


@pytest.mark.slow
def test_recipe_trains_evaluates_with_generation_and_writes_checked_predictions(tmp_path):
    trainer = train_resformer.main([*TINY, "--num_train_epochs", "2", "--generation_num_beams", "2",
                                    "--output_dir", str(tmp_path)])
    assert trainer.state.global_step == 6
    evals = [entry for entry in trainer.state.log_history if "eval_f1" in entry]
    assert len(evals) >= 2  # every epoch, and the final evaluation
    assert all(entry["eval_sanity_pass_rate"] == 1.0 for entry in evals)  # constrained decoding
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert losses[-1] < losses[0]

    assert sanity_check(tmp_path / "test.csv", tmp_path / "predictions.csv")["rows"] == 12
    with open(tmp_path / "predictions.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["index"] for row in rows] == [f"label-test-{i:06d}" for i in range(12)]
    final = json.load(open(tmp_path / "eval_results.json"))
    card = ModelCard.load(tmp_path / "README.md")
    assert 'AutoModelForImageTextToText.from_pretrained("' in card.text  # the class remote code registers
    results = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert results["f1"] == pytest.approx(final["eval_f1"])
    assert results["sanity_pass_rate"] == 1.0

    loaded = hf_pricer.ResformerForConditionalGeneration.from_pretrained(tmp_path)
    processor = hf_pricer.ResformerProcessor.from_pretrained(tmp_path)
    assert loaded.config.image_size == 64 and processor.image_processor.size == {"height": 64, "width": 64}


def test_design_config_parses_and_builds_on_meta():
    model_args, preset, data_args, training_args = parse_recipe_args(
        train_resformer.ARGUMENT_TYPES, args=[os.path.join(CONFIGS_DIR, "resformer_design.yaml")]
    )
    assert training_args.predict_with_generate and training_args.generation_num_beams == 4
    config = preset.config(model_args)
    assert (config.image_size, config.patch_size, config.d_model, config.num_attention_heads) == (400, 16, 2048, 16)
    assert config.max_target_positions == 64
    with torch.device("meta"):
        model = hf_pricer.ResformerForConditionalGeneration(config)
    assert model.encoder.patch_embedding.out_channels == 2048


def test_cpu_preset_is_the_default():
    model_args, preset, data_args, training_args = parse_recipe_args(
        train_resformer.ARGUMENT_TYPES, train_resformer.CPU_PRESET, []
    )
    assert preset.config(model_args).to_dict() == hf_pricer.ResformerConfig.cpu_preset().to_dict()
    assert data_args.dataset == "labels" and training_args.metric_for_best_model == "f1"


def _challenge_csv(path, rows, labels=True):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["index", "image_link", "group_id", "entity_name", *(["entity_value"] if labels else [])])
        for row in rows:
            writer.writerow([row["index"], row["image_link"], "1234", row["entity_name"],
                             *([row["messy_value"]] if labels else [])])
    return str(path)


@pytest.mark.slow
def test_recipe_trains_on_challenge_csvs_and_answers_the_test_file(tmp_path):
    rows, canonical = [], {}
    for i, row in enumerate(generate_label_images(24, split="train", image_size=64)):
        canonical[100 + i] = row["entity_value"]
        image_path = tmp_path / f"{i}.png"
        row["image"].save(image_path)
        # the challenge's messy spellings: "500.0 gram" → "500 grams"
        messy = row["entity_value"].replace(".0 ", " ") + ("s" if row["entity_value"] else "")
        rows.append({"index": 100 + i, "image_link": str(image_path), "entity_name": row["entity_name"],
                     "messy_value": messy})
    train_csv = _challenge_csv(tmp_path / "train.csv", rows[:20])
    test_csv = _challenge_csv(tmp_path / "test.csv", rows[20:], labels=False)
    out = tmp_path / "out"
    trainer = train_resformer.main([
        *TINY, "--max_steps", "2", "--train_file", train_csv, "--validation_size", "0.25", "--test_file", test_csv,
        "--image_cache_dir", str(tmp_path / "cache"), "--output_dir", str(out), "--per_device_train_batch_size", "4",
    ])
    # --test_size (5 %) of the 20 training rows is the test split, then --validation_size of the rest
    assert len(trainer.train_dataset) == 14 and len(trainer.eval_dataset) == 5
    assert os.path.isfile(out / "test_results.json")
    read = {}
    for split in (trainer.train_dataset, trainer.eval_dataset):
        read.update(zip(split["index"], split["entity_value"], strict=True))
    assert len(read) == 19 and all(canonical[index] == value for index, value in read.items())  # labels normalised
    assert sanity_check(test_csv, out / "predictions.csv")["rows"] == 4
    with open(out / "predictions.csv", newline="") as handle:
        assert [row["index"] for row in csv.DictReader(handle)] == ["120", "121", "122", "123"]


@pytest.mark.slow
def test_recipe_trains_the_ocr_model_on_photographed_labels(tmp_path):
    trainer = train_resformer.main([
        os.path.join(CONFIGS_DIR, "resformer_ocr_cpu.yaml"), *TINY, "--max_steps", "4", "--eval_steps", "4", "--save_steps", "4",
        "--max_ocr_tokens", "16", "--ocr_hash_buckets", "64", "--rendered_size", "6", "--output_dir", str(tmp_path),
    ])
    assert trainer.state.global_step == 4
    with open(tmp_path / "trainer_state.json") as handle:
        assert json.load(handle)["global_step"] == 4
    with open(tmp_path / "all_results.json") as handle:
        assert json.load(handle)["train_runtime"] > 0
    # a row for every entity each photographed label shows, then the rendered labels; all with OCR lines
    ids = trainer.train_dataset["id"]
    assert len({i.rsplit("-", 1)[0] for i in ids if i.startswith("photo-")}) == 48
    assert sum(i.startswith("label-") for i in ids) == 6 and all(trainer.train_dataset["ocr"])
    assert len(trainer.eval_dataset) == 12
    assert trainer.train_dataset[0]["image"].size == (64, 64)
    assert trainer.model.config.use_ocr_tokens and trainer.processing_class.use_ocr_tokens
    evals = [entry for entry in trainer.state.log_history if "eval_f1" in entry]
    assert evals and all(entry["eval_sanity_pass_rate"] == 1.0 for entry in evals)
    assert sanity_check(tmp_path / "test.csv", tmp_path / "predictions.csv")["rows"] == 12
    processor = hf_pricer.ResformerProcessor.from_pretrained(tmp_path)
    assert processor.use_ocr_tokens and processor.max_ocr_tokens == 16
