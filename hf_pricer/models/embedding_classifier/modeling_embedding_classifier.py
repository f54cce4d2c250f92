"""Embedding classifier: image → ViT `[CLS]` → embedding → classifier.

A ViT whose `[CLS]` state is projected to an embedding (128, 256 or 512-d) and classified from it. It is
useful on its own, and it is the first stage of the dual-embedding regressor, which reuses the embedding
models of two such classifiers (one per level of a label hierarchy) through `AutoModel.from_config`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel, ViTModel
from transformers.utils import ModelOutput, can_return_tuple

from hf_pricer.modeling_utils import PricerLossMixin

from .configuration_embedding_classifier import EmbeddingClassifierConfig


@dataclass
class EmbeddingClassifierOutput(ModelOutput):
    """Output of [`EmbeddingClassifierModel`] and [`EmbeddingClassifierForImageClassification`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` are passed):
            Cross-entropy, averaged over the batch.
        logits (`torch.FloatTensor` of shape `(batch_size, num_labels)`):
            Classification scores (the classifier only).
        embeddings (`torch.FloatTensor` of shape `(batch_size, embedding_dim)`):
            The projected `[CLS]` state, the embedding the dual-embedding regressor uses.
        image_features (`torch.FloatTensor` of shape `(batch_size, hidden_size)`):
            The ViT's final `[CLS]` state (layer-normed).
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    embeddings: torch.FloatTensor | None = None
    image_features: torch.FloatTensor | None = None


def _check_pixel_values(pixel_values: torch.Tensor, vision_config) -> None:
    size = vision_config.image_size
    expected = (vision_config.num_channels, *((size, size) if isinstance(size, int) else size))
    if pixel_values.ndim != 4 or tuple(pixel_values.shape[1:]) != tuple(expected):
        raise ValueError(
            f"`pixel_values` must have shape (batch_size, {', '.join(map(str, expected))}) "
            f"(vision_config.image_size={size}), got {tuple(pixel_values.shape)}"
        )


class EmbeddingClassifierPreTrainedModel(PricerLossMixin, PreTrainedModel):
    """The model's own layers (linear and layer norm) get transformers' default initialisation (normal with
    `config.initializer_range`); the ViT is a `PreTrainedModel` and initialises itself (or keeps its loaded
    weights), and brings its `_no_split_modules`."""

    config_class = EmbeddingClassifierConfig
    base_model_prefix = "embedder"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    _supports_sdpa = True


class EmbeddingClassifierModel(EmbeddingClassifierPreTrainedModel):
    """ViT + projection: image → (`image_features`, `embeddings`). The base model of the classifier, and each
    embedding branch of [`DualEmbeddingForRegression`]. `EmbeddingClassifierModel.from_pretrained` also loads a
    saved classifier (its `embedder`)."""

    def __init__(self, config: EmbeddingClassifierConfig):
        super().__init__(config)
        self.vit = ViTModel(config.vision_config, add_pooling_layer=False)
        self.projection = nn.Sequential(
            nn.Linear(config.vision_config.hidden_size, config.embedding_dim), nn.LayerNorm(config.embedding_dim)
        )
        self.post_init()

    @can_return_tuple
    def forward(self, pixel_values: torch.FloatTensor) -> EmbeddingClassifierOutput:
        r"""
        pixel_values (`torch.FloatTensor` of shape `(batch_size, num_channels, image_size, image_size)`):
            Normalised images (see `ViTImageProcessor`).
        """
        _check_pixel_values(pixel_values, self.config.vision_config)
        image_features = self.vit(pixel_values).last_hidden_state[:, 0]
        return EmbeddingClassifierOutput(embeddings=self.projection(image_features), image_features=image_features)


class EmbeddingClassifierForImageClassification(EmbeddingClassifierPreTrainedModel):
    """[`EmbeddingClassifierModel`] → dropout → linear classifier over `config.id2label`.

    Trains with [`PricerTrainer`] (cross-entropy summed over examples, see [`PricerLossMixin`]) or plain
    `Trainer`.
    """

    card_task = "image-classification"  # the model card's task, see `hf_pricer.hub.CARD_TASKS`

    def __init__(self, config: EmbeddingClassifierConfig):
        super().__init__(config)
        self.embedder = EmbeddingClassifierModel(config)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(config.embedding_dim, config.num_labels)
        self.post_init()

    @classmethod
    def from_vit(cls, vit_name_or_path: str, **config_kwargs) -> EmbeddingClassifierForImageClassification:
        """A classifier whose ViT starts from a pretrained `ViTModel` (Hub id or folder, e.g.
        `"google/vit-base-patch16-224-in21k"`); projection and classifier are new. `config_kwargs` are other
        [`EmbeddingClassifierConfig`] fields, e.g. `id2label`, `embedding_dim`."""
        vit = ViTModel.from_pretrained(vit_name_or_path, add_pooling_layer=False)
        model = cls(EmbeddingClassifierConfig(vision_config=vit.config, **config_kwargs))
        model.embedder.vit.load_state_dict(vit.state_dict())
        return model

    def loss_sum(self, outputs: EmbeddingClassifierOutput, labels: torch.Tensor) -> torch.Tensor:
        logits = outputs.logits.float()
        return F.cross_entropy(logits, labels.to(logits.device).long().reshape(-1), reduction="sum")

    @can_return_tuple
    def forward(
        self, pixel_values: torch.FloatTensor, labels: torch.LongTensor | None = None
    ) -> EmbeddingClassifierOutput:
        r"""
        pixel_values (`torch.FloatTensor` of shape `(batch_size, num_channels, image_size, image_size)`):
            Normalised images.
        labels (`torch.LongTensor` of shape `(batch_size,)`, *optional*):
            Class ids in `[0, num_labels)`; the mean cross-entropy is returned as `loss`.
        """
        encoded = self.embedder(pixel_values)
        logits = self.classifier(self.dropout(encoded.embeddings))
        outputs = EmbeddingClassifierOutput(
            logits=logits, embeddings=encoded.embeddings, image_features=encoded.image_features
        )
        return self.add_loss(outputs, labels)


__all__ = [
    "EmbeddingClassifierForImageClassification",
    "EmbeddingClassifierModel",
    "EmbeddingClassifierOutput",
    "EmbeddingClassifierPreTrainedModel",
]
