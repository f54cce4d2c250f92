"""The price ensemble: a tiny one fitted on synthetic listings (a residual network with tabular inputs and
quantiles, a linear member, LightGBM reading both), its exported members reproducing the fitted ones, save →
load, the Auto classes and the Hub."""

import json
import tempfile

import numpy as np
import pytest
import torch
from safetensors import safe_open
from transformers import AutoFeatureExtractor

from hf_pricer import (
    PriceEnsembleForPriceRegression,
    PriceEnsembleProcessor,
    PricerTrainingArguments,
    ResidualRegressorCollator,
    ResidualRegressorConfig,
    ResidualRegressorForPriceRegression,
    ResidualRegressorProcessor,
    TabularFeatures,
)
from hf_pricer.ensemble import (
    EnsembleData,
    GradientBoostingTrainer,
    LinearTrainer,
    PriceModelTrainer,
    evaluate_price_ensemble,
    fit_price_ensemble,
)
from hf_pricer.models.price_ensemble import GradientBoostingPriceMember, LinearPriceMember
from tests.test_modeling_common import ModelTesterMixin, PipelineTesterMixin

KINDS = [("kettle", 30.0), ("filter", 12.0), ("heater", 60.0), ("frame", 20.0)]


def listing(i):
    kind, base = KINDS[i % 4]
    count = i % 3 + 1
    return {
        "title": f"Brand{i % 5} {kind} model {i}, Pack of {count}",
        "text": f"A {kind} of {10 + i} watts, weighs {1 + i % 7} lbs. Steel and plastic.",
        "category": "Appliances" if i % 2 else "Home",
        "details": json.dumps({"Brand": f"brand{i % 5}", "Item Weight": f"{1 + i % 7} pounds"}),
        "price": round(base * count * (1 + 0.05 * (i % 7)), 2),
    }


ITEMS = [listing(i) for i in range(40)]
_FITTED = {}


def fitted_ensemble():
    """(model, processor, report, data), fitted once per test session on the first 32 items."""
    if not _FITTED:
        torch.manual_seed(0)
        data = EnsembleData.prepare(
            ITEMS[:32], TabularFeatures(["quantities"], ["category", "brand"], min_frequency=1)
        )
        processor = ResidualRegressorProcessor(n_features=64, tabular_features=data.tabular)
        config = ResidualRegressorConfig(
            num_features=64,
            num_layers=3,
            hidden_size=16,
            dropout=0.0,
            quantiles=[0.1, 0.5, 0.9],
            **data.tabular.config_kwargs(),
        )
        args = PricerTrainingArguments(
            output_dir=tempfile.mkdtemp(),
            num_train_epochs=3,
            learning_rate=3e-3,
            per_device_train_batch_size=16,
            report_to="none",
            save_strategy="no",
            use_cpu=True,
            disable_tqdm=True,
            log_level="error",
        )
        trainers = [
            PriceModelTrainer(
                "residual",
                data,
                ResidualRegressorForPriceRegression,
                config,
                processor,
                ResidualRegressorCollator,
                args,
            ),
            LinearTrainer("linear", data, alphas=(1.0,), char_weights=(1.0,), feature_weights=(0.1,)),
            GradientBoostingTrainer(
                "boosting",
                data,
                embeddings_of=["residual"],
                predictions_of=["residual", "linear"],
                params={"min_data_in_leaf": 3},
                num_rounds=20,
                num_threads=1,
            ),
        ]
        model, processor, report = fit_price_ensemble(trainers, data, num_folds=3, select_members=False)
        _FITTED.update(model=model, processor=processor, report=report, data=data)
    return _FITTED["model"], _FITTED["processor"], _FITTED["report"], _FITTED["data"]


def test_ensemble_stacks_its_members():
    model, processor, report, _ = fitted_ensemble()
    config = model.config
    assert [spec["kind"] for spec in config.members] == ["price_model", "linear", "gradient_boosting"]
    assert all(weight >= 0 for weight in config.stacker_weights) and sum(config.stacker_weights) > 0
    with torch.no_grad():
        outputs = model(**processor(ITEMS[32:]))
    assert outputs.member_log_prices.shape == (8, 3)
    stacked = outputs.member_log_prices @ torch.tensor(config.stacker_weights) + config.stacker_intercept
    expected = (config.price_multiplier * torch.expm1(stacked)).clamp(min=config.min_price)
    torch.testing.assert_close(outputs.predictions, expected)
    low, high = outputs.quantile_predictions.unbind(-1)
    assert config.interval_member == "residual" and config.interval_margin > 0
    assert (low <= outputs.predictions).all() and (outputs.predictions <= high).all()
    assert (
        set(report.member_metrics) == {"residual", "linear", "boosting"} and report.stack_metrics["smape"] > 0
    )
    # the member network's own interval is calibrated too
    assert model.members["residual"].config.interval_margin >= 0


def test_evaluation_reports_every_member():
    model, processor, _, _ = fitted_ensemble()
    results = evaluate_price_ensemble(model, processor, ITEMS[32:], batch_size=3)
    assert {"test_smape", "test_mae", "test_hit_rate", "test_interval_coverage"} <= set(results)
    assert set(results["members"]) == {"residual", "linear", "boosting"}
    assert "test_interval_coverage" in results["members"]["residual"]
    assert "test_interval_coverage" not in results["members"]["linear"]


def test_exported_linear_and_boosting_members_reproduce_the_fitted_ones():
    _, processor, _, data = fitted_ensemble()
    rows = np.arange(len(data.prices))
    batch = processor(ITEMS[:32])

    linear = LinearTrainer("linear", data, alphas=(0.5,), char_weights=(0.7,), feature_weights=(0.2,))
    ridge = linear.fit(rows, {})
    module = LinearPriceMember(data.word.size, data.char.size, len(data.tabular.numeric_feature_names))
    with torch.no_grad():
        linear.load_member(module, ridge)
        exported = module(
            batch["numeric_features"],
            batch["word_ids"],
            batch["word_weights"],
            batch["char_ids"],
            batch["char_weights"],
        )
    np.testing.assert_allclose(
        exported.numpy(), linear.predict(ridge, rows, {}).log_price, rtol=1e-4, atol=1e-4
    )

    boosting = GradientBoostingTrainer(
        "boosting", data, params={"min_data_in_leaf": 3}, num_rounds=15, num_threads=1
    )
    booster = boosting.fit(rows, {})
    spec = boosting.spec(booster)
    module = GradientBoostingPriceMember(spec["num_model_bytes"], data.word.size, spec["num_svd_components"])
    with torch.no_grad():
        boosting.load_member(module, booster)
    columns = [
        batch["numeric_features"],
        batch["categorical_features"].float(),
        module.text_components(batch["word_ids"], batch["word_weights"]),
    ]
    exported = module(torch.cat(columns, dim=1))
    np.testing.assert_allclose(
        exported.numpy(), boosting.predict(booster, rows, {}).log_price, rtol=1e-4, atol=1e-4
    )


def test_lightgbm_is_stored_as_its_model_text_in_safetensors(tmp_path):
    model, processor, _, _ = fitted_ensemble()
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    with safe_open(tmp_path / "model.safetensors", "pt") as weights:
        text = bytes(weights.get_tensor("members.boosting.model_text").numpy()).decode("utf-8")
    assert text.startswith("tree") and "Tree=0" in text
    saved = [path.name for path in tmp_path.rglob("*")]
    assert not any(name.endswith((".pkl", ".pickle", ".joblib", ".bin", ".pt")) for name in saved)
    config = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert config["member_processor_classes"] == {"residual": "AutoFeatureExtractor"}
    assert len(config["word_tfidf"]["vocabulary"]) == len(config["word_tfidf"]["idf"])


def test_missing_member_inputs_are_an_error():
    model, processor, _, _ = fitted_ensemble()
    batch = dict(processor(ITEMS[:2]))
    batch["member_inputs"] = {}
    with pytest.raises(ValueError, match="residual"):
        model(**batch)


class TestPriceEnsembleForPriceRegression(ModelTesterMixin, PipelineTesterMixin):
    model_class = PriceEnsembleForPriceRegression
    processor_auto_classes = {AutoFeatureExtractor: PriceEnsembleProcessor}
    bad_inputs = [({"title": " "}, r"input 1: `text` is missing or empty")]

    def pipeline_inputs(self, folder):
        return [{"title": "Steel kettle, 1.7 l", "text": "2200 W"}, *ITEMS[32:34]]

    def expected_pipeline_results(self, model, processor, folder):
        with torch.no_grad():
            outputs = model(**processor(self.pipeline_inputs(folder)))
        return [
            {"price": float(price), "price_low": float(low), "price_high": float(high)}
            for price, (low, high) in zip(outputs.predictions, outputs.quantile_predictions)
        ]

    def get_model(self):
        return fitted_ensemble()[0]

    def get_processor(self):
        return fitted_ensemble()[1]

    def get_inputs(self, folder):
        return {"items": ITEMS[32:]}


def test_pushed_card_lists_every_member_and_the_ensemble(hub_server, tmp_path):
    from huggingface_hub import ModelCard

    from hf_pricer.hub import build_ensemble_card, push_model_to_hub

    model, processor, _, _ = fitted_ensemble()
    results = evaluate_price_ensemble(model, processor, ITEMS[32:])
    card = build_ensemble_card(model, results, repo_id="tester/price-ensemble-card")
    push_model_to_hub(model, "tester/price-ensemble-card", processor=processor, card=card)
    pushed = ModelCard.load("tester/price-ensemble-card")
    metrics = {result.metric_type: result.metric_value for result in pushed.data.eval_results}
    assert metrics["smape"] == pytest.approx(results["test_smape"])
    for name in ("residual", "linear", "boosting"):
        row = next(line for line in pushed.text.splitlines() if line.startswith(f"| {name} |"))
        assert f"{results['members'][name]['test_smape']:.2f}" in row
    assert "| **ensemble** |" in pushed.text and "`weight_g`" in pushed.text  # the inputs are listed too
