"""Embedding classifier: image → ViT → embedding → class; stage 1 of the dual-embedding regressor."""

from hf_pricer.registration import register_model

from .configuration_embedding_classifier import EmbeddingClassifierConfig
from .modeling_embedding_classifier import (
    EmbeddingClassifierForImageClassification,
    EmbeddingClassifierModel,
    EmbeddingClassifierOutput,
    EmbeddingClassifierPreTrainedModel,
)
from .processing_embedding_classifier import EmbeddingClassifierCollator

register_model(
    EmbeddingClassifierConfig,
    models={"AutoModel": EmbeddingClassifierModel, "AutoModelForImageClassification": EmbeddingClassifierForImageClassification},
)

__all__ = [
    "EmbeddingClassifierCollator",
    "EmbeddingClassifierConfig",
    "EmbeddingClassifierForImageClassification",
    "EmbeddingClassifierModel",
    "EmbeddingClassifierOutput",
    "EmbeddingClassifierPreTrainedModel",
]
