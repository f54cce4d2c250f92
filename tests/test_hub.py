"""`hf_pricer.hub`: model cards with the metrics in their `model-index`, `push_model_to_hub` and
`push_dataset_to_hub`, against the Hub-protocol server of `tests/hub_server.py` (see `conftest.py`). The
Hub round trip of each model, remote code included, is in `tests/test_modeling_common.py`."""

import json

import pytest
from datasets import Dataset, DatasetDict
from huggingface_hub import HfApi, ModelCard, hf_hub_download

from hf_pricer import (
    PricerTrainer,
    PricerTrainingArguments,
    ResidualRegressorCollator,
    ResidualRegressorProcessor,
    compute_metrics,
    load_items,
)
from hf_pricer.hub import push_dataset_to_hub, push_model_to_hub
from hf_pricer.plots import PRICE_PLOT_FILENAME as PLOT_FILENAME
from tests.models.resformer.test_modeling_resformer import tiny_model as tiny_resformer
from tests.models.resformer.test_processing_resformer import tiny_processor as tiny_resformer_processor
from tests.models.residual_regressor.test_modeling_residual_regressor import tiny_model

TEXTS = ["steel kettle with keep warm", "oak frame", "budget plastic box"]


def test_push_model_processor_and_card(hub_server):
    model, processor = tiny_model(), ResidualRegressorProcessor(n_features=64)
    predictions, labels = [10.0, 22.0, 180.0], [12.0, 20.0, 150.0]
    push_model_to_hub(
        model, "tester/residual-card", processor=processor, predictions=predictions, labels=labels,
        dataset_id="tester/items",
    )
    files = set(HfApi().list_repo_files("tester/residual-card"))
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "README.md", PLOT_FILENAME} <= files
    assert {"modeling_residual_regressor.py", "configuration_residual_regressor.py"} <= files
    assert not any(name.endswith((".bin", ".pt", ".pkl")) for name in files)

    card = ModelCard.load("tester/residual-card")
    results = {r.metric_type: r for r in card.data.eval_results}
    assert results["smape"].metric_value == pytest.approx(100 * (2 / 11 + 2 / 21 + 30 / 165) / 3)
    assert results["mae"].metric_value == pytest.approx((2 + 2 + 30) / 3)
    assert results["smape"].dataset_type == "tester/items"
    assert f"![Predicted vs. true price]({PLOT_FILENAME})" in card.text


def test_entity_extraction_card_has_its_task_and_metrics(hub_server):
    push_model_to_hub(
        tiny_resformer(5), "tester/resformer-card", processor=tiny_resformer_processor(),
        metrics={"eval_f1": 0.75, "eval_exact_match": 0.8},
    )
    card = ModelCard.load("tester/resformer-card")
    results = {r.metric_type: r for r in card.data.eval_results}
    assert results["f1"].metric_value == 0.75 and results["f1"].task_type == "image-to-text"
    assert "entity-value-extraction" in card.data.tags and "smape" not in card.data.metrics
    assert 'AutoModelForImageTextToText.from_pretrained("tester/resformer-card")' in card.text


def test_trainer_push_to_hub_writes_metrics_card(hub_server, tmp_path):
    items = Dataset.from_list([{"title": t, "text": t, "price": p} for t, p in zip(TEXTS * 4, [30.0, 12.0, 4.0] * 4)])
    trainer = PricerTrainer(
        model=tiny_model(),
        args=PricerTrainingArguments(
            output_dir=str(tmp_path), use_cpu=True, report_to="none", max_steps=2, save_strategy="no",
            hub_model_id="tester/residual-trainer", disable_tqdm=True,
        ),
        train_dataset=items,
        eval_dataset=items,
        data_collator=ResidualRegressorCollator(ResidualRegressorProcessor(n_features=64)),
        processing_class=ResidualRegressorProcessor(n_features=64),
        compute_metrics=compute_metrics,
    )
    trainer.train()
    metrics = trainer.evaluate()
    trainer.push_to_hub(dataset="tester/items")
    card = ModelCard.load("tester/residual-trainer")
    results = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert results["smape"] == pytest.approx(metrics["eval_smape"])
    assert results["mae"] == pytest.approx(metrics["eval_mae"])
    config = json.load(open(hf_hub_download("tester/residual-trainer", "config.json")))
    assert config["auto_map"]["AutoModel"] == "modeling_residual_regressor.ResidualRegressorForPriceRegression"


def items_full_like_rows(n, offset=0):
    return [
        {
            "title": f"Product {i}", "category": "Appliances", "price": 10.0 + i, "full": f"Full text {i}",
            "weight": 1.0, "summary": f"Summary of product {i}", "prompt": "", "id": f"p{i}",
        }
        for i in range(offset, offset + n)
    ]


def test_push_dataset_and_load_items_from_hub(hub_server):
    splits = DatasetDict(
        train=Dataset.from_list(items_full_like_rows(12) + [{**items_full_like_rows(1)[0], "price": -5.0, "id": "bad"}]),
        validation=Dataset.from_list(items_full_like_rows(3, offset=100)),
        test=Dataset.from_list(items_full_like_rows(3, offset=200)),
    )
    HfApi().create_repo("tester/items_full_raw", repo_type="dataset", exist_ok=True)
    splits.push_to_hub("tester/items_full_raw")

    reports = {}
    loaded = load_items("tester/items_full_raw", reports=reports)
    assert set(loaded) == {"train", "validation", "test"}
    assert len(loaded["train"]) == 12 and reports["train"].counts == {"negative price": 1}
    assert loaded["train"][0]["text"] == "Summary of product 0"  # summary → text

    stream = load_items("tester/items_full_raw", split="train", streaming=True)
    streamed = list(stream)
    assert [row["id"] for row in streamed] == [f"p{i}" for i in range(12)]

    # a prepared (cleaned) dataset round-trips through push_dataset_to_hub
    push_dataset_to_hub(loaded, "tester/items_clean")
    again = load_items("tester/items_clean")
    assert again["validation"]["price"] == loaded["validation"]["price"]
    with pytest.raises(ValueError, match="item schema"):
        push_dataset_to_hub(Dataset.from_dict({"x": [1]}), "tester/not_items")


