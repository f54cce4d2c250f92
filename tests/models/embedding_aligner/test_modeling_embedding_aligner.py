import numpy as np
import pytest
import torch
from datasets import Dataset
from huggingface_hub.errors import StrictDataclassClassValidationError

from hf_pricer import (
    EmbeddingAlignerCollator,
    EmbeddingAlignerConfig,
    EmbeddingAlignerModel,
    PricerTrainer,
    PricerTrainingArguments,
)
from hf_pricer.models.embedding_aligner.modeling_embedding_aligner import (
    MAX_LOGIT_SCALE,
    contrastive_loss,
    cosine_loss,
)
from tests.test_modeling_common import ModelTesterMixin


def tiny_config(**kwargs):
    return EmbeddingAlignerConfig(**{"in_dim": 8, "hidden_size": 16, "out_dim": 6, "dropout": 0.0, **kwargs})


def tiny_model(seed=0, **kwargs):
    torch.manual_seed(seed)
    return EmbeddingAlignerModel(tiny_config(**kwargs))


def test_design_defaults_and_parameter_count():
    config = EmbeddingAlignerConfig()
    assert (config.in_dim, config.hidden_size, config.out_dim, config.hidden_act) == (1024, 4096, 1536, "relu")
    assert (config.dropout, config.loss_type) == (0.2, "cosine")
    with torch.device("meta"):
        model = EmbeddingAlignerModel(config)
    assert model.num_parameters() == 1024 * 4096 + 4096 + 4096 * 1536 + 1536
    assert model.logit_scale is None  # the cosine loss has no temperature


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"loss_type": "mse"}, "loss_type"),
        ({"hidden_act": "swish2"}, "hidden_act"),
        ({"dropout": 1.0}, "dropout"),
        ({"temperature": 0.0}, "temperature"),
        ({"in_dim": 0}, "in_dim"),
        ({"contrastive_weight": -1.0}, "contrastive_weight"),
    ],
)
def test_config_rejects_bad_values(kwargs, message):
    with pytest.raises(StrictDataclassClassValidationError, match=message):
        EmbeddingAlignerConfig(**kwargs)


def test_forward_shapes_and_input_check():
    model = tiny_model().eval()
    outputs = model(text_embeds=torch.randn(5, 8))
    assert outputs.predictions.shape == (5, 6) and outputs.loss is None and outputs.logit_scale is None
    with pytest.raises(ValueError, match=r"`text_embeds` must have shape \(batch_size, 8\)"):
        model(text_embeds=torch.randn(5, 7))
    with pytest.raises(ValueError, match="`labels`"):
        model(text_embeds=torch.randn(5, 8), labels=torch.randn(5, 5))


def test_cosine_loss_is_zero_for_identical_vectors_and_two_for_opposite():
    vectors = torch.randn(4, 6)
    torch.testing.assert_close(cosine_loss(vectors, vectors), torch.zeros(4), atol=1e-6, rtol=0)
    torch.testing.assert_close(cosine_loss(vectors, 3 * vectors), torch.zeros(4), atol=1e-6, rtol=0)
    torch.testing.assert_close(cosine_loss(vectors, -vectors), torch.full((4,), 2.0), atol=1e-6, rtol=0)

    model = tiny_model().eval()
    text = torch.randn(4, 8)
    predictions = model(text_embeds=text).predictions.detach()
    assert model(text_embeds=text, labels=predictions).loss.item() == pytest.approx(0.0, abs=1e-6)


def test_contrastive_loss_is_lower_for_aligned_than_for_shuffled_pairs():
    torch.manual_seed(0)
    targets = torch.randn(8, 6)
    predictions = targets + 0.1 * torch.randn(8, 6)
    scale = torch.tensor(10.0)
    aligned = contrastive_loss(predictions, targets, scale)
    shuffled = contrastive_loss(predictions, targets[torch.roll(torch.arange(8), 1)], scale)
    assert aligned.shape == (8,)
    assert aligned.mean() < 0.5 * shuffled.mean()


def test_contrastive_loss_counts_captions_of_one_image_as_positives():
    image_a, image_b = torch.eye(2)
    targets = torch.stack([image_a, image_a, image_b])  # two captions of image a
    loss = contrastive_loss(targets.clone(), targets, torch.tensor(50.0))
    # As negatives, the duplicate would cost log(2) per row; as positives, (almost) nothing.
    assert loss.max().item() < 1e-3


def test_contrastive_temperature_learned_or_fixed():
    learned = tiny_model(loss_type="contrastive", temperature=0.05)
    assert learned.logit_scale.item() == pytest.approx(np.log(20.0))
    outputs = learned(text_embeds=torch.randn(6, 8), labels=torch.randn(6, 6))
    assert outputs.logit_scale.item() == pytest.approx(20.0)
    outputs.loss.backward()
    assert learned.logit_scale.grad is not None and learned.logit_scale.grad.abs() > 0
    with torch.no_grad():
        learned.logit_scale.fill_(10.0)
    assert learned(text_embeds=torch.randn(2, 8)).logit_scale.item() == MAX_LOGIT_SCALE

    fixed = tiny_model(loss_type="contrastive", temperature=0.05, learn_temperature=False)
    assert fixed.logit_scale is None and "logit_scale" not in dict(fixed.named_parameters())
    assert fixed(text_embeds=torch.randn(2, 8)).logit_scale.item() == pytest.approx(20.0)


@pytest.mark.parametrize("loss_type", ["cosine", "contrastive", "cosine+contrastive"])
def test_loss_sum_is_the_forward_loss_times_rows(loss_type):
    model = tiny_model(loss_type=loss_type)
    text, labels = torch.randn(6, 8), torch.randn(6, 6)
    outputs = model(text_embeds=text, labels=labels)
    torch.testing.assert_close(model.loss_sum(outputs, labels), outputs.loss * 6)
    assert model.num_loss_items(labels) == 6
    if loss_type == "cosine+contrastive":
        cosine, contrastive = cosine_loss(outputs.predictions, labels), contrastive_loss(
            outputs.predictions, labels, outputs.logit_scale)
        torch.testing.assert_close(outputs.loss, (cosine + contrastive).mean())


def one_step(tmp_path, dataset, loss_type, batch_size, accumulation):
    trainer = PricerTrainer(
        model=tiny_model(loss_type=loss_type),
        args=PricerTrainingArguments(
            output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=batch_size,
            gradient_accumulation_steps=accumulation, learning_rate=0.1, optim="sgd", use_cpu=True,
            report_to="none", save_strategy="no", disable_tqdm=True, dataloader_drop_last=False,
            bf16=False,  # compared exactly across batchings, in fp32
        ),
        train_dataset=dataset,
        data_collator=EmbeddingAlignerCollator(),
    )
    trainer.train()
    return {name: p.detach().clone() for name, p in trainer.model.named_parameters()}


def embedding_rows(num_rows, seed=0):
    rng = np.random.default_rng(seed)
    return Dataset.from_dict({
        "text_embeds": rng.normal(size=(num_rows, 8)).astype(np.float32),
        "image_embeds": rng.normal(size=(num_rows, 6)).astype(np.float32),
    }).with_format("numpy")


@pytest.mark.parametrize("num_rows", [16, 14])  # 14: the last micro-batch holds 2 rows, not 4
def test_gradient_accumulation_is_exact_for_the_cosine_loss(tmp_path, num_rows):
    dataset = embedding_rows(num_rows)
    accumulated = one_step(tmp_path / "ga", dataset, "cosine", batch_size=4, accumulation=4)
    single = one_step(tmp_path / "big", dataset, "cosine", batch_size=num_rows, accumulation=1)
    assert not torch.equal(single["fc2.weight"], tiny_model().fc2.weight)
    for name in single:
        torch.testing.assert_close(accumulated[name], single[name], rtol=1e-5, atol=1e-6, msg=name)


def test_contrastive_negatives_are_per_micro_batch(tmp_path):
    """Documented behaviour: accumulating 4 × 4 rows is NOT one batch of 16 for the in-batch loss."""
    dataset = embedding_rows(16)
    accumulated = one_step(tmp_path / "ga", dataset, "contrastive", batch_size=4, accumulation=4)
    single = one_step(tmp_path / "big", dataset, "contrastive", batch_size=16, accumulation=1)
    assert not torch.allclose(accumulated["fc2.weight"], single["fc2.weight"], rtol=1e-4, atol=1e-6)


class TestEmbeddingAlignerModel(ModelTesterMixin):
    model_class = EmbeddingAlignerModel

    def get_model(self):
        return tiny_model(seed=3, loss_type="cosine+contrastive").eval()  # with the learned temperature

    def get_inputs(self, folder):
        return {"text_embeds": torch.randn(3, 8, generator=torch.Generator().manual_seed(0))}


def test_default_initialisation_is_pytorchs_linear_default():
    model = tiny_model()
    bound = 1 / np.sqrt(8)
    assert model.fc1.weight.abs().max() <= bound and model.fc1.bias.abs().max() <= bound
    assert model.fc1.weight.std() > 0.5 * bound / np.sqrt(3)  # uniform on ±bound, not N(0, 0.02)
    normal = tiny_model(initializer_range=0.02)
    assert normal.fc1.weight.std().item() == pytest.approx(0.02, rel=0.3)
    assert torch.equal(normal.fc1.bias, torch.zeros(16))
