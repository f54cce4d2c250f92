import pytest
import torch
from huggingface_hub.errors import StrictDataclassClassValidationError
from transformers import AutoImageProcessor, ViTImageProcessor

from hf_pricer import (
    DualEmbeddingConfig,
    DualEmbeddingForRegression,
    EmbeddingClassifierConfig,
    FreezeWarmupCallback,
    module_parameter_groups,
)
from hf_pricer.hub import push_model_to_hub
from hf_pricer.image_processing_utils import vit_image_processor
from tests.models.embedding_classifier.test_modeling_embedding_classifier import (
    IMAGE_SIZE,
    pixels,
    tiny_classifier,
)
from tests.test_modeling_common import ModelTesterMixin, train_on_one_batch
from tests.utils import write_images

encoder_learning_rates = DualEmbeddingForRegression.encoder_learning_rates


def tiny_regressor(attention_type="triple", seed=0, **kwargs):
    company, model = tiny_classifier(3, seed=seed), tiny_classifier(5, "model", embedding_dim=24, seed=seed + 1)
    torch.manual_seed(seed)
    kwargs = {"target_names": ["length", "diameter"], "embedding_dim": 16, "attention_hidden_size": 8,
              "head_hidden_size": 16, **kwargs}
    return DualEmbeddingForRegression.from_classifiers(company, model, attention_type=attention_type, **kwargs).eval()


@pytest.mark.parametrize(
    "attention_type, num_weights, head_input", [("dual", 2, 32), ("triple", 3, 16), ("hierarchical", 3, 16)]
)
def test_attention_types_shapes_and_weights_sum_to_one(attention_type, num_weights, head_input):
    model = tiny_regressor(attention_type, target_names=["a", "b", "c"])
    outputs = model(pixels(5))
    assert outputs.predictions.shape == (5, 3)
    assert outputs.attention_weights.shape == (5, num_weights)
    torch.testing.assert_close(outputs.attention_weights.sum(-1), torch.ones(5))
    assert (outputs.attention_weights > 0).all()
    assert model.head[0].in_features == head_input
    if attention_type == "hierarchical":
        assert outputs.embedding_attention_weights.shape == (5, 2)
        torch.testing.assert_close(outputs.embedding_attention_weights.sum(-1), torch.ones(5))
        # The effective company/model weights are the top level's "embeddings" weight split by the first level.
        embeddings_share = outputs.attention_weights[:, 1:].sum(-1, keepdim=True)
        torch.testing.assert_close(outputs.attention_weights[:, 1:] / embeddings_share, outputs.embedding_attention_weights)
    else:
        assert outputs.embedding_attention_weights is None


def test_from_classifiers_copies_stage_one_weights():
    company, model_type = tiny_classifier(3), tiny_classifier(5, "model", embedding_dim=24, seed=1)
    model = DualEmbeddingForRegression.from_classifiers(company, model_type, embedding_dim=16)
    for name, tensor in company.embedder.state_dict().items():
        assert torch.equal(model.company_encoder.state_dict()[name], tensor), name
    for name, tensor in model_type.embedder.state_dict().items():
        assert torch.equal(model.model_encoder.state_dict()[name], tensor), name
    assert model.config.company_config.id2label == company.config.id2label
    assert model.config.model_config.label_field == "model"
    # The visual branch is the company classifier's ViT [CLS] state.
    images = pixels()
    torch.testing.assert_close(model.eval().company_encoder(images).image_features, company(images).image_features)


def test_targets_are_standardized_with_the_config_statistics():
    model = tiny_regressor(target_mean=[10.0, 4.0], target_std=[2.0, 0.5], loss_type="l1")
    images, labels = pixels(), torch.tensor([[12.0, 4.5], [8.0, 3.0], [10.0, 4.0], [11.0, 4.2]])
    outputs = model(images, labels=labels)
    standardized = (outputs.predictions - torch.tensor([10.0, 4.0])) / torch.tensor([2.0, 0.5])
    expected = (standardized - (labels - torch.tensor([10.0, 4.0])) / torch.tensor([2.0, 0.5])).abs().mean()
    torch.testing.assert_close(outputs.loss, expected)
    with pytest.raises(ValueError, match=r"labels.*\(batch_size, 2\).*length"):
        model(images, labels=labels[:, :1])


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"attention_type": "quadruple"}, "attention_type"),
        ({"target_names": ["a"], "target_std": [0.0]}, "target_std"),
        ({"target_names": ["a", "b"], "target_mean": [1.0]}, "target_mean"),
        ({"target_names": ["a", "a"]}, "target_names"),
        ({"unfreeze_epochs": [40, 20]}, "unfreeze_epochs"),
        ({"loss_type": "smape"}, "loss_type"),
    ],
)
def test_config_validation_names_the_field(kwargs, field):
    with pytest.raises(StrictDataclassClassValidationError, match=field):
        DualEmbeddingConfig(**kwargs)


def test_loss_decreases_on_a_tiny_batch():
    model = tiny_regressor(target_mean=[10.0, 4.0], target_std=[2.0, 0.5], dropout=0.0)
    noise = torch.randn(4, 2, generator=torch.Generator().manual_seed(1))
    labels = noise * torch.tensor([2.0, 0.5]) + torch.tensor([10.0, 4.0])
    batch = {"pixel_values": pixels(4), "labels": labels}
    losses = train_on_one_batch(model, batch, 20, 1e-2, optimizer_class=torch.optim.Adam)
    assert losses[-1] < 0.5 * losses[0]


class _State:
    def __init__(self, epoch):
        self.epoch = epoch


def _trainable(model):
    return {name for name, param in model.named_parameters() if param.requires_grad}


def test_progressive_unfreezing_schedule():
    """Head only until E1; then the top half of both ViTs (+ final norm, projection); everything from E2."""
    model = tiny_regressor(unfreeze_epochs=[2, 4], unfreeze_fraction=0.5)
    names = {name for name, _ in model.named_parameters()}
    head = {name for name in names if not name.startswith(("company_encoder.", "model_encoder."))}
    top = {
        name for name in names
        if name.startswith(("company_encoder.", "model_encoder."))
        and name.split(".", 1)[1].startswith(("vit.layers.2.", "vit.layers.3.", "vit.layernorm.", "projection."))
    }
    callback = FreezeWarmupCallback()  # the schedule comes from the model's config
    callback.on_train_begin(None, _State(0.0), None, model=model)
    assert _trainable(model) == head
    for epoch, expected in ((1.0, head), (2.0, head | top), (3.0, head | top), (4.0, names)):
        callback.on_epoch_begin(None, _State(epoch), None, model=model)
        assert _trainable(model) == expected, epoch
    assert any(".vit.layers.0." in name for name in names - head - top)

    # Resuming mid-schedule freezes exactly what that epoch freezes.
    resumed = FreezeWarmupCallback()
    resumed.on_train_begin(None, _State(3.0), None, model=model)
    assert _trainable(model) == head | top


def test_encoder_learning_rate_groups():
    model = tiny_regressor()
    groups = module_parameter_groups(model, 1e-3, 0.0, encoder_learning_rates(1e-3, 0.1))
    rates = {}
    for group in groups:
        for param in group["params"]:
            rates[id(param)] = group["lr"]
    for name, param in model.named_parameters():
        expected = 1e-4 if name.startswith(("company_encoder.", "model_encoder.")) else 1e-3
        assert rates[id(param)] == pytest.approx(expected), name
    assert len(rates) == len(list(model.parameters()))


class TestDualEmbeddingForRegression(ModelTesterMixin):
    model_class = DualEmbeddingForRegression
    processor_auto_classes = {AutoImageProcessor: ViTImageProcessor}

    def get_model(self):
        return tiny_regressor("hierarchical", target_mean=[10.0, 4.0], target_std=[2.0, 0.5])

    def get_processor(self):
        return vit_image_processor(IMAGE_SIZE)

    def get_inputs(self, folder):
        return {"images": write_images(folder, 2), "return_tensors": "pt"}

    def check_reloaded(self, model, loaded):
        assert isinstance(loaded.config.company_config, EmbeddingClassifierConfig)
        assert loaded.config.company_config.vision_config.hidden_size == 32


def test_stage_two_starts_from_classifiers_on_the_hub(hub_server):
    classifier = tiny_classifier()
    repo_id = "tester/embedding-classifier-stage-one"
    push_model_to_hub(classifier, repo_id, processor=vit_image_processor(IMAGE_SIZE))
    stage_two = DualEmbeddingForRegression.from_classifiers(repo_id, repo_id, embedding_dim=8)
    assert torch.equal(stage_two.model_encoder.projection[0].weight, classifier.embedder.projection[0].weight)


def test_design_size_config_builds_on_meta():
    config = DualEmbeddingConfig()
    with torch.device("meta"):
        model = DualEmbeddingForRegression(config)
    assert config.company_config.vision_config.hidden_size == 768
    assert model.visual_projection[0].in_features == 768
    assert model.company_projection[0].in_features == 256
    assert model.head[-1].out_features == 2
    assert 170e6 < model.num_parameters() < 175e6  # two ViT-Base/16 encoders


