import pytest
import torch
from huggingface_hub.errors import StrictDataclassClassValidationError
from transformers import AutoFeatureExtractor

from hf_pricer import ResidualRegressorConfig, ResidualRegressorForPriceRegression, ResidualRegressorProcessor
from tests.test_modeling_common import ModelTesterMixin, PipelineTesterMixin, train_on_one_batch

TEXTS = [
    "Stainless steel electric kettle with rapid boil and keep warm",
    "Budget plastic storage box",
    "Premium oak picture frame, hand finished, gift boxed",
    "the and of",  # only stop words: an all-zero feature vector
]


def tiny_config(**overrides):
    values = dict(num_features=64, num_layers=4, hidden_size=32, dropout=0.0, log_price_mean=3.0, log_price_std=1.5)
    values.update(overrides)
    return ResidualRegressorConfig(**values)


def tiny_model(seed=0, **overrides):
    torch.manual_seed(seed)
    return ResidualRegressorForPriceRegression(tiny_config(**overrides)).eval()


def batches(num_features=64):
    processor = ResidualRegressorProcessor(n_features=num_features)
    return processor(TEXTS), processor(TEXTS, sparse=True)


def test_output_shapes_and_price_space():
    torch.manual_seed(0)
    model = ResidualRegressorForPriceRegression(tiny_config()).eval()
    dense, _ = batches()
    output = model(**dense, labels=torch.tensor([30.0, 5.0, 80.0, 10.0]))
    assert output.predictions.shape == (4,) and output.log_price.shape == (4,)
    assert output.loss.ndim == 0
    assert torch.allclose(output.predictions, torch.expm1(output.log_price).clamp(min=0.0))
    assert (output.predictions >= 0).all()


def test_min_price_clips_predictions():
    model = ResidualRegressorForPriceRegression(tiny_config(log_price_mean=-5.0, log_price_std=0.1, min_price=0.01)).eval()
    dense, _ = batches()
    assert torch.all(model(**dense).predictions >= 0.01)


def test_sparse_input_matches_dense():
    torch.manual_seed(0)
    model = ResidualRegressorForPriceRegression(tiny_config()).eval()
    dense, sparse = batches()
    assert sparse["feature_ids"].shape[1] < 64
    dense_out, sparse_out = model(**dense), model(**sparse)
    torch.testing.assert_close(sparse_out.log_price, dense_out.log_price, rtol=1e-5, atol=1e-5)

    model.train()
    labels = torch.tensor([30.0, 5.0, 80.0, 10.0])
    grads = []
    for batch in (dense, sparse):
        model.zero_grad()
        model(**batch, labels=labels).loss.backward()
        grads.append(model.input_projection.weight.grad.clone())
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-5, atol=1e-6)


def test_loss_decreases_on_tiny_batch():
    torch.manual_seed(0)
    model = ResidualRegressorForPriceRegression(tiny_config())
    dense, _ = batches()
    losses = train_on_one_batch(model, {**dense, "labels": torch.tensor([30.0, 5.0, 80.0, 10.0])}, 30, 1e-2)
    assert losses[-1] < 0.2 * losses[0]


class TestResidualRegressorForPriceRegression(ModelTesterMixin, PipelineTesterMixin):
    model_class = ResidualRegressorForPriceRegression
    processor_auto_classes = {AutoFeatureExtractor: ResidualRegressorProcessor}
    bad_inputs = [({"title": " ", "text": None}, r"input 1: `text` is missing or empty"),
                  ({"title": 3}, r"input 1: `title` must be a string")]

    def pipeline_inputs(self, folder):
        return [{"title": "Electric kettle", "text": TEXTS[0]}, {"text": TEXTS[1]}, {"title": TEXTS[2]}]

    def expected_pipeline_results(self, model, processor, folder):
        texts = ["Electric kettle\n" + TEXTS[0], TEXTS[1], TEXTS[2]]
        with torch.no_grad():
            return [{"price": float(price)} for price in model(**processor(texts)).predictions]

    def get_model(self):
        return tiny_model()

    def get_processor(self):
        return ResidualRegressorProcessor(n_features=64)

    def get_inputs(self, folder):
        return {"text": TEXTS}

    def check_reloaded(self, model, loaded):
        assert loaded.config.log_price_mean == 3.0 and loaded.config.log_price_std == 1.5


def test_post_init_initialises_own_layers_only():
    model = ResidualRegressorForPriceRegression(tiny_config(initializer_range=0.02))
    assert model.input_projection.weight.std().item() == pytest.approx(0.02, rel=0.2)
    assert torch.all(model.input_projection.bias == 0)
    assert torch.all(model.blocks[0].block[1].weight == 1)


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"num_layers": 1}, "num_layers"),
        ({"dropout": 1.5}, "dropout"),
        ({"loss_type": "cross_entropy"}, "loss_type"),
        ({"log_price_std": 0.0}, "log_price_std"),
    ],
)
def test_config_validation_names_the_field(overrides, field):
    with pytest.raises(StrictDataclassClassValidationError, match=field):
        tiny_config(**overrides)


def test_bad_inputs_have_clear_errors():
    model = ResidualRegressorForPriceRegression(tiny_config())
    dense, sparse = batches()
    with pytest.raises(ValueError, match="exactly one"):
        model()
    with pytest.raises(ValueError, match="num_features"):
        model(input_features=torch.zeros(2, 65))
    with pytest.raises(ValueError, match="beyond config.num_features"):
        model(feature_ids=torch.tensor([[70]]), feature_weights=torch.ones(1, 1))
    with pytest.raises(ValueError, match="feature_weights"):
        model(feature_ids=sparse["feature_ids"])
    with pytest.raises(ValueError, match="labels"):
        model(**dense, labels=torch.ones(3))


# -- tabular inputs and quantiles ----------------------------------------------------------------------------

TABULAR_ITEMS = [
    {"title": "Water filter, Pack of 3", "text": "Weighs 2 lbs", "category": "Appliances",
     "details": '{"Brand": "GE"}', "price": 30.0},
    {"title": "Ceramic heater 1500W", "text": "Compact", "category": "Appliances",
     "details": '{"Brand": "GE", "Item Weight": "5 pounds"}', "price": 45.0},
    {"title": "Oak frame", "text": "Hand finished", "category": "Home", "details": "{}", "price": 20.0},
]


def tabular_processor():
    from hf_pricer import TabularFeatures

    tabular = TabularFeatures(["quantities"], ["category", "brand"], min_frequency=1).fit(TABULAR_ITEMS)
    return ResidualRegressorProcessor(n_features=64, tabular_features=tabular)


def tabular_model(processor, **overrides):
    return tiny_model(quantiles=[0.1, 0.5, 0.9], **processor.tabular_features.config_kwargs(), **overrides)


def test_tabular_inputs_through_processor_save_and_load(tmp_path):
    processor = tabular_processor()
    model = tabular_model(processor)
    processor.save_pretrained(tmp_path)
    model.save_pretrained(tmp_path)
    loaded_processor = AutoFeatureExtractor.from_pretrained(tmp_path)
    loaded = ResidualRegressorForPriceRegression.from_pretrained(tmp_path).eval()
    assert loaded.config.numeric_feature_names == processor.tabular_features.numeric_feature_names
    assert loaded.config.categorical_cardinalities == [4, 3]  # two categories, one brand (+ missing, unseen)
    batch = processor.process_items(TABULAR_ITEMS)
    reloaded_batch = loaded_processor.process_items(TABULAR_ITEMS)
    torch.testing.assert_close(reloaded_batch["numeric_features"], batch["numeric_features"], equal_nan=True)
    assert torch.equal(reloaded_batch["categorical_features"], batch["categorical_features"])
    with torch.no_grad():
        torch.testing.assert_close(loaded(**reloaded_batch).log_price, model(**batch).log_price)


def test_missing_numeric_values_use_the_learned_missing_embedding():
    processor = tabular_processor()
    model = tabular_model(processor)
    batch = processor.process_items(TABULAR_ITEMS)
    weight = processor.tabular_features.numeric_feature_names.index("weight_g")
    assert torch.isnan(batch["numeric_features"][2, weight])
    with torch.no_grad():
        before = model(**batch).log_price
        model.tabular_embedding.missing_numeric_embedding[weight] += 1.0
        after = model(**batch).log_price
    assert torch.isfinite(before).all()
    assert after[2] != before[2]  # only the row missing the weight moves
    torch.testing.assert_close(after[:2], before[:2])


def test_quantiles_embeddings_and_tabular_errors():
    processor = tabular_processor()
    model = tabular_model(processor)
    batch = processor.process_items(TABULAR_ITEMS)
    with torch.no_grad():
        outputs = model(**batch, labels=torch.tensor([30.0, 45.0, 20.0]))
        embeddings = model.get_price_embeddings(**batch, labels=torch.tensor([30.0, 45.0, 20.0]))
    assert not model.price_output_layer._forward_pre_hooks  # the hook reading the embeddings is gone
    assert outputs.quantile_predictions.shape == (3, 3)
    assert (outputs.quantile_predictions.diff(dim=1) >= 0).all()
    assert embeddings.shape == (3, 32)
    torch.testing.assert_close(model.price_outputs_from_embeddings(embeddings).log_price, outputs.log_price)
    model.config.interval_margin = 0.5
    with torch.no_grad():
        wider = model(**batch).quantile_predictions
    # the margin widens the outer quantiles in log1p(price), and leaves the median
    before = torch.log1p(outputs.quantile_predictions)
    torch.testing.assert_close(torch.log1p(wider[:, 0]), before[:, 0] - 0.5)
    torch.testing.assert_close(torch.log1p(wider[:, 2]), before[:, 2] + 0.5)
    torch.testing.assert_close(wider[:, 1], outputs.quantile_predictions[:, 1])
    with pytest.raises(ValueError, match="numeric_features"):
        model(input_features=batch["input_features"], categorical_features=batch["categorical_features"])
    with pytest.raises(ValueError, match="outside"):
        model(**{**batch, "categorical_features": torch.full((3, 2), 7)})


def test_pipeline_reads_tabular_features_and_answers_the_interval(tmp_path):
    from transformers import pipeline

    processor = tabular_processor()
    model = tabular_model(processor)
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    items = [{key: item[key] for key in ("title", "text", "category", "details")} for item in TABULAR_ITEMS]
    with torch.no_grad():
        outputs = model(**processor.process_items(items))
    results = pipeline("price-regression", model=str(tmp_path))(items, batch_size=2)
    for result, price, quantiles in zip(results, outputs.predictions, outputs.quantile_predictions):
        assert result == pytest.approx({"price": float(price), "price_low": float(quantiles[0]),
                                        "price_high": float(quantiles[-1])}, rel=1e-5)


class TestResidualRegressorWithTabularInputs(ModelTesterMixin):
    """Save/load, Auto classes, Hub and remote code of a model with tabular inputs and quantiles."""

    model_class = ResidualRegressorForPriceRegression

    def get_model(self):
        return tabular_model(tabular_processor())

    def get_inputs(self, folder):
        return dict(tabular_processor().process_items(TABULAR_ITEMS))

    def repo_id(self, purpose: str) -> str:
        return f"tester/residual-tabular-{purpose}"
