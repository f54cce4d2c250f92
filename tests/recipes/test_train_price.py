"""recipes/train_price.py: the preset, and the recommended path end to end on a small items file written
here."""

import json

import pytest
import torch
import train_price
from transformers import AutoFeatureExtractor, AutoModel, pipeline

from hf_pricer import PriceEnsembleForPriceRegression
from hf_pricer.cli import parse_recipe_args

KINDS = [("Electric kettle", 30.0), ("Water filter", 12.0), ("Ceramic heater", 60.0),
         ("Oak picture frame", 20.0)]


def write_items(path, count=48):
    """A JSONL items file whose prices follow the product kind, the pack size and the wattage."""
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(count):
            kind, base = KINDS[i % 4]
            pack = i % 3 + 1
            item = {
                "title": f"{kind}, Pack of {pack}",
                "text": f"{kind} by Brand{i % 6}. {500 + 100 * (i % 5)} W, weighs {1 + i % 4} lbs.",
                "category": "Appliances",
                "details": json.dumps({"Brand": f"brand{i % 6}", "Item Weight": f"{1 + i % 4} pounds"}),
                "price": round(base * pack * (1 + 0.1 * (i % 5)), 2),
            }
            handle.write(json.dumps(item) + "\n")
    return path


def test_cpu_preset_is_the_default_and_flags_override_it():
    network, data_args, ensemble_args, training_args = parse_recipe_args(
        train_price.ARGUMENT_TYPES, train_price.CPU_PRESET, ["--folds", "3"]
    )
    assert data_args.dataset == "catalog" and data_args.test_size == 0.2 and data_args.split_seed == 42
    assert ensemble_args.folds == 3 and ensemble_args.members == ["residual", "linear", "boosting"]
    assert network.config_kwargs()["quantiles"] == [0.1, 0.5, 0.9] and network.hidden_size == 512
    assert training_args.num_train_epochs == 20 and training_args.use_cpu


@pytest.mark.slow
def test_recipe_trains_evaluates_saves_and_serves(tmp_path):
    items = write_items(tmp_path / "items.jsonl")
    output_dir = tmp_path / "ensemble"
    model, processor, results = train_price.main([
        "--dataset", str(items), "--output_dir", str(output_dir), "--num_features", "256",
        "--num_layers", "3", "--hidden_size", "16", "--num_train_epochs", "3",
        "--per_device_train_batch_size", "16", "--folds", "3", "--boosting_rounds", "20",
        "--numeric_features", "quantities", "title_embedding",
    ])
    saved = json.loads((output_dir / "test_results.json").read_text())
    assert saved["num_test_items"] == 10 and saved["num_train_items"] == 38  # 80/20 of 48
    for key in ("test_smape", "test_mae", "test_hit_rate", "test_interval_coverage", "train_seconds"):
        assert key in saved
    assert set(saved["members"]) == {"residual", "linear", "boosting"}
    assert all("test_smape" in figures for figures in saved["members"].values())
    assert set(saved["cross_validation"]["member_metrics"]) == {"residual", "linear", "boosting"}
    card = (output_dir / "README.md").read_text()
    assert "## Members" in card and "boosting" in card and "title_embedding_0..383" in card

    loaded = AutoModel.from_pretrained(output_dir).eval()
    assert type(loaded) is PriceEnsembleForPriceRegression
    loaded_processor = AutoFeatureExtractor.from_pretrained(output_dir)
    test_items = [json.loads(line) for line in (tmp_path / "items.jsonl").read_text().splitlines()][:4]
    with torch.no_grad():
        expected = model(**processor(test_items)).predictions
        torch.testing.assert_close(loaded(**loaded_processor(test_items)).predictions, expected)
    answers = pipeline("price-regression", model=str(output_dir))(test_items)
    assert [answer["price"] for answer in answers] == pytest.approx(expected.tolist(), rel=1e-5)
    assert all(answer["price_low"] <= answer["price"] <= answer["price_high"] for answer in answers)
