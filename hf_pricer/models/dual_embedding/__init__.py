"""Dual-embedding regressor: ViT features + two label embeddings → attention → N numeric targets."""

from hf_pricer.registration import register_model

from .configuration_dual_embedding import DualEmbeddingConfig
from .modeling_dual_embedding import (
    DualEmbeddingForRegression,
    DualEmbeddingPreTrainedModel,
    DualEmbeddingRegressionOutput,
)
from .processing_dual_embedding import DualEmbeddingCollator

register_model(DualEmbeddingConfig, models={"AutoModel": DualEmbeddingForRegression})

__all__ = [
    "DualEmbeddingCollator",
    "DualEmbeddingConfig",
    "DualEmbeddingForRegression",
    "DualEmbeddingPreTrainedModel",
    "DualEmbeddingRegressionOutput",
]
