import pytest
import torch
from transformers import (
    AutoImageProcessor,
    AutoModel,
    AutoModelForImageClassification,
    ViTConfig,
    ViTImageProcessor,
)

from hf_pricer import (
    EmbeddingClassifierConfig,
    EmbeddingClassifierForImageClassification,
    EmbeddingClassifierModel,
)
from hf_pricer.image_processing_utils import vit_image_processor
from tests.test_modeling_common import ModelTesterMixin
from tests.utils import write_images

IMAGE_SIZE = 32


def tiny_vit(**kwargs):
    values = {
        "hidden_size": 32, "num_hidden_layers": 4, "num_attention_heads": 2, "intermediate_size": 64,
        "image_size": IMAGE_SIZE, "patch_size": 8,
    }
    return ViTConfig(**{**values, **kwargs})


def tiny_config(num_labels=3, label_field="company", embedding_dim=16):
    return EmbeddingClassifierConfig(
        vision_config=tiny_vit(), embedding_dim=embedding_dim, label_field=label_field,
        id2label={index: f"{label_field}-{index}" for index in range(num_labels)},
    )


def tiny_classifier(num_labels=3, label_field="company", embedding_dim=16, seed=0):
    torch.manual_seed(seed)
    config = tiny_config(num_labels, label_field, embedding_dim)
    return EmbeddingClassifierForImageClassification(config).eval()


def pixels(batch_size=4, seed=0):
    return torch.randn(batch_size, 3, IMAGE_SIZE, IMAGE_SIZE, generator=torch.Generator().manual_seed(seed))


def test_classifier_outputs_embeddings_and_cross_entropy():
    model = tiny_classifier(num_labels=3)
    labels = torch.tensor([0, 2, 1, 0])
    outputs = model(pixels(), labels=labels)
    assert outputs.logits.shape == (4, 3)
    assert outputs.embeddings.shape == (4, 16)
    assert outputs.image_features.shape == (4, 32)
    torch.testing.assert_close(outputs.loss, torch.nn.functional.cross_entropy(outputs.logits, labels))
    assert model.loss_sum(outputs, labels).item() == pytest.approx(4 * outputs.loss.item(), rel=1e-5)


def test_classifier_rejects_wrong_image_size():
    with pytest.raises(ValueError, match=r"pixel_values.*image_size=32"):
        tiny_classifier()(torch.randn(2, 3, 64, 64))


def test_base_model_loads_from_a_classifier_checkpoint(tmp_path):
    classifier = tiny_classifier()
    classifier.save_pretrained(tmp_path)
    embedder = AutoModel.from_pretrained(tmp_path).eval()  # the classifier's `embedder`
    assert type(embedder) is EmbeddingClassifierModel
    images = pixels()
    torch.testing.assert_close(embedder(images).embeddings, classifier(images).embeddings)


class EmbeddingClassifierTesterMixin(ModelTesterMixin):
    """Both classes read images through the ViT image processor of their size."""

    processor_auto_classes = {AutoImageProcessor: ViTImageProcessor}

    def get_processor(self):
        return vit_image_processor(IMAGE_SIZE)

    def get_inputs(self, folder):
        return {"images": write_images(folder, 2), "return_tensors": "pt"}


class TestEmbeddingClassifierForImageClassification(EmbeddingClassifierTesterMixin):
    model_class = EmbeddingClassifierForImageClassification
    auto_classes = (AutoModelForImageClassification,)

    def get_model(self):
        return tiny_classifier()


class TestEmbeddingClassifierModel(EmbeddingClassifierTesterMixin):
    model_class = EmbeddingClassifierModel

    def get_model(self):
        torch.manual_seed(0)
        return EmbeddingClassifierModel(tiny_config()).eval()
