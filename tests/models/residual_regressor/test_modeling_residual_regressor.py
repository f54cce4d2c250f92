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
